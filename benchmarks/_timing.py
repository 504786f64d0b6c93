"""What every benchmark shares: best-of timing, alternating samples, peak RSS, the result row.

Scripts are run as ``python benchmarks/bench_x.py``, so this folder is on ``sys.path``.

The row format (one per measurement) is what ``run.py`` collects from every ``bench_*.py``:
``name``, ``measured`` (the kit's figure, with unit), ``native`` (native MXNet's figure or the
machine's limit), ``ratio``, ``target`` (with ``<=`` or ``>=``) and ``ok``. :func:`line`
prints it as one human line, ``name: ratio R (target <= T) ok|MISSED  [kit ..., native ...]``,
and, when ``run.py`` sets ``GPK_BENCH_ROWS`` to a file, appends it there as one JSON line.
A script that prints the human line by hand is still collected (``run.py`` parses it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Callable, Dict, Optional

ROWS_ENV = "GPK_BENCH_ROWS"


def best(fn: Callable[[], object], repeat: int = 3, number: int = 1) -> float:
    """Best seconds per call of ``fn`` over ``repeat`` rounds of ``number`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def alternate(fns: Dict[str, Callable[[], object]], rounds: int, number: int = 1,
              warmup: bool = True, before: Optional[Callable[[], object]] = None) -> Dict[str, float]:
    """Best seconds per call of each function, sampled A B A B ... so load hits all alike.

    Each round starts one function later (A B C, B C A, C A B, ...): whatever the first
    sample of a round pays for (pages the kernel dropped since the round before, see
    :func:`warm_file`) falls on each function in turn, not always on the first.
    ``before``, when given, runs untimed before every sample of every function (``os.sync``
    for writers: each sample then starts with no dirty pages of the one before it, which
    the kernel would otherwise make it wait for; :func:`warm_file` for readers)."""
    if warmup:
        for fn in fns.values():
            fn()
    out = {k: float("inf") for k in fns}
    order = list(fns.items())
    for r in range(rounds):
        for k, fn in order[r % len(order):] + order[:r % len(order)]:
            if before is not None:
                before()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            out[k] = min(out[k], (time.perf_counter() - start) / number)
    return out


def warm_file(*paths) -> Callable[[], None]:
    """An untimed ``before`` step that reads ``paths`` whole, so that every sample finds them
    in the page cache, as the rows that read files say they do.

    These VMs run DAMON with a ``pageout`` scheme (``/sys/kernel/mm/damon/admin``): memory
    not seen accessed for about a minute is dropped at up to 128 MiB/s, and a file read
    only by ``read``/``pread`` is never seen accessed, however often it is read. Without
    this step, a sample that reads a file written a minute earlier may read part of it from
    the disk (a 1 GiB load measured 0.2 s or 0.8 s by turns)."""
    def warm() -> None:
        buf = bytearray(8 << 20)
        for path in paths:
            with open(path, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass
    return warm


def fmt_time(seconds: float) -> str:
    """``12.3 ms``, ``1.85 s`` or ``4.2 us``."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} us"


def line(name: str, ratio: float, target: float, extra: str = "", *,
         higher_is_better: bool = False, fmt: str = ".2f", measured: str = "",
         native: str = "") -> bool:
    """Print one result row (and record it for ``run.py``); returns whether it is ok.

    ``measured`` and ``native`` are the two figures the ratio compares, with units
    (``"81 ms"``, ``"11.7 GB/s"``); ``extra`` is any further note.
    """
    ok = ratio >= target if higher_is_better else ratio <= target
    sign = ">=" if higher_is_better else "<="
    figures = f"  [kit {measured}, native {native}]" if measured or native else ""
    print(f"{name}: ratio {ratio:{fmt}} (target {sign} {target}) {'ok' if ok else 'MISSED'}"
          f"{figures}{extra}", flush=True)
    path = os.environ.get(ROWS_ENV)
    if path:
        row = {"name": name, "measured": measured, "native": native,
               "ratio": float(f"{ratio:{fmt}}"), "target": f"{sign} {target}", "ok": ok,
               "note": extra.strip()}
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
    return ok


_RSS_PROBE = """
def _kib(field):
    with open('/proc/self/status') as f:
        for l in f:
            if l.startswith(field):
                return int(l.split()[1])
def _reset_peak():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False
"""


def extra_peak_rss(setup: str, call: str, *, cwd: Optional[str] = None,
                   env: Optional[dict] = None, timeout: float = 600) -> int:
    """Bytes of peak RSS that ``call`` adds over the process's RSS right before it.

    Runs ``setup`` then ``call`` (Python source) in a fresh interpreter. The kernel's peak
    (``VmHWM``) is reset just before ``call`` (``/proc/self/clear_refs``), so a bigger peak
    during ``setup`` does not hide the call's own; where that reset is refused, the setup's
    peak is the baseline instead. Linux only.
    """
    code = (_RSS_PROBE + setup + "\nimport gc; gc.collect()\n_ok = _reset_peak()\n"
            "_base = _kib('VmRSS') if _ok else _kib('VmHWM')\n" + call +
            "\nprint('EXTRA_PEAK_KIB', max(_kib('VmHWM') - _base, 0))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=cwd, env=env, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"peak-RSS probe failed:\n{out.stderr[-2000:]}")
    for text in out.stdout.splitlines():
        if text.startswith("EXTRA_PEAK_KIB"):
            return int(text.split()[1]) * 1024
    raise RuntimeError(f"peak-RSS probe printed no result:\n{out.stdout[-2000:]}")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A subprocess: imports and set-up first, then RSS, then the timed call, then peak RSS.
# Peak RSS is the kernel's VmHWM, reset just before the call (``clear_refs`` 5), so neither
# the imports nor the parent's memory (ru_maxrss survives fork and exec) count.
_RUNNER = r'''
import json, os, sys, time
sys.path.insert(0, {root!r})
{setup}
def _status(field):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = _status("VmRSS")
start = time.perf_counter()
{call}
seconds = time.perf_counter() - start
print(json.dumps(dict(seconds=seconds, extra=max(0, _status("VmHWM") - before))))
'''


def run_fresh(setup: str, call: str) -> dict:
    """``{'seconds': ..., 'extra': bytes}`` of ``call`` run after ``setup`` in a fresh
    interpreter (the repository on its path): its time and the peak RSS it adds."""
    code = _RUNNER.format(root=ROOT, setup=setup, call=call)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=900)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def best_of(pairs: Dict[str, tuple], repeat: int, before: Optional[Callable[[], object]] = None
            ) -> Dict[str, dict]:
    """Alternate the calls of ``pairs`` (name -> (setup, call)) ``repeat`` times, each in a
    fresh interpreter; the best time and the largest extra memory of each. Rounds rotate
    and ``before`` runs before each call, as in :func:`alternate`."""
    out = {name: dict(seconds=float("inf"), extra=0) for name in pairs}
    order = list(pairs.items())
    for r in range(repeat):
        for name, (setup, call) in order[r % len(order):] + order[:r % len(order)]:
            if before is not None:
                before()
            got = run_fresh(setup, call)
            out[name]["seconds"] = min(out[name]["seconds"], got["seconds"])
            out[name]["extra"] = max(out[name]["extra"], got["extra"])
    return out
