"""named_parameters / select / get on a big net, against Gluon's collect_params in the same run.

The net: ``outer`` Sequentials of ``inner`` Dense layers each (default 50 x 100 = 5,000 Dense,
10,000 Parameters), nested one level deeper to have paths like ``12.0.57.weight``.
Each measurement is the best of several repeats (the machine is shared; the best time is
the least disturbed one). Prints ``name: ratio R (target <= T) ok|MISSED`` lines and, for
``get``, microseconds per call. ``path_of`` for every parameter of a 100,000-parameter net
goes through one :class:`PathIndex` (target: <= 2x one ``collect_params()`` walk, i.e.
linear), and one index lookup is compared with one ``get``; ``render_tree`` of that net is
compared with ``repr(net)`` (target <= 2). ``--quick`` uses small nets.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import alternate, best, fmt_time, line  # noqa: E402  (sys.path[0])

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
from mxnet.gluon import nn  # noqa: E402

from gluon_params_kit.select import select  # noqa: E402
from gluon_params_kit.tree import PathIndex, get, named_parameters, path_of, render_tree  # noqa: E402


def build(outer: int, inner: int) -> nn.Sequential:
    net = nn.Sequential()
    for _ in range(outer):
        block = nn.Sequential()
        layers = nn.Sequential()
        layers.add(*[nn.Dense(4, in_units=4) for _ in range(inner)])
        block.add(layers)
        net.add(block)
    return net


def report(name: str, ours: float, theirs: float, target: float) -> None:
    line(name, ours / theirs, target, measured=fmt_time(ours), native=fmt_time(theirs))


def main(argv) -> int:
    quick = "--quick" in argv
    outer, inner, repeat = (5, 20, 3) if quick else (50, 100, 7)
    t0 = time.perf_counter()
    net = build(outer, inner)
    n_params = len(named_parameters(net))
    print(f"net: {outer * inner} Dense layers, {n_params} parameters "
          f"(built in {time.perf_counter() - t0:.1f} s)", flush=True)
    assert n_params == 2 * outer * inner

    # Same answers first, then times.
    assert [p.name for p in select(net, ".*bias", mode="match", on="name").values()] == \
        list(net.collect_params(".*bias").keys())

    report("named_parameters_vs_collect_params",
           best(lambda: named_parameters(net), repeat),
           best(lambda: net.collect_params(), repeat), 1.5)
    report("select_all_vs_collect_params",
           best(lambda: select(net), repeat),
           best(lambda: net.collect_params(), repeat), 1.5)
    report("select_name_regex_vs_collect_params_regex",
           best(lambda: select(net, ".*bias", mode="match", on="name"), repeat),
           best(lambda: net.collect_params(".*bias"), repeat), 1.5)
    report("select_path_regex_vs_collect_params_regex",
           best(lambda: select(net, r"\.bias$"), repeat),
           best(lambda: net.collect_params(".*bias"), repeat), 1.5)

    deep = f"{outer - 1}.0.{inner - 1}.weight"
    book = f"net[{outer - 1}][0][{inner - 1}].weight"
    number = 2000 if not quick else 200
    for label, path in (("get_dotted", deep), ("get_book_form", book),
                        ("get_tuple", (outer - 1, 0, inner - 1, "weight"))):
        assert get(net, path) is net[outer - 1][0][inner - 1].weight
        us = best(lambda: get(net, path), repeat, number) * 1e6
        line(f"{label}_us_per_call", us, 100, "  (microseconds per call: no full walk)",
             fmt=".1f", measured=f"{us:.1f} us", native="100 us (limit)")
    bench_path_of(quick)
    return 0


def bench_path_of(quick: bool) -> None:
    """``path_of`` for every parameter: through one PathIndex, linear in the net's size."""
    outer, inner = (5, 20) if quick else (100, 500)  # 200 / 100,000 parameters
    net = build(outer, inner)
    params = list(named_parameters(net).values())
    n = len(params)
    assert PathIndex(net).path_of(params[-1]) == path_of(net, params[-1])

    def every_path():
        index = PathIndex(net)
        return [index.path_of(p) for p in params]

    # 7 alternating rounds: this VM's speed drifts by up to 2x over seconds, and the best of
    # each side must come from the same fast spell (3 rounds read 1.2 to 2.0 for one build)
    rounds = 7
    t = alternate({"kit": every_path, "native": lambda: net.collect_params()}, rounds)
    label = f"{n // 1000}k" if n >= 1000 else str(n)
    line(f"path_of_every_param_{label}_via_PathIndex_vs_collect_params", t["kit"] / t["native"],
         2.0, f"  ({t['kit'] / n * 1e6:.1f} us per parameter, index built once)",
         measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))
    t = alternate({"kit": lambda: render_tree(net), "native": lambda: repr(net)}, rounds)
    line(f"render_tree_{label}_params_vs_repr_net", t["kit"] / t["native"], 2.0,
         "  (render_tree also draws a line per Parameter: shape, dtype, sharing)",
         measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))
    t = alternate({"kit": lambda: render_tree(net, params=False), "native": lambda: repr(net)},
                  rounds)
    line(f"render_tree_blocks_only_{label}_params_vs_repr_net", t["kit"] / t["native"], 2.0,
         "  (params=False: one line per block, as repr)",
         measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))
    index = PathIndex(net)
    deep = params[-1]
    path = path_of(net, deep)
    t = alternate({"kit": lambda: index.path_of(deep), "native": lambda: get(net, path)}, 5,
                  number=2000)
    line("path_index_lookup_vs_get", t["kit"] / t["native"], 1.0, "  (per call)",
         measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
