"""Bad input to the initializer registry, specs, plans and reinitialize: type and message.

Part of the bad-input suite (``tests/test_errors*.py``); ``tests/reliability/test_np_mode.py``
replays it in np mode, so arrays are made in the current mode.
"""
import mxnet as mx
import numpy as onp
import pytest
from fixtures import array_in_current_mode as array
from fixtures import book_mlp
from mxnet.gluon import nn

import gluon_params_kit
from gluon_params_kit._core.compat import to_numpy
from gluon_params_kit.errors import DeviceError, InitializerError, InitializerTypeError, PathError, SelectionError
from gluon_params_kit.initializers import (
    InitPlan,
    get_initializer,
    provenance,
    register_initializer,
    reinitialize,
)
from gluon_params_kit.tree import named_parameters


def initialized_mlp():
    net = book_mlp()
    net.initialize()
    _ = net(array((2, 20)))
    return net


def snapshot_initializers(net):
    return {k: to_numpy(p.data()).copy() for k, p in named_parameters(net).items()}


def assert_unchanged(net, before):
    for k, v in snapshot_initializers(net).items():
        onp.testing.assert_array_equal(v, before[k])


def test_unknown_name_lists_registered_and_closest():
    with pytest.raises(InitializerError) as info:
        get_initializer("xavierr")
    msg = str(info.value)
    assert "unknown initializer 'xavierr'" in msg
    assert "Did you mean 'xavier'" in msg
    assert "'normal'" in msg and "'myinit'" in msg and "register_initializer" in msg


def test_unknown_name_in_call_string_and_json():
    with pytest.raises(InitializerError, match=r"unknown initializer 'gaussian'"):
        get_initializer("gaussian(sigma=1)")
    with pytest.raises(InitializerError, match=r"unknown initializer 'normall'.*'normal'"):
        get_initializer('["normall", {"sigma": 1}]')


def test_bad_keyword_names_initializer_and_accepted_arguments():
    with pytest.raises(InitializerError) as info:
        get_initializer("normal(sgma=0.1)")
    msg = str(info.value)
    assert "'normal' (Normal)" in msg and "sgma" in msg and "It accepts: sigma=0.01" in msg
    with pytest.raises(InitializerError, match=r"'xavier'.*rnd_type='uniform', factor_type='avg', "
                                               r"magnitude=3"):
        get_initializer("xavier(1, 2, 3, 4)")
    with pytest.raises(InitializerError, match=r"'constant'.*value \(required\)"):
        get_initializer("constant")


def test_call_strings_are_never_evaluated(capsys):
    with pytest.raises(InitializerError, match=r"argument \"print\('pwned'\)\" is not a literal"):
        get_initializer("normal(sigma=print('pwned'))")
    with pytest.raises(InitializerError, match=r"is not a literal"):
        get_initializer("normal(__import__('os').getpid())")
    assert capsys.readouterr().out == ""
    with pytest.raises(InitializerError, match=r"\*args and \*\*kwargs are not allowed"):
        get_initializer("normal(**{'sigma': 1})")
    with pytest.raises(InitializerError, match=r"must be a registered name or a call"):
        get_initializer("1 + 2")


def test_unparsable_text_json_and_types():
    with pytest.raises(InitializerError, match=r"cannot parse initializer spec 'normal\('"):
        get_initializer("normal(")
    with pytest.raises(InitializerError, match=r"is not valid JSON"):
        get_initializer('["normal", {"sigma": 1}')
    with pytest.raises(InitializerError, match=r"JSON must be \[name, \{kwargs\}\]"):
        get_initializer('["normal", 1, 2]')
    with pytest.raises(InitializerError, match=r"spec must be an Initializer.*got int: 3"):
        get_initializer(3)
    with pytest.raises(InitializerError, match=r"spec is empty"):
        get_initializer("  ")


def test_initializer_rejecting_its_arguments_is_named():
    with pytest.raises(InitializerError, match=r"'msraprelu' \(MSRAPrelu\) rejected spec "
                                               r"\"msraprelu\(slope='steep'\)\": TypeError"):
        get_initializer("msraprelu(slope='steep')")
    with pytest.raises(InitializerError, match=r"unknown initializer 'nope' in spec 'nope'"):
        get_initializer("fusedrnn(init='nope', num_hidden=1, num_layers=1, mode='lstm')")


def test_register_initializer_bad_inputs():
    with pytest.raises(InitializerError, match=r"needs a subclass of mx.init.Initializer, "
                                               r"got 'int'"):
        register_initializer(int)
    with pytest.raises(InitializerError, match=r"must be Python identifiers.*'not valid'"):
        register_initializer(aliases="not valid")(type("Good", (mx.init.Initializer,), {}))
    with pytest.raises(InitializerError, match=r"aliases must be a str or a list/tuple of str, "
                                               r"got int: 5"):
        register_initializer(aliases=5)
    with pytest.raises(InitializerError, match=r"replace must be True or False, got 'yes'"):
        register_initializer(type("Good", (mx.init.Initializer,), {}), replace="yes")
    assert "good" not in gluon_params_kit.list_initializers()  # nothing was registered

    class Xavier(mx.init.Initializer):  # clashes with MXNet's own 'xavier'
        pass

    with pytest.raises(InitializerError, match=r"'xavier' is already registered to "
                                               r"mxnet.initializer.Xavier.*replace=True"):
        register_initializer(Xavier)
    assert type(get_initializer("xavier")) is mx.init.Xavier  # nothing was replaced


def test_plan_construction_errors():
    with pytest.raises(InitializerError, match=r"rules must be a list of \(pattern, spec\) pairs"):
        InitPlan("weight")
    with pytest.raises(InitializerError, match=r"rule 1 must be a \(pattern, spec\) pair, "
                                               r"got 'bias'"):
        InitPlan([("weight", "ones"), "bias"])
    with pytest.raises(InitializerError, match=r"unknown initializer 'onez'"):
        InitPlan([("weight", "onez")])
    with pytest.raises(InitializerError, match=r"respect_layer_defaults must be True or False"):
        InitPlan([], default="ones", respect_layer_defaults="yes")
    with pytest.raises(SelectionError, match=r"\("):
        InitPlan([("(", "ones")])
    with pytest.raises(SelectionError, match=r"regex"):
        InitPlan([("weight", "ones")], mode="regex")


def test_apply_unmatched_lists_them_and_changes_nothing():
    net = initialized_mlp()
    before = snapshot_initializers(net)
    with pytest.raises(InitializerError) as info:
        InitPlan([("weight", "ones")], respect_layer_defaults=False).apply(net, seed=1)
    msg = str(info.value)
    assert "leaves 2 of 4 parameter(s)" in msg and "'0.bias', '1.bias'" in msg
    assert "Nothing was changed" in msg and "respect_layer_defaults=False" in msg
    assert_unchanged(net, before)
    assert all(r is None for r in provenance(net).values())


def test_failing_initializer_names_parameter_and_rolls_back():
    net = initialized_mlp()
    before = snapshot_initializers(net)
    with pytest.raises(InitializerError) as info:
        InitPlan([], default="xavier", respect_layer_defaults=False).apply(net)
    msg = str(info.value)
    assert "initializing '0.bias' (shape (256,))" in msg and "rule 'default'" in msg
    assert "requires at least 2D" in msg and "Nothing was changed" in msg
    assert_unchanged(net, before)


def test_bad_seed_ctx_and_block():
    net = nn.Dense(2, in_units=2)
    plan = InitPlan([], default="ones")
    with pytest.raises(InitializerError, match=r"seed must be None or an int, got '1'"):
        plan.apply(net, seed="1")
    with pytest.raises(InitializerError, match=r"seed must be None or an int, got True"):
        plan.preview(net, seed=True)
    with pytest.raises(DeviceError, match=r"ctx must be None, an mx.Context.*'cpu'"):
        plan.apply(net, ctx="cpu")
    with pytest.raises(DeviceError, match=r"got \[\]"):
        plan.apply(net, ctx=[])
    with pytest.raises(InitializerError, match=r"block must be a mxnet.gluon.Block, got dict"):
        plan.apply({})
    with pytest.raises(InitializerError, match=r"block must be a mxnet.gluon.Block, got str"):
        provenance("net")
    assert net.weight._data is None  # nothing initialized by the failed calls


@pytest.mark.parametrize("call", [
    lambda: InitPlan([], default="ones").apply(nn.Dense(2, in_units=2), seed="1"),
    lambda: InitPlan([], default="ones").preview(nn.Dense(2, in_units=2), seed=True),
    lambda: InitPlan([], default="ones").apply(nn.Dense(2, in_units=2), seed=1.0),
    lambda: InitPlan("weight"),
    lambda: InitPlan([("weight", "ones"), "bias"]),
    lambda: InitPlan([], default="ones", respect_layer_defaults="yes"),
    lambda: register_initializer(int),
    lambda: register_initializer(aliases=5),
    lambda: get_initializer("normal(sigma='big')"),
    lambda: reinitialize({}, "ones"),
])
def test_a_wrong_type_is_an_initializer_type_error(call):
    with pytest.raises(InitializerTypeError) as info:
        call()
    assert isinstance(info.value, TypeError) and isinstance(info.value, InitializerError)


def test_a_wrong_value_of_the_right_type_is_not_a_type_error():
    for call in (lambda: InitPlan([("weight", "ones", "x")]),  # a tuple, of the wrong length
                 lambda: get_initializer("normal(sigma=-1)"),
                 lambda: get_initializer("fusedrnn(None, num_hidden=0, num_layers=1, mode='lstm')")):
        with pytest.raises(InitializerError) as info:
            call()
        assert not isinstance(info.value, TypeError)


def test_unknown_shape_that_cannot_defer():
    class Fixed(nn.Block):
        def __init__(self):
            super().__init__()
            self.w = self.params.get("w", shape=(0, 3), allow_deferred_init=False)

    with pytest.raises(InitializerError, match=r"'w' has an unknown shape \((0|-1), 3\) and does not "
                                               r"allow deferred initialization"):
        InitPlan([], default="ones").apply(Fixed())


def test_preview_unknown_row_names_rows_and_closest():
    preview = InitPlan([], default="ones").preview(book_mlp())
    with pytest.raises(KeyError) as info:
        preview["1.wieght"]
    assert isinstance(info.value, PathError)
    assert str(info.value) == ("no parameter '1.wieght' in this preview. Rows: '0.weight', "
                               "'0.bias', '1.weight', '1.bias'. Did you mean '1.weight', "
                               "'0.weight'?")


def test_reinitialize_selecting_nothing_lists_paths():
    net = initialized_mlp()
    before = snapshot_initializers(net)
    with pytest.raises(SelectionError) as info:
        reinitialize(net, "ones", "gamma")
    msg = str(info.value)
    assert msg.startswith("pattern 'gamma' selects nothing in Sequential")
    assert "'0.weight', '0.bias', '1.weight', '1.bias'" in msg
    with pytest.raises(InitializerError, match=r"unknown initializer 'onesies'"):
        reinitialize(net, "onesies", "weight")
    assert_unchanged(net, before)


def test_mixed_and_load_get_a_hint():
    with pytest.raises(InitializerError, match=r"got Mixed.*use InitPlan rules"):
        get_initializer(mx.init.Mixed([".*"], [mx.init.One()]))
    with pytest.raises(InitializerError, match=r"got Mixed.*use InitPlan rules"):
        InitPlan([], default=mx.init.Mixed([".*"], [mx.init.One()]))


def test_plan_options_are_checked_even_without_rules():
    with pytest.raises(SelectionError, match=r"'regexp'.*'search', 'match', 'fullmatch', 'glob'"):
        InitPlan([], default="ones", mode="regexp")
    with pytest.raises(SelectionError, match=r"'paths'"):
        InitPlan([], default="ones", on="paths")


def test_arrays_as_options_name_the_option():
    from gluon_params_kit.initializers import derive_seed
    flag = mx.nd.array([1, 0])
    with pytest.raises(InitializerTypeError, match=r"respect_layer_defaults must be True or False, got NDArray "
                                                   r"of shape \(2,\) float32"):
        InitPlan([], respect_layer_defaults=flag)
    net = initialized_mlp()
    before = snapshot_initializers(net)
    with pytest.raises(InitializerTypeError, match=r"seed must be None or an int, got ndarray of shape \(\) int64"):
        reinitialize(net, "zeros", seed=onp.array(3))
    with pytest.raises(InitializerTypeError, match=r"seed must be None or an int, got NDArray of shape \(2,\)"):
        InitPlan([], default="zeros").apply(net, seed=flag)
    after = snapshot_initializers(net)
    assert all(onp.array_equal(before[k], after[k]) for k in before)  # nothing changed
    with pytest.raises(InitializerTypeError, match=r"derive_seed: seed must be an int, got NDArray"):
        derive_seed(flag, "0.weight", "zeros")
    with pytest.raises(InitializerTypeError, match=r"derive_seed: path must be a str, got None"):
        derive_seed(0, None, "zeros")
