"""Training checkpoints: ``save_training`` / ``load_training`` vs Gluon's two-file pair.

Gluon's way to keep a run is ``save_parameters`` plus ``Trainer.save_states`` (a pickle of
the optimizer states), loaded back with ``load_parameters`` plus ``load_states``. The kit
writes one pickle-free file atomically (temporary file, fsync, rename) and checks the
block and the Trainer before loading. Same MLP and Adam Trainer (after one step, so the
moments exist), same folder; samples alternate, the best of each is compared.
Target: ratio <= 1.2 each way.

Usage: python benchmarks/bench_training.py [--quick]   (--quick: a small net)
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx  # noqa: E402
from _timing import best, line  # noqa: E402  (this folder is sys.path[0])
from mxnet import autograd, gluon  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from gluon_params_kit.training import load_training, save_training  # noqa: E402

TARGET = 1.2


def setup(width: int, depth: int):
    net = nn.HybridSequential()
    for _ in range(depth):
        net.add(nn.Dense(width, activation="relu", in_units=width))
    net.initialize()
    trainer = gluon.Trainer(net.collect_params(), "adam")
    with autograd.record():
        loss = net(mx.nd.ones((2, width))).sum()
    loss.backward()
    trainer.step(2)
    mx.nd.waitall()
    return net, trainer


def main(argv) -> int:
    quick = "--quick" in argv
    width, depth, samples = (256, 2, 5) if quick else (2048, 4, 9)
    net, trainer = setup(width, depth)
    folder = Path(tempfile.mkdtemp(prefix="bench_training_"))
    kit = folder / "run.params"
    params, states = str(folder / "g.params"), str(folder / "g.states")
    try:
        t = {"kit_save": [], "gluon_save": [], "kit_load": [], "gluon_load": []}
        for _ in range(samples):
            t["gluon_save"].append(best(lambda: (net.save_parameters(params),
                                                 trainer.save_states(states)), 1))
            t["kit_save"].append(best(lambda: save_training(net, trainer, kit), 1))
            t["gluon_load"].append(best(lambda: (net.load_parameters(params),
                                                 trainer.load_states(states),
                                                 mx.nd.waitall()), 1))
            t["kit_load"].append(best(lambda: (load_training(net, trainer, kit),
                                               mx.nd.waitall()), 1))
        mb = kit.stat().st_size / 2**20
        for what in ("save", "load"):
            k, g = min(t[f"kit_{what}"]), min(t[f"gluon_{what}"])
            line(f"{what}_training_vs_{what}_parameters_and_states", k / g, TARGET,
                 f"  ({mb:.1f} MiB)", fmt=".3g", measured=f"{k * 1e3:.1f} ms",
                 native=f"{g * 1e3:.1f} ms")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
