"""Benchmark: InitPlan.apply against Gluon's own initialize, and the chapter's MyInit against Uniform.

1. ``InitPlan([], default='xavier').apply(net)`` vs ``net.initialize(mx.init.Xavier(),
   force_reinit=True)`` on a ~100M-parameter MLP (same initializers: Xavier weights,
   the layers' own 'zeros' biases), in the same run. Target: ratio <= 1.1.
   Also reported: the same with ``seed=0`` (per-parameter seeding), for information.
2. The chapter's ``MyInit`` vs built-in ``Uniform`` on the same shapes. Target <= 3.
3. ``InitPlan.preview`` on a net of 100,000 Parameters vs ``collect_params()``. Target <= 2.

``--quick`` uses a tiny net (a few seconds), ``--medium`` a 17M-parameter one. Prints
one line per measurement (ratio of the best of N interleaved runs, medians shown too) and
exits 0 even when a target is missed.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from gluon_params_kit.chapter import MyInit  # noqa: E402
from gluon_params_kit.initializers import InitPlan  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import alternate, fmt_time, line  # noqa: E402


def build(width: int, depth: int) -> nn.Sequential:
    net = nn.Sequential()
    for _ in range(depth):
        net.add(nn.Dense(width, in_units=width))
    net.initialize(mx.init.Xavier())
    mx.nd.waitall()
    return net


def timed(fn) -> float:
    mx.nd.waitall()
    start = time.perf_counter()
    fn()
    mx.nd.waitall()
    return time.perf_counter() - start


def compare(name: str, ours, theirs, repeats: int, target) -> None:
    """Ratio of the best (minimum) times: on a shared machine the minimum is the least noisy."""
    timed(ours), timed(theirs)  # warm-up (allocator pool, operator caches)
    a, b = [], []
    for _ in range(repeats):  # interleaved, so machine load hits both alike
        a.append(timed(ours))
        b.append(timed(theirs))
    ratio = min(a) / min(b)
    note = (f"  (best of {repeats}; medians {statistics.median(a) * 1e3:.0f} / "
            f"{statistics.median(b) * 1e3:.0f} ms)")
    if target is None:
        print(f"{name}: ratio {ratio:.2f} (info)  [kit {min(a) * 1e3:.0f} ms, "
              f"mxnet {min(b) * 1e3:.0f} ms]{note}", flush=True)
        return
    line(name, ratio, target, note, measured=f"{min(a) * 1e3:.0f} ms",
         native=f"{min(b) * 1e3:.0f} ms")


def main(argv) -> int:
    quick = "--quick" in argv
    width, depth, repeats = (256, 4, 5) if quick else (4096, 6, 5)
    if "--medium" in argv:
        width, depth = 2048, 4
    net = build(width, depth)
    n = sum(p.data().size for p in net.collect_params().values())
    print(f"net: {depth} x Dense({width}), {n / 1e6:.1f}M parameters", flush=True)

    plan = InitPlan([], default="xavier", respect_layer_defaults=True)
    compare("initplan_apply_vs_initialize",
            lambda: plan.apply(net),
            lambda: net.initialize(mx.init.Xavier(), force_reinit=True),
            repeats, 1.1)
    compare("initplan_apply_seeded_vs_initialize",
            lambda: plan.apply(net, seed=0),
            lambda: net.initialize(mx.init.Xavier(), force_reinit=True),
            repeats, None)
    compare("myinit_vs_uniform",
            lambda: net.initialize(MyInit(verbose=False), force_reinit=True),
            lambda: net.initialize(mx.init.Uniform(10), force_reinit=True),
            repeats, 3.0)
    bench_preview(quick)
    return 0


def bench_preview(quick: bool) -> None:
    """``InitPlan.preview`` on a net of 100,000 Parameters vs ``collect_params()``."""
    net = nn.Sequential()
    for _ in range(500 if quick else 50_000):
        net.add(nn.Dense(2, in_units=2))
    n = 2 * len(net._children)
    plan = InitPlan([(r"\.weight$", "xavier")], default="zeros")
    assert len(plan.preview(net)) == n
    t = alternate({"kit": lambda: plan.preview(net), "native": lambda: net.collect_params()}, 3)
    label = f"{n // 1000}k"
    line(f"initplan_preview_{label}_params_vs_collect_params", t["kit"] / t["native"], 2.0,
         f"  ({t['kit'] / n * 1e6:.1f} us per parameter)", measured=fmt_time(t["kit"]),
         native=fmt_time(t["native"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
