"""Initializer registry, specs, InitPlan (incl. deferred init), provenance and seeding."""
import json
import warnings

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
import numpy as onp
import pytest
from fixtures import CPU2, array, book_mlp, book_rgnet, fixed_hidden_mlp, tied_mlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mxnet import npx
from mxnet.gluon import nn

from gluon_params_kit import fresh_names
from gluon_params_kit._core.compat import to_numpy
from gluon_params_kit.chapter import MyInit, mlp
from gluon_params_kit.initializers import (
    InitPlan,
    derive_seed,
    get_initializer,
    list_initializers,
    provenance,
    register_initializer,
    reinitialize,
)
from gluon_params_kit.tree import named_parameters

# Constructor arguments for the registered initializers that have required ones.
REQUIRED_ARGS = {
    "constant": {"value": 0.5},
    "fusedrnn": {"init": None, "num_hidden": 4, "num_layers": 1, "mode": "lstm"},
}


def values(net):
    return {path: to_numpy(p.data()).copy() for path, p in named_parameters(net).items()}


def mxnet_direct(init, shape, seed, np_mode=False):
    """What MXNet itself produces for ``init`` on ``shape`` right after mx.random.seed(seed)."""
    param = mx.gluon.Parameter("w", shape=shape)
    mx.random.seed(seed, ctx=mx.cpu())
    param.initialize(init=init, force_reinit=True)
    return to_numpy(param.data())


# --------------------------------------------------------------------------- registry and specs

@pytest.mark.parametrize("spec, direct", [
    ("uniform", mx.init.Uniform()),
    ("uniform(scale=0.5)", mx.init.Uniform(0.5)),
    ("normal(0.3)", mx.init.Normal(0.3)),
    ("Normal(sigma=0.3)", mx.init.Normal(0.3)),
    ("xavier", mx.init.Xavier()),
    ("xavier(rnd_type='gaussian', magnitude=2)", mx.init.Xavier(rnd_type="gaussian", magnitude=2)),
    ("xavier(factor_type='in')", mx.init.Xavier(factor_type="in")),
    ("msraprelu(slope=0.1)", mx.init.MSRAPrelu(slope=0.1)),
    ("orthogonal(rand_type='normal')", mx.init.Orthogonal(rand_type="normal")),
    ("zeros", mx.init.Zero()),
    ("ones", mx.init.One()),
    ("constant(value=-2.5)", mx.init.Constant(-2.5)),
    ("mx.init.Uniform(0.2)", mx.init.Uniform(0.2)),
    ("lstmbias(forget_bias=2.5)", mx.init.LSTMBias(2.5)),
    ("bilinear", mx.init.Bilinear()),
])
def test_builtin_by_name_and_call_matches_mxnet(spec, direct):
    init = get_initializer(spec)
    assert type(init) is type(direct) and init == direct
    shape = (1, 1, 4, 4) if spec == "bilinear" else (16, 12)
    got = mxnet_direct(init, shape, seed=11)
    want = mxnet_direct(direct, shape, seed=11)
    if spec.startswith("lstmbias"):
        assert (got[4:8] == 2.5).all() and (got[:4] == 0).all()
    onp.testing.assert_array_equal(got, want)


def test_plan_seed_reproduces_mxnet_seeded_values(mode):
    net = nn.Dense(64, in_units=32)
    plan = InitPlan([("weight", "xavier(rnd_type='gaussian')")], default="zeros")
    report = plan.apply(net, seed=5)
    row = report["weight"]
    assert row.seed == derive_seed(5, "weight", row.spec)
    # MXNet itself, seeded with the parameter's own seed: the same draws. In np mode too,
    # the values are those of nd mode (a seed means the same values in both modes).
    with mx.util.np_array(False):
        direct = mxnet_direct(mx.init.Xavier(rnd_type="gaussian"), (64, 32), row.seed)
    onp.testing.assert_array_equal(to_numpy(net.weight.data()), direct)
    std = to_numpy(net.weight.data()).std()
    assert abs(std - onp.sqrt(3 / 48)) < 0.03


@pytest.mark.parametrize("spec, check", [
    ("uniform(scale=0.5)", lambda w: w.min() >= -0.5 and w.max() <= 0.5 and w.max() > 0.45
     and abs(w.mean()) < 0.02 and abs(w.std() - 0.5 / onp.sqrt(3)) < 0.01),
    ("normal(sigma=2)", lambda w: abs(w.std() - 2) < 0.05 and abs(w.mean()) < 0.05
     and onp.abs(w).max() > 4),
    ("xavier", lambda w: onp.abs(w).max() <= onp.sqrt(3 / 96) and
     abs(w.std() - onp.sqrt(3 / 96) / onp.sqrt(3)) < 0.005),
    ("myinit(verbose=False)", lambda w: ((w == 0) | ((onp.abs(w) >= 5) & (onp.abs(w) <= 10))).all()
     and abs((w == 0).mean() - 0.5) < 0.03 and abs((w >= 5).mean() - 0.25) < 0.03),
])
def test_distributions_are_right_in_both_modes(mode, spec, check):
    net = nn.Dense(64, in_units=128)
    InitPlan([("weight", spec)], default="zeros").apply(net, seed=1)
    w = to_numpy(net.weight.data())
    assert w.shape == (64, 128)
    assert check(w)


def test_every_registered_initializer_round_trips():
    names = list_initializers()
    assert {"bilinear", "constant", "fusedrnn", "lstmbias", "msraprelu", "myinit", "normal",
            "one", "ones", "orthogonal", "uniform", "xavier", "zero", "zeros"} <= set(names)
    for name in names:
        klass = mx.registry.get_registry(mx.init.Initializer)[name]
        try:
            init = get_initializer(mx.init.create(name, **REQUIRED_ARGS.get(name, {})))
        except TypeError:  # registered by some other test with required arguments
            assert not klass.__module__.startswith(("mxnet", "gluon_params_kit")), name
            continue
        back = get_initializer(init.dumps())
        assert back == init and back.dumps() == init.dumps(), name
        kwargs = json.loads(init.dumps())[1]
        call = f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"
        assert get_initializer(call) == init, call


def test_fusedrnn_with_inner_initializer_round_trips():
    init = mx.init.FusedRNN(mx.init.Xavier(), num_hidden=4, num_layers=1, mode="lstm")
    assert get_initializer(init.dumps()) == init


def test_mxnet_dict_json_form_and_instance_pass_through():
    init = mx.init.Normal(0.2)
    assert get_initializer(init) is init
    assert get_initializer('{"initializer": "normal", "sigma": 0.2}') == init


def test_myinit_is_registered_and_usable_by_name(capsys):
    init = get_initializer("myinit")
    assert isinstance(init, MyInit) and mx.init.create("myinit").__class__ is MyInit
    with fresh_names():
        net = mlp()
    InitPlan([("weight", "myinit")]).apply(net, ctx=mx.cpu())
    _ = net(array((2, 20)))
    assert "Init dense0_weight (256, 20)" in capsys.readouterr().out
    w = to_numpy(net[1].weight.data())
    assert ((w == 0) | ((abs(w) >= 5) & (abs(w) <= 10))).all()
    assert (to_numpy(net[1].bias.data()) == 0).all()  # layer default, as in the book


def test_register_initializer_with_aliases_goes_into_mxnet_registry():
    @register_initializer(aliases=("halves", "half_it"))
    class Halves(mx.init.Initializer):
        def _init_weight(self, name, arr):
            arr[:] = 0.5

    assert {"halves", "half_it"} <= set(list_initializers())
    assert isinstance(mx.init.create("half_it"), Halves)
    assert get_initializer("Halves()") == Halves()
    net = nn.Dense(2, in_units=2)
    InitPlan([], default="halves", respect_layer_defaults=False).apply(net)
    assert to_numpy(net.bias.data()).tolist() == [0.5, 0.5]

    @register_initializer  # a re-run of the same cell: replaced, no warning, no error
    class Halves(mx.init.Initializer):  # noqa: F811
        def _init_weight(self, name, arr):
            arr[:] = 0.25

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register_initializer(Halves)
    assert type(get_initializer("halves")).__name__ == "Halves"


# --------------------------------------------------------------------------- plans

def chapter_plan(**kw):
    """The issue's plan: dense1 (path 1) Constant(42), biases Constant(0.1), weights Xavier."""
    return InitPlan([(r"^1\.", "constant(42)"), (r"bias$", "constant(0.1)"),
                     (r"weight$", "xavier")], **kw)


def test_chapter_mlp_plan_exact(mode):
    net = book_mlp()
    net.initialize()
    _ = net(array((2, 20), mode))
    report = chapter_plan().apply(net)
    assert [report[p].rule for p in report] == ["weight$", "bias$", r"^1\.", r"^1\."]
    assert (to_numpy(net[1].weight.data()) == 42).all()
    assert (to_numpy(net[1].bias.data()) == 42).all()
    assert onp.allclose(to_numpy(net[0].bias.data()), 0.1)
    w = to_numpy(net[0].weight.data())
    bound = onp.sqrt(3 / ((20 + 256) / 2))
    assert onp.abs(w).max() <= bound and onp.abs(w).max() > 0.9 * bound


def test_preview_rows_by_any_path_form():
    preview = chapter_plan().preview(book_rgnet())
    assert preview["rgnet[0][1][0].bias"] is preview["0.1.0.bias"]
    assert preview[(1, "weight")].rule == r"^1\."
    assert "[1].bias" in preview and "1.gamma" not in preview


def test_chapter_mlp_plan_by_auto_name():
    net = book_mlp()
    InitPlan([("dense1_", "constant(42)"), ("bias", "constant(0.1)")], default="xavier",
             on="name").apply(net)
    _ = net(array((2, 20)))
    assert (to_numpy(net[1].weight.data()) == 42).all()
    assert onp.allclose(to_numpy(net[0].bias.data()), 0.1)


def test_rgnet_plan_on_deferred_net_lands_at_first_forward(mode):
    net = book_rgnet()
    plan = chapter_plan()
    preview = plan.preview(net)
    assert len(preview) == 18 and preview.unmatched == []
    assert preview["0.0.0.weight"].action == "deferred"
    assert preview["0.0.0.bias"].action == "initialize"  # Dense knows its bias shape
    plan.apply(net, seed=3)
    assert provenance(net)["0.0.0.weight"] is None  # values not produced yet
    _ = net(array((2, 7), mode))
    assert (to_numpy(net[1].weight.data()) == 42).all()
    assert to_numpy(net[1].weight.data()).shape == (10, 16)
    for path, p in named_parameters(net).items():
        record = provenance(net)[path]
        if path.startswith("1."):
            assert record["rule"] == r"^1\."
        elif path.endswith("bias"):
            assert record["rule"] == "bias$" and onp.allclose(to_numpy(p.data()), 0.1)
        else:
            assert record["rule"] == "weight$" and record["spec"].startswith('["xavier"')
        assert record["seed"] == derive_seed(3, path, record["spec"])


def test_deferred_and_immediate_give_identical_values(mode):
    def build(known):
        net = nn.HybridSequential()
        net.add(nn.Dense(6, in_units=5 if known else 0), nn.Dense(3, in_units=6 if known else 0))
        return net

    a, b = build(True), build(False)
    plan = InitPlan([], default="normal(sigma=1)", respect_layer_defaults=False)
    plan.apply(a, seed=9)
    plan.apply(b, seed=9)
    b.hybridize()
    _ = b(array((2, 5), mode))
    va, vb = values(a), values(b)
    assert list(va) == list(vb)
    for path in va:
        onp.testing.assert_array_equal(va[path], vb[path])


def test_respect_layer_defaults_decides_explicitly(mode):
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3), nn.BatchNorm(in_channels=4))
    InitPlan([], default="constant(1)", respect_layer_defaults=True).apply(net)
    assert (to_numpy(net[0].bias.data()) == 0).all()  # Dense's own 'zeros' wins
    assert (to_numpy(net[1].running_var.data()) == 1).all()
    assert provenance(net)["0.bias"]["rule"] == "layer default"
    InitPlan([], default="constant(2)", respect_layer_defaults=False).apply(net)
    for path, v in values(net).items():
        assert (v == 2).all(), path
    assert {r["rule"] for r in provenance(net).values()} == {"default"}


def test_rules_beat_layer_defaults_and_role_methods_are_called():
    class Roles(mx.init.Initializer):
        def _init_weight(self, name, arr):
            arr[:] = 1

        def _init_bias(self, name, arr):
            arr[:] = -1

    net = nn.Dense(3, in_units=2)
    InitPlan([(None, Roles())]).apply(net)
    assert (to_numpy(net.weight.data()) == 1).all()
    assert (to_numpy(net.bias.data()) == -1).all()  # Gluon would call _init_weight here


def test_constants_are_kept():
    fresh = fixed_hidden_mlp()
    InitPlan([], default="zeros", respect_layer_defaults=False).apply(fresh)
    onp.testing.assert_array_equal(to_numpy(fresh.rand_weight.data()),
                                   to_numpy(fresh.rand_weight.value))
    net = fixed_hidden_mlp()
    net.initialize()
    _ = net(array((2, 20)))
    before = to_numpy(net.rand_weight.data()).copy()
    report = InitPlan([], default="zeros", respect_layer_defaults=False).apply(net)
    assert report["rand_weight"].action == "keep"
    onp.testing.assert_array_equal(to_numpy(net.rand_weight.data()), before)
    assert (to_numpy(net.dense.weight.data()) == 0).all()


def test_uninitialized_constant_is_initialized_as_gluon_does_in_both_modes(mode):
    """Issue 32.11: in np mode the constant's value (an np array) was copied into a legacy
    array ("copyto does not support type NDArray")."""
    class B(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.c = self.params.get_constant("c", array((3,), mode) * 0 + 2)
            self.d = nn.Dense(2, in_units=3)

        def hybrid_forward(self, F, x, c):
            return self.d(x * c)

    net = B()
    report = InitPlan([(r"weight$", "xavier")], default="zeros").apply(net)
    assert (report["c"].rule, report["c"].action) == ("constant", "initialize")
    assert to_numpy(net.c.data()).tolist() == [2.0, 2.0, 2.0]
    assert isinstance(net.c.data(), mx.np.ndarray) == (mode == "np")
    assert not to_numpy(net.d.bias.data()).any() and to_numpy(net.d.weight.data()).any()
    assert net(array((1, 3), mode)).shape == (1, 2)


def test_unmatched_plan_changes_nothing_and_names_them():
    net = book_mlp()
    net.initialize()
    _ = net(array((2, 20)))
    before = values(net)
    plan = InitPlan([("weight", "ones")], respect_layer_defaults=False)
    assert plan.preview(net).unmatched == ["0.bias", "1.bias"]
    assert "UNMATCHED" in str(plan.preview(net))
    with pytest.raises(gluon_params_kit.InitializerError, match=r"'0.bias', '1.bias'"):
        plan.apply(net)
    for path, v in values(net).items():
        onp.testing.assert_array_equal(v, before[path])


def test_shared_parameters_get_one_record_and_alias_paths_match():
    net = tied_mlp()
    InitPlan([(r"^2\.weight", "ones")], default="zeros").apply(net, ctx=mx.cpu())
    _ = net(array((2, 5)))
    assert (to_numpy(net[1].weight.data()) == 1).all()  # matched through its alias path 2.weight
    records = provenance(net)
    assert "2.weight" not in list(records) and records["1.weight"]["rule"] == r"^2\.weight"
    assert records["2.weight"] is records["1.weight"]  # the report looks an alias up: one record


def test_apply_keeps_contexts_and_is_quiet():
    net = nn.Dense(4, in_units=3)
    net.initialize(ctx=CPU2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        InitPlan([], default="normal(sigma=1)").apply(net, seed=2)
        reinitialize(net, "ones", "bias")
    assert net.weight.list_ctx() == CPU2
    onp.testing.assert_array_equal(to_numpy(net.weight.data(mx.cpu(0))),
                                   to_numpy(net.weight.data(mx.cpu(1))))
    assert (to_numpy(net.bias.data(mx.cpu(1))) == 1).all()


def test_reinitialize_touches_only_the_selection(mode):
    net = book_rgnet()
    net.initialize()
    _ = net(array((2, 7), mode))
    before = values(net)
    report = reinitialize(net, "constant(5)", r"^0\.1\..*weight", seed=4)
    assert list(report) == ["0.1.0.weight", "0.1.1.weight"]
    for path, v in values(net).items():
        if path in report:
            assert (v == 5).all()
            spec = '["constant", {"value": 5}]'
            assert provenance(net)[path] == {"rule": r"^0\.1\..*weight", "spec": spec,
                                             "seed": derive_seed(4, path, spec)}
        else:
            onp.testing.assert_array_equal(v, before[path])
    reinitialize(net, "zeros", None, exclude="weight")
    assert all((v == 0).all() for p, v in values(net).items() if p.endswith("bias"))


def test_failing_initializer_rolls_back_everything():
    net = book_mlp()
    net.initialize()
    _ = net(array((2, 20)))
    before = values(net)
    with pytest.raises(gluon_params_kit.InitializerError, match=r"'0.bias'.*Xavier initializer"):
        InitPlan([], default="xavier", respect_layer_defaults=False).apply(net, seed=1)
    for path, v in values(net).items():
        onp.testing.assert_array_equal(v, before[path])
    assert all(r is None for r in provenance(net).values())


# --------------------------------------------------------------------------- seeding

def seeded_global_draws(seed_apply):
    mx.random.seed(123)
    net = nn.Dense(3, in_units=3)
    InitPlan([], default="uniform").apply(net, seed=seed_apply)
    return to_numpy(mx.nd.random.uniform(shape=(5,)))


def test_global_stream_advances_deterministically_and_values_ignore_it():
    onp.testing.assert_array_equal(seeded_global_draws(0), seeded_global_draws(0))
    a, b = nn.Dense(8, in_units=8), nn.Dense(8, in_units=8)
    mx.random.seed(1)
    InitPlan([], default="uniform").apply(a, seed=0)
    mx.random.seed(2)
    _ = mx.nd.random.uniform(shape=(100,)).asnumpy()
    InitPlan([], default="uniform").apply(b, seed=0)
    onp.testing.assert_array_equal(to_numpy(a.weight.data()), to_numpy(b.weight.data()))
    c = nn.Dense(8, in_units=8)
    InitPlan([], default="uniform").apply(c, seed=1)
    assert not onp.array_equal(to_numpy(a.weight.data()), to_numpy(c.weight.data()))


WIDTHS = st.lists(st.integers(1, 6), min_size=1, max_size=4)


def build_in_order(widths, order, extra, np_mode):
    """Dense layers created in ``order`` (auto names, RNG use) but added by structure."""
    layers = [None] * len(widths)
    for i in order:
        _ = mx.nd.random.uniform(shape=(i + 1,))  # unrelated draws between constructions
        layers[i] = nn.Dense(widths[i], activation="relu")
    net = nn.Sequential()
    for layer in layers:
        net.add(layer)
    if extra:
        net.add(nn.Dense(3))
    return net


@pytest.mark.parametrize("np_mode", [False, True], ids=["nd", "np"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(widths=WIDTHS, data=st.data(), seed=st.integers(0, 2 ** 31 - 1))
def test_seeded_values_depend_only_on_seed_path_spec(np_mode, widths, data, seed):
    order = data.draw(st.permutations(range(len(widths))))
    if np_mode:
        npx.set_np()
    try:
        plan = InitPlan([("bias", "normal(sigma=0.1)")], default="uniform(scale=1)")
        nets = [build_in_order(widths, range(len(widths)), False, np_mode),
                build_in_order(widths, order, True, np_mode)]
        got = []
        for net in nets:
            plan.apply(net, seed=seed)
            _ = net(array((2, 4), "np" if np_mode else "nd"))
            got.append(values(net))
        assert len(got[1]) == len(got[0]) + 2
        for path, v in got[0].items():
            onp.testing.assert_array_equal(v, got[1][path])
    finally:
        npx.reset_np()


def test_initializer_with_its_own_call_is_called_like_gluon_does():
    class ByName(mx.init.Initializer):
        def __call__(self, desc, arr):
            arr[:] = 7 if str(desc).endswith("bias") else 3

    net = nn.Dense(2, in_units=2)
    InitPlan([], default=ByName(), respect_layer_defaults=False).apply(net)
    assert (to_numpy(net.weight.data()) == 3).all() and (to_numpy(net.bias.data()) == 7).all()


def test_constants_follow_an_explicit_ctx():
    net = fixed_hidden_mlp()
    net.initialize(ctx=mx.cpu(0))
    _ = net(array((2, 20)))
    value = to_numpy(net.rand_weight.data()).copy()
    InitPlan([], default="uniform").apply(net, ctx=CPU2)
    assert net.rand_weight.list_ctx() == CPU2 and net.dense.weight.list_ctx() == CPU2
    onp.testing.assert_array_equal(to_numpy(net.rand_weight.data(mx.cpu(1))), value)


@pytest.mark.parametrize("spec", ["normal(sigma=0.5)", "uniform(scale=2)", "xavier", "orthogonal",
                                  "msraprelu", "lstmbias(forget_bias=2.0)"])
def test_seeded_values_are_the_same_in_nd_and_np_modes(spec):
    from mxnet import npx
    from mxnet.gluon import rnn

    def values(np_mode, deferred):
        if np_mode:
            npx.set_np()
        try:
            with fresh_names():
                net = nn.HybridSequential()
                net.add(nn.Dense(4, flatten=False, in_units=0 if deferred else 3),
                        rnn.GRU(5, input_size=4), nn.Dense(2, flatten=False, in_units=5))
            InitPlan([("weight", spec)], default="zeros").apply(net, seed=7)
            if deferred:
                x = mx.nd.ones((2, 1, 3))
                net(x.as_np_ndarray() if np_mode else x)
            return {k: p.data().asnumpy() for k, p in named_parameters(net).items()}
        finally:
            npx.reset_np()

    for deferred in (False, True):
        nd_values, np_values = values(False, deferred), values(True, deferred)
        assert list(nd_values) == list(np_values)
        for key in nd_values:
            onp.testing.assert_array_equal(nd_values[key], np_values[key], err_msg=key)
        assert onp.abs(nd_values["1._unfused.0.i2h_weight"]).sum() > 0


def test_constant_fills_are_fingerprinted_without_an_engine_op_and_still_go_stale():
    from gluon_params_kit._core.provenance import MARK_ATTR
    net = nn.Dense(3, in_units=2)
    InitPlan([("bias", "constant(0.5)"), ("weight", "ones")]).apply(net)
    marks = {p: getattr(net, p).__dict__[MARK_ATTR].fingerprint for p in ("weight", "bias")}
    assert all(isinstance(m, onp.ndarray) for m in marks.values())
    assert marks["bias"].tolist() == [0.5, 0.5, 0.5] and marks["weight"].dtype == onp.float32
    net.bias.set_data(mx.nd.full((3,), 0.5))  # the same values: the record stays current
    assert provenance(net)["bias"] == {"rule": "bias", "spec": '["constant", {"value": 0.5}]',
                                       "seed": None}
    net.weight.set_data(mx.nd.full((3, 2), 2.0))
    assert provenance(net)["weight"]["stale"].startswith("values overwritten")
    InitPlan([], default="xavier").apply(net)  # a random fill: gathered on the engine
    assert not isinstance(net.weight.__dict__[MARK_ATTR].fingerprint, onp.ndarray)
