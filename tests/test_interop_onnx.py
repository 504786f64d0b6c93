"""export_onnx: mx.onnx with its traps handled (fix_gamma, the onnx version), run in onnxruntime."""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import importlib
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from gluon_params_kit.errors import CheckpointError, CheckpointTypeError
from gluon_params_kit.interop import ONNX_WORKS, compare_outputs, export_onnx
from gluon_params_kit.tree import named_parameters

onnx = pytest.importorskip("onnx", reason="onnx is the kit's optional 'onnx' extra")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is the kit's optional 'onnx' extra")


def session(path):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("module, name, side", [("resnet_cifar", "resnet20_cifar10", 32),
                                                ("mobilenetv3", "mobilenetv3_small_w7d20", 224)])
def test_two_zoo_nets_run_in_onnxruntime_as_in_mxnet(tmp_path, module, name, side):
    pytest.importorskip("gluoncv2", reason="gluoncv2 (pure Python) gives the nets")
    net = getattr(importlib.import_module(f"gluoncv2.models.{module}"), name)()
    net.initialize(mx.init.Xavier(magnitude=3))
    rng = np.random.RandomState(0)
    x = mx.nd.array(rng.uniform(-1, 1, (1, 3, side, side)))
    net(x)
    for key, p in named_parameters(net).items():
        if key.endswith("running_var"):
            p.set_data(mx.nd.array(rng.uniform(0.5, 2.0, p.shape)))
        elif key.endswith("running_mean"):
            p.set_data(mx.nd.array(rng.normal(0.0, 0.3, p.shape)))
    net.hybridize()
    path = str(tmp_path / f"{name}.onnx")
    result = export_onnx(net, path, x)
    assert result.ok and result.max_abs_diff <= 1e-5, result
    assert result.path == path and os.listdir(tmp_path) == [f"{name}.onnx"]
    assert result.folded == []  # Gluon's BatchNorm(scale=True) uses its gamma
    assert f"onnx {onnx.__version__}" in str(result)
    again = compare_outputs(net, session(path), x)  # the same check, through the public comparison
    assert again.ok and again["output 0"].same_argmax
    print(f"{name}: onnxruntime max |diff| {result.max_abs_diff:.3g}")


def symbol_checkpoint(folder):
    """A symbol-API checkpoint whose BatchNorm has fix_gamma=True (the default) and gamma != 1."""
    data = mx.sym.var("data")
    conv = mx.sym.Convolution(data, num_filter=4, kernel=(3, 3), pad=(1, 1), name="conv0")
    bn = mx.sym.BatchNorm(conv, name="bn0")  # fix_gamma=True by default: MXNet ignores gamma
    out = mx.sym.FullyConnected(mx.sym.flatten(mx.sym.relu(bn)), num_hidden=3, name="fc0")
    rng = np.random.RandomState(3)
    args = {"conv0_weight": rng.normal(size=(4, 3, 3, 3)), "conv0_bias": rng.normal(size=4),
            "bn0_gamma": rng.uniform(2, 3, size=4), "bn0_beta": rng.normal(size=4),
            "fc0_weight": rng.normal(size=(3, 4 * 6 * 6)), "fc0_bias": rng.normal(size=3)}
    aux = {"bn0_moving_mean": rng.normal(size=4), "bn0_moving_var": rng.uniform(0.5, 2, size=4)}
    prefix = os.path.join(folder, "old")
    mx.model.save_checkpoint(prefix, 0, out, {k: mx.nd.array(v) for k, v in args.items()},
                             {k: mx.nd.array(v) for k, v in aux.items()})
    return nn.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")


@pytest.mark.filterwarnings("ignore:Cannot decide type")  # MXNet's SymbolBlock on a bare symbol
def test_fix_gamma_is_folded_for_a_symbol_checkpoint(tmp_path):
    net = symbol_checkpoint(str(tmp_path))
    x = mx.nd.array(np.random.RandomState(4).uniform(-1, 1, (2, 3, 6, 6)))
    result = export_onnx(net, str(tmp_path / "old.onnx"), x)
    assert result.folded == ["bn0_gamma"]
    assert result.ok and result.max_abs_diff <= 1e-5, result
    assert np.all(net.collect_params()["bn0_gamma"].data().asnumpy() >= 2)  # the net keeps its values
    # the trap is real: mx.onnx alone exports the stored gamma, and onnxruntime then differs
    params = {p.name: p.data() for p in net.collect_params().values()}
    raw = str(tmp_path / "raw.onnx")
    mx.onnx.export_model(net(mx.sym.var("data")), params, in_shapes=[x.shape], in_types=[np.float32],
                         onnx_file_path=raw)
    plain = compare_outputs(net, session(raw), x)
    assert not plain.ok and plain.max_abs_diff > 0.1


def test_a_newer_onnx_is_refused_with_the_version_that_works(tmp_path, monkeypatch):
    monkeypatch.delattr(onnx, "mapping")  # what onnx 1.16 and later removed
    net = nn.HybridSequential()
    net.add(nn.Dense(2, in_units=3))
    net.initialize()
    with pytest.raises(ImportError, match=f"needs onnx.mapping.*onnx {ONNX_WORKS} works: pip install "
                                          f"onnx=={ONNX_WORKS}"):
        export_onnx(net, str(tmp_path / "n.onnx"), mx.nd.ones((1, 3)))
    assert os.listdir(tmp_path) == []


def test_what_cannot_be_exported_is_named_and_nothing_is_written(tmp_path):
    class Imperative(nn.Block):
        def forward(self, x):
            return x.asnumpy()

    with pytest.raises(CheckpointTypeError, match="net must be a Gluon HybridBlock"):
        export_onnx(Imperative(), str(tmp_path / "a.onnx"), mx.nd.ones((1, 3)))
    net = nn.HybridSequential()
    net.add(nn.Dense(2, in_units=3))
    net.initialize()
    with pytest.raises(CheckpointError, match="needs one example input"):
        export_onnx(net, str(tmp_path / "a.onnx"))
    odd = nn.HybridSequential()
    odd.add(nn.HybridLambda(lambda F, x: F.contrib.index_copy(x, F.zeros((1,)), x[0:1])))
    with pytest.raises(CheckpointError, match="mx.onnx could not export HybridSequential"):
        export_onnx(odd, str(tmp_path / "b.onnx"), mx.nd.ones((2, 3)))
    assert os.listdir(tmp_path) == []


@pytest.mark.filterwarnings("ignore:Cannot decide type")  # MXNet's SymbolBlock on a bare symbol
def test_a_file_onnxruntime_cannot_load_is_reported(tmp_path):
    data = mx.sym.var("data")  # mx.onnx writes FullyConnected on 4-d data as a Gemm that does not fit
    out = mx.sym.FullyConnected(data, num_hidden=2, name="fc")
    net = nn.SymbolBlock(out, [data])
    net.initialize()
    net(mx.nd.ones((1, 2, 3, 3)))
    result = export_onnx(net, str(tmp_path / "fc.onnx"), mx.nd.ones((1, 2, 3, 3)))
    assert result.ok is False and result.title.endswith("onnxruntime FAILS")
    assert "cannot run the file" in str(result) and os.path.exists(result.path)


def test_bad_options_are_refused_before_anything_is_written(tmp_path):
    net = nn.HybridSequential()
    net.add(nn.Dense(2, in_units=3))
    net.initialize()
    path, x = str(tmp_path / "a.onnx"), mx.nd.ones((1, 3))
    for atol, error in ((None, CheckpointTypeError), ("0", CheckpointTypeError), (True, CheckpointTypeError),
                        (-1, CheckpointError), (float("nan"), CheckpointError)):
        with pytest.raises(error, match=rf"^export_onnx: atol must be a finite number >= 0, got {atol!r}$"):
            export_onnx(net, path, x, atol=atol)
    with pytest.raises(CheckpointTypeError, match=r"^export_onnx: path must be a file path \(str, bytes or "
                                                  r"os\.PathLike\), got NoneType: None$"):
        export_onnx(net, None, x)
    with pytest.raises(CheckpointError, match=r"missing-folder"):
        export_onnx(net, str(tmp_path / "missing-folder" / "a.onnx"), x)
    with pytest.raises(CheckpointTypeError, match=r"^export_onnx: example_inputs\[0\] must be an array .* got "
                                                  r"<object object at 0x\w+>$"):
        export_onnx(net, path, object())
    with pytest.raises(CheckpointError, match=r"(?s)^export_onnx: the forward pass of Gluon HybridSequential "
                                              r"'\w+' on the inputs \(numpy\.ndarray of shape \(1, 7\) float32\) failed"):
        export_onnx(net, path, np.ones((1, 7), dtype=np.float32))
    assert os.listdir(tmp_path) == []
    assert export_onnx(net, path, np.ones((1, 3), dtype=np.float32), atol=10 ** 30).ok  # any tolerance >= 0
    assert os.listdir(tmp_path) == ["a.onnx"]
