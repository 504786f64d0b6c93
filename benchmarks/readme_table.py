"""The benchmark table of the docs, generated from ``benchmarks/results.json`` (never typed by hand).

The table sits between ``<!-- bench-table:begin -->`` and ``<!-- bench-table:end -->`` in
docs/benchmarks.md (``README`` below; the name is historical). ``python
benchmarks/readme_table.py`` rewrites it from the JSON (``make bench`` does so after a full
run); ``--check`` only compares and exits 1 when the page is stale (``tests/test_bench_table.py``
runs that check).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parent / "docs" / "benchmarks.md"
RESULTS = HERE / "results.json"
BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(doc: dict) -> str:
    """Markdown for one results document: a sentence on the machine, then the rows."""
    m = doc.get("machine", {})
    load = m.get("load_average")
    dates = sorted({r["date"] for r in doc["rows"]})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    lines = [f"Generated from `benchmarks/results.json` by `benchmarks/readme_table.py`: "
             f"`make bench` on {m.get('cores', '?')} cores ({when}"
             + (f"; load average {load[0]:.2f} at the end" if load else "")
             + f"; Python {m.get('python', '?')}, numpy {m.get('numpy', '?')}, "
             f"mxnet {m.get('mxnet', '?')}).", "",
             "| benchmark | kit | native / limit | ratio | target | |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in doc["rows"]:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3g}"
        lines.append(f"| `{_cell(r['name'])}` | {_cell(r['measured'])} | {_cell(r['native'])} "
                     f"| {ratio} | {_cell(r['target'])} | {'ok' if r['ok'] else 'MISSED'} |")
    return "\n".join(lines)


def updated(readme: str, doc: dict) -> str:
    """``readme`` with the text between the markers replaced by :func:`render`."""
    try:
        start = readme.index(BEGIN) + len(BEGIN)
        stop = readme.index(END, start)
    except ValueError:
        raise SystemExit(f"{README.name} lacks the markers {BEGIN} ... {END}") from None
    return readme[:start] + "\n" + render(doc) + "\n" + readme[stop:]


def main(argv) -> int:
    doc = json.loads(RESULTS.read_text(encoding="utf-8"))
    text = README.read_text(encoding="utf-8")
    new = updated(text, doc)
    if "--check" in argv:
        if new != text:
            print(f"{README}'s benchmark table differs from benchmarks/results.json: run "
                  "python benchmarks/readme_table.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print(f"{README}: benchmark table rewritten from benchmarks/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
