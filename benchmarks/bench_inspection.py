"""Benchmark inspection.py against native MXNet / numpy, in the same run.

1. ``str(summary(net))`` (no stats) on a net of 10,000 Parameters (5,000 Dense layers;
   ``--quick``: 1,000) against printing ``net.collect_params()``. Target: ratio <= 3.
2. ``stats(net)`` on a net of ~100M float32 values (4 x Dense(5000, in_units=5000);
   ``--quick``: 4M) against
   - one numpy pass (``np.add.reduce``) over the same values already on the host (the
     memory-bandwidth limit): a zero-copy view of each parameter's CPU memory, so both
     read the same bytes; target ratio <= 6;
   - numpy computing the same statistics on a host copy of each parameter (``asnumpy``,
     then mean, std, min, max, norm, zeros, NaN, Inf, histogram): target ratio <= 1;
   - a naive loop with one ``asnumpy()`` per parameter and per statistic: target
     speed-up >= 3 (printed as the ratio stats / naive, target <= 0.33).
   The peak of extra memory ``stats()`` allocates (tracemalloc sees numpy's buffers) is
   printed next to the largest parameter's size: it should be well under one parameter.

Usage: ``python benchmarks/bench_inspection.py [--quick]``. Always exits 0.
"""
from __future__ import annotations

import io
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _timing import best, line  # noqa: E402  (this folder is sys.path[0])
import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from gluon_params_kit._stats import _host_view  # noqa: E402
from gluon_params_kit.inspection import stats, summary  # noqa: E402

BINS = 16






def bench_summary(quick):
    layers = 1000 if quick else 5000
    net = nn.Sequential()
    for _ in range(layers):
        net.add(nn.Dense(2, in_units=2))
    net.initialize()
    native = best(lambda: print(net.collect_params(), file=io.StringIO()), 5)
    ours = best(lambda: print(summary(net), file=io.StringIO()), 5)
    line("summary_vs_print_collect_params", ours / native, 3.0,
         f"  [{2 * layers} parameters: summary {ours * 1e3:.1f} ms, "
         f"print(collect_params()) {native * 1e3:.1f} ms]")


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


def one_pass_on_host(params):
    """np.add.reduce over each parameter's own memory (a zero-copy numpy view of it)."""
    views = [_host_view(p.data()) for p in params]
    t0 = time.perf_counter()
    for a in views:
        np.add.reduce(a, axis=None)
    return time.perf_counter() - t0


def bench_stats(quick):
    width = 1000 if quick else 5000
    net = nn.Sequential()
    for _ in range(4):
        net.add(nn.Dense(width, in_units=width, use_bias=False))
    net.initialize(mx.init.Normal(0.02))
    params = list(net.collect_params().values())
    for p in params:
        p.data().wait_to_read()
    values = sum(p.data().size for p in params)
    repeat = 3 if quick else 2
    ours = best(lambda: stats(net, bins=BINS), repeat)
    single = min(one_pass_on_host(params) for _ in range(repeat))
    same = best(lambda: numpy_same_stats(params), repeat)
    naive = best(lambda: naive_loop(params), 1)
    info = f"  [{values / 1e6:.0f}M values: stats {ours * 1e3:.0f} ms"
    line("stats_vs_one_numpy_pass", ours / single, 6.0,
         info + f", np.add.reduce {single * 1e3:.0f} ms]")
    line("stats_vs_numpy_same_stats", ours / same, 1.0,
         info + f", numpy on host copies {same * 1e3:.0f} ms]")
    line("stats_vs_naive_asnumpy_loop", ours / naive, 0.33,
         info + f", naive loop {naive * 1e3:.0f} ms, speed-up {naive / ours:.1f}x]")
    tracemalloc.start()
    stats(net, bins=BINS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    largest = max(p.data().size * 4 for p in params)
    line("stats_peak_extra_memory_vs_largest_parameter", peak / largest, 1.0,
         f"  [peak {peak / 2**20:.2f} MiB, largest parameter {largest / 2**20:.1f} MiB]")


def main(argv):
    quick = "--quick" in argv
    bench_summary(quick)
    bench_stats(quick)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
