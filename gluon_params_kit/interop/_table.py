"""Pairing two sides layer by layer, the settings that differ, and the report of it.

Two lists of layers (:mod:`._layers`) pair in lockstep: the i-th layer of each side, in
forward order when a pass was traced, must be of the same kind and hold the same roles
with the same shapes; order alone never decides. The first layer that does not fit stops
the pairing with both sides' descriptions.

A paired layer's settings are compared: those that change eval outputs (eps, stride,
padding, dilation, groups, an activation fused into the Gluon layer, the recurrent mode,
the batch layout) are *differences* and refuse a transfer; those that change training
only (BatchNorm momentum, MXNet 0.9 being PyTorch's 0.1; ``use_global_stats``) are notes.

Private: used by :mod:`gluon_params_kit.interop`.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, NamedTuple, Sequence, Tuple

import numpy as onp

from .._core import display as D
from .._core.report import Report, Table
from .._core.validate import check_bool, shown
from ..errors import CheckpointError, CheckpointTypeError, listing
from ._layers import Layer

__all__ = ["Pair", "PairedKey", "TorchPairing", "compare_settings", "layer_values", "pair_layers", "pairing_report"]

_RECURRENT = ("lstm", "gru", "rnn")


class PairedKey(NamedTuple):
    """One row of a :class:`TorchPairing`: the other side's key, the shape, and both layers."""
    key: str
    shape: Tuple[int, ...]
    layer: str
    other_layer: str
    kind: str


class Pair(NamedTuple):
    """Two layers that pair, and how their settings compare."""
    gluon: Layer
    other: Layer
    differences: List[str]
    notes: List[str]


class TorchPairing(Report):
    """Gluon path -> :class:`PairedKey` (the ``state_dict`` key it goes to or comes from),
    in Gluon's forward order; the footer lists settings that differ and what was set.

    ``applied`` says whether values were copied; ``differences`` (settings that change
    outputs) and ``notes`` (that change training only) are lists of lines; ``layers`` is
    the list of (Gluon layer, other layer) paths.
    """

    _what = "parameter"
    _kind = "pairing"

    def __init__(self, entries: "OrderedDict[str, PairedKey]", *, title: str, layers: List[Tuple[str, str]],
                 differences: Sequence[str] = (), notes: Sequence[str] = (), applied: bool = False,
                 extra: Sequence[str] = ()):
        super().__init__(entries, title=title)
        self.layers = list(layers)
        self.differences = list(differences)
        self.notes = list(notes)
        self.applied = applied
        self.extra = list(extra)

    @property
    def pairs(self) -> Dict[str, str]:
        """Gluon path -> other key."""
        return {k: v.key for k, v in self.items()}

    def _table(self) -> Table:
        rows: List[Sequence[str]] = [(k, v.key, D.format_shape(v.shape), v.kind) for k, v in self.items()]
        return ("gluon", "other", "shape", "layer"), rows, (False, False, True, False)

    def _footer(self) -> List[str]:
        lines = [f"DIFFERS (changes outputs): {d}" for d in self.differences]
        lines += [f"note: {n}" for n in self.notes]
        lines += self.extra
        return lines

    def with_state(self, *, applied: bool, extra: Sequence[str] = ()) -> "TorchPairing":
        """This pairing with ``applied`` set and the ``extra`` footer lines added.

        Args:
            applied: Whether the values were copied (``True`` or ``False``).
            extra: More footer lines (a list or tuple of str).

        Raises:
            CheckpointTypeError: ``applied`` is not a bool, or ``extra`` not a list of str.

        Examples:
            >>> empty = TorchPairing(OrderedDict(), title="nothing", layers=[])
            >>> done = empty.with_state(applied=True, extra=["copied by hand"])
            >>> done.applied, done.extra, empty.applied
            (True, ['copied by hand'], False)
        """
        check_bool(applied, "applied", CheckpointError, where="TorchPairing.with_state")
        if not isinstance(extra, (list, tuple)) or not all(isinstance(line, str) for line in extra):
            raise CheckpointTypeError(f"TorchPairing.with_state: extra must be a list of str (footer lines), "
                                      f"got {shown(extra)}")
        return TorchPairing(OrderedDict(self.items()), title=self.title, layers=self.layers,
                            differences=self.differences, notes=self.notes, applied=applied,
                            extra=list(self.extra) + list(extra))


def _roles_fit(g: Layer, o: Layer) -> bool:
    g_roles = set(g.roles)
    o_roles = set(o.roles) - {"count"}
    if g.kind == "batchnorm" and not ({"weight", "bias"} & o_roles):  # affine=False
        g_roles -= {"weight", "bias"}
    if g_roles != o_roles:
        return False
    return all(tuple(g.roles[r][1]) == tuple(o.roles[r][1]) for r in g_roles)


def _kinds_fit(g: Layer, o: Layer) -> bool:
    if g.kind == o.kind:
        return True
    if o.kind == "matrix":
        return g.kind in ("dense", "embedding")
    if o.kind == "recurrent":
        return g.kind in _RECURRENT
    if o.kind == "state_dict":
        return not g.kind.startswith(("conv", "deconv", "batchnorm"))
    return g.kind.startswith("other:") and o.kind.startswith("other:")


def pair_layers(gluon: Sequence[Layer], other: Sequence[Layer], *, traced: bool, what: str,
                other_name: str = "PyTorch") -> List[Pair]:
    """The layers of both sides in lockstep, each pair checked; or :class:`CheckpointError`."""
    pairs: List[Pair] = []
    hint = "" if traced else (" Pass example inputs so that both sides are read in forward order "
                              "(now: registration order).")
    for i, (g, o) in enumerate(zip(gluon, other)):
        if not (_kinds_fit(g, o) and _roles_fit(g, o)):
            raise CheckpointError(
                f"cannot pair {what}: layer {i} differs (after {D.plural(i, 'paired layer')}): Gluon "
                f"{g.path!r} is {g.signature()}; {other_name} {o.path!r} is {o.signature()}. Nothing was "
                f"changed.{hint}")
        differences, notes = compare_settings(g, o)
        pairs.append(Pair(g, o, differences, notes))
    if len(gluon) != len(other):
        longer, name = (gluon, "Gluon") if len(gluon) > len(other) else (other, other_name)
        rest = [f"{lay.path!r} ({lay.signature()})" for lay in longer[len(pairs):]]
        raise CheckpointError(
            f"cannot pair {what}: Gluon has {D.plural(len(gluon), 'layer')} with parameters, {other_name} "
            f"{len(other)}; {name} has more: {listing(rest, 4)}. Nothing was changed.{hint}")
    return pairs


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 + 1e-6 * max(abs(a), abs(b))


def compare_settings(g: Layer, o: Layer) -> Tuple[List[str], List[str]]:
    """(differences that change eval outputs, notes that change training only)."""
    gs, os_ = g.settings, o.settings
    diffs: List[str] = []
    notes: List[str] = []
    where = f"{g.path!r} / {o.path!r}"
    if not os_:
        return diffs, notes
    if g.kind.startswith(("conv", "deconv")):
        for name in ("stride", "padding", "dilation", "groups", "output_padding"):
            if name in gs and name in os_ and gs[name] != os_[name]:
                diffs.append(f"{where}: {name} {gs[name]} in Gluon, {os_[name]} in the other")
        if os_.get("padding_mode", "zeros") != "zeros":
            diffs.append(f"{where}: padding_mode={os_['padding_mode']!r} in the other, zeros in Gluon")
    if g.kind in ("dense",) or g.kind.startswith(("conv", "deconv")):
        if gs.get("activation"):
            diffs.append(f"{where}: Gluon applies activation {gs['activation']!r} inside the layer, "
                         f"the other layer does not")
    if g.kind == "batchnorm":
        if not _close(gs["eps"], os_["eps"]):
            diffs.append(f"{where}: eps {gs['eps']:g} in Gluon, {os_['eps']:g} in the other")
        if gs["axis"] != 1:
            diffs.append(f"{where}: Gluon normalizes axis {gs['axis']}, PyTorch axis 1")
        m = os_.get("momentum")
        if m is None:
            notes.append(f"{where}: PyTorch momentum=None (cumulative average); Gluon momentum {gs['momentum']:g}")
        elif not _close(1.0 - gs["momentum"], float(m)):
            notes.append(f"{where}: momentum {gs['momentum']:g} in Gluon is {1 - gs['momentum']:g} in PyTorch, "
                         f"not {m:g} (training only)")
        if gs["use_global_stats"]:
            notes.append(f"{where}: use_global_stats=True: Gluon uses the running statistics in training "
                         f"too, PyTorch in eval mode only")
    if g.kind in ("layernorm", "groupnorm", "instancenorm"):
        if not _close(gs["eps"], os_["eps"]):
            diffs.append(f"{where}: eps {gs['eps']:g} in Gluon, {os_['eps']:g} in the other")
        if g.kind == "groupnorm" and gs["groups"] != os_["groups"]:
            diffs.append(f"{where}: {gs['groups']} groups in Gluon, {os_['groups']} in the other")
        if g.kind == "layernorm" and (gs["axis"] != -1 or len(os_.get("normalized_shape", (0,))) != 1):
            diffs.append(f"{where}: Gluon normalizes axis {gs['axis']}, PyTorch the last "
                         f"{len(os_.get('normalized_shape', ()))} dimensions")
    if g.kind in _RECURRENT:
        for name in ("mode", "hidden_size", "num_layers", "bidirectional", "batch_first", "projection"):
            if gs[name] != os_[name]:
                diffs.append(f"{where}: {name} {gs[name]!r} in Gluon, {os_[name]!r} in the other")
    return diffs, notes


def layer_values(pair: Pair, values: Dict[str, onp.ndarray], *, to_other: bool,
                 other_dtypes: Dict[str, Any]) -> Tuple["OrderedDict[str, onp.ndarray]", List[str]]:
    """The values one side's layer gets from the other, by role, and the differences only
    the values show (a Gluon layer that ignores gamma; PyTorch's affine=False).

    ``values``: key -> array of the *source* side; ``other_dtypes``: the other side's
    key -> numpy dtype (for ``num_batches_tracked``). Returns target key -> array.
    """
    g, o = pair.gluon, pair.other
    out: "OrderedDict[str, onp.ndarray]" = OrderedDict()
    diffs: List[str] = []
    where = f"{g.path!r} / {o.path!r}"
    ignores_gamma = g.settings.get("ignores_gamma", False)
    if to_other:
        for role, (key, shape) in o.roles.items():
            if role == "count":
                out[key] = onp.zeros(shape, dtype=other_dtypes.get(key, onp.int64))
            elif role == "weight" and g.kind == "batchnorm" and ignores_gamma:
                out[key] = onp.ones(shape, dtype=values[g.roles["weight"][0]].dtype)
            else:
                out[key] = values[g.roles[role][0]]
        if g.kind == "batchnorm" and "weight" not in o.roles:  # PyTorch affine=False
            gamma = values[g.roles["weight"][0]]
            if not ignores_gamma and not onp.all(gamma == 1):
                diffs.append(f"{where}: PyTorch's layer has no weight (affine=False), Gluon's gamma is not 1")
            if not onp.all(values[g.roles["bias"][0]] == 0):
                diffs.append(f"{where}: PyTorch's layer has no bias (affine=False), Gluon's beta is not 0")
    else:
        for role, (key, shape) in g.roles.items():
            if role in o.roles:
                out[key] = values[o.roles[role][0]]
            else:  # BatchNorm affine=False: the identity
                out[key] = (onp.ones if role == "weight" else onp.zeros)(shape, dtype=other_dtypes[key])
        if g.kind == "batchnorm" and ignores_gamma and "weight" in o.roles \
                and not onp.all(values[o.roles["weight"][0]] == 1):
            diffs.append(f"{where}: Gluon ignores gamma (scale=False / fix_gamma), the other layer's "
                         f"weight is not 1")
    return out, diffs


def pairing_report(pairs: Sequence[Pair], *, title: str, extra_diffs: Sequence[str] = (),
                   gluon_first: bool = True) -> TorchPairing:
    entries: "OrderedDict[str, PairedKey]" = OrderedDict()
    for p in pairs:
        g, o = p.gluon, p.other
        for role, (key, shape) in g.roles.items():
            other_key = o.roles[role][0] if role in o.roles else "(affine=False: none)"
            entries[key] = PairedKey(other_key, tuple(shape), g.path, o.path, g.kind)
    differences = [d for p in pairs for d in p.differences] + list(extra_diffs)
    notes = [n for p in pairs for n in p.notes]
    counts = sum(1 for p in pairs if "count" in p.other.roles)
    extra = [f"num_batches_tracked: {D.plural(counts, 'layer')} (Gluon counts no batches: set to 0)"] \
        if counts else []
    return TorchPairing(entries, title=title, layers=[(p.gluon.path, p.other.path) for p in pairs],
                        differences=differences, notes=notes, extra=extra)

