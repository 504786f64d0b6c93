"""Bad input to devices.py: each error's type and what its message tells the user."""
import numpy as onp
import pytest

import gluon_params_kit  # noqa: F401
import mxnet as mx
from mxnet.gluon import nn

from gluon_params_kit._kvstore import KEY_BASE, KEY_LIMIT, _next_key
from gluon_params_kit.devices import (broadcast, checksum, move, replica_report,
                                      set_data_everywhere, sync_replicas)
from gluon_params_kit.errors import DeviceError, ParamsKitError, PathError
from fixtures import CPU2, book_mlp, initialized


def _replicas(param):
    return [d.asnumpy() for d in param.list_data()]


@pytest.mark.parametrize("ctx", ["cpu", [], None, [mx.cpu(0), "gpu"]])
def test_move_rejects_non_contexts(ctx):
    net = initialized(book_mlp(), x_shape=(2, 20))
    with pytest.raises(DeviceError, match=r"ctx must be an mx.Context or a non-empty list") as err:
        move(net, ctx)
    assert "mx.cpu()" in str(err.value) and isinstance(err.value, ValueError)
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
    with pytest.raises(DeviceError, match=r"source must be an mx.Context"):
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
    for root in (1, -1, True, "0"):
        with pytest.raises(DeviceError, match=r"root must be a worker rank in 0..0 \(kvstore "
                                              r"'local' has 1 worker\(s\)\)"):
            broadcast(net, kv, root=root)


def test_broadcast_bad_kvstore():
    net = initialized(book_mlp(), x_shape=(2, 20))
    with pytest.raises(DeviceError) as err:
        broadcast(net, "dist_sync")
    assert "mx.kv.create('dist_sync')" in str(err.value)
    assert "gluon.Trainer(..., kvstore=kv)" in str(err.value)
    with pytest.raises(DeviceError, match=r"kvstore must be an mx.kv.KVStore or one of "
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
    with pytest.raises(DeviceError, match=r"atol must be a number >= 0, got -1"):
        replica_report(net, atol=-1)
    with pytest.raises(PathError, match=r"block must be a mxnet.gluon.Block, got str"):
        replica_report("net")


def test_device_errors_are_kit_errors():
    assert issubclass(DeviceError, ParamsKitError) and issubclass(DeviceError, ValueError)
    with pytest.raises(ValueError):
        move(nn.Dense(2), "cpu")
