"""Old symbol checkpoints (``save_checkpoint``: ``prefix-symbol.json`` + ``prefix-0000.params``)
into structured Gluon nets, with MXNet itself as the oracle (issue 29).

The symbol nets are built with ``mx.sym`` under the names people chose (``bn_data``,
``conv0``, ``stage1_unit1_bn1``, ``fc1``), with random weights and random BatchNorm
statistics (gamma != 1 in the file); MXNet's ``Module`` computes the reference output in
inference. The equivalent Gluon nets keep Gluon's auto names, so the keys never match by
name: the symbol walk pairs the layers, and the report names the attributes (fix_gamma,
eps) that change the output until the net is built like the symbol or the offered fix is
applied.
"""
import json

import gluon_params_kit as gpk  # numpy shim before mxnet

# isort: split
import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from gluon_params_kit.errors import CheckpointError, CheckpointTypeError, LoadWarning

EPS = 2e-5
WIDTH = 8
SHAPE = (2, 3, 12, 12)


# --------------------------------------------------------------------------- symbol nets

def _bn(x, name, **kw):
    return mx.sym.BatchNorm(x, name=name, **kw)


def _resnet_symbol(classes=5):
    """A small pre-activation ResNet as MXNet's symbol examples write it: bn_data with
    fix_gamma=True, eps 2e-5 everywhere, a strided unit with a 1x1 shortcut, an identity
    unit, a final bn1 with fix_gamma=True; many BatchNorms of equal width."""
    data = mx.sym.var("data")
    x = _bn(data, "bn_data", fix_gamma=True, eps=EPS)
    x = mx.sym.Convolution(x, num_filter=WIDTH, kernel=(3, 3), pad=(1, 1), no_bias=True, name="conv0")
    x = _bn(x, "bn0", fix_gamma=False, eps=EPS)
    x = mx.sym.Activation(x, act_type="relu", name="relu0")
    for unit, stride in (("stage1_unit1", 2), ("stage1_unit2", 1)):
        b1 = _bn(x, f"{unit}_bn1", fix_gamma=False, eps=EPS)
        a1 = mx.sym.Activation(b1, act_type="relu", name=f"{unit}_relu1")
        c1 = mx.sym.Convolution(a1, num_filter=WIDTH, kernel=(3, 3), stride=(stride, stride), pad=(1, 1),
                                no_bias=True, name=f"{unit}_conv1")
        b2 = _bn(c1, f"{unit}_bn2", fix_gamma=False, eps=EPS)
        a2 = mx.sym.Activation(b2, act_type="relu", name=f"{unit}_relu2")
        c2 = mx.sym.Convolution(a2, num_filter=WIDTH, kernel=(3, 3), pad=(1, 1), no_bias=True,
                                name=f"{unit}_conv2")
        if stride != 1:
            shortcut = mx.sym.Convolution(a1, num_filter=WIDTH, kernel=(1, 1), stride=(stride, stride),
                                          no_bias=True, name=f"{unit}_sc")
        else:
            shortcut = x
        x = c2 + shortcut
    x = _bn(x, "bn1", fix_gamma=True, eps=EPS)
    x = mx.sym.Activation(x, act_type="relu", name="relu1")
    x = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool1")
    x = mx.sym.Flatten(x)
    return mx.sym.FullyConnected(x, num_hidden=classes, name="fc1")


def _conv_bn_relu(x, name, **kw):
    """MXNet's MobileNet symbol block: conv (no bias), BatchNorm(fix_gamma=True, eps at the
    symbol API's default 1e-3), relu."""
    x = mx.sym.Convolution(x, no_bias=True, name=f"{name}_conv2d", **kw)
    return mx.sym.Activation(_bn(x, f"{name}_batchnorm", fix_gamma=True), act_type="relu", name=f"{name}_relu")


def _mobilenet_symbol(classes=5):
    """MobileNet-style, named as MXNet's mobilenet symbol: a strided conv, a depthwise conv
    (num_group = channels), a pointwise conv."""
    data = mx.sym.var("data")
    x = _conv_bn_relu(data, "conv_1", num_filter=WIDTH, kernel=(3, 3), stride=(2, 2), pad=(1, 1))
    x = _conv_bn_relu(x, "conv_2_dw", num_filter=WIDTH, num_group=WIDTH, kernel=(3, 3), pad=(1, 1))
    x = _conv_bn_relu(x, "conv_2", num_filter=2 * WIDTH, kernel=(1, 1))
    x = mx.sym.Pooling(x, global_pool=True, kernel=(1, 1), pool_type="avg", name="pool")
    return mx.sym.FullyConnected(mx.sym.Flatten(x), num_hidden=classes, name="fc7")


def _save_checkpoint(sym, prefix, seed=0, data_shape=SHAPE, x=None):
    """Random weights and BatchNorm statistics (gamma far from 1), saved with
    ``save_checkpoint``; returns the checkpoint's .params path, the input and MXNet's own
    output on it."""
    arg_shapes, _, aux_shapes = sym.infer_shape(data=data_shape)
    rng = np.random.RandomState(seed)
    args, auxs = {}, {}
    for name, shape in zip(sym.list_arguments(), arg_shapes):
        if name == "data":
            continue
        if name.endswith("_gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("_beta") or name.endswith("_bias"):
            value = rng.normal(0, 0.3, shape)
        else:
            fan_in = max(1, int(np.prod(shape[1:])))
            value = rng.normal(0, 1.0 / np.sqrt(fan_in), shape)
        args[name] = mx.nd.array(value, dtype="float32")
    for name, shape in zip(sym.list_auxiliary_states(), aux_shapes):
        value = rng.normal(0, 0.5, shape) if name.endswith("_mean") else rng.uniform(0.5, 2.0, shape)
        auxs[name] = mx.nd.array(value, dtype="float32")
    mx.model.save_checkpoint(prefix, 0, sym, args, auxs)
    if x is None:
        x = mx.nd.array(np.random.RandomState(seed + 1).normal(0, 1, data_shape), dtype="float32")
    mod = mx.mod.Module(sym, data_names=["data"], label_names=None, context=mx.cpu())
    mod.bind(data_shapes=[("data", data_shape)], for_training=False)
    mod.set_params(args, auxs)
    mod.forward(mx.io.DataBatch([x]), is_train=False)
    return prefix + "-0000.params", x, mod.get_outputs()[0].asnumpy()


@pytest.fixture(scope="module")
def resnet_ckpt(tmp_path_factory):
    return _save_checkpoint(_resnet_symbol(), str(tmp_path_factory.mktemp("resnet") / "resnet"))


@pytest.fixture(scope="module")
def mobilenet_ckpt(tmp_path_factory):
    return _save_checkpoint(_mobilenet_symbol(), str(tmp_path_factory.mktemp("mobilenet") / "mobilenet"))


# --------------------------------------------------------------------------- Gluon nets

class PreActUnit(nn.HybridBlock):
    """A pre-activation residual unit, written as Gluon's ResNetV2 writes it: the shortcut
    is computed right after the first activation (before conv1), and registered last."""

    def __init__(self, stride, epsilon, kernel=3, **kwargs):
        super().__init__(**kwargs)
        self.bn1 = nn.BatchNorm(epsilon=epsilon)
        self.conv1 = nn.Conv2D(WIDTH, kernel, strides=stride, padding=kernel // 2, use_bias=False)
        self.bn2 = nn.BatchNorm(epsilon=epsilon)
        self.conv2 = nn.Conv2D(WIDTH, 3, padding=1, use_bias=False)
        self.sc = nn.Conv2D(WIDTH, 1, strides=stride, use_bias=False) if stride != 1 else None

    def hybrid_forward(self, F, x):
        a1 = F.relu(self.bn1(x))
        shortcut = self.sc(a1) if self.sc is not None else x
        x = self.conv2(F.relu(self.bn2(self.conv1(a1))))
        return x + shortcut


def _resnet_net(epsilon=EPS, fixed_scale=False, kernel=3, classes=5):
    """The Gluon twin of :func:`_resnet_symbol`; ``fixed_scale`` builds the fix_gamma
    layers with ``scale=False`` as the symbol means them."""
    net = nn.HybridSequential()
    net.add(nn.BatchNorm(epsilon=epsilon, scale=not fixed_scale),
            nn.Conv2D(WIDTH, 3, padding=1, use_bias=False),
            nn.BatchNorm(epsilon=epsilon), nn.Activation("relu"),
            PreActUnit(2, epsilon, kernel=kernel), PreActUnit(1, epsilon),
            nn.BatchNorm(epsilon=epsilon, scale=not fixed_scale), nn.Activation("relu"),
            nn.GlobalAvgPool2D(), nn.Dense(classes))
    net.initialize()
    return net


def _mobilenet_net(epsilon=1e-3, fixed_scale=True, known=True):
    """The Gluon twin of :func:`_mobilenet_symbol`; ``known=False`` leaves every input
    width deferred."""
    def width(c):
        return c if known else 0

    def bn(c):
        return nn.BatchNorm(epsilon=epsilon, scale=not fixed_scale, in_channels=width(c))
    net = nn.HybridSequential()
    net.add(nn.Conv2D(WIDTH, 3, strides=2, padding=1, use_bias=False, in_channels=width(3)),
            bn(WIDTH), nn.Activation("relu"),
            nn.Conv2D(WIDTH, 3, padding=1, groups=WIDTH, use_bias=False, in_channels=width(WIDTH)),
            bn(WIDTH), nn.Activation("relu"),
            nn.Conv2D(2 * WIDTH, 1, use_bias=False, in_channels=width(WIDTH)),
            bn(2 * WIDTH), nn.Activation("relu"), nn.GlobalAvgPool2D(), nn.Dense(5, in_units=width(2 * WIDTH)))
    net.initialize()
    return net


def _close(net, x, expected, rel=1e-6):
    got = net(x).asnumpy()
    scale = float(np.abs(expected).max())
    return float(np.abs(got - expected).max()) <= rel * scale


def _values(net):
    return {k: p.data().asnumpy().copy() for k, p in gpk.named_parameters(net).items()
            if p._data is not None}


def _attributes(report):
    return sorted((n.layer, n.attribute) for n in report.symbol_notes)


# --------------------------------------------------------------------------- the oracle

def test_resnet_built_like_the_symbol_loads_and_matches_mxnet_with_nothing_flagged(resnet_ckpt):
    params, x, expected = resnet_ckpt
    net = _resnet_net(fixed_scale=True)
    report = gpk.load(net, params)
    assert report.applied and report.ok and len(report.loaded) == 36
    assert report.symbol == params.replace("-0000.params", "-symbol.json")
    assert report.symbol_notes == []
    assert "its attributes agree with the net's layers" in str(report)
    # arg:/aux: keys of layers people named, each in its role
    assert report.renamed["aux:stage1_unit1_bn2_moving_mean"] == "4.bn2.running_mean"
    assert report.renamed["arg:stage1_unit1_sc_weight"] == "4.sc.weight"
    assert report.renamed["arg:bn_data_gamma"] == "0.gamma"
    assert report.renamed["arg:fc1_bias"] == "9.bias"
    assert _close(net, x, expected)
    net.hybridize()
    assert _close(net, x, expected)
    # the forward order traced (the shortcut before conv1) pairs the same way
    traced = _resnet_net(fixed_scale=True)
    assert gpk.load(traced, params, example=x).renamed == report.renamed


def test_resnet_as_gluon_defaults_is_flagged_and_each_offered_fix_matches_mxnet(resnet_ckpt):
    params, x, expected = resnet_ckpt
    net = _resnet_net(epsilon=1e-5)
    report = gpk.load(net, params)
    text = str(report)
    flagged = _attributes(report)
    assert ("bn_data", "fix_gamma") in flagged and ("bn1", "fix_gamma") in flagged
    assert [a for a in flagged if a[1] == "fix_gamma"] == [("bn1", "fix_gamma"), ("bn_data", "fix_gamma")]
    assert len([a for a in flagged if a[1] == "eps"]) == 7  # every BatchNorm: 2e-5 vs 1e-5
    assert "fix_gamma='ones'" in text and "BatchNorm(scale=False)" in text
    assert "BatchNorm(epsilon=2e-05)" in text
    lines = report.to_string(width=400).splitlines()
    assert "symbol '" + report.symbol + "': 9 setting(s) of its layers make the net compute otherwise:" in lines
    assert ("  - 7 layers ('bn_data' -> '0', 'bn0' -> '2', 'stage1_unit1_bn1' -> '4.bn1' (+4 more)): "
            "eps=2e-05 in the symbol, epsilon=1e-05 in the net; build it with BatchNorm(epsilon=2e-05)") in lines
    note = next(n for n in report.symbol_notes if n.layer == "bn1" and n.attribute == "fix_gamma")
    assert (note.symbol, note.net, note.fixed, note.path) == (True, False, False, "6")
    assert not _close(net, x, expected, rel=1e-3)  # the flags are real differences

    # fix 1: ones into the fixed gammas (with the symbol's eps)
    net = _resnet_net()
    report = gpk.load(net, params, fix_gamma="ones")
    assert [(n.layer, n.attribute, n.fixed) for n in report.symbol_notes] == [
        ("bn_data", "fix_gamma", True), ("bn1", "fix_gamma", True)]
    assert "its attributes agree with the net's layers (after the fixes below)" in str(report)
    np.testing.assert_array_equal(net[0].gamma.data().asnumpy(), np.ones(3, np.float32))
    assert not np.all(net[2].gamma.data().asnumpy() == 1)  # fix_gamma=False layers keep theirs
    assert _close(net, x, expected)
    # fix 2: the layers built with scale=False (the file's gamma loads, and is ignored)
    net = _resnet_net(fixed_scale=True)
    gpk.load(net, params)
    assert _close(net, x, expected)


def test_only_eps_differs_flags_eps_alone(resnet_ckpt):
    params, x, expected = resnet_ckpt
    net = _resnet_net(epsilon=1e-5, fixed_scale=True)
    report = gpk.load(net, params)
    assert {a for _, a in _attributes(report)} == {"eps"}
    note = report.symbol_notes[0]
    assert (note.layer, note.path, note.symbol, note.net) == ("bn_data", "0", 2e-5, 1e-5)


def test_mobilenet_depthwise_deferred_shapes_traced_forward(mobilenet_ckpt, mode):
    params, x, expected = mobilenet_ckpt
    x = x.as_np_ndarray() if mode == "np" else x
    net = _mobilenet_net(known=False)
    before = net[0].weight.shape
    report = gpk.load(net, params, example=x)
    assert before == (WIDTH, -1 if mode == "np" else 0, 3, 3)
    assert report.symbol_notes == [] and report.ok
    assert report.renamed["arg:conv_2_dw_conv2d_weight"] == "3.weight"
    assert report.renamed["aux:conv_2_batchnorm_moving_var"] == "7.running_var"
    assert net[3].weight.shape == (WIDTH, 1, 3, 3)  # num_group = channels
    assert _close(net, x, expected)


def test_mobilenet_symbol_api_defaults_are_flagged(mobilenet_ckpt):
    params, x, expected = mobilenet_ckpt
    net = _mobilenet_net(epsilon=1e-5, fixed_scale=False)
    report = gpk.load(net, params)
    assert _attributes(report) == sorted(
        (f"{layer}_batchnorm", attr) for layer in ("conv_1", "conv_2_dw", "conv_2")
        for attr in ("eps", "fix_gamma"))
    eps = next(n for n in report.symbol_notes if n.attribute == "eps")
    assert (eps.symbol, eps.net) == (1e-3, 1e-5)
    net = _mobilenet_net(epsilon=1e-3, fixed_scale=False)
    gpk.load(net, params, fix_gamma="ones")
    assert _close(net, x, expected)


def _zoo_mobilenet_symbol(alpha=0.25, resolution=64, classes=10):
    """MXNet's own MobileNet symbol definition (example/image-classification/symbols/
    mobilenet.py, ``get_symbol``): conv/BatchNorm(fix_gamma=True)/relu blocks, depthwise
    then pointwise, average pooling over the last 1/32 of the resolution, ``fc``."""
    base = int(32 * alpha)
    x = _conv_bn_relu(mx.sym.var("data"), "conv_1", num_filter=base, kernel=(3, 3), pad=(1, 1), stride=(2, 2))
    plan = [(1, 2, 1), (2, 2, 2), (4, 1, 1), (4, 2, 2), (8, 1, 1), (8, 2, 2)] + [(16, 1, 1)] * 5 + [
        (16, 2, 2), (32, 1, 1)]  # (depth / base, pointwise factor, stride)
    for i, (depth, factor, stride) in enumerate(plan):
        depth *= base
        x = _conv_bn_relu(x, f"conv_{i + 2}_dw", num_filter=depth, num_group=depth, kernel=(3, 3), pad=(1, 1),
                          stride=(stride, stride))
        x = _conv_bn_relu(x, f"conv_{i + 2}", num_filter=depth * factor, kernel=(1, 1))
    pool = resolution // 32
    x = mx.sym.Pooling(x, kernel=(pool, pool), stride=(1, 1), pool_type="avg", name="global_pool")
    return mx.sym.FullyConnected(mx.sym.Flatten(x, name="flatten"), num_hidden=classes, name="fc")


def test_mxnets_own_mobilenet_symbol_into_the_gluon_model_zoos_mobilenet(tmp_path):
    """No net written for the test: MXNet's symbol definition against Gluon's model zoo
    (pairing by the net's graph alone; 27 BatchNorms flagged twice, then matching)."""
    from mxnet.gluon.model_zoo import vision
    params, x, expected = _save_checkpoint(_zoo_mobilenet_symbol(), str(tmp_path / "mobilenet"),
                                           data_shape=(1, 3, 64, 64))
    net = vision.get_mobilenet(0.25, classes=10)
    net.initialize()
    report = gpk.load(net, params)
    assert len(report.loaded) == 137 and report.renamed["arg:conv_14_dw_conv2d_weight"] == "features.75.weight"
    assert sorted({(n.attribute, n.symbol, n.net) for n in report.symbol_notes}) == [
        ("eps", 1e-3, 1e-5), ("fix_gamma", True, False)]
    assert len(report.symbol_notes) == 54 and not _close(net, x, expected, rel=1e-3)
    net = vision.get_mobilenet(0.25, classes=10)
    net.initialize()
    for layer in gpk.named_blocks(net).values():
        if isinstance(layer, nn.BatchNorm):
            layer._kwargs["eps"] = 1e-3  # as BatchNorm(epsilon=1e-3) would build it
    report = gpk.load(net, params, fix_gamma="ones")
    assert all(n.fixed for n in report.symbol_notes) and _close(net, x, expected)


def _zoo_resnet_symbol(filters=(16, 64, 128, 256), classes=10):
    """MXNet's own pre-activation ResNet symbol definition (example/image-classification/
    symbols/resnet.py, bottleneck units, the CIFAR stem: ``id``, ``bn_data`` with
    fix_gamma=True, a 3x3 ``conv0``), one unit per stage."""
    body = _bn(mx.sym.identity(mx.sym.var("data"), name="id"), "bn_data", fix_gamma=True, eps=EPS, momentum=0.9)
    body = mx.sym.Convolution(body, num_filter=filters[0], kernel=(3, 3), stride=(1, 1), pad=(1, 1), no_bias=True,
                              name="conv0")
    for i, width in enumerate(filters[1:]):
        name, stride = f"stage{i + 1}_unit1", (1, 1) if i == 0 else (2, 2)
        act1 = mx.sym.Activation(_bn(body, name + "_bn1", fix_gamma=False, eps=EPS, momentum=0.9),
                                 act_type="relu", name=name + "_relu1")
        x = mx.sym.Convolution(act1, num_filter=width // 4, kernel=(1, 1), stride=(1, 1), pad=(0, 0),
                               no_bias=True, name=name + "_conv1")
        x = mx.sym.Activation(_bn(x, name + "_bn2", fix_gamma=False, eps=EPS, momentum=0.9), act_type="relu")
        x = mx.sym.Convolution(x, num_filter=width // 4, kernel=(3, 3), stride=stride, pad=(1, 1), no_bias=True,
                               name=name + "_conv2")
        x = mx.sym.Activation(_bn(x, name + "_bn3", fix_gamma=False, eps=EPS, momentum=0.9), act_type="relu")
        x = mx.sym.Convolution(x, num_filter=width, kernel=(1, 1), stride=(1, 1), pad=(0, 0), no_bias=True,
                               name=name + "_conv3")
        body = x + mx.sym.Convolution(act1, num_filter=width, kernel=(1, 1), stride=stride, no_bias=True,
                                      name=name + "_sc")
    relu1 = mx.sym.Activation(_bn(body, "bn1", fix_gamma=False, eps=EPS, momentum=0.9), act_type="relu")
    pool1 = mx.sym.Pooling(relu1, global_pool=True, kernel=(7, 7), pool_type="avg", name="pool1")
    return mx.sym.FullyConnected(mx.sym.Flatten(pool1), num_hidden=classes, name="fc1")


def test_mxnets_own_resnet_symbol_into_the_gluon_model_zoos_resnet_v2(tmp_path):
    """MXNet's ResNet symbol against Gluon's ResNetV2 of the same shape: stage 1's conv3
    and shortcut have one shape (16 -> 64, 1x1) and pair by the graph's data flow."""
    from mxnet.gluon.model_zoo import vision
    params, x, expected = _save_checkpoint(_zoo_resnet_symbol(), str(tmp_path / "resnet"),
                                           data_shape=(2, 3, 16, 16))

    def zoo():
        net = vision.ResNetV2(vision.BottleneckV2, [1, 1, 1], [16, 64, 128, 256], classes=10, thumbnail=True)
        net.initialize()
        return net
    net = zoo()
    report = gpk.load(net, params)
    assert report.renamed["arg:stage1_unit1_conv3_weight"] == "features.2.0.conv3.weight"
    assert report.renamed["arg:stage1_unit1_sc_weight"] == "features.2.0.downsample.weight"
    assert [(n.attribute, n.symbol, n.net) for n in report.symbol_notes] == [("eps", EPS, 1e-5)] * 11
    net = zoo()
    for layer in gpk.named_blocks(net).values():
        if isinstance(layer, nn.BatchNorm):
            layer._kwargs["eps"] = EPS  # as BatchNorm(epsilon=2e-5) would build it
    assert gpk.load(net, params).symbol_notes == [] and _close(net, x, expected)


def test_momentum_and_use_global_stats_are_flagged_as_training_only(tmp_path):
    data = mx.sym.var("data")
    sym = mx.sym.FullyConnected(
        _bn(data, "bn_in", fix_gamma=False, eps=1e-5, momentum=0.99, use_global_stats=True),
        num_hidden=2, name="fc")
    arrays = {"arg:bn_in_gamma": mx.nd.array([0.5, 2.0]), "arg:bn_in_beta": mx.nd.zeros(2),
              "aux:bn_in_moving_mean": mx.nd.zeros(2), "aux:bn_in_moving_var": mx.nd.ones(2),
              "arg:fc_weight": mx.nd.ones((2, 2)), "arg:fc_bias": mx.nd.zeros(2)}
    sym.save(str(tmp_path / "m-symbol.json"))
    mx.nd.save(str(tmp_path / "m-0007.params"), arrays)
    net = nn.HybridSequential()
    net.add(nn.BatchNorm(in_channels=2), nn.Dense(2, in_units=2))
    net.initialize()
    report = gpk.load(net, str(tmp_path / "m-0007.params"))
    notes = {n.attribute: n for n in report.symbol_notes}
    assert sorted(notes) == ["momentum", "use_global_stats"]
    assert notes["momentum"].training_only and notes["use_global_stats"].training_only
    assert (notes["momentum"].symbol, notes["momentum"].net) == (0.99, 0.9)


def _deconv_prelu_norms():
    """Deconvolution (no bias: its default), PReLU, InstanceNorm and LayerNorm at the
    symbol API's defaults, against Gluon layers built alike."""
    x = mx.sym.Deconvolution(mx.sym.var("data"), num_filter=2, kernel=(2, 2), stride=(2, 2), name="up")
    x = mx.sym.LeakyReLU(x, act_type="prelu", name="act")
    x = mx.sym.InstanceNorm(x, name="inorm")
    x = mx.sym.LayerNorm(mx.sym.FullyConnected(x, num_hidden=4, name="fc"), name="lnorm")
    net = nn.HybridSequential()
    net.add(nn.Conv2DTranspose(2, 2, strides=2, use_bias=False, in_channels=3), nn.PReLU(in_channels=2),
            nn.InstanceNorm(epsilon=1e-3, in_channels=2), nn.Dense(4, in_units=2 * 8 * 8),
            nn.LayerNorm(in_channels=4))
    return x, net, (2, 3, 4, 4), None


def _embedding():
    x = mx.sym.Embedding(mx.sym.var("data"), input_dim=10, output_dim=4, name="embed")
    net = nn.HybridSequential()
    net.add(nn.Embedding(10, 4), nn.Dense(3, flatten=True))
    return (mx.sym.FullyConnected(x, num_hidden=3, name="fc"), net, (2, 5),
            mx.nd.array(np.random.RandomState(4).randint(0, 10, (2, 5)), dtype="float32"))


def _shared_dense():
    """One FullyConnected applied twice (the same variables), against a Dense whose
    Parameters a second Dense shares."""
    w, b = mx.sym.var("fc_weight"), mx.sym.var("fc_bias")
    x = mx.sym.FullyConnected(mx.sym.var("data"), weight=w, bias=b, num_hidden=3, name="fc_a")
    x = mx.sym.FullyConnected(mx.sym.tanh(x), weight=w, bias=b, num_hidden=3, name="fc_b")
    net = nn.HybridSequential()
    first = nn.Dense(3, in_units=3)
    net.add(first, nn.Activation("tanh"), nn.Dense(3, in_units=3, params=first.params))
    return x, net, (2, 3), None


@pytest.mark.parametrize("make", [_deconv_prelu_norms, _embedding, _shared_dense])
def test_other_parameterised_operators_match_mxnet(make, tmp_path):
    sym, net, shape, x = make()
    params, x, expected = _save_checkpoint(sym, str(tmp_path / "other"), data_shape=shape, x=x)
    net.initialize()
    report = gpk.load(net, params)
    assert report.ok and report.symbol_notes == [] and len(report.loaded) == len(gpk.named_parameters(net))
    assert _close(net, x, expected)


# --------------------------------------------------------------------------- refusals

def test_wrong_structure_is_refused_naming_the_layer_and_nothing_changes(resnet_ckpt):
    params, _, _ = resnet_ckpt
    net = _resnet_net(kernel=5)
    before = _values(net)
    with pytest.raises(CheckpointError) as info:
        gpk.load(net, params)
    msg = str(info.value)
    assert "net layer '4.conv1' (Conv2D) does not fit symbol layer 'stage1_unit1_conv1'" in msg
    assert "kernel (3, 3) in the symbol vs (5, 5) in the net" in msg
    assert "resnet-symbol.json" in msg and "Nothing was changed" in msg
    assert "By the keys alone (not the graph), remap=Remap.keys(" in msg and "would match 3 of 36" in msg
    after = _values(net)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    with pytest.warns(LoadWarning, match="only 0 of 36 parameters were loaded"):
        report = gpk.load(net, params, strict=False)
    walk = report.symbol_notes[0]
    assert walk.attribute == "walk" and "stage1_unit1_conv1" in walk.message


def test_a_missing_layer_and_an_extra_layer_are_named(resnet_ckpt):
    params, _, _ = resnet_ckpt
    net = _resnet_net()
    net.add(nn.Dense(3))
    with pytest.raises(CheckpointError, match=r"net layer '10' \(Dense\) has no counterpart"):
        gpk.load(net, params)
    full, short = _resnet_net(), nn.HybridSequential()
    for i in range(9):
        short.add(full[i])
    with pytest.raises(CheckpointError, match=r"symbol layer 'fc1' \(FullyConnected, num_hidden=5\) has "
                                              r"no counterpart in HybridSequential"):
        gpk.load(short, params)


def _bottleneck_symbol():
    """MXNet's pre-activation bottleneck unit where the shortcut and conv3 have the same
    shape (input width = bottleneck width, as ResNet-50's stage 1): only the graph's data
    flow tells them apart."""
    data = mx.sym.var("data")
    a1 = mx.sym.Activation(_bn(data, "stage1_unit1_bn1", fix_gamma=False, eps=EPS), act_type="relu")
    x = mx.sym.Convolution(a1, num_filter=4, kernel=(1, 1), no_bias=True, name="stage1_unit1_conv1")
    x = mx.sym.Activation(_bn(x, "stage1_unit1_bn2", fix_gamma=False, eps=EPS), act_type="relu")
    x = mx.sym.Convolution(x, num_filter=4, kernel=(3, 3), pad=(1, 1), no_bias=True, name="stage1_unit1_conv2")
    x = mx.sym.Activation(_bn(x, "stage1_unit1_bn3", fix_gamma=False, eps=EPS), act_type="relu")
    x = mx.sym.Convolution(x, num_filter=16, kernel=(1, 1), no_bias=True, name="stage1_unit1_conv3")
    return x + mx.sym.Convolution(a1, num_filter=16, kernel=(1, 1), no_bias=True, name="stage1_unit1_sc")


class Bottleneck(nn.HybridBlock):
    """Gluon's BottleneckV2 layout: the shortcut registered last, called after bn1 (or, with
    ``from_input``, on the unit's input as a v1 unit wires it)."""

    def __init__(self, from_input=False, **kwargs):
        super().__init__(**kwargs)
        self.from_input = from_input
        self.bn1 = nn.BatchNorm(epsilon=EPS, in_channels=4)
        self.conv1 = nn.Conv2D(4, 1, use_bias=False, in_channels=4)
        self.bn2 = nn.BatchNorm(epsilon=EPS, in_channels=4)
        self.conv2 = nn.Conv2D(4, 3, padding=1, use_bias=False, in_channels=4)
        self.bn3 = nn.BatchNorm(epsilon=EPS, in_channels=4)
        self.conv3 = nn.Conv2D(16, 1, use_bias=False, in_channels=4)
        self.sc = nn.Conv2D(16, 1, use_bias=False, in_channels=4)

    def hybrid_forward(self, F, x):
        a1 = F.relu(self.bn1(x))
        shortcut = self.sc(x if self.from_input else a1)
        y = F.relu(self.bn2(self.conv1(a1)))
        y = self.conv3(F.relu(self.bn3(self.conv2(y))))
        return y + shortcut


def test_layers_of_equal_shape_are_told_apart_by_the_graphs_data_flow(tmp_path):
    params, x, expected = _save_checkpoint(_bottleneck_symbol(), str(tmp_path / "unit"), data_shape=(2, 4, 6, 6))
    net = Bottleneck()
    net.initialize()
    report = gpk.load(net, params)
    assert report.renamed["arg:stage1_unit1_conv3_weight"] == "conv3.weight"
    assert report.renamed["arg:stage1_unit1_sc_weight"] == "sc.weight"
    assert report.symbol_notes == [] and _close(net, x, expected)
    # wired otherwise (the shortcut from the unit's input): refused, the inputs named
    other = Bottleneck(from_input=True)
    other.initialize()
    with pytest.raises(CheckpointError) as info:
        gpk.load(other, params)
    assert ("net layer 'sc' (Conv2D) does not fit symbol layer 'stage1_unit1_sc' (Convolution, "
            "kernel=(1, 1), num_filter=16), the symbol's next layer: its input comes from "
            "'stage1_unit1_bn1' in the symbol, from the data in the net") in str(info.value)


def test_two_parallel_layers_that_fit_equally_are_never_guessed(tmp_path):
    data = mx.sym.var("data")
    a = mx.sym.Convolution(data, num_filter=4, kernel=(1, 1), name="branch_a")
    b = mx.sym.Convolution(data, num_filter=4, kernel=(1, 1), name="branch_b")
    sym = mx.sym.concat(a, b, dim=1)
    arrays = {f"arg:branch_{n}_{r}": mx.nd.ones(s) for n in "ab"
              for r, s in (("weight", (4, 3, 1, 1)), ("bias", (4,)))}
    sym.save(str(tmp_path / "twin-symbol.json"))
    mx.nd.save(str(tmp_path / "twin-0000.params"), arrays)

    class Twin(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.left = nn.Conv2D(4, 1, in_channels=3)
            self.right = nn.Conv2D(4, 1, in_channels=3)

        def hybrid_forward(self, F, x):
            return F.concat(self.left(x), self.right(x), dim=1)
    net = Twin()
    net.initialize()
    with pytest.raises(CheckpointError) as info:
        gpk.load(net, str(tmp_path / "twin-0000.params"))
    msg = str(info.value)
    assert "net layer 'left' (Conv2D) fits 2 symbol layers equally ('branch_a', 'branch_b')" in msg
    assert "nothing is guessed" in msg


def _scale():
    return mx.sym.broadcast_mul(mx.sym.var("data"), mx.sym.var("scale_w"), name="scale"), "scale_w", (1, 3)


def _lstm():
    sym = mx.sym.RNN(mx.sym.var("data"), parameters=mx.sym.var("lstm_parameters"),
                     state=mx.sym.var("lstm_state"), state_cell=mx.sym.var("lstm_state_cell"),
                     state_size=4, num_layers=1, mode="lstm", name="lstm")
    return sym, "lstm_parameters", (144,)


@pytest.mark.parametrize("make, message", [
    (_scale, r"symbol layer 'scale' \(broadcast_mul\) cannot be paired: the walk pairs .*; "
             r"broadcast_mul holds 'scale_w'"),
    (_lstm, r"symbol layer 'lstm' \(RNN\) cannot be paired: .*RNN holds 'lstm_parameters' \(a fused "
            r"parameter vector\)"),
])
def test_unsupported_operator_with_stored_parameters_is_named(tmp_path, make, message):
    sym, name, shape = make()
    sym.save(str(tmp_path / "s-symbol.json"))
    mx.nd.save(str(tmp_path / "s-0000.params"), {f"arg:{name}": mx.nd.ones(shape)})
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=3))
    net.initialize()
    with pytest.raises(CheckpointError, match=message):
        gpk.load(net, str(tmp_path / "s-0000.params"))


def test_no_bias_in_the_symbol_against_a_layer_with_a_bias(tmp_path):
    data = mx.sym.var("data")
    sym = mx.sym.Convolution(data, num_filter=2, kernel=(1, 1), no_bias=True, name="c")
    sym.save(str(tmp_path / "nb-symbol.json"))
    mx.nd.save(str(tmp_path / "nb-0000.params"), {"arg:c_weight": mx.nd.ones((2, 3, 1, 1))})
    net = nn.HybridSequential()
    net.add(nn.Conv2D(2, 1, in_channels=3))
    net.initialize()
    with pytest.raises(CheckpointError) as info:
        gpk.load(net, str(tmp_path / "nb-0000.params"))
    assert info.value.report.missing == ["0.bias"]
    assert "no_bias=True in the symbol" in str(info.value)
    with pytest.warns(LoadWarning, match=r"keep their initial values \('0.bias'\)"):
        report = gpk.load(net, str(tmp_path / "nb-0000.params"), strict=False)
    assert [n.attribute for n in report.symbol_notes] == ["no_bias"]
    assert "build it with use_bias=False" in report.symbol_notes[0].message


# --------------------------------------------------------------------------- the symbol file

def test_without_the_symbol_file_the_load_behaves_as_before(resnet_ckpt, tmp_path):
    params, _, _ = resnet_ckpt
    copy = tmp_path / "alone-0000.params"
    copy.write_bytes(open(params, "rb").read())
    net = _resnet_net()
    with pytest.raises(CheckpointError) as info:
        gpk.load(net, str(copy))
    assert "by its symbol" not in str(info.value) and "The symbol" not in str(info.value)
    assert info.value.report.symbol is None and len(info.value.report.missing) == 36
    with pytest.raises(CheckpointError, match="needs the symbol file"):
        gpk.load(net, str(copy), fix_gamma="ones")
    with pytest.raises(CheckpointError, match=r"symbol file '.*nowhere-symbol.json' does not exist"):
        gpk.load(net, str(copy), symbol=str(tmp_path / "nowhere-symbol.json"))
    # named explicitly, the symbol file is found anywhere
    report = gpk.load(net, str(copy), symbol=params.replace("-0000.params", "-symbol.json"))
    assert report.applied and _attributes(report) == [("bn1", "fix_gamma"), ("bn_data", "fix_gamma")]
    # symbol=False: the file alone, as before
    with pytest.raises(CheckpointError):
        gpk.load(_resnet_net(), params, symbol=False)


def test_bad_fix_gamma_choice_and_symbol_type(resnet_ckpt):
    with pytest.raises(CheckpointError, match="unknown fix_gamma 'zeros'. Expected one of None, 'ones'"):
        gpk.load(_resnet_net(), resnet_ckpt[0], fix_gamma="zeros")
    with pytest.raises(CheckpointTypeError, match="symbol must be a path to a -symbol.json file, None "
                                                  r"\(look beside the .params file\) or False; got int"):
        gpk.load(_resnet_net(), resnet_ckpt[0], symbol=3)


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not a readable JSON symbol graph"),
    ('{"heads": []}', "expected a JSON object with a non-empty 'nodes' list"),
    ('[1, 2]', "expected a JSON object with a non-empty 'nodes' list"),
    ('{"nodes": [{"op": "null"}]}', "node 0 is not a symbol node"),
    ('{"nodes": [{"op": "null", "name": "data", "inputs": []}, '
     '{"op": "Convolution", "name": "c", "inputs": [[0, 0, 0], [5, 0, 0]]}]}', "'inputs' must be a list"),
    ('{"nodes": [{"op": "null", "name": "data", "inputs": []}, {"op": "null", "name": "c_weight", '
     '"inputs": []}, {"op": "Convolution", "name": "c", "attrs": {"kernel": "three", "num_filter": "2", '
     '"no_bias": "True"}, "inputs": [[0, 0, 0], [1, 0, 0]]}]}', r"layer 'c': kernel='three' is not an integer"),
    ('{"nodes": [{"op": "null", "name": "data", "inputs": []}, {"op": "null", "name": "c_weight", '
     '"inputs": []}, {"op": "Convolution", "name": "c", "attrs": {"kernel": "(1, 1)", "num_filter": "2", '
     '"no_bias": "maybe"}, "inputs": [[0, 0, 0], [1, 0, 0]]}]}', r"no_bias='maybe' is not a boolean"),
])
def test_malformed_symbol_file_is_a_checkpoint_error_and_nothing_changes(tmp_path, text, message):
    (tmp_path / "bad-symbol.json").write_text(text)
    mx.nd.save(str(tmp_path / "bad-0000.params"), {"arg:c_weight": mx.nd.ones((2, 3, 1, 1))})
    net = nn.HybridSequential()
    net.add(nn.Conv2D(2, 1, in_channels=3, use_bias=False))
    net.initialize()
    before = _values(net)
    with pytest.raises(CheckpointError, match=message) as info:
        gpk.load(net, str(tmp_path / "bad-0000.params"))
    assert "symbol=False loads without it" in str(info.value)
    assert all(np.array_equal(v, _values(net)[k]) for k, v in before.items())
    with pytest.raises(CheckpointError, match=message) as info:  # named: no hint to leave it out
        gpk.load(net, str(tmp_path / "bad-0000.params"), symbol=str(tmp_path / "bad-symbol.json"))
    assert "symbol=False" not in str(info.value)
    report = gpk.load(net, str(tmp_path / "bad-0000.params"), symbol=False, remap={"arg:c_weight": "0.weight"})
    assert report.loaded == ["0.weight"] and report.symbol is None


def test_older_mxnet_attribute_layouts_are_read(tmp_path, resnet_ckpt):
    """MXNet 0.x wrote an operator's attributes under 'param' or 'attr', not 'attrs'."""
    params, x, expected = resnet_ckpt
    doc = json.load(open(params.replace("-0000.params", "-symbol.json")))
    for i, node in enumerate(doc["nodes"]):
        if "attrs" in node:
            node["param" if i % 2 else "attr"] = node.pop("attrs")
    (tmp_path / "old-symbol.json").write_text(json.dumps(doc))
    net = _resnet_net(epsilon=1e-5)
    report = gpk.load(net, params, symbol=str(tmp_path / "old-symbol.json"), fix_gamma="ones")
    assert sorted({a for _, a in _attributes(report)}) == ["eps", "fix_gamma"]


def test_keys_that_match_keep_todays_load_and_still_get_notes(tmp_path):
    """A HybridBlock.export pair (Gluon auto names) loads as before with remap='structural';
    the symbol beside it, which export writes, only adds its notes (none here)."""
    src = nn.HybridSequential()
    src.add(nn.Conv2D(4, 3, in_channels=3), nn.BatchNorm(in_channels=4, epsilon=2e-5), nn.Dense(2))
    src.initialize()
    src.hybridize()
    x = mx.nd.array(np.random.RandomState(3).normal(0, 1, (1, 3, 6, 6)))
    src(x)
    src.export(str(tmp_path / "exp"))
    dst = nn.HybridSequential()
    dst.add(nn.Conv2D(4, 3, in_channels=3), nn.BatchNorm(in_channels=4, epsilon=2e-5), nn.Dense(2))
    dst.initialize()
    report = gpk.load(dst, str(tmp_path / "exp-0000.params"), remap="structural")
    assert report.ok and report.symbol == str(tmp_path / "exp-symbol.json") and report.symbol_notes == []
    np.testing.assert_array_equal(dst(x).asnumpy(), src(x).asnumpy())
    dst = nn.HybridSequential()
    dst.add(nn.Conv2D(4, 3, in_channels=3), nn.BatchNorm(in_channels=4), nn.Dense(2))
    dst.initialize()
    report = gpk.load(dst, str(tmp_path / "exp-0000.params"))  # no remap: the walk pairs them
    assert [(n.path, n.attribute, n.symbol, n.net) for n in report.symbol_notes] == [("1", "eps", 2e-5, 1e-5)]
    assert report.symbol_notes[0].layer.startswith("batchnorm")  # Gluon's auto name in the export
