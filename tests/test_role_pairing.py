"""The suggested remap pairs keys by layer and role and never guesses (DESIGN: "Key pairing
knows roles").

A value in the wrong role (a BatchNorm's shift in its scale) is a defect; where two layers
fit equally and neither the names nor the file's order decide, the kit suggests nothing for
them and names them. Files from other conventions: PyTorch's names (``1.weight`` for
``1.gamma``) in a sorted ``.safetensors`` file, the symbol API's ``save_checkpoint`` layout
(``arg:`` keys, then ``aux:`` keys), and anonymous layer names in the writer's order.
"""
from __future__ import annotations

import os
import warnings

import mxnet as mx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mxnet.gluon import nn
from safetensors.numpy import save_file

import gluon_params_kit as gpk
from gluon_params_kit.checkpoint._pairing import split_key

TORCH = {"gamma": "weight", "beta": "bias"}
SYMBOL = {"running_mean": "moving_mean", "running_var": "moving_var"}
MAX_LINE = 400


def _randomize(net, seed=0):
    """Distinct values everywhere, so a value in the wrong place shows."""
    rng = np.random.RandomState(seed)
    out = {}
    for path, p in gpk.named_parameters(net).items():
        value = rng.uniform(0.5, 1.5, size=p.shape).astype(p.dtype)
        p.set_data(mx.nd.array(value, dtype=p.dtype))
        out[path] = value
    return out


def _zero(net):
    for p in gpk.named_parameters(net).values():
        p.set_data(mx.nd.zeros(p.shape, dtype=p.dtype))


def _conv_bn():
    net = nn.Sequential()
    net.add(nn.Conv2D(4, 3, in_channels=2), nn.BatchNorm(in_channels=4))
    net.initialize()
    return net


def _two_bn(width=3):
    net = nn.Sequential()
    net.add(nn.BatchNorm(in_channels=width), nn.BatchNorm(in_channels=width))
    net.initialize()
    return net


def _torch_name(path):
    layer, _, role = path.rpartition(".")
    return f"{layer}.{TORCH.get(role, role)}"


def _symbol_name(path, layer=None):
    base, _, role = path.rpartition(".")
    layer = base.replace(".", "_") if layer is None else layer
    kind = "aux" if role.startswith("running_") else "arg"
    return f"{kind}:{layer}_{SYMBOL.get(role, role)}"


def _check_suggestion(net, path, values, report):
    """Every suggested pair keeps its role and takes the value that was saved there;
    following the suggestion loads those values bit for bit."""
    paired = report.paired
    stored = _file_values(path)
    for key, target in paired.items():
        assert split_key(key)[2] == split_key(target)[2], (key, target)
        np.testing.assert_array_equal(stored[key], values[target])
    if report.suggestion is not None:
        _zero(net)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gpk.LoadWarning)  # a partial suggestion warns
            loaded = gpk.load(net, path, remap=report.suggestion, strict=False)
        params = gpk.named_parameters(net)
        for target in loaded.loaded:
            assert params[target].data().asnumpy().tobytes() == values[target].tobytes(), target


def _file_values(path):
    if str(path).endswith(".safetensors"):
        from safetensors.numpy import load_file
        return load_file(str(path))
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def _refusal(net, path):
    with pytest.raises(gpk.CheckpointError) as info:
        gpk.load(net, path)
    message = str(info.value)
    assert all(len(line) < MAX_LINE for line in message.splitlines()), message
    assert all(len(line) < MAX_LINE for line in str(info.value.report).splitlines())
    return info.value.report, message


# --------------------------------------------------------------------------- the repros

def test_pytorch_names_in_a_sorted_safetensors_file_keep_gamma_and_beta(tmp_path):
    net = _conv_bn()
    values = _randomize(net)
    path = str(tmp_path / "torch.safetensors")
    save_file({_torch_name(k): v for k, v in values.items()}, path)  # stored sorted
    assert not gpk.read_header(path).ordered
    report, message = _refusal(net, path)
    assert report.paired == {"1.bias": "1.beta", "1.weight": "1.gamma"}
    assert "matches 6 of 6 parameters" in message
    _check_suggestion(net, path, values, report)
    assert gpk.load(net, path, remap=report.suggestion).ok


def test_symbol_checkpoint_layout_pairs_layers_by_order_and_rejoins_arg_and_aux(tmp_path):
    net = _two_bn()
    values = _randomize(net, seed=1)
    arrays = {}
    for layer, name in (("0", "bn_a"), ("1", "bn_b")):
        for role in ("gamma", "beta"):
            arrays[f"arg:{name}_{role}"] = values[f"{layer}.{role}"]
    for layer, name in (("0", "bn_a"), ("1", "bn_b")):
        for role in ("running_mean", "running_var"):
            arrays[_symbol_name(f"{layer}.{role}", name)] = values[f"{layer}.{role}"]
    path = str(tmp_path / "sym.params")
    mx.nd.save(path, {k: mx.nd.array(v) for k, v in arrays.items()})
    report, _ = _refusal(net, path)
    assert report.paired["arg:bn_b_gamma"] == "1.gamma"
    assert report.paired["aux:bn_a_moving_mean"] == "0.running_mean"
    assert len(report.paired) == 8 and not report.ambiguous
    _check_suggestion(net, path, values, report)


def test_equal_layers_that_nothing_decides_are_named_not_guessed(tmp_path):
    net = _two_bn()
    values = _randomize(net, seed=2)
    arrays = {}
    for layer, name in (("0", "bn_a"), ("1", "bn_b")):
        for role in ("gamma", "beta", "running_mean", "running_var"):
            arrays[_symbol_name(f"{layer}.{role}", name)] = values[f"{layer}.{role}"]
    path = str(tmp_path / "sym.safetensors")
    save_file(arrays, path)  # sorted: the file order says nothing
    report, message = _refusal(net, path)
    assert report.suggestion is None and not report.paired
    assert sorted(report.ambiguous) == sorted(arrays)
    assert "No pair is guessed for 8 file key(s)" in message
    assert "ambiguous: 8 file key(s)" in str(report)


def test_a_shuffled_params_file_without_names_gives_no_order_evidence(tmp_path):
    net = _two_bn()
    values = _randomize(net, seed=3)
    keys = [(layer, name, role) for layer, name in (("0", "bn_a"), ("1", "bn_b"))
            for role in ("gamma", "beta", "running_mean", "running_var")]
    order = [0, 4, 1, 5, 2, 6, 3, 7]  # layers interleaved: not a writer's layer order
    path = str(tmp_path / "mixed.params")
    mx.nd.save(path, {_symbol_name(f"{keys[i][0]}.{keys[i][2]}", keys[i][1]):
                      mx.nd.array(values[f"{keys[i][0]}.{keys[i][2]}"]) for i in order})
    report, _ = _refusal(net, path)
    assert report.suggestion is None and len(report.ambiguous) == 8


def test_resnet18_with_pytorch_names_pairs_every_role_and_prints_short_lines(tmp_path):
    net = _zoo("resnet18_v1")
    values = _randomize(net, seed=4)
    path = str(tmp_path / "r18.safetensors")
    save_file({_torch_name(k): v for k, v in values.items()}, path)
    report, message = _refusal(net, path)
    assert len(report.paired) == len(report.missing) and not report.ambiguous
    assert f"matches {len(values)} of {len(values)} parameters" in message
    _check_suggestion(net, path, values, report)


# --------------------------------------------------------------------------- property

_NETS = {}


def _zoo(name):
    from mxnet.gluon.model_zoo import vision
    net = vision.get_model(name, pretrained=False)
    net.initialize()
    net(mx.nd.ones((1, 3, 32, 32)))
    return net


def _net(name):
    if name not in _NETS:
        _NETS[name] = {"conv_bn": _conv_bn, "two_bn": _two_bn,
                       "resnet18_v1": lambda: _zoo("resnet18_v1"),
                       "mobilenet0.25": lambda: _zoo("mobilenet0.25")}[name]()
    return _NETS[name]


def _rename(paths, convention):
    if convention == "torch":
        return {p: _torch_name(p) for p in paths}
    if convention == "symbol":
        return {p: _symbol_name(p) for p in paths}
    layers = []  # anonymous: layer0, layer1... in the block's order
    for p in paths:
        if p.rpartition(".")[0] not in layers:
            layers.append(p.rpartition(".")[0])
    return {p: _symbol_name(p, f"layer{layers.index(p.rpartition('.')[0])}") for p in paths}


@settings(max_examples=int(os.environ.get("ROLE_EXAMPLES", "10")), deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(["conv_bn", "two_bn", "resnet18_v1", "mobilenet0.25"]),
       convention=st.sampled_from(["torch", "symbol", "anonymous"]),
       fmt=st.sampled_from(["params", "safetensors"]),
       data=st.data())
def test_suggestions_never_cross_roles(tmp_path_factory, name, convention, fmt, data):
    net = _net(name)
    values = _randomize(net, seed=5)
    names = _rename(list(values), convention)
    keys = list(values)
    if convention == "anonymous":  # the writer's order: arg keys, then aux keys
        keys.sort(key=lambda k: names[k].startswith("aux:"))
    else:
        keys = data.draw(st.permutations(keys), label="key order")
    path = os.path.join(str(tmp_path_factory.mktemp("f")), f"net.{fmt}")
    if fmt == "params":
        mx.nd.save(path, {names[k]: mx.nd.array(values[k], dtype=values[k].dtype) for k in keys})
    else:
        save_file({names[k]: values[k] for k in keys}, path)
    with pytest.raises(gpk.CheckpointError) as info:
        gpk.load(net, path)
    report = info.value.report
    assert all(len(line) < MAX_LINE for line in str(info.value).splitlines())
    for key, target in report.paired.items():
        assert split_key(key)[2] == split_key(target)[2], (key, target)
    _check_suggestion(net, path, values, report)
    if convention != "anonymous" or fmt == "params":  # names or the writer's order decide
        assert report.suggestion is not None and not report.ambiguous
        assert len(report.paired) == len(report.missing)
