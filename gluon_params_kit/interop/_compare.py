"""Proof by outputs: one input through both sides, the difference per output, and where
they part.

Private: :func:`compare_outputs` is re-exported by :mod:`gluon_params_kit.interop`.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import numpy as onp

from .._core import display as D
from .._core.compat import gluon
from .._core.report import Report, Table
from .._core.validate import check_number
from ..errors import CheckpointError, CheckpointTypeError
from ._layers import Trace, as_numpy, check_inputs, flat_outputs, forward_error, gluon_layers, torch_layers
from ._table import pair_layers

__all__ = ["Divergence", "OutputComparison", "OutputDiff", "compare_arrays", "compare_outputs", "comparison", "describe",
           "run_other"]


class OutputDiff(NamedTuple):
    """One output of an :class:`OutputComparison`."""
    shape: Tuple[int, ...]
    other_shape: Tuple[int, ...]
    max_abs_diff: Optional[float]
    max_rel_diff: Optional[float]
    same_argmax: Optional[bool]
    ok: Optional[bool]


class Divergence(NamedTuple):
    """The first paired layer whose output differs: both paths, the call, the difference."""
    layer: str
    other_layer: str
    call: int
    max_abs_diff: float
    max_rel_diff: float


class OutputComparison(Report):
    """``'output 0'`` -> :class:`OutputDiff`; ``ok`` says whether every output agrees,
    ``max_abs_diff`` is the largest difference, ``first_divergence`` the first paired layer
    whose outputs part (or ``None``), ``path`` the exported file (:func:`export_onnx`)."""

    _what = "output"
    _kind = "comparison"
    _positional = True

    def __init__(self, entries: "OrderedDict[str, OutputDiff]", *, title: str,
                 first_divergence: Optional[Divergence] = None, lines: Sequence[str] = (),
                 path: Optional[str] = None, folded: Sequence[str] = ()):
        super().__init__(entries, title=title)
        self.first_divergence = first_divergence
        self.lines = list(lines)
        self.path = path
        self.folded = list(folded)

    @property
    def ok(self) -> Optional[bool]:
        oks = [e.ok for e in self.values()]
        return None if any(o is None for o in oks) else all(oks)

    @property
    def max_abs_diff(self) -> Optional[float]:
        diffs = [e.max_abs_diff for e in self.values() if e.max_abs_diff is not None]
        return max(diffs) if diffs else None

    def _table(self) -> Table:
        rows: List[Sequence[str]] = [(k, D.format_shape(e.shape), _num(e.max_abs_diff), _num(e.max_rel_diff),
                 "-" if e.same_argmax is None else ("yes" if e.same_argmax else "NO"),
                 "-" if e.ok is None else ("ok" if e.ok else "DIFFERS")) for k, e in self.items()]
        return (("output", "shape", "max |diff|", "relative", "same argmax", "verdict"), rows,
                (False, True, True, True, False, False))

    def _footer(self) -> List[str]:
        lines = list(self.lines)
        d = self.first_divergence
        if d is not None:
            lines.append(f"first divergence: {d.layer!r} / {d.other_layer!r} (call {d.call}): max |diff| "
                         f"{d.max_abs_diff:.3g}, relative {d.max_rel_diff:.3g}; the layers before it agree")
        return lines


def _num(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3g}"


def compare_arrays(a: onp.ndarray, b: onp.ndarray, atol: float, rtol: float) -> OutputDiff:
    """How ``b`` differs from the reference ``a``."""
    if a.shape != b.shape:
        return OutputDiff(tuple(a.shape), tuple(b.shape), None, None, None, False)
    a64, b64 = a.astype(onp.float64), b.astype(onp.float64)
    diff = float(onp.max(onp.abs(a64 - b64))) if a.size else 0.0
    scale = float(onp.max(onp.abs(a64))) if a.size else 0.0
    rel = diff / scale if scale > 0 else diff
    argmax = None
    if a.ndim == 2 and a.shape[1] > 1:
        argmax = bool(onp.array_equal(a.argmax(axis=1), b.argmax(axis=1)))
    return OutputDiff(tuple(a.shape), tuple(b.shape), diff, rel, argmax, diff <= atol + rtol * scale)


def describe(other: Any) -> str:
    kind = _kind_of(other)
    return {"gluon": "Gluon ", "torch": "PyTorch ", "onnxruntime": "onnxruntime "}[kind] + type(other).__name__


def _kind_of(other: Any) -> str:
    if isinstance(other, gluon.Block):
        return "gluon"
    if hasattr(other, "get_inputs") and hasattr(other, "run") and "onnxruntime" in type(other).__module__:
        return "onnxruntime"
    try:
        import torch
    except ImportError:
        pass
    else:
        if isinstance(other, torch.nn.Module):
            return "torch"
    raise CheckpointTypeError(f"other must be a Gluon Block, a torch.nn.Module or an onnxruntime "
                              f"InferenceSession, not {type(other).__name__}")


def run_other(other: Any, inputs: Sequence[Any], record: bool, where: str = "compare_outputs") -> Trace:
    kind = _kind_of(other)
    if kind == "gluon":
        return gluon_layers(other, inputs, record=record, where=where)
    if kind == "torch":
        return torch_layers(other, inputs, record=record, where=where)
    feeds = {i.name: onp.array(as_numpy(x), order="C") for i, x in zip(other.get_inputs(), inputs)}
    try:
        return Trace([], final=flat_outputs(list(other.run(None, feeds))))
    except Exception as exc:  # the session or the inputs: the kit's error
        raise forward_error(where, describe(other), inputs, exc) from exc


def compare_outputs(net: Any, other: Any, *inputs: Any, atol: float = 1e-5, rtol: float = 1e-5,
                    layer_rtol: float = 1e-4) -> OutputComparison:
    if not isinstance(net, gluon.Block):
        raise CheckpointTypeError(f"net must be a Gluon Block, not {type(net).__name__}")
    _kind_of(other)
    check_number(atol, "atol", CheckpointError, minimum=0, where="compare_outputs")
    check_number(rtol, "rtol", CheckpointError, minimum=0, where="compare_outputs")
    check_number(layer_rtol, "layer_rtol", CheckpointError, minimum=0, where="compare_outputs")
    if not inputs:
        raise CheckpointError("compare_outputs needs at least one input (an NDArray or numpy array)")
    check_inputs(inputs, "compare_outputs")
    mine = gluon_layers(net, inputs, record=True, where="compare_outputs")
    theirs = run_other(other, inputs, record=True)
    return comparison(net, other, mine, theirs, atol=atol, rtol=rtol, layer_rtol=layer_rtol)


def comparison(net: Any, other: Any, mine: Trace, theirs: Trace, *, atol: float, rtol: float,
               layer_rtol: float, title: Optional[str] = None, lines: Sequence[str] = (),
               path: Optional[str] = None, folded: Sequence[str] = ()) -> OutputComparison:
    ref, got = mine.final or [], theirs.final or []
    lines = list(lines)
    if len(ref) != len(got):
        lines.append(f"Gluon gives {D.plural(len(ref), 'output')}, the other {len(got)}: the first "
                     f"{min(len(ref), len(got))} are compared")
    rows: "OrderedDict[str, OutputDiff]" = OrderedDict(
        (f"output {i}", compare_arrays(a, b, atol, rtol)) for i, (a, b) in enumerate(zip(ref, got)))
    ok = all(r.ok for r in rows.values())
    divergence = None
    if not ok and theirs.layers:
        try:
            pairs = pair_layers(mine.layers, theirs.layers, traced=True, what="the layers",
                                other_name=describe(other).split()[0])
        except CheckpointError as exc:
            lines.append(f"no per-layer search: {exc}")
        else:
            divergence = _first_divergence(pairs, mine, theirs, atol, layer_rtol)
            if divergence is None:
                lines.append("every paired layer agrees: the difference comes after them "
                             "(an operation without parameters)")
    biggest = max((r.max_abs_diff for r in rows.values() if r.max_abs_diff is not None), default=None)
    verdict = (f"outputs agree within atol={atol:g}" if ok else "outputs DIFFER") + \
        (f" (max |diff| {biggest:.3g})" if biggest is not None else "")
    head = title or f"Gluon {type(net).__name__} vs {describe(other)}"
    return OutputComparison(rows, title=f"{head}: {verdict}", first_divergence=divergence, lines=lines,
                            path=path, folded=folded)


def _first_divergence(pairs, mine: Trace, theirs: Trace, atol: float, rtol: float) -> Optional[Divergence]:
    for p in pairs:
        a_calls = mine.outputs.get(p.gluon.path, [])
        b_calls = theirs.outputs.get(p.other.path, [])
        for call, (a_outs, b_outs) in enumerate(zip(a_calls, b_calls)):
            for a, b in zip(a_outs, b_outs):
                d = compare_arrays(a, b, atol, rtol)
                if not d.ok:
                    return Divergence(p.gluon.path, p.other.path, call,
                                      float("inf") if d.max_abs_diff is None else d.max_abs_diff,
                                      float("inf") if d.max_rel_diff is None else d.max_rel_diff)
    return None
