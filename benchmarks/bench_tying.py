"""Forward+backward of a tied MLP built with the kit vs the same net built by hand with ``params=``.

The kit only builds the structure (``tied_copy``, ``tie``); the hot path is Gluon's own,
so the ratio should be ~1. Short samples alternate between the nets, the order rotating every
round (no net always runs right after another), with the cyclic GC paused; the ratio is the
median over rounds of (kit sample / hand sample of the same round): a burst of load hits
both samples of a round, and the median ignores the rounds it hit unevenly (the best
sample of each net, compared before, moved by 3-4% between two copies of one net). A
``noise_floor`` line times one hand-built net twice, and a ``structure`` line checks that
the hybridized graphs are identical (same operators, same parameter inputs).

Usage: python benchmarks/bench_tying.py [--quick]
"""
from __future__ import annotations

import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx  # noqa: E402
from _timing import line  # noqa: E402  (this folder is sys.path[0])
from mxnet import autograd  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from gluon_params_kit.tying import tie, tied_copy  # noqa: E402

TARGET = 1.02


def by_hand(hidden, out):
    net = nn.HybridSequential()
    shared = nn.Dense(hidden, activation="relu")
    net.add(nn.Dense(hidden, activation="relu"), shared,
            nn.Dense(hidden, activation="relu", params=shared.params), nn.Dense(out))
    return net


def with_tied_copy(hidden, out):
    net = nn.HybridSequential()
    shared = nn.Dense(hidden, activation="relu")
    net.add(nn.Dense(hidden, activation="relu"), shared, tied_copy(shared), nn.Dense(out))
    return net


def with_tie(hidden, out):
    net = nn.HybridSequential()
    net.add(nn.Dense(hidden, activation="relu"), nn.Dense(hidden, activation="relu"),
            nn.Dense(hidden, activation="relu"), nn.Dense(out))
    tie(net[2], net[1])
    return net


def step_time(net, x, iters):
    start = time.perf_counter()
    for _ in range(iters):
        with autograd.record():
            loss = net(x).sum()
        loss.backward()
    mx.nd.waitall()
    return (time.perf_counter() - start) / iters


def compare(builders, x, hidden, iters, samples, hybridize):
    """Samples of ``iters`` steps of each net, ``samples`` rounds, the order rotating."""
    nets = {}
    for name, build in builders.items():
        mx.random.seed(0)
        net = build(hidden, 10)
        net.initialize(mx.init.Xavier())
        if hybridize:
            net.hybridize(static_alloc=True)
        step_time(net, x, 3)  # warm-up: deferred init, graph build
        nets[name] = net
    names = list(nets)
    times = {name: [] for name in names}
    for rnd in range(5):  # warm-up rounds, not kept
        for name in names:
            step_time(nets[name], x, iters)
    gc.collect()
    gc.disable()  # a collection landing in one net's sample is not that net's cost
    try:
        for rnd in range(samples):
            k = rnd % len(names)
            for name in names[k:] + names[:k]:
                times[name].append(step_time(nets[name], x, iters))
    finally:
        gc.enable()
    return times


def paired(times, kit, native):
    """Median over rounds of kit/native (same round), and the two median sample times."""
    ratio = statistics.median(a / b for a, b in zip(times[kit], times[native]))
    return ratio, statistics.median(times[kit]), statistics.median(times[native])


def graph_shape(build, hidden, x):
    """The hybridized graph's operator sequence and parameter-input count (names aside)."""
    net = build(hidden, 10)
    net.initialize()
    net.hybridize()
    net(x)
    sym = net._cached_graph[1]
    ops = [node["op"] for node in json.loads(sym.tojson())["nodes"]]
    return ops, len(sym.list_arguments()) - 1  # minus the data input


def main(argv):
    quick = "--quick" in argv
    hidden, batch, iters, samples = (64, 16, 2, 60) if quick else (256, 64, 2, 600)
    x = mx.nd.random.uniform(shape=(batch, hidden))
    builders = {"hand": by_hand, "hand_again": by_hand, "tied_copy": with_tied_copy,
                "tie": with_tie}
    shapes = {name: graph_shape(build, hidden, x) for name, build in builders.items()}
    same = all(shape == shapes["hand"] for shape in shapes.values())
    print(f"structure: hybridized graphs {'identical' if same else 'DIFFERENT'} for "
          f"{', '.join(builders)} ({len(shapes['hand'][0])} nodes, {shapes['hand'][1]} parameter "
          f"inputs each)", flush=True)
    for hybridize in (False, True):
        times = compare(builders, x, hidden, iters, samples, hybridize)
        mode = "hybridized" if hybridize else "imperative"
        for kit in ("tied_copy", "tie"):
            ratio, t_kit, t_hand = paired(times, kit, "hand")
            line(f"tied_mlp_fwd_bwd_{kit}_vs_params_{mode}", ratio, TARGET,
                 f"  (native: built by hand with params=; hidden {hidden}, batch {batch}; "
                 f"median of {samples} paired rounds)", fmt=".3f",
                 measured=f"{t_kit * 1e3:.3f} ms", native=f"{t_hand * 1e3:.3f} ms")
        # Two identical hand-built nets: how far apart the timing alone puts equal work.
        ratio, a, b = paired(times, "hand_again", "hand")
        line(f"noise_floor_hand_vs_hand_{mode}", max(ratio, 1 / ratio), TARGET,
             "  (the same net twice)", fmt=".3f", measured=f"{a * 1e3:.3f} ms",
             native=f"{b * 1e3:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
