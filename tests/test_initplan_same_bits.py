"""InitPlan.apply's shortcuts draw and write the same bits as Gluon's own initialize.

The plan runs each initializer once per plan (not per Parameter), writes a constant with the
one op ``arr[:] = v`` runs, writes nothing for zeros on Gluon's fresh zeros array, and keeps
the array MXNet's own initializer filled instead of a copy. These tests hold those paths to
what Gluon itself produces, and to the cases where a shortcut must not be taken.
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
import numpy as onp
import pytest
from fixtures import CPU2
from mxnet import gluon
from mxnet.gluon import nn

from gluon_params_kit.initializers import InitPlan, provenance, reinitialize
from gluon_params_kit.tree import named_parameters


def conv_bn_net():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=3), nn.BatchNorm(in_channels=4), nn.Activation("relu"),
            nn.Dense(5, in_units=36), nn.LayerNorm(in_channels=5), nn.Dense(2))  # last: deferred
    return net


def raw_values(net):
    """path -> (dtype, shape, bytes): equality is bit for bit."""
    return {path: (str(p.data().dtype), p.data().shape, p.data().asnumpy().tobytes())
            for path, p in named_parameters(net).items()}


@pytest.mark.parametrize("spec, gluon_init", [
    ("xavier", mx.init.Xavier()),
    ("normal(sigma=0.5)", mx.init.Normal(0.5)),
    ("zeros", mx.init.Zero()),
    ("constant(-2.5)", mx.init.Constant(-2.5)),
])
def test_unseeded_plan_draws_the_bits_gluon_draws(spec, gluon_init):
    """Layer defaults (BatchNorm's zeros and ones, Dense's zero bias) and the default, on
    the global stream: the same bits as Gluon's initialize after the same mx.random.seed."""
    ours, theirs = conv_bn_net(), conv_bn_net()
    for net in (ours, theirs):
        net.initialize(mx.init.Uniform(3.0))
        net(mx.nd.ones((1, 3, 5, 5)))  # every shape known, every array non-zero
    mx.random.seed(7, ctx=mx.cpu())
    theirs.initialize(gluon_init, force_reinit=True)
    mx.random.seed(7, ctx=mx.cpu())
    report = InitPlan([], default=spec).apply(ours)
    assert raw_values(ours) == raw_values(theirs)
    assert report["1.running_mean"].rule == "layer default"
    assert (ours[1].running_var.data().asnumpy() == 1).all()
    assert (ours[1].running_mean.data().asnumpy() == 0).all()


class Odd(nn.Block):
    """Layer defaults of other dtypes and zero-like constants."""

    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.neg = self.params.get("neg", shape=(3,), init=mx.init.Constant(-0.0))
            self.pos = self.params.get("pos", shape=(3,), init=mx.init.Constant(0))
            self.ints = self.params.get("ints", shape=(2, 2), dtype="int32", init=mx.init.Constant(7))
            self.half = self.params.get("half", shape=(2,), dtype="float16", init="ones")
            self.wide = self.params.get("wide", shape=(2,), dtype="float64", init=mx.init.Constant(0.1))


def test_zero_like_and_other_dtype_constants_are_what_gluon_writes():
    ours, theirs = Odd(), Odd()
    for block in (ours, theirs):
        block.initialize(mx.init.Uniform(5.0), force_reinit=True)
    theirs.initialize(force_reinit=True)  # each Parameter's own initializer
    InitPlan([]).apply(ours)
    assert raw_values(ours) == raw_values(theirs)
    assert ours.ints.data().asnumpy().tolist() == [[7, 7]] * 2
    assert ours.half.data().dtype == onp.float16 and ours.half.data().asnumpy().tolist() == [1.0, 1.0]
    assert (ours.pos.data().asnumpy() == 0).all() and (ours.neg.data().asnumpy() == 0).all()
    assert provenance(ours)["pos"]["spec"] == '["constant", {"value": 0}]'


def test_a_custom_initializer_keeps_its_own_array():
    """The filled array becomes the Parameter's only when MXNet's own initializer filled
    it: a custom initializer may keep what it was given."""
    kept = []

    class Keeper(mx.init.Initializer):
        def _init_weight(self, name, arr):
            arr[:] = 3.0
            kept.append(arr)

    net = nn.Dense(2, in_units=2)
    InitPlan([("weight", Keeper())]).apply(net)
    net.weight.data()[:] = 5.0
    assert kept[0].asnumpy().tolist() == [[3.0, 3.0]] * 2
    assert net.weight.data().asnumpy().tolist() == [[5.0, 5.0]] * 2


def test_a_parameter_class_with_its_own_init_impl_gets_arrays_as_gluon_gives_them():
    seen = []

    class Logged(gluon.Parameter):
        def _init_impl(self, data, ctx_list):
            seen.append(type(data))
            super()._init_impl(data, ctx_list)

    class Holder(nn.Block):
        def __init__(self):
            super().__init__()
            self.weight = Logged("weight", shape=(2, 3))

    net = Holder()
    mx.random.seed(3, ctx=mx.cpu())
    InitPlan([], default="xavier").apply(net)
    ours = net.weight.data().asnumpy()
    mx.random.seed(3, ctx=mx.cpu())
    net.weight.initialize(mx.init.Xavier(), force_reinit=True)
    assert seen == [mx.nd.NDArray, mx.nd.NDArray]
    assert ours.tobytes() == net.weight.data().asnumpy().tobytes()
    # Gluon re-made the arrays with the very same bits: the record still describes them
    assert provenance(net)["weight"] == {"rule": "default", "spec": mx.init.Xavier().dumps(), "seed": None}


def test_several_contexts_get_equal_copies_and_records_follow_the_arrays():
    net = conv_bn_net()
    net.initialize(ctx=CPU2)
    net(mx.nd.ones((1, 3, 5, 5), ctx=mx.cpu(0)))
    report = InitPlan([], default="xavier").apply(net, seed=4)
    for path, p in named_parameters(net).items():
        a, b = (p.data(c).asnumpy() for c in CPU2)
        assert a.tobytes() == b.tobytes(), path
        assert p.data(mx.cpu(0)).handle.value != p.data(mx.cpu(1)).handle.value
    assert all("stale" not in r for r in provenance(net).values())
    net[0].weight.data(mx.cpu(0))[:] = 1.0  # training-like in-place change: still current
    assert provenance(net)["0.weight"]["seed"] == report["0.weight"].seed
    net[0].initialize(force_reinit=True)  # Gluon's own re-initialization: stale
    assert provenance(net)["0.weight"]["stale"].endswith("(re-initialized)")


def test_reinitialize_with_zeros_over_values_writes_zeros():
    net = conv_bn_net()
    net.initialize(mx.init.Uniform(2.0))
    net(mx.nd.ones((1, 3, 5, 5)))
    reinitialize(net, "zeros", r"^(0|3)\.")
    for path, p in named_parameters(net).items():
        values = p.data().asnumpy()
        if path.startswith(("0.", "3.")):
            assert (values == 0).all() and not onp.signbit(values).any(), path
        elif path.endswith(("weight", "gamma")):
            assert (values != 0).any(), path
