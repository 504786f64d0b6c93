"""Out of MXNet, verified: Gluon <-> PyTorch parameters and ONNX, proven by the outputs.

:func:`to_torch` loads a Gluon net's parameters and running statistics into a PyTorch
module and :func:`from_torch` brings a module's (or a bare ``state_dict``'s) back. Layers
pair by structure and role, never by order alone: both sides are read as lists of layers
with parameters (in the order of a traced forward pass when example inputs are given, else
in registration order), and the i-th layers must be of one kind (Conv2D/Conv2d,
Dense/Linear, BatchNorm/BatchNorm2d, LSTM, GRU...) with the same roles and shapes
(gamma <-> weight, beta <-> bias, running_* <-> running_*, the role table of
:func:`~gluon_params_kit.checkpoint.split_key`). Layout: nothing is transposed (NCHW
convolutions, Dense and Linear store ``(out, in)``); recurrent layers keep their gate order
(MXNet's LSTM i, f, c, o and GRU r, z, n are PyTorch's; MXNet's i2h/h2h biases are
``bias_ih``/``bias_hh``). Settings that change outputs (BatchNorm eps, stride, padding,
dilation, groups, an activation fused into a Gluon layer, the recurrent mode and layout)
refuse the transfer; those that change training only (BatchNorm momentum: MXNet's 0.9 is
PyTorch's 0.1; ``use_global_stats``) are noted. Like :func:`~gluon_params_kit.checkpoint.load`,
all or nothing: on any mismatch nothing is changed.

:func:`compare_outputs` runs both sides on one input and reports max |diff| per output and,
when they disagree, the first paired layer whose outputs part. :func:`export_onnx` writes
ONNX through ``mx.onnx`` with ``fix_gamma`` folded, and checks the file in onnxruntime.

torch, onnx and onnxruntime are optional (the ``torch`` and ``onnx`` extras); they are
imported inside the functions that need them.
"""
from __future__ import annotations

from typing import Any

from ._compare import Divergence, OutputComparison, OutputDiff
from ._compare import compare_outputs as _compare_outputs
from ._onnx import ONNX_WORKS
from ._onnx import export_onnx as _export_onnx
from ._table import PairedKey, TorchPairing
from ._torch import from_torch as _from_torch
from ._torch import to_torch as _to_torch

__all__ = [
    "Divergence",
    "ONNX_WORKS",
    "OutputComparison",
    "OutputDiff",
    "PairedKey",
    "TorchPairing",
    "compare_outputs",
    "export_onnx",
    "from_torch",
    "to_torch",
]


def to_torch(net: Any, module: Any, *inputs: Any, dry_run: bool = False, strict: bool = True) -> TorchPairing:
    """Load a Gluon net's parameters and running statistics into a PyTorch module.

    Args:
        net: An initialized Gluon Block.
        module: A ``torch.nn.Module`` of the same architecture (any names).
        *inputs: Example inputs (MXNet or numpy arrays, or torch tensors): both sides are
            then paired in the order of a forward pass (recommended; the pass changes
            nothing), else in registration order.
        dry_run: Check and return the table only; copy nothing.
        strict: Refuse settings that change outputs (eps, padding...); ``False`` copies the
            values anyway and lists them in ``report.differences``.

    Returns:
        A :class:`TorchPairing`: Gluon path -> ``state_dict`` key with shapes, its footer the
        settings that differ; ``applied`` is True when the values were copied. A Gluon
        BatchNorm that ignores gamma (``scale=False``) gives ``weight`` ones;
        ``num_batches_tracked`` is set to 0.

    Raises:
        CheckpointError: The layers do not pair (kind, roles, shapes, count), a dtype
            differs, (``strict``) a setting changes outputs, or a side's forward pass fails
            on ``inputs`` (the error names them); nothing was changed (``exc.report`` has
            the table where the layers paired).
        CheckpointTypeError: ``net`` is not a Block, ``module`` not a torch module, an
            input not an array, or ``dry_run``/``strict`` not a bool.
        ImportError: PyTorch is not installed.

    Examples:
        >>> import mxnet as mx, pytest
        >>> torch = pytest.importorskip("torch")  # the kit's 'torch' extra
        >>> from mxnet.gluon import nn
        >>> net = nn.HybridSequential(); net.add(nn.Conv2D(4, 3, in_channels=3), nn.BatchNorm(in_channels=4))
        >>> net.initialize()
        >>> module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=True), torch.nn.BatchNorm2d(4))
        >>> report = to_torch(net, module, mx.nd.ones((1, 3, 8, 8)))
        >>> report.pairs['1.gamma'], report['0.weight'].shape, report.applied
        ('1.weight', (4, 3, 3, 3), True)
    """
    return _to_torch(net, module, *inputs, dry_run=dry_run, strict=strict)


def from_torch(source: Any, net: Any, *inputs: Any, dry_run: bool = False, strict: bool = True) -> TorchPairing:
    """Load a PyTorch module's (or a ``state_dict``'s) parameters and statistics into a Gluon net.

    The same pairing as :func:`to_torch`, the other way; the values go in through
    :func:`~gluon_params_kit.checkpoint.load` (all or nothing, deferred Parameters take
    their shapes, dtypes must match). A bare ``state_dict`` carries no settings: its layers
    pair by key order, roles and shapes only.

    Args:
        source: A ``torch.nn.Module`` or a ``state_dict`` (str -> tensor or array).
        net: The Gluon Block to load into.
        *inputs: Example inputs: pair in forward order (needed for a deferred net).
        dry_run: Check and return the table only.
        strict: As in :func:`to_torch`.

    Returns:
        A :class:`TorchPairing` (Gluon path -> ``state_dict`` key).

    Raises:
        CheckpointError, CheckpointTypeError, ImportError: As in :func:`to_torch`.

    Examples:
        >>> import pytest
        >>> torch = pytest.importorskip("torch")  # the kit's 'torch' extra
        >>> from mxnet.gluon import nn
        >>> net = nn.Dense(2, in_units=3); net.initialize()
        >>> lin = torch.nn.Linear(3, 2)
        >>> from_torch(lin.state_dict(), net).pairs
        {'weight': 'weight', 'bias': 'bias'}
        >>> bool((net.weight.data().asnumpy() == lin.weight.detach().numpy()).all())
        True
    """
    return _from_torch(source, net, *inputs, dry_run=dry_run, strict=strict)


def compare_outputs(net: Any, other: Any, *inputs: Any, atol: float = 1e-5, rtol: float = 1e-5,
                    layer_rtol: float = 1e-4) -> OutputComparison:
    """Run a Gluon net and ``other`` on the same inputs and say where they differ.

    Both run in inference mode (Gluon predict mode; a torch module in eval mode under
    ``no_grad``, its training flags put back), and nothing in either changes. Outputs agree
    when ``max |diff| <= atol + rtol * max |reference|``. When they disagree and ``other``
    has layers (a torch module or another Gluon net), every paired layer's output is
    compared in forward order (relative difference above ``layer_rtol``) and the first that
    parts is named: the layers before it agree.

    Args:
        net: The reference Gluon Block (initialized).
        other: A ``torch.nn.Module``, an ``onnxruntime.InferenceSession`` or a Gluon Block.
        *inputs: One array per input (MXNet or numpy arrays, or torch tensors).
        atol, rtol: Tolerances for the outputs (float32 rounding grows with the values:
            ``rtol`` scales with the largest reference value).
        layer_rtol: Relative tolerance of a layer's output in the search for the first
            divergence.

    Returns:
        An :class:`OutputComparison` (``'output 0'`` -> :class:`OutputDiff`), with ``ok``,
        ``max_abs_diff`` and ``first_divergence``.

    Raises:
        CheckpointTypeError: ``other`` is none of the three, an input is not an array, or
            a tolerance not a number.
        CheckpointError: No input, a tolerance below 0 or NaN, or a forward pass that
            fails on the inputs (the error names them and the side; nothing changed).

    Examples:
        >>> import mxnet as mx
        >>> from mxnet.gluon import nn
        >>> a = nn.Dense(2, in_units=3); a.initialize(mx.init.One())
        >>> b = nn.Dense(2, in_units=3); b.initialize(mx.init.One())
        >>> compare_outputs(a, b, mx.nd.ones((1, 3))).ok
        True
        >>> b.bias.set_data(mx.nd.array([0, 0.5]))
        >>> c = compare_outputs(a, b, mx.nd.ones((1, 3)))
        >>> c.ok, c['output 0'].max_abs_diff, c.first_divergence.layer
        (False, 0.5, '')
    """
    return _compare_outputs(net, other, *inputs, atol=atol, rtol=rtol, layer_rtol=layer_rtol)


def export_onnx(net: Any, path: Any, *example_inputs: Any, atol: float = 1e-5) -> OutputComparison:
    """Export a Gluon HybridBlock (or a SymbolBlock of a symbol checkpoint) to ONNX, and check it.

    The graph comes from calling ``net`` on symbols (the net itself is not changed) and is
    written by ``mx.onnx.export_model`` to a temporary file renamed over ``path``. Traps
    handled: a BatchNorm with ``fix_gamma`` (Gluon ``scale=False``, the symbol API's
    default) exports gamma as 1, as MXNet computes it (``mx.onnx`` would export the stored
    gamma); the installed onnx is checked first (``mx.onnx`` of MXNet 1.9.1 works with onnx
    1.15.0, :data:`ONNX_WORKS`; newer onnx lacks ``onnx.mapping`` and fails with a
    misleading "Onnx and protobuf need to be installed"). When onnxruntime is installed the
    file is run on ``example_inputs`` and compared with MXNet.

    Args:
        net: An initialized HybridBlock.
        path: The ``.onnx`` file to write.
        *example_inputs: One array per input: their shapes and dtypes are the model's.
        atol: Tolerance of the onnxruntime check (plus ``1e-5`` times the largest MXNet
            output value, as in :func:`compare_outputs`).

    Returns:
        An :class:`OutputComparison` of MXNet and onnxruntime (verdicts ``-`` when
        onnxruntime is absent), with ``path`` and ``folded`` (the gammas set to 1).

    Raises:
        ImportError: onnx is missing, or a version ``mx.onnx`` cannot use.
        CheckpointError: No example input, the net's forward pass fails on them, ``atol``
            below 0 or NaN, a missing folder, or ``mx.onnx`` cannot convert the graph: every
            option and input is checked before anything is written (the file is not written).
        CheckpointTypeError: ``net`` is not a HybridBlock, ``path`` not a file path, an
            example input not an array, or ``atol`` not a number.

    Examples:
        >>> import os, tempfile, mxnet as mx, pytest
        >>> _ = pytest.importorskip("onnx"), pytest.importorskip("onnxruntime")  # the 'onnx' extra
        >>> from mxnet.gluon import nn
        >>> net = nn.HybridSequential(); net.add(nn.Dense(4, in_units=3), nn.BatchNorm(scale=False, in_channels=4))
        >>> net.initialize(mx.init.Uniform(1))
        >>> out = export_onnx(net, os.path.join(tempfile.mkdtemp(), 'net.onnx'), mx.nd.ones((2, 3)))
        >>> out.ok, [name.endswith('gamma') for name in out.folded]
        (True, [True])
    """
    return _export_onnx(net, path, *example_inputs, atol=atol)
