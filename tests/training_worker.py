"""Training runs for tests/test_training.py: the first run (in the test process) and the
resumed run (a second process: ``python training_worker.py SETUP OPTIMIZER MODE CKPT OUT``).

The data of step ``i`` comes from ``numpy.random.RandomState(i)``, so both processes see
the same batches; the net is seeded with ``mx.random.seed(0)``. Each run ends by saving a
training checkpoint to OUT, whose arrays (parameters and optimizer states) and JSON the
test compares bit for bit.
"""
import ctypes
import signal
import sys

try:  # Linux: die with the test process that started us, even if it is SIGKILLed
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except Exception:
    pass

import gluon_params_kit as gpk  # noqa: E402  (numpy shim before mxnet)

# isort: split
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from mxnet import autograd, gluon  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

N_FIRST, N_MORE = 4, 3
SETUPS = {"cpu": ([mx.cpu()], "local"), "device": ([mx.cpu(0), mx.cpu(1)], "device")}


def optimizer(name):
    if name == "sgd":
        return "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-3}
    return "adam", {"learning_rate": 0.02, "wd": 1e-4,
                    "lr_scheduler": mx.lr_scheduler.FactorScheduler(step=2, factor=0.7)}


def build(setup, opt):
    ctx, kvstore = SETUPS[setup]
    mx.random.seed(0)
    net = nn.HybridSequential()
    net.add(nn.Dense(16, activation="relu"), nn.Dense(3))  # deferred: shapes at 1st forward
    net.initialize(mx.init.Xavier(), ctx=ctx)
    name, params = optimizer(opt)
    trainer = gluon.Trainer(net.collect_params(), name, params, kvstore=kvstore)
    return net, trainer, ctx


def step(net, trainer, ctx, i):
    r = np.random.RandomState(i)
    array = mx.np.array if mx.util.is_np_array() else mx.nd.array
    x, y = array(r.randn(8, 5), dtype="float32"), array(r.randn(8, 3), dtype="float32")
    xs, ys = gluon.utils.split_and_load(x, ctx), gluon.utils.split_and_load(y, ctx)
    loss_fn = gluon.loss.L2Loss()
    with autograd.record():
        losses = [loss_fn(net(a), b) for a, b in zip(xs, ys)]
    autograd.backward(losses)
    trainer.step(8)


def first_run(setup, opt, ckpt, out):
    """N steps, checkpoint, M more steps, final checkpoint."""
    net, trainer, ctx = build(setup, opt)
    for i in range(N_FIRST):
        step(net, trainer, ctx, i)
    gpk.save_training(net, trainer, ckpt, metadata={"step": N_FIRST, "setup": setup})
    for i in range(N_FIRST, N_FIRST + N_MORE):
        step(net, trainer, ctx, i)
    gpk.save_training(net, trainer, out, metadata={"step": N_FIRST + N_MORE})


def resumed_run(setup, opt, mode, ckpt, out):
    """A fresh net and Trainer; load the checkpoint (all of it, or parameters only); M steps."""
    net, trainer, ctx = build(setup, opt)
    report = gpk.load_training(net, trainer if mode == "resume" else None, ckpt)
    assert report.metadata == {"step": N_FIRST, "setup": setup}, report.metadata
    start = report.metadata["step"]
    for i in range(start, start + N_MORE):
        step(net, trainer, ctx, i)
    gpk.save_training(net, trainer, out, metadata={"step": start + N_MORE})


if __name__ == "__main__":
    resumed_run(*sys.argv[1:])
