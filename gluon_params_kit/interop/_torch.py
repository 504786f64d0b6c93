"""Gluon <-> PyTorch parameter transfer, paired by structure and role, all or nothing.

Private: :func:`to_torch` and :func:`from_torch` are re-exported by
:mod:`gluon_params_kit.interop`, where they are documented.
"""
from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Dict, List, Tuple

import numpy as onp

from .._core.compat import gluon
from .._core.gluon import has_data
from .._core.validate import check_bool
from ..checkpoint import load
from ..errors import CheckpointError, CheckpointTypeError, listing
from ..tree import named_parameters
from ._layers import Trace, as_numpy, check_inputs, gluon_layers, state_dict_layers, torch_layers
from ._table import TorchPairing, layer_values, pair_layers, pairing_report

__all__ = ["import_torch", "to_torch", "from_torch", "check_net"]


def import_torch(what: str) -> Any:
    """``torch``, or an ImportError that says how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f"{what} needs PyTorch (the kit's optional 'torch' extra): pip install torch") from exc
    return torch


def check_net(net: Any, name: str = "net", *, initialized: bool = True) -> None:
    if not isinstance(net, gluon.Block):
        raise CheckpointTypeError(f"{name} must be a Gluon Block, not {type(net).__name__}")
    if initialized:
        pending = [k for k, p in named_parameters(net).items() if not has_data(p)]
        if pending:
            raise CheckpointError(
                f"{name} ({type(net).__name__}) has {len(pending)} parameters without values yet "
                f"({listing(pending)}): initialize it and run a forward pass first. Nothing was changed.")


def _gluon_values(net: Any) -> Dict[str, onp.ndarray]:
    out = {}
    for key, p in named_parameters(net).items():
        out[key] = p.data(p.list_ctx()[0]).asnumpy()
    return out


def _check_options(inputs: Any, dry_run: Any, strict: Any, where: str) -> None:
    check_inputs(inputs, where)
    check_bool(dry_run, "dry_run", CheckpointError, where=where)
    check_bool(strict, "strict", CheckpointError, where=where)


def _refuse(report: TorchPairing, what: str, dtype_errors: List[str]) -> None:
    problems = report.differences + dtype_errors
    raise CheckpointError(
        f"{what}: {len(problems)} settings or values differ in a way that changes the outputs: "
        f"{listing(problems, 4)}. Nothing was changed; strict=False copies the values anyway "
        f"(the dtype must still match).", report=report)


def to_torch(net: Any, module: Any, *inputs: Any, dry_run: bool = False, strict: bool = True) -> TorchPairing:
    torch = import_torch("to_torch")
    check_net(net)
    if not isinstance(module, torch.nn.Module):
        raise CheckpointTypeError(f"module must be a torch.nn.Module, not {type(module).__name__}")
    _check_options(inputs, dry_run, strict, "to_torch")
    what = f"Gluon {type(net).__name__} into PyTorch {type(module).__name__}"
    g = gluon_layers(net, inputs, where="to_torch")
    t = torch_layers(module, inputs, where="to_torch")
    pairs = pair_layers(g.layers, t.layers, traced=g.traced, what=what)
    state = module.state_dict()
    dtypes = {k: onp.dtype(str(v.dtype).replace("torch.", "")) for k, v in state.items()}
    source = _gluon_values(net)
    planned, value_diffs, dtype_errors = _planned_values(pairs, source, True, dtypes)
    report = pairing_report(pairs, extra_diffs=value_diffs,
                            title=f"{what}: {len(planned)} state_dict keys from "
                                  f"{len(source)} Gluon parameters in {len(pairs)} layers"
                                  f"{' (dry run)' if dry_run else ''}")
    if dtype_errors or (strict and report.differences):
        _refuse(report, f"cannot load {what}", dtype_errors)
    if dry_run:
        return report
    with torch.no_grad():
        for key, value in planned.items():
            state[key].copy_(torch.from_numpy(onp.array(value, order="C")))
    return report.with_state(applied=True)


def from_torch(source: Any, net: Any, *inputs: Any, dry_run: bool = False, strict: bool = True) -> TorchPairing:
    torch = import_torch("from_torch")
    check_net(net, initialized=False)
    _check_options(inputs, dry_run, strict, "from_torch")
    if isinstance(source, torch.nn.Module):
        t = torch_layers(source, inputs, where="from_torch")
        state = source.state_dict()
        name = f"PyTorch {type(source).__name__}"
    elif isinstance(source, Mapping) and all(isinstance(k, str) for k in source):
        state = source
        t = Trace(state_dict_layers(state))
        name = f"a state_dict of {len(state)} keys"
    else:
        raise CheckpointTypeError(f"source must be a torch.nn.Module or a state_dict (str -> tensor), "
                                  f"not {type(source).__name__}")
    what = f"{name} into Gluon {type(net).__name__}"
    g = gluon_layers(net, inputs, where="from_torch")
    pairs = pair_layers(g.layers, t.layers, traced=bool(inputs), what=what)
    values = {k: as_numpy(v) for k, v in state.items()}
    params = named_parameters(net)
    dtypes = {k: onp.dtype(p.dtype) for k, p in params.items()}
    planned, value_diffs, dtype_errors = _planned_values(pairs, values, False, dtypes)
    report = pairing_report(pairs, extra_diffs=value_diffs,
                            title=f"{what}: {len(planned)} Gluon parameters from {len(state)} state_dict "
                                  f"keys in {len(pairs)} layers{' (dry run)' if dry_run else ''}")
    if dtype_errors or (strict and report.differences):
        _refuse(report, f"cannot load {what}", dtype_errors)
    if dry_run:
        return report
    _load_all(net, planned)
    return report.with_state(applied=True)


def _load_all(net: Any, arrays: "Mapping[str, onp.ndarray]") -> None:
    """Through the kit's own all-or-nothing load (deferred Parameters, a Trainer's kvstore)."""
    with tempfile.TemporaryDirectory(prefix="gpk-torch-") as folder:
        path = os.path.join(folder, "from_torch.npz")
        onp.savez(path, **{k: onp.array(v, order="C") for k, v in arrays.items()})
        load(net, path)


def _planned_values(pairs, source: Dict[str, onp.ndarray], to_other: bool, dtypes: Dict[str, Any]
                    ) -> Tuple["OrderedDict[str, onp.ndarray]", List[str], List[str]]:
    """The values every paired layer gives the other side (``to_other``: Gluon -> torch),
    the value differences the pairing found, and the values whose dtype the target lacks."""
    planned: "OrderedDict[str, onp.ndarray]" = OrderedDict()
    value_diffs: List[str] = []
    for p in pairs:
        got, diffs = layer_values(p, source, to_other=to_other, other_dtypes=dtypes)
        planned.update(got)
        value_diffs += diffs
    dtype_errors = [f"{k}: {a.dtype} into {dtypes[k]}" for k, a in planned.items() if a.dtype != dtypes[k]]
    return planned, value_diffs, dtype_errors
