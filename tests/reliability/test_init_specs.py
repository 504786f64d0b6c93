"""Initializer specs are checked when parsed, and a deferred InitPlan.apply is all or nothing.

Before, ``xavier(rnd_type="bogus")`` and friends were accepted; on a deferred net the
plan "applied", and the first forward raised a raw ValueError after some parameters
had their values and others not.
"""
import math

import mxnet as mx
import pytest
from mxnet.gluon import nn

from gluon_params_kit import fresh_names, named_parameters
from gluon_params_kit.errors import InitializerError, ParamsKitError
from gluon_params_kit.initializers import InitPlan, get_initializer, provenance, register_initializer, reinitialize

from ._util import ones

BAD_SPECS = {  # spec -> (words of the error, is a TypeError)
    'xavier(rnd_type="bogus")': ("Xavier rnd_type must be one of 'uniform', 'gaussian', "
                                 "got 'bogus'", False),
    'xavier(factor_type="sideways")': ("factor_type must be one of 'avg', 'in', 'out'", False),
    "xavier(magnitude=-2)": ("magnitude must be a finite number > 0, got -2.0", False),
    'constant(value="abc")': ("Constant value must be a number (or an array of numbers), "
                              "got str: 'abc'", True),
    "constant(value=None)": ("value must be a number", True),
    "constant(value=[1, 2])": ("value must be a number (or an array of numbers), got list", True),
    'normal(sigma="big")': ("Normal sigma must be a finite number > 0, got 'big'", True),
    '["normal", {"sigma": NaN}]': ("sigma must be a finite number > 0, got nan", False),
    '["normal", {"sigma": Infinity}]': ("sigma must be a finite number > 0, got inf", False),
    "normal(sigma=0)": ("sigma must be a finite number > 0, got 0", False),
    "normal(sigma=-0.1)": ("got -0.1", False),
    "uniform(scale=-1)": ("Uniform scale must be a finite number >= 0, got -1", False),
    "uniform(scale=1e400)": ("got inf", False),
    'orthogonal(rand_type="cauchy")': ("rand_type must be one of 'uniform', 'normal'", False),
    'orthogonal(scale="x")': ("Orthogonal scale must be a finite number, got 'x'", True),
    'lstmbias(forget_bias="1")': ("LSTMBias forget_bias must be a finite number, got '1'", True),
    "normal(sigma=True)": ("Normal sigma must be a finite number > 0, got True", True),
    'msraprelu(factor_type="up")': ("factor_type must be one of", False),
    'fusedrnn(None, num_hidden=0, num_layers=1, mode="lstm")': ("num_hidden must be an int >= 1",
                                                                False),
    'fusedrnn(None, num_hidden=4, num_layers=1, mode="transformer")': (
        "mode must be one of 'rnn_relu', 'rnn_tanh', 'lstm', 'gru'", False),
}


@pytest.mark.parametrize("spec", sorted(BAD_SPECS))
def test_bad_arguments_are_refused_when_the_spec_is_parsed(spec):
    words, is_type = BAD_SPECS[spec]
    for parse in (get_initializer, lambda s: InitPlan([("weight", s)]),
                  lambda s: InitPlan([], default=s)):
        with pytest.raises(InitializerError) as info:
            parse(spec)
        assert words in str(info.value) and repr(spec) in str(info.value)
        assert isinstance(info.value, TypeError) is is_type


def test_an_initializer_object_with_bad_arguments_is_refused_too():
    for init in (mx.init.Xavier(rnd_type="bogus"), mx.init.Normal(sigma=math.nan),
                 mx.init.Constant("abc")):
        with pytest.raises(InitializerError):
            InitPlan([("weight", init)])


def test_good_arguments_still_pass_and_round_trip():
    for spec in ("xavier(rnd_type='gaussian', factor_type='in', magnitude=2.34)",
                 "normal(sigma=1e-8)", "uniform(scale=0)", "constant(value=-3)",
"orthogonal(scale=-1.0, rand_type='normal')",
                 "msraprelu(slope=0.1)", "lstmbias(forget_bias=2)",
                 "fusedrnn(init='[\"normal\", {\"sigma\": 0.1}]', num_hidden=3, num_layers=2, mode='gru')"):
        init = get_initializer(spec)
        assert get_initializer(init.dumps()).dumps() == init.dumps()


@pytest.mark.parametrize("spec", ["[" * 100_000, "[" * 3000 + "]" * 3000,
                                  "f(" * 3000 + ")" * 3000, '{"a":' * 5000])
def test_deeply_nested_specs_are_kit_errors_not_recursion_errors(spec):
    with pytest.raises(InitializerError) as info:
        get_initializer(spec)
    assert not isinstance(info.value, RecursionError)
    assert "nested too deeply" in str(info.value) or "cannot parse" in str(info.value)


def test_a_spec_longer_than_the_bound_is_refused():
    with pytest.raises(InitializerError, match="longer than the 100000 allowed"):
        get_initializer("normal(sigma=0.5" + " " * 100_000 + ")")


def test_a_bad_spec_leaves_a_deferred_net_untouched():
    with fresh_names():
        net = nn.Sequential()
        net.add(nn.Dense(3), nn.Dense(2))
    net.initialize()
    with pytest.raises(InitializerError):
        InitPlan([("weight", 'xavier(rnd_type="bogus")')]).apply(net)  # weights: deferred
    assert net(ones((1, 4))).shape == (1, 2)  # Gluon's own initialization, untouched
    assert all(r is None for r in provenance(net).values())


def _deferred_net(hybridize=False):
    with fresh_names():
        net = nn.HybridSequential() if hybridize else nn.Sequential()
        net.add(nn.Dense(3), nn.Dense(2))
    net.initialize(mx.init.Constant(0.5))
    if hybridize:
        net.hybridize()
    return net


def _state(net):
    return {k: (p._data is None, bool(p._deferred_init),
                None if p._data is None else p.data().asnumpy().tolist())
            for k, p in named_parameters(net).items()}


@pytest.mark.parametrize("hybridize", [False, True])
def test_an_initializer_failing_at_the_first_forward_undoes_the_whole_plan(hybridize):
    """Bilinear needs 4-d weights: the deferred 2-d ones fail only once their shape is known."""
    net = _deferred_net(hybridize)
    before = _state(net)
    plan = InitPlan([(r"^1\.weight$", "bilinear")], default="ones", respect_layer_defaults=False)
    plan.apply(net)
    with pytest.raises(InitializerError) as info:
        net(ones((1, 4)))
    msg = str(info.value)
    assert "deferred initialization of '1.weight' (shape (2, 3))" in msg
    assert "failed at the first forward" in msg and "nothing was changed" in msg
    assert isinstance(info.value, ParamsKitError) and isinstance(info.value.__cause__, IndexError)
    assert _state(net) == before  # 0.weight (done before 1.weight failed) and biases put back
    assert all(r is None for r in provenance(net).values())
    out = net(ones((1, 4)))  # Gluon's own deferred init runs now
    assert out.asnumpy().tolist() == [[3.0, 3.0]]  # weights 0.5, Dense biases zeros: 3 * (4 * .5) * .5
    assert net[0].weight.data().asnumpy().tolist() == [[0.5] * 4] * 3


def test_a_custom_initializer_failing_late_rolls_back_and_a_fixed_plan_then_works():
    @register_initializer(aliases="wide_fails")
    class WideFails(mx.init.Initializer):
        def _init_weight(self, name, arr):
            if arr.shape[-1] > 3:
                raise ValueError(f"too wide: {arr.shape}")
            arr[:] = 2

    net = _deferred_net()
    InitPlan([("weight", "wide_fails")], default="zeros").apply(net)
    with pytest.raises(InitializerError, match=r"'0.weight' \(shape \(3, 4\)\).*too wide"):
        net(ones((1, 4)))
    assert all(p._data is None and p._deferred_init for p in named_parameters(net).values()
               if p.name.endswith("weight"))
    InitPlan([("weight", "ones")], default="zeros").apply(net)
    assert net(ones((1, 4))).asnumpy().tolist() == [[12.0, 12.0]]
    assert provenance(net)["1.weight"]["spec"] == '["one", {}]'


def test_once_every_deferred_parameter_is_done_nothing_is_kept_for_a_roll_back():
    net = _deferred_net()
    InitPlan([], default="ones", respect_layer_defaults=False).apply(net)
    net(ones((1, 4)))
    assert not any("_params_kit_deferred_batch" in p.__dict__
                   for p in named_parameters(net).values())
    reinitialize(net, "zeros", r"\.bias$")
    assert net(ones((1, 4))).asnumpy().tolist() == [[12.0, 12.0]]
