"""The report side of tying: which Parameters are shared, and proof that their gradients add up.

Re-exported by :mod:`gluon_params_kit.tying`; import the names from there.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as _onp

from .._core.compat import mx, to_numpy
from .._core.display import format_shape, known_shape, known_size
from .._core.gluon import check_block, has_data, is_deferred, parameter_groups
from .._core.report import Report
from .._core.types import Block, HybridBlock, Parameter
from .._core.validate import check_bool, shown
from ..errors import ParamsKitError, TieError, TieTypeError, listing
from ..tree import named_blocks, named_parameters

__all__ = ["NOISE_FACTOR", "TieReport", "TiedGradientCheck", "TiedGroup", "TiedGroups", "check_tied_gradients", "tied_groups"]

autograd = mx.autograd


@dataclass(frozen=True)
class TiedGroup:
    """One shared Parameter: where it lives, how often a forward uses it, what sharing saves.

    ``paths`` lists every structural path (canonical first); ``uses`` is the number of
    reads in one forward (``None`` when no input was given); ``shared_params`` counts the
    values stored once instead of once per use: ``(uses - 1) * size``, or
    ``(len(paths) - 1) * size`` without an input (``None`` while the shape is deferred).
    Gluon's ``summary()`` counts "shared params" another way, see :class:`TiedGroups`.
    """

    parameter: Parameter
    paths: Tuple[str, ...]
    uses: Optional[int]
    size: Optional[int]
    shared_params: Optional[int]
    shared_bytes: Optional[int]

    @property
    def canonical(self) -> str:
        """The first path in walk order (the key ``named_parameters`` and ``path_of`` use)."""
        return self.paths[0]

    @property
    def aliases(self) -> Tuple[str, ...]:
        """The other paths of the same Parameter."""
        return self.paths[1:]

    @property
    def name(self) -> str:
        """The Parameter's Gluon name (the source layer's auto name)."""
        return self.parameter.name

    @property
    def shape(self) -> Tuple[int, ...]:
        """The Parameter's shape as Gluon holds it (``0`` or ``-1`` where still deferred;
        the report's text, HTML and records show those as ``?`` / ``None``)."""
        return tuple(self.parameter.shape or ())


class TiedGroups(Report):
    """The tied groups of a block: canonical path -> :class:`TiedGroup`, a printable table.

    Built by :func:`tied_groups`. Iteration yields the canonical paths, ``values()`` the
    groups; ``report['2.weight']`` finds a group by canonical or alias path (or by the
    Parameter's auto name), ``report[0]`` by position; ``shared_params`` /
    ``shared_bytes`` are the totals: values (bytes) stored once instead of once per use,
    counted from the reads of each Parameter in one forward when the report was built
    with an input, else from its keys.

    Gluon's ``summary()`` line "Shared params in forward computation graph" counts
    something else: at each call of a block (other than ``Sequential`` and
    ``HybridSequential``, which it does not hook), every Parameter in that block's own
    ``ParameterDict`` that an earlier call already showed. The two agree where every use
    of a shared Parameter is a call of a block holding it (the book's shared MLP, a
    tied embedding and decoder) and differ elsewhere: a block registered at several
    places is hooked once per place, so each call counts several times
    (``Sequential(a, d, d)`` with ``d`` a ``Dense(4, in_units=4)``: Gluon 60, the kit
    20); a Parameter read outside its owner's call (a decoder reading the embedding's
    weight itself) is a use the kit counts and Gluon does not; and Gluon refuses a
    hybridized net.
    """

    _what = "tied group"
    _kind = "tied-groups report"
    _positional = True  # report[0]: the first group

    def __init__(self, groups: List[TiedGroup], aliases: Optional[Dict[str, str]] = None):
        spellings = dict(aliases or {})  # attribute path -> canonical path
        for g in groups:  # every path of a group, and its auto name, lead to it
            spellings.update((p, g.canonical) for p in g.paths[1:])
            spellings.setdefault(g.name, g.canonical)
        super().__init__(((g.canonical, g) for g in groups), spellings)

    @property
    def shared_params(self) -> Optional[int]:
        """Values stored once instead of once per use (``None`` if a size is unknown)."""
        return _total(g.shared_params for g in self.values())

    @property
    def shared_bytes(self) -> Optional[int]:
        """Bytes stored once instead of once per use (``None`` if a size is unknown)."""
        return _total(g.shared_bytes for g in self.values())

    def _record(self, key: str, g: TiedGroup) -> Dict[str, Any]:
        return dict(canonical=g.canonical, aliases=list(g.aliases), name=g.name,
                    shape=known_shape(g.shape), uses=g.uses, shared_params=g.shared_params,
                    shared_bytes=g.shared_bytes)

    def _table(self):
        head = ("canonical", "aliases", "name", "shape", "uses", "shared params", "shared bytes")
        rows = [(g.canonical, ", ".join(g.aliases) or "-", g.name, format_shape(known_shape(g.shape)),
                 _fmt(g.uses), _fmt(g.shared_params), _fmt(g.shared_bytes)) for g in self.values()]
        return head, rows, (False, False, False, False, True, True, True)

    def _footer(self) -> List[str]:
        return [f"{len(self)} tied group(s); shared params: {_fmt(self.shared_params)}, "
                f"shared bytes: {_fmt(self.shared_bytes)}"]


class TieReport(Report):
    """What :func:`~gluon_params_kit.tying.tie` returns: target path -> source path of every
    tied pair, in the target's order.

    A Mapping like every report of the kit (``dict(report)`` is the plain pairs; a target
    path in any form, or another path of the same target Parameter, looks a pair up);
    ``to_records()`` gives ``{'target', 'source'}`` per pair and ``str()`` a table.
    """

    _what = "target path"
    _kind = "tie report"

    def _record(self, key: str, entry: str) -> Dict[str, Any]:
        return {"target": key, "source": entry}

    def _table(self):
        return ("target", "source"), list(self.items()), (False, False)


class TiedGradientCheck(Report):
    """What :func:`check_tied_gradients` returns: canonical path -> the relative difference
    ``max |tied gradient - sum of the per-use gradients| / (largest |gradient| of the
    group)`` of each tied Parameter (floats: ``max(report.values())``).

    Any of a tied Parameter's paths looks its entry up; ``paths`` gives every path of each
    one, ``uses`` how many reads one forward made of it, ``abs_diffs`` the raw
    differences, ``noise`` the noise floor measured for it (the relative difference of
    two identical backward passes: 0 on a deterministic backend) and ``broken`` the
    paths whose difference clearly exceeds it (see :func:`check_tied_gradients`).
    ``to_records()`` gives ``path``, ``paths``, ``uses``, ``rel_diff``, ``noise``,
    ``max_abs_diff``, ``tolerance`` and ``broken``; ``str()`` a table and a verdict.
    """

    _what = "tied parameter"
    _kind = "gradient check"

    def __init__(self, diffs: Dict[str, float], paths: Dict[str, Tuple[str, ...]],
                 uses: Dict[str, int], *, abs_diffs: Optional[Dict[str, float]] = None,
                 noise: Optional[Dict[str, float]] = None,
                 tolerance: Optional[Dict[str, float]] = None, title: str = ""):
        aliases = {other: key for key, every in paths.items() for other in every[1:]}
        super().__init__(diffs, aliases, title=title)
        #: Canonical path -> every path of the Parameter (canonical first).
        self.paths = {k: tuple(v) for k, v in paths.items()}
        #: Canonical path -> how many reads of the Parameter one forward made.
        self.uses = dict(uses)
        #: Canonical path -> max |tied gradient - sum of the per-use gradients|.
        self.abs_diffs = dict(abs_diffs if abs_diffs is not None else diffs)
        #: Canonical path -> relative difference of two identical backward passes.
        self.noise = {k: 0.0 for k in diffs} if noise is None else dict(noise)
        #: Canonical path -> the smallest relative difference counted as broken on a
        #: deterministic backend (sqrt of the gradient type's epsilon).
        self.tolerance = {k: _DEFAULT_TOL for k in diffs} if tolerance is None else dict(tolerance)

    def threshold(self, path: str) -> float:
        """The relative difference above which ``path``'s tie counts as broken:
        ``max(tolerance, NOISE_FACTOR * noise)``."""
        key = self.key_of(path)
        return max(self.tolerance[key], NOISE_FACTOR * self.noise[key])

    @property
    def broken(self) -> List[str]:
        """Canonical paths whose gradient is clearly not the sum of its uses' (a NaN too)."""
        return [k for k, v in self.items() if not v <= self.threshold(k)]

    @property
    def nondeterministic(self) -> bool:
        """Whether two identical backward passes gave different gradients (MKLDNN's
        parallel reductions do; ``MXNET_MKLDNN_ENABLED=0`` makes CPU runs repeatable)."""
        return any(v != 0 for v in self.noise.values())

    @property
    def max_rel_diff(self) -> Optional[float]:
        """The largest relative difference of all (``None`` when nothing is tied)."""
        return max(self.values(), default=None)

    @property
    def max_abs_diff(self) -> Optional[float]:
        """The largest absolute difference of all (``None`` when nothing is tied)."""
        return max(self.abs_diffs.values(), default=None)

    def _record(self, key: str, entry: float) -> Dict[str, Any]:
        return {"path": key, "paths": list(self.paths[key]), "uses": self.uses[key],
                "rel_diff": entry, "noise": self.noise[key], "max_abs_diff": self.abs_diffs[key],
                "tolerance": self.tolerance[key], "broken": not entry <= self.threshold(key)}

    def _table(self):
        rows = [(k, ", ".join(self.paths[k][1:]) or "-", str(self.uses[k]), f"{v:.3g}",
                 f"{self.noise[k]:.3g}", f"{self.abs_diffs[k]:.3g}",
                 "ok" if v <= self.threshold(k) else "BROKEN")
                for k, v in self.items()]
        head = ("path", "other paths", "uses", "rel. diff", "noise floor", "max |diff|", "tie")
        return head, rows, (False, False, True, True, True, True, False)

    def _footer(self) -> List[str]:
        if not self:
            return ["Nothing is tied: no gradient to check."]
        lines = [f"Largest relative difference: {self.max_rel_diff:.3g} over {len(self)} tied "
                 f"parameter(s) (largest absolute: {self.max_abs_diff:.3g})"]
        if self.nondeterministic:
            worst = max(self.noise.values())
            lines.append(f"The backend is nondeterministic: two identical backward passes differ by "
                         f"up to {worst:.3g} of the largest gradient (MKLDNN; MXNET_MKLDNN_ENABLED=0 "
                         f"makes CPU runs repeatable); a tie is broken only above "
                         f"{NOISE_FACTOR} x that noise floor.")
        broken = self.broken
        lines.append(f"Broken ties: {', '.join(broken)}" if broken else
                     "Every tied gradient is the sum of its uses' gradients.")
        return lines


#: A tie is broken when its relative difference exceeds this many times the noise floor
#: (and the gradient type's tolerance): two runs of a nondeterministic backward differ by
#: about the noise floor, a use missing from the tied gradient by a large share of it.
NOISE_FACTOR = 4.0
_DEFAULT_TOL = float(_onp.sqrt(_onp.finfo(_onp.float32).eps))


def _tolerance(dtype) -> float:
    """sqrt(epsilon) of a float gradient type: summation order alone stays far below it."""
    dtype = _onp.dtype(dtype)
    return float(_onp.sqrt(_onp.finfo(dtype).eps)) if dtype.kind == "f" else _DEFAULT_TOL


def _max_abs(a) -> float:
    return float(_onp.max(_onp.abs(a))) if a.size else 0.0


def _np_array():
    return mx.np.ndarray


def _apply_loss(loss_fn: Callable[..., Any], output: Any) -> Any:
    return loss_fn(*output) if isinstance(output, (tuple, list)) else loss_fn(output)


def _fmt(value) -> str:
    return "?" if value is None else str(value)


def _total(values) -> Optional[int]:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


# --------------------------------------------------------------------------- counting uses

@contextlib.contextmanager
def _recording_uses(block: Block, params: List[Parameter], *, leaves: bool):
    """Run ``block`` imperatively, recording every read of each Parameter's data.

    With ``leaves=True`` each read returns its own copy of the values with its own
    gradient buffer: the untied copy, one per use.
    """
    hybrids = [b for b in named_blocks(block).values()
               if isinstance(b, HybridBlock) and b._active]
    reads: Dict[int, list] = {id(p): [] for p in params}

    def reader(param, original):
        def data(ctx=None):
            arr = original(ctx)
            if leaves:
                with autograd.pause():
                    arr = arr.copy()
                arr.attach_grad()
            reads[id(param)].append(arr)
            return arr
        return data

    for b in hybrids:  # hooks into Parameter.data only see imperative calls
        b._active = False
    for p in params:
        p.data = reader(p, p.data)
    try:
        yield reads
    finally:
        for p in params:
            p.__dict__.pop("data", None)
        for b in hybrids:
            b._active = True


@contextlib.contextmanager
def _model_call(block: Block, inputs: Tuple[Any, ...], what: str) -> Iterator[None]:
    """The model's own error on a bad input (wrong shape, wrong type) as a TieError."""
    try:
        yield
    except ParamsKitError:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()
        given = ", ".join(f"{type(x).__name__} shape {getattr(x, 'shape', None)}" for x in inputs)
        raise TieError(f"{what}: {type(block).__name__} {block.name!r} cannot run on x "
                       f"({given}): {type(exc).__name__}: {text[-1] if text else ''}. Give an "
                       f"input the network accepts.") from exc


def _ready(block: Block, inputs: Tuple[Any, ...]) -> None:
    """Finish deferred initialization with one forward; refuse an uninitialized block."""
    params = list(named_parameters(block).values())
    pending = [p for p in params if not has_data(p)]
    if pending and all(is_deferred(p) for p in pending):
        with autograd.pause(), _model_call(block, inputs, "finishing deferred initialization"):
            block(*inputs)
        pending = [p for p in params if not has_data(p)]
    if pending:
        raise TieError(f"block {block.name!r} is not initialized ({listing([p.name for p in pending])} "
                       f"have no data): call block.initialize() first")


# --------------------------------------------------------------------------- public

def tied_groups(block: Block, *inputs: Any) -> TiedGroups:
    """Report every Parameter ``block`` uses in more than one place.

    Without inputs, a group is a Parameter that Gluon keys under several paths, and
    nothing runs: deferred shapes stay unknown (``?``). With inputs (as many as the net's
    own ``forward`` takes: ``tied_groups(seq2seq, src, tgt)``), one forward runs (no
    gradient, imperative even if hybridized; deferred shapes get filled) and also counts
    the reads of each Parameter, so a layer called twice (the book's ``FixedHiddenMLP``)
    shows up too, and ``shared_params`` counts the values stored once instead of once
    per read. On many nets that is what Gluon's ``summary(*inputs)`` prints as "Shared
    params in forward computation graph", but not on all: :class:`TiedGroups` says
    where Gluon counts otherwise.

    Args:
        block: Any Gluon block.
        *inputs: Optional inputs for one forward; needed for ``uses`` (and to finish
            deferred initialization).

    Returns:
        A :class:`TiedGroups` report, groups in Gluon's key order of their canonical path.

    Raises:
        TieTypeError: ``block`` is not a Block.
        TieError: inputs are given and the block is not initialized.

    Examples:
        >>> from gluon_params_kit.chapter import shared_mlp
        >>> net = shared_mlp(); net.initialize()
        >>> report = tied_groups(net, mx.nd.ones((2, 4)))
        >>> report['2.weight'].paths, report['1.bias'].uses, report.shared_params
        (('1.weight', '2.weight'), 2, 72)
    """
    check_block(block, TieTypeError)
    found = parameter_groups(block)
    uses: Dict[int, int] = {}
    if inputs:
        _ready(block, inputs)
        with autograd.pause(), _recording_uses(block, [g.param for g in found],
                                               leaves=False) as reads:
            with _model_call(block, inputs, "tied_groups"):
                block(*inputs)
        uses = {k: len(v) for k, v in reads.items()}
    groups = []
    for group in found:
        param, where = group.param, group.paths
        count = uses.get(id(param)) if inputs else None
        if len(where) < 2 and not (count and count > 1):
            continue
        size = known_size(param.shape)
        copies = count if count is not None else len(where)
        shared = None if size is None else max(copies - 1, 0) * size
        nbytes = None if shared is None else shared * _onp.dtype(param.dtype).itemsize
        groups.append(TiedGroup(param, tuple(where), count, size, shared, nbytes))
    aliases = {a: g.path for g in found for a in g.aliases}
    return TiedGroups(groups, aliases)


def check_tied_gradients(block: Block, *inputs: Any, loss_fn: Optional[Callable[[Any], Any]] = None,
                         train_mode: bool = False) -> TiedGradientCheck:
    """Prove that each tied Parameter's gradient is the sum of its per-use gradients.

    First the real gradient: ``loss_fn(block(*inputs))`` backpropagated through the block as
    it is (hybridized or not), twice: how far the two passes differ is the backend's
    noise floor (0 when it is deterministic; MKLDNN's parallel reductions are not). Then
    an untied copy with identical values: the same forward where every read of a
    Parameter gets its own copy of the values with its own gradient, so each use's
    gradient is separate. For each tied group (several paths, or several uses in one
    forward) the result is the relative difference ``max |tied - sum(per use)| / g``,
    where ``g`` is the group's largest |gradient|, and the noise floor on the same scale.

    The rule: a tie is broken when its relative difference exceeds both
    ``sqrt(epsilon)`` of the gradient's type (3.5e-4 for float32: summation order alone
    stays far below) and ``NOISE_FACTOR`` (4) times its noise floor. A use missing from
    the tied gradient (a graph that trains an untied copy) costs a large share of ``g``;
    a nondeterministic backward moves it by about the floor. Where the floor itself is
    a large share of ``g`` (a few per cent are common with MKLDNN), only larger breaks
    can be seen: ``MXNET_MKLDNN_ENABLED=0`` gives a floor of 0.
    The Parameters' gradients are restored afterwards; values are never changed.

    Args:
        block: An initialized block (deferred shapes are finished with one forward).
        *inputs: Its inputs, as many as its ``forward`` takes (an encoder-decoder takes
            two). The loss function may also come last among them, as in
            ``check_tied_gradients(net, x, loss_fn)``.
        loss_fn: ``loss_fn(output)`` -> a scalar (or an array, summed by ``backward``);
            a net that returns a tuple gets ``loss_fn(*outputs)``.
        train_mode: Record in training mode (Dropout active, BatchNorm statistics
            updated). Default ``False`` keeps both runs deterministic.

    Returns:
        A :class:`TiedGradientCheck`: canonical path (any of its paths looks it up) ->
        relative difference (empty if nothing is tied), with ``broken``,
        ``nondeterministic``, ``noise`` and ``abs_diffs``; printed as a table and a verdict.

    Raises:
        TieTypeError: ``block`` is not a Block, ``loss_fn`` is missing or not callable, or
            ``train_mode`` is not a bool.
        TieError: ``block`` is not initialized, or no input is given.

    Examples:
        >>> from gluon_params_kit.chapter import shared_mlp
        >>> net = shared_mlp(); net.initialize()
        >>> diffs = check_tied_gradients(net, mx.nd.ones((2, 4)), lambda out: out.sum())
        >>> list(diffs), all(d < 1e-6 for d in diffs.values()), diffs.broken
        (['1.weight', '1.bias'], True, [])
    """
    check_block(block, TieTypeError)
    # before autograd.record(): a bad train_mode raised there leaves recording switched on
    check_bool(train_mode, "train_mode", TieError, where="check_tied_gradients")
    if loss_fn is None and inputs and not isinstance(inputs[-1], (mx.nd.NDArray, _np_array())):
        *rest, loss_fn = inputs  # the positional form check_tied_gradients(net, x, loss_fn)
        inputs = tuple(rest)
    if not callable(loss_fn):
        raise TieTypeError(f"loss_fn must be a callable output -> scalar, got {type(loss_fn).__name__}")
    if not inputs:
        raise TieError("check_tied_gradients needs the block's input(s): "
                       "check_tied_gradients(net, x, loss_fn=...) or (net, src, tgt, loss_fn=...)")
    _ready(block, inputs)
    arrays = [x for x in inputs if isinstance(x, (mx.nd.NDArray, _np_array()))]
    if not arrays:  # the gradients are read on the inputs' context
        raise TieTypeError(f"check_tied_gradients: the inputs must hold an mx.nd.NDArray or mx.np.ndarray, "
                           f"got {', '.join(shown(x) for x in inputs)}")
    ctx = arrays[0].context
    run = lambda: _apply_loss(loss_fn, block(*inputs))  # noqa: E731
    named = named_parameters(block, aliases=True)
    trainable = [p for p in OrderedDict((id(p), p) for p in named.values()).values()
                 if p.grad_req != "null"]
    saved = {id(p): [g.copy() for g in p.list_grad()] for p in trainable}

    def tied_backward() -> Dict[int, Any]:
        for p in trainable:  # Parameter.zero_grad() fails in np mode on MXNet 1.9.1
            for g in p.list_grad():
                g[:] = 0
        with autograd.record(train_mode=train_mode):
            loss = run()
        loss.backward()
        return {id(p): to_numpy(p.grad(ctx)) for p in trainable}

    try:
        with _model_call(block, inputs, "check_tied_gradients"):
            tied = tied_backward()
            again = tied_backward()  # the noise floor: the same backward, run twice
            with _recording_uses(block, trainable, leaves=True) as reads:
                with autograd.record(train_mode=train_mode):
                    loss = run()
                loss.backward()
                per_use = {k: [to_numpy(a.grad) for a in arrs] for k, arrs in reads.items()}
    finally:
        for p in trainable:
            for g, old in zip(p.list_grad(), saved[id(p)]):
                g[:] = old
    paths: Dict[int, List[str]] = {}
    for path, param in named.items():
        paths.setdefault(id(param), []).append(path)
    out: "OrderedDict[str, float]" = OrderedDict()
    where: Dict[str, Tuple[str, ...]] = {}
    counts: Dict[str, int] = {}
    raw, noise, tolerance = {}, {}, {}
    for p in trainable:
        uses = per_use[id(p)]
        if len(paths[id(p)]) < 2 and len(uses) < 2:
            continue
        grad = tied[id(p)]
        total = sum(uses) if uses else _onp.zeros_like(grad)
        key = paths[id(p)][0]
        with _onp.errstate(invalid="ignore", over="ignore"):
            raw[key] = _max_abs(grad - total)
            scale = max(_max_abs(grad), _max_abs(total))
            spread = _max_abs(grad - again[id(p)])
        out[key] = raw[key] / scale if scale > 0 else raw[key]  # 0 where every gradient is 0
        noise[key] = spread / scale if scale > 0 else spread
        tolerance[key] = _tolerance(grad.dtype)
        where[key], counts[key] = tuple(paths[id(p)]), len(uses)
    return TiedGradientCheck(out, where, counts, abs_diffs=raw, noise=noise, tolerance=tolerance,
                             title=f"tied gradients of {type(block).__name__} {block.name!r} "
                                   f"against the sum of their per-use gradients")
