"""Run every ``benchmarks/bench_*.py`` (or the ones named), print one table, write the JSON.

Each benchmark measures the kit against native MXNet (or the machine's limit) *in the same
run* and reports one row per measurement (see ``_timing.line``): name, measured, native or
limit, ratio, target, ok/MISSED. Rows come from the file named by ``GPK_BENCH_ROWS`` (what
``_timing.line`` writes) and, for scripts that print by hand, from their printed lines
``name: ratio R (target <= T) ok|MISSED ...``. A script that fails adds a MISSED row.

Usage::

    python benchmarks/run.py [NAME ...] [--quick] [--out PATH]

Without ``--quick`` the rows go to ``benchmarks/results.json`` (``--out`` elsewhere). When
only some scripts run, the other scripts' rows already in that file are kept, each with the
date it was measured. ``benchmarks/readme_table.py`` turns the file into the README's table.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
ROWS_ENV = "GPK_BENCH_ROWS"
_LINE = re.compile(r"^(?P<name>[^\s:][^:]*?): ratio (?P<ratio>[-+\d.eE]+|nan|inf) "
                   r"\(target (?P<op><=|>=) (?P<target>[-+\d.eE]+)\) (?P<ok>ok|MISSED)"
                   r"(?P<rest>.*)$")


def parse_line(text: str) -> Optional[dict]:
    """A row from one printed result line, or None if the line is not one.

    >>> parse_line("x_vs_y: ratio 1.50 (target <= 2.0) ok  [kit 3 ms, native 2 ms]")["native"]
    '2 ms'
    """
    m = _LINE.match(text.strip())
    if not m:
        return None
    rest = m.group("rest").strip()
    measured = native = ""
    fig = re.match(r"\[kit (?P<m>[^\]]*?), native (?P<n>[^\]]*)\]\s*(?P<rest>.*)$", rest)
    if fig:
        measured, native, rest = fig.group("m"), fig.group("n"), fig.group("rest")
    return {"name": m.group("name"), "measured": measured, "native": native,
            "ratio": float(m.group("ratio")), "target": f"{m.group('op')} {m.group('target')}",
            "ok": m.group("ok") == "ok", "note": rest}


def run_script(script: Path, quick: bool) -> List[dict]:
    """Run one benchmark script (its output streams through) and return its rows."""
    print(f"== {script.stem}", flush=True)
    fd, rows_path = tempfile.mkstemp(prefix="gpk_bench_", suffix=".jsonl")
    os.close(fd)
    cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
    printed: List[dict] = []
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, **{ROWS_ENV: rows_path}))
        for text in proc.stdout:
            sys.stdout.write(text)
            sys.stdout.flush()
            row = parse_line(text)
            if row:
                printed.append(row)
        code = proc.wait()
        with open(rows_path, encoding="utf-8") as f:
            recorded = [json.loads(t) for t in f if t.strip()]
    finally:
        os.unlink(rows_path)
    names = {r["name"] for r in recorded}
    rows = recorded + [r for r in printed if r["name"] not in names]
    if code != 0:
        rows.append({"name": f"{script.stem} (script)", "measured": f"exit code {code}",
                     "native": "", "ratio": None, "target": "exit 0", "ok": False,
                     "note": "the script failed; see its output above"})
    today = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for r in rows:
        r["script"], r["date"] = script.stem, today
    return rows


def machine() -> Dict[str, object]:
    """What the figures depend on: cores, load, versions."""
    import numpy  # noqa: F401  (its version; the kit's venv has it)
    info: Dict[str, object] = {"cores": os.cpu_count(), "platform": platform.platform(),
                               "python": platform.python_version(),
                               "numpy": numpy.__version__}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        from importlib.metadata import version
        info["mxnet"] = version("mxnet")
    except Exception:
        pass
    return info


def table(rows: List[dict]) -> str:
    """The rows as one aligned text table."""
    head = ("benchmark", "measured", "native / limit", "ratio", "target", "")
    body = [(r["name"], r["measured"], r["native"], "-" if r["ratio"] is None else f"{r['ratio']:.3g}", r["target"],
             "ok" if r["ok"] else "MISSED") for r in rows]
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip() for x in [head] + body]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: List[str]) -> int:
    quick = "--quick" in argv
    out: Optional[Path] = None if quick else RESULTS
    if "--out" in argv:
        out = Path(argv[argv.index("--out") + 1])
        argv = argv[:argv.index("--out")] + argv[argv.index("--out") + 2:]
    names = [a for a in argv if not a.startswith("-")]
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if any(n in s.stem for n in names)]
    rows: List[dict] = []
    for script in scripts:
        rows += run_script(script, quick)
    print()
    print(table(rows))
    missed = [r["name"] for r in rows if not r["ok"]]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} rows meet their target"
          + (f"; MISSED: {', '.join(missed)}" if missed else "."))
    if out is not None:
        ran = {s.stem for s in scripts}
        kept: List[dict] = []
        if out.exists() and names:
            kept = [r for r in json.loads(out.read_text())["rows"] if r["script"] not in ran]
        every = sorted(kept + rows, key=lambda r: r["script"])  # stable: a script's own order
        doc = {"date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d"),
               "machine": machine(), "quick": quick, "rows": every}
        out.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"wrote {out}")
    return 1 if any(r["name"].endswith("(script)") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
