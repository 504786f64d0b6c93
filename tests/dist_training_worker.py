"""One worker of a loopback dist_sync cluster for tests/test_training.py.

``python dist_training_worker.py OUT MODE``; MODE is ``servers`` (the Trainer's default on
a dist store: the servers run the optimizer) or ``workers`` (``update_on_kvstore=False``).
Each worker seeds itself by rank, broadcasts, trains, then:

- servers: ``gpk.load`` of a file (the same values on both workers, signed zeros too)
  into the live Trainer; a pull of the Trainer's keys shows what the servers hold; a
  real step; ``save_training``'s and ``load_training``'s refusals (the states live on
  the servers), which change nothing.
- workers: a training checkpoint after 2 steps, 2 more steps, then ``load_training`` of
  that checkpoint and the same 2 steps again: the same values, bit for bit.

Checksums go to OUT as JSON.
"""
import ctypes
import json
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


def small_net(seed):
    mx.random.seed(seed)
    net = nn.HybridSequential()
    random = mx.init.Normal(1.0)
    net.add(nn.Dense(6, activation="relu", in_units=5, bias_initializer=random),
            nn.Dense(3, in_units=6, bias_initializer=random))
    net.initialize(random)
    return net


def step(net, trainer, rank, i):
    r = np.random.RandomState(10 * i + rank)  # each worker its own data
    x, y = mx.nd.array(r.randn(4, 5)), mx.nd.array(r.randn(4, 3))
    with autograd.record():
        loss = gluon.loss.L2Loss()(net(x), y)
    loss.backward()
    trainer.step(4)


def main(out_path, mode):
    kv = mx.kv.create("dist_sync")
    rank = kv.rank
    net = small_net(100 + rank)
    gpk.broadcast(net, kv)
    record = {"rank": rank}
    if mode == "servers":
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1},
                                kvstore=kv)
        step(net, trainer, rank, 0)
        record["before_load"] = dict(gpk.checksum(net))
        target = small_net(7)  # the same values on both workers, signed zeros included
        target[1].bias.set_data(mx.nd.array(np.array([-0.0, 0.0, 1.0], dtype="float32")))
        record["target"] = dict(gpk.checksum(target))
        path = f"{out_path}.target.params"
        gpk.save(target, path)
        gpk.load(net, path)
        record["after_load"] = dict(gpk.checksum(net))
        held = small_net(0)  # what the servers hold for each of the Trainer's keys
        for p, q in zip(gpk.named_parameters(net).values(), gpk.named_parameters(held).values()):
            kv.pull(trainer._param2idx[p.name], out=q.data())
        record["servers_hold"] = dict(gpk.checksum(held))
        step(net, trainer, rank, 1)
        record["after_step"] = dict(gpk.checksum(net))
        try:
            gpk.save_training(net, trainer, f"{out_path}.ckpt.params")
            record["save_error"] = None
        except gpk.CheckpointError as exc:
            record["save_error"] = str(exc)
        local = small_net(8)  # a checkpoint made elsewhere: refused here, nothing changes
        local_trainer = gluon.Trainer(local.collect_params(), "sgd", {"learning_rate": 0.1})
        step(local, local_trainer, rank, 0)
        gpk.save_training(local, local_trainer, f"{out_path}.local.params")
        try:
            gpk.load_training(net, trainer, f"{out_path}.local.params")
            record["load_error"] = None
        except gpk.CheckpointError as exc:
            record["load_error"] = str(exc)
        record["after_refusal"] = dict(gpk.checksum(net))
    else:
        trainer = gluon.Trainer(net.collect_params(), "sgd",
                                {"learning_rate": 0.1, "momentum": 0.9}, kvstore=kv,
                                update_on_kvstore=False)
        # MXNet 1.9.1 races here without the kit: the Trainer's first step broadcasts the
        # weights on key i and sums gradients on the same key; a worker whose pull of the
        # weights is served after the gradients were summed takes the sum as its weights,
        # and the workers drift apart (1 run in 3 here). Letting the broadcast finish first
        # makes the runs reproducible.
        trainer._init_kvstore()
        trainer._init_params()
        mx.nd.waitall()
        for i in range(2):
            step(net, trainer, rank, i)
        ckpt = f"{out_path}.ckpt.params"
        gpk.save_training(net, trainer, ckpt, metadata={"step": 2})
        for i in range(2, 4):
            step(net, trainer, rank, i)
        record["first"] = dict(gpk.checksum(net))
        report = gpk.load_training(net, trainer, ckpt)
        record["loaded"] = dict(gpk.checksum(net))
        record["metadata"] = report.metadata
        for i in range(2, 4):
            step(net, trainer, rank, i)
        record["resumed"] = dict(gpk.checksum(net))
    with open(out_path, "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
