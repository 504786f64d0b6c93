"""Benchmark inspection.py against native MXNet / numpy, in the same run.

1. ``str(summary(net))`` (no stats) on nets of 10,000 and 100,000 Parameters (Dense
   layers; ``--quick``: 1,000) against ``str(net.collect_params())``. Target: ratio <= 2.
2. ``stats(net)`` on a net of ~100M float32 values (4 x Dense(5000, in_units=5000);
   ``--quick``: 4M) against
   - one numpy pass (``np.add.reduce``) over the same values (a zero-copy view of each
     parameter's CPU memory, so both read the same bytes): the bandwidth limit. Target:
     ratio <= 3 (>= 33% of that bandwidth);
   - numpy computing the same statistics on a host copy of each parameter (``asnumpy``,
     then mean, std, min, max, norm, zeros, NaN, Inf, histogram): target ratio <= 1;
   - a naive loop with one ``asnumpy()`` per parameter and per statistic: target
     speed-up >= 3 (printed as the ratio stats / naive, target <= 0.33).
   The extra peak RSS of ``stats()`` is measured in a fresh process: <= 64 MiB (whatever
   the parameters' size: one chunk of scratch memory). With the ``fast`` extra, numba and
   LLVM (~120 MB, once per process) are loaded in the setup: not this call's memory.

Samples alternate between the kit and the native call; the best of each is compared.
Usage: ``python benchmarks/bench_inspection.py [--quick]``. Always exits 0.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from _timing import alternate, best, extra_peak_rss, fmt_time, line  # noqa: E402  (sys.path[0])
from mxnet.gluon import nn  # noqa: E402

from gluon_params_kit._core.stats import _host_view  # noqa: E402
from gluon_params_kit.inspection import stats, summary  # noqa: E402

BINS = 16
MEMORY_LIMIT = 64 * 2**20






def dense_net(layers):
    net = nn.Sequential()
    for _ in range(layers):
        net.add(nn.Dense(2, in_units=2))
    net.initialize()
    return net


def bench_summary(quick):
    for layers in ((500,) if quick else (5000, 50000)):
        net = dense_net(layers)
        assert len(str(summary(net, fold=False)).splitlines()) > 2 * layers  # every row, not "5000 x Dense"
        t = alternate({"kit": lambda: str(summary(net, fold=False)),
                       "native": lambda: str(net.collect_params())},
                      3 if quick or layers > 10000 else 5)
        n = f"{2 * layers // 1000}k" if layers >= 500 else str(2 * layers)
        line(f"str_summary_{n}_params_vs_str_collect_params", t["kit"] / t["native"], 2.0,
             measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))


def numpy_same_stats(params):
    for p in params:
        a = p.data().asnumpy()
        f = a[np.isfinite(a)] if not np.isfinite(a.sum()) else a
        (f.mean(), f.std(), f.min(), f.max(), np.linalg.norm(f), np.count_nonzero(a == 0) / a.size,
         np.isnan(a).sum(), np.isinf(a).sum(), np.histogram(f, BINS))


def naive_loop(params):
    stat_fns = [np.mean, np.std, np.min, np.max, np.linalg.norm,
                lambda a: np.count_nonzero(a == 0) / a.size,
                lambda a: np.isnan(a).sum(), lambda a: np.isinf(a).sum(),
                lambda a: np.histogram(a, BINS)]
    for p in params:
        for fn in stat_fns:
            fn(p.data().asnumpy())


def stats_net(width):
    net = nn.Sequential()
    for _ in range(4):
        net.add(nn.Dense(width, in_units=width, use_bias=False))
    net.initialize(mx.init.Normal(0.02))
    mx.nd.waitall()
    return net


def bench_stats(quick):
    width = 1000 if quick else 5000
    net = stats_net(width)
    params = list(net.collect_params().values())
    values = sum(p.data().size for p in params)
    views = [_host_view(p.data()) for p in params]

    def one_pass():
        for a in views:
            np.add.reduce(a, axis=None)

    repeat = 3 if quick else 5
    t = alternate({"kit": lambda: stats(net, bins=BINS), "native": one_pass}, repeat)
    ours = t["kit"]
    gbs = values * 4 / 1e9
    line(f"stats_{values / 1e6:.3g}M_float32_vs_one_numpy_pass", ours / t["native"], 3.0,
         f"  ({100 * t['native'] / ours:.0f}% of np.add.reduce's bandwidth)",
         measured=f"{fmt_time(ours)}, {gbs / ours:.1f} GB/s",
         native=f"{fmt_time(t['native'])}, {gbs / t['native']:.1f} GB/s")
    same = best(lambda: numpy_same_stats(params), 2)
    line("stats_vs_numpy_same_stats", ours / same, 1.0, "  (numpy on host copies)",
         measured=fmt_time(ours), native=fmt_time(same))
    naive = best(lambda: naive_loop(params), 1)
    line("stats_vs_naive_asnumpy_loop", ours / naive, 0.33,
         f"  (speed-up {naive / ours:.1f}x)", measured=fmt_time(ours), native=fmt_time(naive))
    largest = max(p.data().size * 4 for p in params)
    del views, params, net
    # the setup loads the compiled loops (the `fast` extra: numba's one-time ~120 MB of LLVM
    # is not memory of this call)
    setup = ("import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
             "from bench_inspection import stats_net\n"
             "from gluon_params_kit.inspection import stats\n"
             "from gluon_params_kit._core.stats import compiled; compiled()\n"
             "net = stats_net(%d)\n") % (str(ROOT / "benchmarks"), str(ROOT), width)
    extra = extra_peak_rss(setup, "stats(net, bins=%d)" % BINS)
    line("stats_extra_peak_rss_vs_64MiB", extra / MEMORY_LIMIT, 1.0,
         f"  (fresh process, numba loaded in the setup; largest parameter {largest / 2**20:.0f} MiB)",
         fmt=".3f", measured=f"{extra / 2**20:.1f} MiB", native="64 MiB (limit)")


def main(argv):
    quick = "--quick" in argv
    bench_summary(quick)
    bench_stats(quick)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
