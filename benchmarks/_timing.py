"""What several benchmarks share: best-of timing and the one-line result format.

Scripts are run as ``python benchmarks/bench_x.py``, so this folder is on ``sys.path``.
"""
import time


def best(fn, repeat: int = 3, number: int = 1) -> float:
    """Best seconds per call of ``fn`` over ``repeat`` rounds of ``number`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - start) / number)
    return min(times)


def line(name: str, ratio: float, target: float, extra: str = "", *,
         higher_is_better: bool = False, fmt: str = ".2f") -> None:
    """Print ``name: ratio R (target <= T) ok|MISSED`` followed by ``extra``."""
    ok = ratio >= target if higher_is_better else ratio <= target
    sign = ">=" if higher_is_better else "<="
    print(f"{name}: ratio {ratio:{fmt}} (target {sign} {target}) {'ok' if ok else 'MISSED'}{extra}",
          flush=True)
