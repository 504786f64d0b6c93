"""Gluon <-> PyTorch: to_torch / from_torch / compare_outputs, proven by the outputs.

Six gluoncv2 <-> pytorchcv twins of different families (random init, random BatchNorm
statistics): to_torch, then the outputs in eval mode agree within 1e-5 with the same argmax,
from_torch brings back the same bits, and a crossed pair is found by its first layer.
"""
import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import importlib
import time

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn, rnn

from gluon_params_kit.errors import CheckpointError, CheckpointTypeError
from gluon_params_kit.interop import compare_outputs, from_torch, to_torch
from gluon_params_kit.tree import named_parameters

torch = pytest.importorskip("torch", reason="PyTorch is the kit's optional 'torch' extra")

#: (module, gluoncv2/pytorchcv model, input side): a ResNet, a pre-activation ResNet, a
#: MobileNet v3, a DenseNet, a ShuffleNet v2 and a SqueezeNet, an SE-ResNet, a MobileNet v2.
ARCHITECTURES = [
    ("resnet_cifar", "resnet20_cifar10", 32),
    ("preresnet_cifar", "preresnet20_cifar10", 32),
    ("mobilenetv3", "mobilenetv3_small_w7d20", 224),
    ("densenet_cifar", "densenet40_k12_cifar10", 32),
    ("shufflenetv2", "shufflenetv2_wd2", 224),
    ("seresnet_cifar", "seresnet20_cifar10", 32),
    ("squeezenet", "squeezenet_v1_1", 224),
    ("mobilenetv2", "mobilenetv2_wd4", 224),
]


def twins(module, name, side, seed=0):
    """A gluoncv2 net with random values and BatchNorm statistics, its pytorchcv twin, an input."""
    pytest.importorskip("gluoncv2", reason="gluoncv2 (pure Python) gives the Gluon twins")
    pytest.importorskip("pytorchcv", reason="pytorchcv (pip install --no-deps) gives the PyTorch twins")
    mx.random.seed(seed)
    net = getattr(importlib.import_module(f"gluoncv2.models.{module}"), name)()
    net.initialize(mx.init.Xavier(magnitude=3))
    rng = np.random.RandomState(seed)
    x = mx.nd.array(rng.uniform(-1, 1, (1, 3, side, side)))
    net(x)
    randomize_statistics(net, rng)
    torch.manual_seed(seed)
    return net, getattr(importlib.import_module(f"pytorchcv.models.{module}"), name)(), x


def randomize_statistics(net, rng):
    for key, p in named_parameters(net).items():
        if key.endswith("running_var"):
            p.set_data(mx.nd.array(rng.uniform(0.5, 2.0, p.shape)))
        elif key.endswith(("running_mean", "beta", "gamma")):
            p.set_data(mx.nd.array(rng.normal(0.0, 0.3, p.shape) + (1.0 if key.endswith("gamma") else 0.0)))


def torch_state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("module, name, side", ARCHITECTURES, ids=[a[1] for a in ARCHITECTURES])
def test_a_twin_architecture_goes_to_torch_and_back_exactly(module, name, side):
    net, twin, x = twins(module, name, side)
    start = time.perf_counter()
    report = to_torch(net, twin, x)
    check = compare_outputs(net, twin, x)
    back = getattr(importlib.import_module(f"gluoncv2.models.{module}"), name)()
    back.initialize()
    from_torch(twin, back, x)
    elapsed = time.perf_counter() - start
    assert report.applied and not report.differences
    assert len(report) == len(named_parameters(net))
    assert check.ok, check
    assert check.max_abs_diff <= 1e-5 and check["output 0"].same_argmax
    assert check["output 0"].shape == (1, 10 if "cifar" in name else 1000)
    mine, theirs = named_parameters(net), named_parameters(back)
    assert list(mine) == list(theirs)
    for key in mine:
        assert mine[key].data().asnumpy().tobytes() == theirs[key].data().asnumpy().tobytes(), key
    print(f"{name}: max |diff| {check.max_abs_diff:.3g}, relative {check['output 0'].max_rel_diff:.3g}, "
          f"{elapsed:.2f} s")


def test_a_crossed_pair_fails_and_names_its_layer():
    net, twin, x = twins("resnet_cifar", "resnet20_cifar10", 32)
    report = to_torch(net, twin, x)
    gluon_bn, torch_bn = [pair for pair in report.layers if pair[0].endswith(".bn")][4]
    assert (gluon_bn, torch_bn) == ("features.1.1.body.conv2.bn", "features.stage1.unit2.body.conv2.bn")
    later = [pair for pair in report.layers if pair[0].endswith(".bn")][5][1]
    layer, other = twin.get_submodule(torch_bn), twin.get_submodule(later)
    with torch.no_grad():  # the statistics of two layers of one width crossed
        for name in ("running_mean", "running_var"):
            mine = getattr(layer, name).clone()
            getattr(layer, name).copy_(getattr(other, name))
            getattr(other, name).copy_(mine)
    check = compare_outputs(net, twin, x)
    assert not check.ok and check.max_abs_diff > 1e-3
    assert (check.first_divergence.layer, check.first_divergence.other_layer) == (gluon_bn, torch_bn)
    assert f"first divergence: {gluon_bn!r} / {torch_bn!r}" in str(check)


def test_a_dry_run_is_the_table_and_changes_nothing():
    net, twin, x = twins("resnet_cifar", "resnet20_cifar10", 32)
    before = torch_state(twin)
    report = to_torch(net, twin, x, dry_run=True)
    assert not report.applied and "(dry run)" in report.title
    assert report.pairs["features.0.bn.gamma"] == "features.init_block.bn.weight"
    assert report["features.0.bn.running_var"] == ("features.init_block.bn.running_var", (16,),
                                                   "features.0.bn", "features.init_block.bn", "batchnorm")
    assert "num_batches_tracked: 21 layers" in str(report)
    assert all(torch.equal(before[k], v) for k, v in twin.state_dict().items())


def test_architectures_that_differ_are_refused_and_nothing_changes():
    net, _, x = twins("resnet_cifar", "resnet20_cifar10", 32)
    other = importlib.import_module("pytorchcv.models.preresnet_cifar").preresnet20_cifar10()
    before = torch_state(other)
    with pytest.raises(CheckpointError, match=r"layer 14 differs .* Gluon 'features.2.0.identity_conv.conv' is conv2d weight \(32, 16, 1, 1\); "
                       r"PyTorch 'features.stage2.unit1.body.conv1.conv' is conv2d weight \(32, 16, 3, 3\)") as info:
        to_torch(net, other, x)
    assert "Nothing was changed" in str(info.value)
    assert all(torch.equal(before[k], v) for k, v in other.state_dict().items())


def small_pair(eps=1e-5, momentum=0.1, scale=True, affine=True):
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, padding=1, in_channels=3), nn.BatchNorm(in_channels=4, scale=scale),
            nn.Flatten(), nn.Dense(2, in_units=4 * 5 * 5))
    net.initialize(mx.init.Uniform(1.0))
    randomize_statistics(net, np.random.RandomState(1))
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1),
                                 torch.nn.BatchNorm2d(4, eps=eps, momentum=momentum, affine=affine),
                                 torch.nn.Flatten(), torch.nn.Linear(100, 2))
    return net, module, mx.nd.array(np.random.RandomState(2).uniform(-1, 1, (2, 3, 5, 5)))


def test_a_setting_that_changes_outputs_refuses_unless_strict_is_off():
    net, module, x = small_pair(eps=1e-3)
    before = torch_state(module)
    with pytest.raises(CheckpointError, match=r"'1' / '1': eps 1e-05 in Gluon, 0.001 in the other") as info:
        to_torch(net, module, x)
    assert info.value.report.differences == ["'1' / '1': eps 1e-05 in Gluon, 0.001 in the other"]
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    report = to_torch(net, module, x, strict=False)
    assert report.applied and "DIFFERS (changes outputs): '1' / '1': eps" in str(report)
    assert not compare_outputs(net, module, x).ok


def test_momentum_is_compared_in_each_convention_as_a_note():
    net, module, x = small_pair(momentum=0.1)
    assert to_torch(net, module, x).notes == []  # MXNet 0.9 is PyTorch 0.1
    net, module, x = small_pair(momentum=0.3)
    report = to_torch(net, module, x)
    assert report.applied and report.notes == [
        "'1' / '1': momentum 0.9 in Gluon is 0.1 in PyTorch, not 0.3 (training only)"]


def test_scale_false_and_affine_false_are_the_identity():
    net, module, x = small_pair(scale=False)  # MXNet ignores gamma: PyTorch gets ones
    assert not np.all(net[1].gamma.data().asnumpy() == 1)
    to_torch(net, module, x)
    assert torch.equal(module[1].weight.detach(), torch.ones(4))
    assert compare_outputs(net, module, x).ok
    net, module, x = small_pair(affine=False)  # no weight, no bias in PyTorch
    with pytest.raises(CheckpointError, match="no weight .affine=False., Gluon's gamma is not 1"):
        to_torch(net, module, x)
    report = from_torch(module, net, x)
    assert report["1.gamma"].key == "(affine=False: none)"
    assert np.all(net[1].gamma.data().asnumpy() == 1) and np.all(net[1].beta.data().asnumpy() == 0)
    assert compare_outputs(net, module, x).ok


def test_forward_order_decides_where_registration_order_misleads():
    class Swapped(torch.nn.Module):  # registered b, a; called a, b (same shapes)
        def __init__(self):
            super().__init__()
            self.b = torch.nn.Linear(4, 4)
            self.a = torch.nn.Linear(4, 4, bias=False)

        def forward(self, x):
            return self.b(self.a(x))

    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=4, use_bias=False), nn.Dense(4, in_units=4))
    net.initialize(mx.init.Uniform(1.0))
    module = Swapped()
    with pytest.raises(CheckpointError, match="Pass example inputs so that both sides are read in forward order"):
        to_torch(net, module)
    x = mx.nd.ones((1, 4))
    assert to_torch(net, module, x).layers == [("0", "a"), ("1", "b")]
    assert compare_outputs(net, module, x).ok


@pytest.mark.parametrize("gluon_layer, torch_layer", [(rnn.LSTM, torch.nn.LSTM), (rnn.GRU, torch.nn.GRU)])
def test_recurrent_layers_keep_their_gate_order(gluon_layer, torch_layer):
    net = gluon_layer(5, num_layers=2, bidirectional=True, input_size=3)
    net.initialize(mx.init.Uniform(0.5))
    module = torch_layer(3, 5, num_layers=2, bidirectional=True)
    x = mx.nd.array(np.random.RandomState(0).normal(size=(4, 2, 3)))
    report = to_torch(net, module, x)
    assert report.pairs["_unfused.0.l_cell.i2h_weight"] == "weight_ih_l0"
    assert report.pairs["_unfused.1.r_cell.h2h_bias"] == "bias_hh_l1_reverse"
    check = compare_outputs(net, module, x)
    assert check.ok and check.max_abs_diff <= 1e-6, check
    back = gluon_layer(5, num_layers=2, bidirectional=True, input_size=3)
    back.initialize()
    from_torch(module.state_dict(), back)
    assert all(np.array_equal(a.data().asnumpy(), b.data().asnumpy())
               for a, b in zip(named_parameters(net).values(), named_parameters(back).values()))


def test_a_recurrent_mode_or_layout_that_differs_is_refused():
    net = rnn.RNN(5, input_size=3)  # Gluon's default activation is relu, PyTorch's tanh
    net.initialize()
    with pytest.raises(CheckpointError, match=r"mode 'rnn_relu' in Gluon, 'rnn_tanh' in the other"):
        to_torch(net, torch.nn.RNN(3, 5))
    net = rnn.LSTM(5, input_size=3, layout="NTC")
    net.initialize()
    with pytest.raises(CheckpointError, match="batch_first True in Gluon, False in the other"):
        to_torch(net, torch.nn.LSTM(3, 5))
    assert to_torch(net, torch.nn.LSTM(3, 5, batch_first=True)).applied


def test_a_bare_state_dict_pairs_by_roles_and_shapes():
    net, module, x = small_pair()
    fresh, _, _ = small_pair()
    to_torch(net, module, x)
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    report = from_torch(state, fresh)
    assert report.pairs == {"0.weight": "0.weight", "0.bias": "0.bias", "1.gamma": "1.weight", "1.beta": "1.bias",
                            "1.running_mean": "1.running_mean", "1.running_var": "1.running_var",
                            "3.weight": "3.weight", "3.bias": "3.bias"}
    assert compare_outputs(net, fresh, x).ok


def test_gluon_against_gluon_names_the_first_layer_that_differs():
    net, _, x = small_pair()
    other, _, _ = small_pair()
    for key, p in named_parameters(other).items():
        p.set_data(named_parameters(net)[key].data())
    assert compare_outputs(net, other, x).ok
    other[1].running_mean.set_data(other[1].running_mean.data() + 1)
    net.hybridize()
    check = compare_outputs(net, other, x)
    assert not check.ok and check.first_divergence.layer == "1"
    assert net._active  # still hybridized


def test_bad_arguments_are_named():
    net, module, x = small_pair()
    with pytest.raises(CheckpointTypeError, match="module must be a torch.nn.Module, not str"):
        to_torch(net, "model.pt")
    with pytest.raises(CheckpointTypeError, match="net must be a Gluon Block, not Sequential"):
        to_torch(module, module)
    with pytest.raises(CheckpointTypeError, match="other must be a Gluon Block, a torch.nn.Module or an onnxruntime"):
        compare_outputs(net, 3, x)
    with pytest.raises(CheckpointError, match="needs at least one input"):
        compare_outputs(net, module)
    deferred = nn.Dense(2)
    deferred.initialize()
    with pytest.raises(CheckpointError, match="parameters without values yet"):
        to_torch(deferred, torch.nn.Linear(3, 2))


def test_the_command_line_writes_a_state_dict_and_checks_the_outputs(tmp_path, capsys):
    from gluon_params_kit.checkpoint import save
    from gluon_params_kit.cli import main
    net, _, _ = twins("resnet_cifar", "resnet20_cifar10", 32)
    src, dst = str(tmp_path / "net.params"), str(tmp_path / "net.pt")
    save(net, src)
    assert main(["convert", src, dst, "--model", "gluoncv2.models.resnet_cifar:resnet20_cifar10",
                 "--torch-model", "pytorchcv.models.resnet_cifar:resnet20_cifar10",
                 "--input-shape", "1,3,32,32"]) == 0
    out = capsys.readouterr().out
    assert "features.0.bn.gamma" in out and "features.init_block.bn.weight" in out
    assert "outputs agree within atol=1e-05" in out and out.rstrip().endswith("a state_dict of 128 keys")
    twin = importlib.import_module("pytorchcv.models.resnet_cifar").resnet20_cifar10()
    twin.load_state_dict(torch.load(dst))
    assert compare_outputs(net, twin, mx.nd.ones((1, 3, 32, 32))).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.params", "net.pt"]
    assert main(["convert", src, dst, "--torch-model", "pytorchcv.models.resnet_cifar:resnet20_cifar10"]) == 2
    assert "--torch-model needs --model" in capsys.readouterr().err


NO_TORCH = """
import sys
sys.modules['torch'] = None  # any import of torch now fails
import gluon_params_kit as gpk
import mxnet as mx
from mxnet.gluon import nn
net = nn.Dense(2, in_units=3); net.initialize()
print(gpk.to_torch.__name__, gpk.compare_outputs(net, net, mx.nd.ones((1, 3))).ok)
try:
    gpk.to_torch(net, object())
except ImportError as exc:
    print(exc)
"""


def test_the_kit_imports_and_compares_gluon_nets_without_torch():
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", NO_TORCH], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "to_torch True", "to_torch needs PyTorch (the kit's optional 'torch' extra): pip install torch"]


def _gluon_bits(net):
    return {k: p.data().asnumpy().tobytes() for k, p in named_parameters(net).items()}


def _same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_misused_arguments_are_kit_errors_that_name_the_input_and_change_nothing():
    net, module, x = small_pair()
    net_before, module_before = _gluon_bits(net), torch_state(module)
    with pytest.raises(CheckpointTypeError, match=r"^to_torch: inputs\[1\] must be an array \(mx\.nd\.NDArray, "
                                                  r"mx\.np\.ndarray, a numeric numpy array or a torch\.Tensor\), "
                                                  r"like mx\.nd\.ones\(\(2, 5\)\); got '0'$"):
        to_torch(net, module, x, "0")
    with pytest.raises(CheckpointError, match=r"(?s)^to_torch: the forward pass of Gluon HybridSequential '\w+' on "
                                              r"the inputs \(mx\.nd\.NDArray of shape \(2, 7\) float32\) failed "
                                              r"\(MXNetError: .*\); nothing was changed$"):
        to_torch(net, module, mx.nd.ones((2, 7)))
    with pytest.raises(CheckpointError, match=r"^from_torch: the forward pass of PyTorch Sequential on the inputs "
                                              r"\(mx\.nd\.NDArray of shape \(2, 3, 5, 5\) float32\) failed \(RuntimeError: "):
        from_torch(torch.nn.Sequential(torch.nn.Linear(7, 2)), net, x)
    with pytest.raises(CheckpointTypeError, match=r"^to_torch: dry_run must be True or False, got ndarray of "
                                                  r"shape \(2,\) float64$"):
        to_torch(net, module, dry_run=np.array([1.0, 2.0]))
    with pytest.raises(CheckpointTypeError, match=r"^from_torch: strict must be True or False, got '0'$"):
        from_torch(module, net, strict="0")
    with pytest.raises(CheckpointTypeError, match=r"^compare_outputs: inputs\[0\] must be an array .* got ndarray "
                                                  r"of shape \(1,\) str32$"):
        compare_outputs(net, module, np.array(["a"]))
    with pytest.raises(CheckpointError, match=r"^compare_outputs: layer_rtol must be a finite number >= 0, got -1$"):
        compare_outputs(net, module, x, layer_rtol=-1)
    with pytest.raises(CheckpointTypeError, match=r"^compare_outputs: layer_rtol must be a finite number >= 0, "
                                                  r"got True$"):
        compare_outputs(net, module, x, layer_rtol=True)
    assert _gluon_bits(net) == net_before and _same_state(torch_state(module), module_before)
    assert module.training  # its training flag put back after each pass


def test_a_torch_tensor_is_an_input_of_both_sides():
    net, module, x = small_pair()
    report = to_torch(net, module, torch.from_numpy(x.asnumpy()))
    assert report.applied and report.pairs["0.weight"] == "0.weight"
    check = compare_outputs(net, module, torch.from_numpy(x.asnumpy()), layer_rtol=0.5)
    assert check.ok and list(check) == ["output 0"] and check["output 0"].shape == (2, 2)


def test_with_state_checks_its_options():
    net, module, x = small_pair()
    report = to_torch(net, module, x, dry_run=True)
    assert not report.applied
    with pytest.raises(CheckpointTypeError, match=r"^TorchPairing\.with_state: applied must be True or False, "
                                                  r"got 'yes'$"):
        report.with_state(applied="yes")
    with pytest.raises(CheckpointTypeError, match=r"^TorchPairing\.with_state: extra must be a list of str "
                                                  r"\(footer lines\), got 'copied'$"):
        report.with_state(applied=True, extra="copied")
    done = report.with_state(applied=True, extra=["copied by hand"])
    assert done.applied and done.extra == report.extra + ["copied by hand"] and done.pairs == report.pairs
    assert "copied by hand" in str(done)
