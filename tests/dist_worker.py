"""One worker of the loopback dist_sync cluster that tests/test_dist.py starts.

Run with the DMLC_* environment set (DMLC_ROLE=worker). Each worker seeds itself by its
rank, so initial values differ; then it checks that a deferred net is refused before any
traffic, broadcasts (root 0, then root 1 for a second net), trains a few Trainer steps on
the same dist_sync store with its own data, and writes its checksums as JSON to argv[1].
"""
import ctypes
import json
import signal
import sys

try:  # Linux: die with the test process that started us, even if it is SIGKILLed
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except Exception:
    pass

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
from mxnet import autograd, gluon
from mxnet.gluon import nn

from gluon_params_kit.devices import broadcast, checksum
from gluon_params_kit.errors import DeviceError


def small_net():
    net = nn.HybridSequential()
    random = mx.init.Normal(1.0)  # biases too, so every value differs between workers
    net.add(nn.Dense(6, activation="relu", in_units=5, bias_initializer=random),
            nn.Dense(3, in_units=6, bias_initializer=random))
    return net


def main(out_path):
    kv = mx.kv.create("dist_sync")
    rank = kv.rank
    mx.random.seed(100 + rank)
    record = {"rank": rank, "num_workers": kv.num_workers}

    deferred = nn.Dense(4)
    deferred.initialize()
    try:
        broadcast(deferred, kv)
        record["deferred_error"] = None
    except DeviceError as exc:
        record["deferred_error"] = str(exc)

    net = small_net()
    net.initialize(mx.init.Normal(1.0))
    net.hybridize()
    record["initial"] = dict(checksum(net))
    broadcast(net, kv)
    record["after_broadcast"] = dict(checksum(net))

    other = small_net()
    other.initialize(mx.init.Normal(1.0))
    record["other_initial"] = dict(checksum(other))
    broadcast(other, kv, root=1)
    record["other_after_broadcast"] = dict(checksum(other))

    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore=kv)
    loss_fn = gluon.loss.L2Loss()
    record["steps"] = []
    for step in range(3):
        x = mx.nd.random.normal(shape=(4, 5))
        y = mx.nd.random.normal(shape=(4, 3))
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(4)
        record["steps"].append(dict(checksum(net)))

    with open(out_path, "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main(sys.argv[1])
