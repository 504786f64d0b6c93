"""Run every ``benchmarks/bench_*.py`` (or the ones named) and print their results.

Each benchmark is a script that measures the kit against native MXNet *in the same
run* and prints one line per measurement: ``name: ratio R (target <= T) ok|MISSED``.
``--quick`` asks each for a smaller size (used to check the scripts still run).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv):
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("-")]
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [s for s in scripts if any(n in s.stem for n in names)]
    failed = 0
    for script in scripts:
        print(f"== {script.stem}", flush=True)
        cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
        failed += subprocess.call(cmd) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
