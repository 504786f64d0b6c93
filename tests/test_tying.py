"""Tied parameters: tied_copy, repeat_tied, tie, TransposedDense, tied_groups, check_tied_gradients."""
import contextlib
import io
import re

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
import numpy as onp
import pytest
from fixtures import CPU2, array, fixed_hidden_mlp, tied_mlp
from mxnet import autograd, gluon
from mxnet.gluon import nn, rnn

from gluon_params_kit import fresh_names
from gluon_params_kit.tree import named_parameters
from gluon_params_kit.tying import TransposedDense, check_tied_gradients, repeat_tied, tie, tied_copy, tied_groups


def np_(a):
    return a.asnumpy()


def grads_of(net, x, loss_fn=lambda out: (out * out).sum()):
    with autograd.record():
        loss = loss_fn(net(x))
    loss.backward()


def summary_shared(net, x):
    """The "Shared params" number Gluon's own summary() prints."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        net.summary(x)
    return int(re.search(r"Shared params in forward computation graph: (\d+)", buf.getvalue()).group(1))


def tiny_lm(vocab=12, dim=6, hybrid=True):
    with fresh_names():
        net = nn.HybridSequential() if hybrid else nn.Sequential()
        emb = nn.Embedding(vocab, dim)
        net.add(emb, nn.Dense(dim, flatten=False, activation="tanh"), TransposedDense(emb))
    return net


# --------------------------------------------------------------------------- chapter's tied MLP

def test_chapter_mlp_identity_and_mutation(mode):
    net = tied_mlp()
    net.initialize()
    net(array((2, 4), mode))
    assert net[1].weight is net[2].weight and net[1].bias is net[2].bias
    net[1].weight.data()[0, 0] = 100
    assert np_(net[2].weight.data())[0, 0] == 100
    paths = named_parameters(net, aliases=True)
    assert paths["1.weight"] is paths["2.weight"]


def test_chapter_mlp_gradient_is_sum_of_uses(mode):
    net = tied_mlp()
    net.initialize()
    x = array((3, 4), mode)
    net(x)
    grads_of(net, x)
    tied_grad = np_(net[1].weight.grad())
    # an untied twin with identical values: four separate Dense layers
    twin = nn.Sequential()
    twin.add(nn.Dense(8, activation="relu"), nn.Dense(8, activation="relu"),
             nn.Dense(8, activation="relu"), nn.Dense(10))
    twin.initialize()
    twin(x)
    for src, dst in zip(named_parameters(net, aliases=True).values(),
                        named_parameters(twin).values()):
        dst.set_data(src.data())
    grads_of(twin, x)
    per_use = np_(twin[1].weight.grad()) + np_(twin[2].weight.grad())
    assert onp.abs(per_use).max() > 0
    onp.testing.assert_allclose(tied_grad, per_use, atol=1e-6)
    diffs = check_tied_gradients(net, x, lambda out: (out * out).sum())
    assert list(diffs) == ["1.weight", "1.bias"]
    assert max(diffs.values()) < 1e-6


def test_a_tie_the_hybridized_graph_does_not_see_is_flagged_broken(mode):
    """A tie made by hand after hybridize(): the keys say tied, but the cached graph still
    trains the old, untied copy, so the tied gradient misses a use (tie() clears the graph)."""
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=4), nn.Dense(4, in_units=4))
    net.initialize()
    net.hybridize()
    x = array((2, 4), mode) + 0.5
    net(x)
    layer, source = net[1], net[0].weight
    layer.weight.set_data(source.data())
    layer._reg_params["weight"] = source
    layer.__dict__["weight"] = source
    report = check_tied_gradients(net, x, lambda out: (out * out).sum())
    assert report.broken == ["0.weight"] and report["1.weight"] > 0.1
    assert report.noise["0.weight"] == 0.0 and not report.nondeterministic  # same graph twice
    record = report.to_records()[0]
    assert record["broken"] is True and record["max_abs_diff"] == report.abs_diffs["0.weight"] > 0
    assert "BROKEN" in str(report) and str(report).splitlines()[-1] == "Broken ties: 0.weight"
    # the same net tied by tie(): the graph is rebuilt and the tie holds
    fixed = nn.HybridSequential()
    fixed.add(nn.Dense(4, in_units=4), nn.Dense(4, in_units=4))
    fixed.initialize()
    fixed.hybridize()
    fixed(x)
    tie(fixed[1], fixed[0], pattern="weight", root=fixed)
    ok = check_tied_gradients(fixed, x, lambda out: (out * out).sum())
    assert ok.broken == [] and ok["0.weight"] < 1e-6


def test_a_nondeterministic_backward_sets_the_noise_floor_and_a_sound_tie_passes(mode):
    """A loss with fresh random weights per call stands in for MKLDNN's nondeterministic
    backward: the two identical passes differ, and the tie is judged against that floor."""
    net = tied_mlp()
    net.initialize()
    x = array((3, 4), mode)
    mx.random.seed(7)
    noisy = lambda out: (out * out * (1 + 0.05 * mx.nd.random.uniform(shape=out.shape).as_in_context(  # noqa: E731
        out.context).astype(out.dtype))).sum() if mode == "nd" else \
        (out * out * (1 + 0.05 * mx.np.random.uniform(size=out.shape))).sum()
    report = check_tied_gradients(net, x, noisy)
    assert report.nondeterministic and 0 < report.noise["1.weight"] < 0.2
    assert report.threshold("2.weight") == 4 * report.noise["1.weight"] > report.tolerance["1.weight"]
    assert report.broken == [] and report["1.weight"] > 1e-4  # above the float tolerance: noise
    assert "nondeterministic" in str(report) and str(report).endswith(
        "Every tied gradient is the sum of its uses' gradients.")


def test_chapter_mlp_trainer_moves_shared_weight_once(mode):
    net = tied_mlp()
    net.initialize()
    x = array((3, 4), mode)
    net(x)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    assert len(trainer._params) == 6  # 4 layers, one pair shared
    before = np_(net[1].weight.data()).copy()
    grads_of(net, x)
    grad = np_(net[1].weight.grad()).copy()
    trainer.step(1)
    onp.testing.assert_allclose(np_(net[2].weight.data()), before - 0.5 * grad, rtol=1e-5, atol=1e-6)


def test_check_tied_gradients_restores_grads_and_values(mode):
    net = tied_mlp()
    net.initialize()
    x = array((2, 4), mode)
    net(x)
    grads_of(net, x, lambda out: out.sum())
    grad_before = np_(net[1].weight.grad()).copy()
    value_before = np_(net[1].weight.data()).copy()
    check_tied_gradients(net, x, lambda out: (out * out * out).sum())
    onp.testing.assert_array_equal(np_(net[1].weight.grad()), grad_before)
    onp.testing.assert_array_equal(np_(net[1].weight.data()), value_before)
    assert "data" not in net[1].weight.__dict__  # the per-use hook is gone


# --------------------------------------------------------------------------- tied_groups

def test_tied_groups_report_on_chapter_mlp(mode):
    net = tied_mlp()
    net.initialize()
    x = array((2, 4), mode)
    report = tied_groups(net, x)
    assert len(report) == 2
    assert report[0].paths == ("1.weight", "2.weight") and report[0].canonical == "1.weight"
    assert report["2.bias"] is report[1] and report[(2, "bias")].aliases == ("2.bias",)
    assert report["[2].weight"] is report[0] and report[net[1].weight.name] is report[0]
    assert report[0].uses == 2 and report[0].shape == (8, 8) and report[0].name == net[1].weight.name
    assert report.shared_params == 8 * 8 + 8 == summary_shared(net, x)
    assert report.shared_bytes == 4 * report.shared_params
    text = str(report)
    assert "1.weight" in text and "2.weight" in text and "shared params: 72" in text
    assert report.to_records()[1]["aliases"] == ["2.bias"]


def test_tied_groups_without_input_counts_paths():
    net = tied_mlp()  # not initialized: 1.weight's input dim is still deferred
    report = tied_groups(net)
    assert [g.canonical for g in report.values()] == ["1.weight", "1.bias"]
    assert report[0].uses is None and report[0].shared_params is None and report.shared_params is None
    assert report[1].shared_params == 8
    assert "?" in str(report)


def test_tied_groups_matches_summary_for_layer_called_twice():
    net = fixed_hidden_mlp()
    net.initialize()
    x = mx.nd.random.uniform(shape=(2, 20))
    report = tied_groups(net, x)
    assert [g.canonical for g in report.values()] == ["dense.weight", "dense.bias"]
    assert all(g.aliases == () and g.uses == 2 for g in report.values())
    assert report.shared_params == 20 * 20 + 20 == summary_shared(net, x)


def test_tied_groups_counts_stored_values_where_gluons_summary_counts_otherwise():
    """The docstring's two cases where Gluon's "Shared params" differs from the kit's."""
    dense = nn.Dense(4, in_units=4)
    twice = nn.Sequential()  # one block registered at two places: Gluon hooks it twice
    twice.add(nn.Dense(4, in_units=3), dense, dense)
    twice.initialize()
    x = mx.nd.ones((2, 3))
    assert tied_groups(twice, x).shared_params == 20 and summary_shared(twice, x) == 60

    class Reader(nn.Block):  # the decoder reads the embedding's weight itself
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)

        def forward(self, tokens):
            h = self.emb(tokens)
            return mx.nd.dot(h, self.emb.weight.data(), transpose_b=True)

    net = Reader()
    net.initialize()
    tokens = mx.nd.array([1, 2])
    report = tied_groups(net, tokens)
    assert report["emb.weight"].uses == 2 and report.shared_params == 40
    assert summary_shared(net, tokens) == 0


def test_tied_groups_untied_net_is_empty(mode):
    net = nn.Sequential()
    net.add(nn.Dense(3), nn.Dense(2))
    net.initialize()
    report = tied_groups(net, array((2, 4), mode))
    assert len(report) == 0 and report.shared_params == 0
    assert check_tied_gradients(net, array((2, 4), mode), lambda o: o.sum()) == {}


# --------------------------------------------------------------------------- tied_copy / repeat_tied

@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Dense(5, activation="tanh", flatten=False, in_units=4), (2, 3, 4)),
    (lambda: nn.Dense(5, use_bias=False, dtype="float64"), (2, 4)),  # nd only (see below)
    (lambda: nn.Conv2D(4, kernel_size=3, strides=2, padding=1, groups=2, activation="relu"),
     (1, 2, 7, 7)),
    (lambda: nn.Conv2DTranspose(3, kernel_size=2, strides=2, output_padding=1, in_channels=2),
     (1, 2, 3, 3)),
    (lambda: nn.Conv1D(3, kernel_size=2, use_bias=False), (1, 2, 5)),
    (lambda: nn.BatchNorm(center=False, epsilon=1e-3, momentum=0.5), (2, 3, 4)),
    (lambda: nn.LayerNorm(epsilon=1e-3, scale=False), (2, 6)),
    (lambda: nn.InstanceNorm(scale=True), (2, 3, 4)),
    (lambda: nn.Embedding(7, 3), (2, 3)),
])
def test_tied_copy_rebuilds_configuration(mode, make, shape):
    layer = make()
    if mode == "np" and isinstance(layer, nn.InstanceNorm):
        pytest.skip("MXNet 1.9.1's InstanceNorm is a legacy operator without np support")
    if mode == "np" and getattr(layer, "weight", None) is not None and layer.weight.dtype == "float64":
        pytest.skip("MXNet 1.9.1 cannot initialize float64 parameters in np mode (_npi_uniform)")
    copy = tied_copy(layer)
    assert type(copy) is type(layer) and copy is not layer and copy.name != layer.name
    layer.initialize()
    x = array(shape, mode) * 6 if isinstance(layer, nn.Embedding) else array(shape, mode)
    if getattr(layer, "weight", None) is not None and layer.weight.dtype == "float64":
        x = x.astype("float64")
    out = layer(x)
    for path, param in named_parameters(layer, aliases=True).items():
        assert named_parameters(copy, aliases=True)[path] is param
    onp.testing.assert_allclose(np_(copy(x)), np_(out), rtol=1e-6)
    assert repr(copy).split("(", 1)[1] == repr(layer).split("(", 1)[1]


def test_tied_copy_of_sequential_and_custom_block(mode):
    class Scaled(nn.HybridBlock):
        def __init__(self, hidden, scale=2.0, **kwargs):
            super().__init__(**kwargs)
            self._hidden, self.scale = hidden, scale
            with self.name_scope():
                self.body = nn.Dense(hidden)

        def hybrid_forward(self, F, x):
            return self.body(x) * self.scale

    block = Scaled(3, scale=5.0)
    twin = tied_copy(block)
    assert twin._hidden == 3 and twin.scale == 5.0 and twin.body.weight is block.body.weight
    with fresh_names():
        seq = nn.HybridSequential()
        seq.add(nn.Dense(4, activation="relu"), nn.Dense(2))
    seq_copy = tied_copy(seq)
    assert [type(b).__name__ for b in seq_copy] == ["Dense", "Dense"]
    assert seq_copy[0].act._act_type == "relu" and seq_copy[1].bias is seq[1].bias
    override = tied_copy(seq[0], activation="sigmoid")
    assert override.act._act_type == "sigmoid" and override.weight is seq[0].weight


def test_tied_copy_ties_children_built_outside_name_scope():
    class Loose(nn.HybridBlock):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = nn.Dense(2, in_units=3)  # not in name_scope: params= cannot reach it

        def hybrid_forward(self, F, x):
            return self.inner(x)

    block = Loose()
    twin = tied_copy(block)
    assert twin.inner.weight is block.inner.weight and twin.inner.bias is block.inner.bias


def test_repeat_tied_hybridized(mode):
    with fresh_names():
        net = repeat_tied(nn.Dense(4, activation="relu", in_units=4), 3)
    assert isinstance(net, nn.HybridSequential) and len(net) == 3
    assert len({id(b.weight) for b in net}) == 1
    net.initialize()
    x = array((2, 4), mode)
    expected = np_(net(x))
    net.hybridize()
    onp.testing.assert_allclose(np_(net(x)), expected, rtol=1e-6)
    report = tied_groups(net)
    assert report[0].paths == ("0.weight", "1.weight", "2.weight")
    diffs = check_tied_gradients(net, x, lambda o: (o * o).sum())
    assert list(diffs) == ["0.weight", "0.bias"] and max(diffs.values()) < 1e-6
    assert net._active and net._cached_op is not None  # still hybridized after the check


# --------------------------------------------------------------------------- tie

def four_dense(hybrid=False):
    with fresh_names():
        net = nn.HybridSequential() if hybrid else nn.Sequential()
        net.add(nn.Dense(8, activation="relu"), nn.Dense(8, activation="relu"),
                nn.Dense(8, activation="relu"), nn.Dense(3))
    return net


@pytest.mark.parametrize("hybrid", [False, True])
def test_tie_existing_layers(mode, hybrid):
    net = four_dense(hybrid)
    net.initialize()
    x = array((2, 5), mode)
    if hybrid:
        net.hybridize()
    net(x)
    old = net[2].weight
    pairs = tie(net[2], net[1], root=net)
    assert dict(pairs) == {"weight": "weight", "bias": "bias"}
    assert net[2].weight is net[1].weight and net[2]._reg_params["bias"] is net[1].bias
    assert old.name not in net[2].params.keys() and net[1].weight.name in net[2].params.keys()
    assert len(list(net.collect_params().keys())) == 6
    # the forward (hybridized or not) now uses the source's values in layer 2
    h = net[0](x)
    expected = net[3](net[1](net[1](h)))
    onp.testing.assert_allclose(np_(net(x)), np_(expected), rtol=1e-5)
    if hybrid:
        assert net._cached_op is not None and net._active
    assert summary_shared_safe(net, x) == 72
    diffs = check_tied_gradients(net, x, lambda o: (o * o).sum())
    assert max(diffs.values()) < 1e-6
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0})
    before = np_(net[1].weight.data()).copy()
    grads_of(net, x)
    grad = np_(net[1].weight.grad()).copy()
    trainer.step(1)
    onp.testing.assert_allclose(np_(net[2].weight.data()), before - grad, rtol=1e-5, atol=1e-6)


def summary_shared_safe(net, x):
    """summary() refuses hybridized blocks; report the same number through tied_groups."""
    report = tied_groups(net, x)
    if not getattr(net, "_active", False):
        assert report.shared_params == summary_shared(net, x)
    return report.shared_params


def test_tie_by_pattern_and_deferred_shapes(mode):
    net = four_dense()
    net.initialize()
    pairs = tie(net[2], net[1], pattern=r"weight$")  # before any forward: all deferred
    assert list(pairs) == ["weight"]
    assert net[2].weight is net[1].weight and net[2].bias is not net[1].bias
    x = array((2, 5), mode)
    net(x)
    assert net[1].weight.shape == (8, 8)
    src = nn.Dense(4, in_units=3)
    dst = nn.Dense(4)  # deferred in_units: compatible with 3
    tie(dst, src, pattern=lambda path: path == "weight")
    assert dst.weight is src.weight and dst.weight.shape == (4, 3)


def test_tie_whole_subnetworks_by_path(mode):
    with fresh_names():
        net = nn.HybridSequential()
        for _ in range(2):
            block = nn.HybridSequential()
            block.add(nn.Dense(4, activation="relu"), nn.Dense(4))
            net.add(block)
    net.initialize()
    net.hybridize()
    x = array((2, 4), mode)
    net(x)
    pairs = tie("1", "0", root=net)
    assert list(pairs) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert net[1][0].weight is net[0][0].weight and net[1][1].bias is net[0][1].bias
    onp.testing.assert_allclose(np_(net(x)), np_(net[0](net[0](x))), rtol=1e-5)
    assert [g.canonical for g in tied_groups(net).values()] == ["0.0.weight", "0.0.bias", "0.1.weight",
                                                       "0.1.bias"]


@pytest.mark.parametrize("deduplicate", [False, True])
def test_tied_net_round_trips_through_save_load(tmp_path, mode, deduplicate):
    net = four_dense()
    net.initialize()
    x = array((2, 5), mode)
    net(x)
    tie(net[2], net[1])
    out = np_(net(x))
    path = str(tmp_path / "tied.params")
    net.save_parameters(path, deduplicate=deduplicate)
    saved = mx.nd.load(path) if mode == "nd" else mx.npx.load(path)
    assert sum(key in saved for key in ("1.weight", "2.weight")) == (1 if deduplicate else 2)
    again = four_dense()
    tie(again[2], again[1])
    again.load_parameters(path)
    assert again[2].weight is again[1].weight
    onp.testing.assert_allclose(np_(again(x)), out, rtol=1e-6)
    assert [g.paths for g in tied_groups(again).values()] == [g.paths for g in tied_groups(net).values()]


# --------------------------------------------------------------------------- transposed tying

@pytest.mark.parametrize("hybrid", [False, True])
def test_tiny_language_model_trains_with_transposed_tying(mode, hybrid):
    vocab, dim = 12, 6
    net = tiny_lm(vocab, dim, hybrid)
    mx.random.seed(0)
    net.initialize(mx.init.Xavier())
    if hybrid:
        net.hybridize()
    rng = onp.random.RandomState(0)
    tokens = rng.randint(0, vocab, size=(8, 5)).astype("float32")
    x, y = mx.nd.array(tokens), mx.nd.array((tokens + 1) % vocab)  # predict the next id
    if mode == "np":
        x, y = x.as_np_ndarray(), y.as_np_ndarray()
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.05})
    losses = []
    for _ in range(15):
        with autograd.record():
            loss = loss_fn(net(x), y).mean()
        loss.backward()
        trainer.step(1)
        losses.append(loss.asnumpy().item())
    assert net(x).shape == (8, 5, vocab)
    assert losses[-1] < 0.7 * losses[0]
    emb_weight = net[0].weight
    same_shape = [p for p in named_parameters(net).values() if p.shape == (vocab, dim)]
    assert same_shape == [emb_weight] and net[2].weight is emb_weight
    assert len(trainer._params) == 4  # embedding weight, dense weight + bias, output bias
    assert tied_groups(net)[0].paths == ("0.weight", "2.weight")
    diffs = check_tied_gradients(net, x, lambda out: loss_fn(out, y).mean())
    assert list(diffs) == ["0.weight"] and diffs["0.weight"] < 1e-6


def test_transposed_dense_computes_x_times_weight_transposed(mode):
    emb = nn.Embedding(5, 3)
    head = TransposedDense(emb, use_bias=False)
    emb.initialize()  # the head has no parameter of its own
    x = array((2, 4, 3), mode)
    w = np_(emb.weight.data())
    onp.testing.assert_allclose(np_(head(x)), np_(x) @ w.T, rtol=1e-5)
    assert head.bias is None and list(head.collect_params().keys()) == [emb.weight.name]
    biased = TransposedDense(emb.weight, flatten=True)
    assert biased.bias.shape == (5,) and biased.weight is emb.weight
    assert "tied to" in repr(biased)
    again = tied_copy(biased)
    assert again.weight is emb.weight and again.bias is biased.bias and again._flatten


def test_tie_leaves_blocks_outside_target_alone(mode):
    with fresh_names():
        first = nn.Dense(8, in_units=8)
        net = nn.HybridSequential()
        net.add(first, tied_copy(first), nn.Dense(8, in_units=8))
    net.initialize()
    net.hybridize()
    x = array((2, 8), mode)
    net(x)
    tie(net[1], net[2], root=net)
    assert net[0].weight is first.weight and net[1].weight is net[2].weight
    assert net[1].weight is not first.weight
    onp.testing.assert_allclose(np_(net(x)), np_(net[2](net[2](net[0](x)))), rtol=1e-5)
    assert [g.paths for g in tied_groups(net).values()] == [("1.weight", "2.weight"), ("1.bias", "2.bias")]


def test_tie_warns_about_a_trainer_made_before():
    a, b = nn.Dense(3, in_units=2), nn.Dense(3, in_units=2)
    a.initialize()
    b.initialize()
    gluon.Trainer(b.collect_params(), "sgd")
    with pytest.warns(UserWarning, match="create the Trainer after tying"):
        tie(b, a)
    assert b.weight is a.weight


def test_tied_copy_of_deferred_layers(mode):
    dense, norm = nn.Dense(3, activation="relu"), nn.BatchNorm()
    twin, norm_twin = tied_copy(dense), tied_copy(norm)
    assert twin._in_units == 0 and norm_twin.gamma is norm.gamma
    dense.initialize()
    norm.initialize()
    x = array((2, 3, 5), mode)
    onp.testing.assert_allclose(np_(twin(x)), np_(dense(x)), rtol=1e-6)
    onp.testing.assert_allclose(np_(norm_twin(x)), np_(norm(x)), rtol=1e-6)
    assert twin.weight.shape == (3, 15) and norm_twin.running_mean.shape == (3,)


def test_tie_inside_hybridized_parent_without_root_warns_and_root_fixes_it(mode):
    net = four_dense(hybrid=True)
    net.initialize()
    net.hybridize()
    x = array((2, 5), mode)
    net(x)
    with pytest.warns(UserWarning, match="pass root=<the network>"):
        tie(net[2], net[1])
    net.hybridize()  # the documented remedy: rebuild the parent's graph
    onp.testing.assert_allclose(np_(net(x)), np_(net[3](net[1](net[1](net[0](x))))), rtol=1e-5)


def test_tie_on_two_contexts(mode):
    net = four_dense(hybrid=True)
    net.initialize(ctx=CPU2)
    x = array((2, 5), mode)
    for ctx in CPU2:
        net(x.as_in_context(ctx))
    tie(net[2], net[1], root=net)
    net.hybridize()
    for ctx in CPU2:
        xc = x.as_in_context(ctx)
        expected = net[3](net[1](net[1](net[0](xc))))
        onp.testing.assert_allclose(np_(net(xc)), np_(expected), rtol=1e-5)
    assert net[2].weight.list_ctx() == CPU2


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Activation("softrelu"), (2, 3)),
    (lambda: nn.PReLU(in_channels=3, alpha_initializer=mx.init.Constant(0.3)), (2, 3, 4)),
    (lambda: rnn.LSTM(4, num_layers=2, bidirectional=True, layout="NTC", input_size=3), (2, 5, 3)),
    (lambda: rnn.GRU(3, i2h_bias_initializer="ones"), (5, 2, 3)),
    (lambda: rnn.RNN(5, activation="tanh", input_size=3), (5, 2, 3)),
    (lambda: rnn.LSTM(6, projection_size=2, input_size=3), (5, 2, 3)),
])
def test_tied_copy_of_activations_and_recurrent_layers(mode, make, shape):
    layer = make()
    copy = tied_copy(layer)
    assert type(copy) is type(layer) and repr(copy) == repr(layer)
    mine = named_parameters(layer, aliases=True)
    assert list(named_parameters(copy, aliases=True)) == list(mine)
    assert all(named_parameters(copy, aliases=True)[k] is p for k, p in mine.items())
    layer.initialize()
    x = array(shape, mode) * 2 - 1  # negative values too: PReLU's alpha matters
    onp.testing.assert_allclose(np_(copy(x)), np_(layer(x)), rtol=1e-6)
    if isinstance(layer, nn.PReLU):
        assert onp.allclose(np_(copy.alpha.data()), 0.3)


def test_repeat_tied_block_with_activation_layers(mode):
    with fresh_names():
        body = nn.HybridSequential()
        body.add(nn.Dense(4, in_units=4), nn.Activation("tanh"), nn.LeakyReLU(0.1), nn.Dropout(0.2))
        net = repeat_tied(body, 3)
    assert [type(b).__name__ for b in net[2]] == ["Dense", "Activation", "LeakyReLU", "Dropout"]
    assert net[2][1]._act_type == "tanh" and net[2][2]._alpha == 0.1 and net[2][3]._rate == 0.2
    assert net[1][0].weight is net[0][0].weight
    net.initialize()
    x = array((2, 4), mode)
    onp.testing.assert_allclose(np_(net(x)), np_(body(body(body(x)))), rtol=1e-6)


def test_tied_copy_reads_initializers_from_the_parameters():
    # LSTMCell keeps no `_i2h_weight_initializer`: the argument is read from Parameter i2h_weight.
    # (nd only: MXNet 1.9.1's recurrent cells call legacy operators.)
    mode = "nd"
    cell = rnn.LSTMCell(4, input_size=3, i2h_bias_initializer="ones", activation="relu")
    twin = tied_copy(cell)
    assert twin.i2h_weight is cell.i2h_weight and twin._activation == "relu"
    assert twin.i2h_bias.init == "ones"
    cell.initialize()
    x = array((2, 3), mode)
    states = [array((2, 4), mode) - 0.5, array((2, 4), mode)]
    out, _ = cell(x, states)
    onp.testing.assert_allclose(np_(twin(x, states)[0]), np_(out), rtol=1e-6)
