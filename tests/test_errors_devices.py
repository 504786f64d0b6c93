"""Bad input to devices/: each error's type and what its message tells the user.

Part of the bad-input suite (``tests/test_errors*.py``); ``tests/reliability/test_np_mode.py``
replays it in np mode, so arrays are made in the current mode.
"""
import math
import re

import mxnet as mx
import numpy as onp
import pytest
from fixtures import CPU2, book_mlp
from fixtures import initialized_in_current_mode as initialized
from mxnet import gluon
from mxnet.gluon import nn

from gluon_params_kit._core.kvstore import KEY_BASE, KEY_LIMIT, _next_key
from gluon_params_kit.checkpoint import load, save
from gluon_params_kit.devices import (
    broadcast,
    checksum,
    gpu_problems,
    move,
    replica_report,
    set_data_everywhere,
    sync_replicas,
    try_gpu,
)
from gluon_params_kit.errors import (
    CheckpointError,
    DeviceError,
    DeviceTypeError,
    InitializerError,
    ParamsKitError,
    PathError,
)
from gluon_params_kit.initializers import InitPlan, reinitialize
from gluon_params_kit.training import load_training, save_training


def _replicas(param):
    return [d.asnumpy() for d in param.list_data()]


@pytest.mark.parametrize("ctx", ["cpu", [], None, [mx.cpu(0), "gpu"]])
def test_move_rejects_non_contexts(ctx):
    net = initialized(book_mlp(), x_shape=(2, 20))
    with pytest.raises(DeviceError, match=r"ctx must be an mx.Context or a non-empty list") as err:
        move(net, ctx)
    assert "mx.cpu()" in str(err.value) and isinstance(err.value, ValueError)
    assert isinstance(err.value, TypeError) is (ctx != [])  # not a context at all: DeviceTypeError
    assert net[0].weight.list_ctx() == [mx.cpu(0)]


def test_move_rejects_repeated_and_missing_contexts():
    net = initialized(book_mlp(), x_shape=(2, 20))
    with pytest.raises(DeviceError, match=r"lists a context twice"):
        move(net, [mx.cpu(0), mx.cpu(0)])
    with pytest.raises(DeviceError) as err:
        move(net, [mx.cpu(0), mx.gpu(7)])
    text = str(err.value)
    assert "'gpu(7)' not available" in text and "Available:" in text and "'cpu(0)'" in text
    assert net[0].weight.list_ctx() == [mx.cpu(0)]  # nothing moved


def test_sync_replicas_source_missing_changes_nothing():
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2)
    net[0].weight.data(mx.cpu(1))[:] = 2
    before = _replicas(net[0].weight)
    with pytest.raises(DeviceError) as err:
        sync_replicas(net, source=mx.cpu(2))
    text = str(err.value)
    assert "source cpu(2) holds no replica of" in text and "0.weight (on cpu(0), cpu(1))" in text
    for a, b in zip(before, _replicas(net[0].weight)):
        onp.testing.assert_array_equal(a, b)
    with pytest.raises(DeviceTypeError, match=r"source must be None or an mx.Context like "
                                              r"mx.cpu\(0\), got 'cpu\(1\)'"):
        sync_replicas(net, source="cpu(1)")


def test_set_data_everywhere_bad_inputs():
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2)
    with pytest.raises(DeviceError, match=r"new value for '1.bias' has shape \(3,\), "
                                          r"the parameter has \(10,\)"):
        set_data_everywhere(net, "1.bias", mx.nd.ones((3,)))
    with pytest.raises(DeviceError, match=r"path '0' is a block \(Dense\), not a parameter"):
        set_data_everywhere(net, "0", 1.0)
    with pytest.raises(PathError, match=r"no 'bais' at 1 \(Dense\).*Did you mean 'bias'"):
        set_data_everywhere(net, "1.bais", 1.0)
    fresh = book_mlp()
    fresh.initialize()
    with pytest.raises(DeviceError, match=r"'0.weight' is deferred \(run one forward first\)"):
        set_data_everywhere(fresh, "0.weight", 1.0)
    with pytest.raises(DeviceError, match=r"'0.weight' is not initialized"):
        set_data_everywhere(book_mlp(), "0.weight", 1.0)


def test_broadcast_refuses_deferred_before_any_traffic():
    net = book_mlp()
    net.initialize(ctx=CPU2)
    kv = mx.kv.create("local")
    with pytest.raises(DeviceError) as err:
        broadcast(net, kv)
    text = str(err.value)
    assert text.startswith("cannot broadcast: deferred (shape unknown until the first forward): "
                           "'0.weight', '1.weight'.")
    assert "Run one forward pass, net(x), on every worker" in text and "Nothing was sent." in text
    assert kv not in _next_key  # no key was taken


def test_broadcast_refuses_uninitialized_and_bad_root():
    kv = mx.kv.create("local")
    with pytest.raises(DeviceError, match=r"not initialized: '0.weight', '0.bias', '1.weight', "
                                          r"'1.bias'. Call net.initialize\(\) first"):
        broadcast(book_mlp(), kv)
    net = initialized(book_mlp(), x_shape=(2, 20))
    for root, wrong_type in ((1, False), (-1, False), (True, True), ("0", True), (0.0, True)):
        with pytest.raises(DeviceError, match=r"root must be an int in 0\.\.0 \(a worker rank: "
                                              r"kvstore 'local' has 1 worker\(s\)\)") as info:
            broadcast(net, kv, root=root)
        assert isinstance(info.value, DeviceTypeError) is wrong_type


def test_broadcast_bad_kvstore():
    net = initialized(book_mlp(), x_shape=(2, 20))
    with pytest.raises(DeviceError) as err:
        broadcast(net, "dist_sync")
    assert "mx.kv.create('dist_sync')" in str(err.value)
    assert "gluon.Trainer(..., kvstore=kv)" in str(err.value)
    with pytest.raises(DeviceTypeError, match=r"kvstore must be an mx.kv.KVStore or one of "
                                              r"'local', 'device', got int: 3"):
        broadcast(net, 3)


def test_broadcast_key_range_exhausted():
    net = initialized(book_mlp(), x_shape=(2, 20))
    kv = mx.kv.create("local")
    _next_key[kv] = KEY_LIMIT - 2
    with pytest.raises(DeviceError, match=r"reserved kvstore keys 100000..214999 are used up"):
        broadcast(net, kv)
    assert _next_key[kv] == KEY_LIMIT - 2 and KEY_BASE == 100_000


def test_checksum_and_report_bad_inputs():
    net = book_mlp()
    net.initialize()
    with pytest.raises(DeviceError, match=r"no values to checksum for '0.weight', '1.weight' "
                                          r"\(deferred or not initialized\)"):
        checksum(net)
    with pytest.raises(DeviceError, match=r"atol must be a finite number >= 0, got -1"):
        replica_report(net, atol=-1)
    with pytest.raises(PathError, match=r"block must be a mxnet.gluon.Block, got str"):
        replica_report("net")


def test_device_errors_are_kit_errors():
    assert issubclass(DeviceError, ParamsKitError) and issubclass(DeviceError, ValueError)
    with pytest.raises(ValueError):
        move(nn.Dense(2), "cpu")



# One error rule: a context is a DeviceError, a number goes through one validator.

def _every_ctx_taker(tmp_path):
    """(name, call(ctx)) for every public function with a ``ctx`` argument."""
    file, run = str(tmp_path / "mlp.params"), str(tmp_path / "run.params")
    trained = initialized(book_mlp(), x_shape=(2, 20))
    save(trained, file)
    save_training(trained, gluon.Trainer(trained.collect_params(), "sgd"), run)
    plan = InitPlan([], default="zeros")
    return [
        ("load_training", lambda ctx: load_training(book_mlp(), None, run, ctx=ctx)),
        ("move", lambda ctx: move(initialized(book_mlp(), x_shape=(2, 20)), ctx)),
        ("load", lambda ctx: load(book_mlp(), file, ctx=ctx)),
        ("InitPlan.apply", lambda ctx: plan.apply(book_mlp(), ctx=ctx)),
        ("reinitialize", lambda ctx: reinitialize(initialized(book_mlp(), x_shape=(2, 20)), "zeros",
                                                  ctx=ctx)),
    ]


@pytest.mark.parametrize("ctx, error, says", [
    ([mx.cpu(0), mx.cpu(0)], DeviceError, r"ctx lists a context twice: \[cpu\(0\), cpu\(0\)\]"),
    ([], DeviceError, r"ctx must be .*an mx.Context or a non-empty list of distinct ones"),
    ("cpu", DeviceTypeError, r"ctx must be .*an mx.Context or a non-empty list of distinct ones"),
    ([mx.cpu(0), 1], DeviceTypeError, r"got \[cpu\(0\), 1\]"),
])
def test_a_bad_context_is_a_device_error_whatever_function_receives_it(tmp_path, ctx, error, says):
    for name, call in _every_ctx_taker(tmp_path):
        with pytest.raises(DeviceError, match=says) as info:
            call(ctx)
        assert type(info.value) is error, name
        # not the receiving feature's error: ``except DeviceError`` is the one clause for contexts
        assert not isinstance(info.value, (CheckpointError, InitializerError)), name


def test_load_with_a_repeated_context_changes_nothing(tmp_path):
    file = str(tmp_path / "mlp.params")
    save(initialized(book_mlp(), x_shape=(2, 20)), file)
    net = book_mlp()
    with pytest.raises(DeviceError, match="lists a context twice"):
        load(net, file, ctx=[mx.cpu(1), mx.cpu(1)])
    assert all(p._data is None for p in net.collect_params().values())


def test_replica_report_refuses_nan_atol():
    """NaN compares False with everything: identical replicas came out OUT OF SYNC."""
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2)
    assert replica_report(net).consistent
    with pytest.raises(DeviceError, match=r"^atol must be a finite number >= 0, got nan$") as info:
        replica_report(net, atol=float("nan"))
    assert not isinstance(info.value, TypeError)


@pytest.mark.parametrize("atol, error", [
    (True, DeviceTypeError), (False, DeviceTypeError), ("0", DeviceTypeError), (None, DeviceTypeError),
    (onp.bool_(True), DeviceTypeError), (-1e-9, DeviceError), (math.inf, DeviceError),
    (-math.inf, DeviceError), (onp.float32("nan"), DeviceError),
])
def test_replica_report_bad_atol_names_it(atol, error):
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2)
    with pytest.raises(DeviceError, match=r"^atol must be a finite number >= 0, got ") as info:
        replica_report(net, atol=atol)
    assert type(info.value) is error
    assert isinstance(info.value, TypeError) is (error is DeviceTypeError)


@pytest.mark.parametrize("atol", [0, 0.5, 3, onp.float32(1e-6), onp.int64(2)])
def test_replica_report_good_atol(atol):
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2)
    assert replica_report(net, atol=atol).consistent


def test_sync_replicas_source_of_the_wrong_type_changes_nothing():
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2)
    net[0].weight.data(mx.cpu(1))[:] = 2
    before = _replicas(net[0].weight)
    for source in ("cpu(0)", 0, [mx.cpu(0)]):
        with pytest.raises(DeviceTypeError, match="source must be None or an mx.Context"):
            sync_replicas(net, source=source)
    for a, b in zip(before, _replicas(net[0].weight)):
        onp.testing.assert_array_equal(a, b)



@pytest.mark.parametrize("bad, wrong_type", [("0", True), (None, True), (1.0, True), (True, True),
                                             (-1, False), (onp.array([0]), True)])
def test_try_gpu_takes_a_gpu_index_only(bad, wrong_type):
    """try_gpu('0') and try_gpu(None) raised raw TypeErrors from a comparison."""
    shown = "ndarray of shape (1,) int64" if isinstance(bad, onp.ndarray) else repr(bad)
    with pytest.raises(DeviceError, match=r"try_gpu: i must be an int >= 0 \(a GPU index: 0, 1, \.\.\. as in "
                                          r"mx\.gpu\(i\)\), got " + re.escape(shown)) as info:
        try_gpu(bad)
    assert isinstance(info.value, DeviceTypeError) is wrong_type
    assert try_gpu(10 ** 30) == mx.cpu()  # a valid index of a GPU that is not there


def test_gpu_problems_options_are_checked_before_probing():
    with pytest.raises(DeviceTypeError, match=r"gpus must be None \(probe this machine\) or a list of "
                                              r"\(name, \(major, minor\)\) like \[\('NVIDIA H100', \(9, 0\)\)\], got 'x'"):
        gpu_problems(gpus="x")
    with pytest.raises(DeviceTypeError, match=r"gpus must be .*got \[\('A100', '8\.0'\)\]"):
        gpu_problems(gpus=[("A100", "8.0")])
    with pytest.raises(DeviceTypeError, match=r"gpu_problems: cuda_build must be None, True or False, got NDArray"):
        gpu_problems(gpus=[], cuda_build=mx.nd.array([1]))
    with pytest.raises(DeviceTypeError, match=r"arches must be a non-empty list of \(major, minor\) like "
                                              r"\[\(5, 0\), \(5, 2\)\], got \[\]"):
        gpu_problems(gpus=[], arches=[])
    assert gpu_problems(gpus=[("A100", (8, 0))], cuda_build=True) == []
