"""What users run, on real nets: ResNet-50 v1, DenseNet-201 and a BERT-size stack.

The nets (random init, nothing downloaded): ``model_zoo`` ResNet-50 v1 (299 tensors, 25.6M
values) and DenseNet-201 (1,006 tensors, 20.2M values), initialized by one forward of a
224 x 224 image and then re-initialized (``force_reinit``), so every array is in MXNet's
default layout as after ``initialize`` or ``load_parameters`` (a forward in predict mode
turns conv weights into MKL-DNN layouts, which only MXNet's own copy can read); and a
BERT-large-size encoder stack built here from ``nn.Dense`` and ``nn.LayerNorm`` (24
layers of 16 tensors: 384 tensors, 302M values; ``--quick``: hidden size 256, 19M).

Rows, each a ratio of the best of alternating samples of both sides in one run:

- ``stats(net)`` vs one numpy pass (``np.add.reduce``) over zero-copy views of the same
  values, made before the timing. Target <= 3 (the issue's). On the BERT stack also the
  extra peak RSS of ``stats(net)`` in a fresh process: <= 64 MiB (after one ``stats`` of
  a small stack: numba's one-time load, ~120 MB and ~0.6 s with the ``fast`` extra, is not
  this call's).
- ``str(summary(net))`` vs ``str(net.collect_params())``; ``summary(net, x)`` (one traced
  forward, the net left as it was) vs Gluon's ``net.summary(x)`` (output swallowed), on
  one example (batch 1). Target <= 2 for both.
- ``InitPlan([], default='xavier').apply(net)`` vs ``net.initialize(mx.init.Xavier(),
  force_reinit=True)`` (both then ``waitall``). Target <= 1.2 (the issue's).
- ``save(net, f, fsync=False)`` per format vs what a user writes by hand for the same
  file and guarantee (to a temporary file, renamed): ``save_parameters``,
  ``safetensors.numpy.save_file`` of ``asnumpy()`` copies, ``numpy.savez`` of them.
  Every sample starts after an (untimed) ``os.sync``, so that none waits for the dirty pages
  of the one before. Target <= 1.2.

Usage: ``python benchmarks/bench_models.py [--quick] [NET ...]`` (NET: resnet50, densenet201,
bert). Always exits 0.
"""
from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from _timing import alternate, extra_peak_rss, fmt_time, line  # noqa: E402  (sys.path[0])
from mxnet.gluon import nn  # noqa: E402
from mxnet.gluon.model_zoo import vision  # noqa: E402

from gluon_params_kit import save, stats, summary  # noqa: E402
from gluon_params_kit._core.stats import _host_view  # noqa: E402
from gluon_params_kit.initializers import InitPlan  # noqa: E402

STATS_TARGET, SUMMARY_TARGET, INIT_TARGET, SAVE_TARGET = 3.0, 2.0, 1.2, 1.2
MEMORY_LIMIT = 64 * 2**20


class EncoderLayer(nn.HybridBlock):
    """A BERT-size encoder layer's tensors: q, k, v, o projections, a feed-forward pair,
    two LayerNorms (16 tensors). The forward mixes them simply (no attention scores):
    enough for a summary's traced forward."""

    def __init__(self, hidden: int, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            dense = dict(in_units=hidden, flatten=False)
            self.query, self.key, self.value = (nn.Dense(hidden, **dense) for _ in range(3))
            self.out = nn.Dense(hidden, **dense)
            self.ln1 = nn.LayerNorm(in_channels=hidden)
            self.ffn1 = nn.Dense(4 * hidden, **dense)
            self.ffn2 = nn.Dense(hidden, in_units=4 * hidden, flatten=False)
            self.ln2 = nn.LayerNorm(in_channels=hidden)

    def hybrid_forward(self, F, x):
        x = self.ln1(x + self.out(self.query(x) + self.key(x) + self.value(x)))
        return self.ln2(x + self.ffn2(F.relu(self.ffn1(x))))


def bert_stack(hidden: int, layers: int = 24) -> nn.HybridSequential:
    net = nn.HybridSequential()
    for _ in range(layers):
        net.add(EncoderLayer(hidden))
    net.initialize(mx.init.Xavier())
    mx.nd.waitall()
    return net


def zoo(name: str):
    net = vision.get_model(name, pretrained=False)
    net.initialize(mx.init.Xavier())
    net(mx.nd.ones((1, 3, 224, 224)))  # shapes known
    net.initialize(mx.init.Xavier(), force_reinit=True)  # default layouts again
    mx.nd.waitall()
    return net


def build(name: str, quick: bool):
    """(label, net, example input)."""
    if name == "bert":
        hidden = 256 if quick else 1024
        return (f"bert{'_h256' if quick else ''}", bert_stack(hidden),
                mx.nd.ones((1, 8, hidden)))
    return name.replace("_v1", ""), zoo(name), mx.nd.ones((1, 3, 224, 224))


def describe(label: str, net) -> str:
    params = list(net.collect_params().values())
    values = sum(p.data().size for p in params)
    return f"{label}: {len(params)} tensors, {values / 1e6:.1f}M values"


def bench_stats(label: str, net, rounds: int) -> None:
    views = [_host_view(p.data()) for p in net.collect_params().values()]

    def one_pass():
        for v in views:
            np.add.reduce(v, axis=None)

    t = alternate({"kit": lambda: stats(net), "native": one_pass}, rounds)
    line(f"{label}_stats_vs_one_numpy_pass", t["kit"] / t["native"], STATS_TARGET,
         f"  ({len(views)} tensors)", measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))


def bench_stats_memory(label: str, hidden: int) -> None:
    # the setup measures a small stack once: numba's one-time load (the `fast` extra, ~120 MB
    # of LLVM) is not memory of this call
    setup = ("import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
             "from bench_models import bert_stack\n"
             "from gluon_params_kit import stats\n"
             "stats(bert_stack(256, layers=1))\n"
             "net = bert_stack(%d)\n") % (str(ROOT / "benchmarks"), str(ROOT), hidden)
    extra = extra_peak_rss(setup, "stats(net)")
    line(f"{label}_stats_extra_peak_rss_vs_64MiB", extra / MEMORY_LIMIT, 1.0,
         "  (fresh process; numba loaded in the setup)", fmt=".3f", measured=f"{extra / 2**20:.1f} MiB",
         native="64 MiB (limit)")


def bench_summary(label: str, net, x, rounds: int) -> None:
    # a few ms a call: many samples, as for every short timing here (3 of them moved by 2x)
    t = alternate({"kit": lambda: str(summary(net)), "native": lambda: str(net.collect_params())},
                  max(rounds, 20))
    line(f"{label}_str_summary_vs_str_collect_params", t["kit"] / t["native"], SUMMARY_TARGET,
         measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))

    def gluon_summary():
        with contextlib.redirect_stdout(io.StringIO()):
            net.summary(x)

    t = alternate({"kit": lambda: (str(summary(net, x)), mx.nd.waitall()),
                   "native": lambda: (gluon_summary(), mx.nd.waitall())}, rounds)
    line(f"{label}_summary_with_input_vs_gluon_summary", t["kit"] / t["native"], SUMMARY_TARGET,
         f"  (input {tuple(x.shape)})", measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))


def bench_init(label: str, net, rounds: int) -> None:
    plan = InitPlan([], default="xavier", respect_layer_defaults=True)
    t = alternate({"kit": lambda: (plan.apply(net), mx.nd.waitall()),
                   "native": lambda: (net.initialize(mx.init.Xavier(), force_reinit=True),
                                      mx.nd.waitall())}, rounds)
    line(f"{label}_initplan_apply_vs_initialize", t["kit"] / t["native"], INIT_TARGET,
         measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))


def bench_save(label: str, net, folder: Path, rounds: int, warmup: bool) -> None:
    params = net._collect_params_with_prefix()

    def by_hand(fmt: str) -> None:
        tmp, dst = folder / f".native.{fmt}.tmp", folder / f"native.{fmt}"
        if fmt == "params":
            net.save_parameters(str(tmp))
        else:
            arrays = {k: p.data().asnumpy() for k, p in params.items()}
            if fmt == "safetensors":
                from safetensors.numpy import save_file
                save_file(arrays, str(tmp))
            else:
                with open(tmp, "wb") as f:
                    np.savez(f, **arrays)
        os.replace(tmp, dst)

    for fmt in ("params", "safetensors", "npz"):
        kit_file = folder / f"kit.{fmt}"
        # each sample after os.sync: a sample of a BERT-size save leaves ~1.2 GB of dirty pages,
        # and the kernel makes whatever writes next wait for them (0.3 s or 3 s, by turns)
        t = alternate({"kit": lambda: save(net, kit_file, fsync=False),
                       "native": lambda: by_hand(fmt)}, rounds, warmup=warmup, before=os.sync)
        mb = kit_file.stat().st_size / 2**20
        line(f"{label}_save_{fmt}_vs_by_hand", t["kit"] / t["native"], SAVE_TARGET,
             f"  ({mb:.0f} MiB; neither flushed)", measured=fmt_time(t["kit"]),
             native=fmt_time(t["native"]))
        for f in folder.iterdir():
            f.unlink()


def main(argv) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("-")] or ["resnet50", "densenet201", "bert"]
    folder = Path(tempfile.mkdtemp(prefix="bench_models_"))
    try:
        for name in names:
            label, net, x = build({"resnet50": "resnet50_v1"}.get(name, name), quick)
            print(describe(label, net), flush=True)
            big = name == "bert" and not quick
            bench_stats(label, net, 3 if big else 15)  # tens of ms a call: many samples (noise moved it 20%)
            if name == "bert":
                bench_stats_memory(label, 256 if quick else 1024)
            bench_summary(label, net, x, 3 if big else 5)
            bench_init(label, net, 3 if big else 5)
            bench_save(label, net, folder, 2 if big else 3, warmup=not big)
            del net
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
