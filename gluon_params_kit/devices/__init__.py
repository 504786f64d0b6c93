"""Devices and replicas: parameters that stay the same on every context and every worker.

A Parameter initialized on several contexts holds one copy (a *replica*) per context.
``param.data()[:] += 1`` edits only the replica on the default context and leaves the
others behind, silently. This module finds such drift (:func:`replica_report`), repairs
it (:func:`sync_replicas`), edits all replicas at once (:func:`set_data_everywhere`),
moves a whole block (:func:`move`), and, across processes, starts every worker from
the same values through MXNet's own kvstore (:func:`broadcast`, :func:`checksum`).
Reports name parameters by structural path (``0.weight``).
"""
from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections import OrderedDict
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as _onp

from .._core.compat import mx
from .._core.gluon import arrays, check_block, has_data, is_deferred
from .._core.kvstore import Checksums, broadcast, checksum, write_everywhere
from .._core.provenance import carried
from .._core.report import Report
from .._core.stats import max_abs_diff
from .._core.types import Block, Parameter
from .._core.validate import check_context, check_contexts, check_number, shown
from ..errors import DeviceError, DeviceTypeError, listing
from ..tree import get, named_parameters
from ._gpus import gpu_problems

__all__ = [
    "Checksums", "MoveReport", "ReplicaReport", "available_contexts", "broadcast", "checksum",
    "gpu_problems", "move", "num_gpus", "replica_report", "set_data_everywhere", "sync_replicas",
    "try_all_gpus", "try_gpu",
]

ContextLike = Union["mx.Context", Sequence["mx.Context"]]


# --------------------------------------------------------------------------- contexts

def num_gpus() -> int:
    """How many GPUs MXNet sees; 0 also when a CUDA build finds no driver (MXNet raises there).

    >>> num_gpus() >= 0
    True
    """
    try:
        return mx.context.num_gpus()
    except Exception:  # a CUDA build without a driver raises instead of answering 0
        return 0


@functools.lru_cache(maxsize=None)
def _gpu_works(i: int) -> bool:
    """Whether a tiny op runs on gpu(i) (a GPU the build has no kernels for fails here)."""
    try:
        return float(mx.nd.ones((1,), ctx=mx.gpu(i)).asnumpy()[0]) == 1.0
    except Exception:
        return False


def try_gpu(i: int = 0) -> "mx.Context":
    """``mx.gpu(i)`` if that GPU exists and runs MXNet's kernels, else ``mx.cpu()``.

    Args:
        i: GPU index, an int >= 0.

    Returns:
        The context to use; never raises for a missing GPU.

    Raises:
        DeviceTypeError: ``i`` is not an int (``'0'``, ``None``, an array).
        DeviceError: ``i`` is negative.

    Examples:
        >>> try_gpu(99)
        cpu(0)
        >>> try_gpu('0')
        Traceback (most recent call last):
          ...
        gluon_params_kit.errors.DeviceTypeError: try_gpu: i must be an int >= 0 (a GPU index: 0, 1, ... as in mx.gpu(i)), got '0'
    """
    check_number(i, "i", DeviceError, integer=True, minimum=0, unit="a GPU index: 0, 1, ... as in mx.gpu(i)",
                 where="try_gpu")
    return mx.gpu(i) if i < num_gpus() and _gpu_works(i) else mx.cpu()


def try_all_gpus() -> List["mx.Context"]:
    """Every usable GPU, or ``[mx.cpu()]`` when there is none.

    Returns:
        A non-empty list of contexts, ready for ``initialize(ctx=...)``.

    Examples:
        >>> ctxs = try_all_gpus()
        >>> ctxs == [mx.cpu()] or all(c.device_type == 'gpu' for c in ctxs)
        True
    """
    gpus = [mx.gpu(i) for i in range(num_gpus()) if _gpu_works(i)]
    return gpus or [mx.cpu()]


def available_contexts() -> List["mx.Context"]:
    """Every context this process can compute on: the usable GPUs, then ``cpu(0)``.

    Returns:
        A list that always ends with ``mx.cpu(0)``.

    Examples:
        >>> available_contexts()[-1]
        cpu(0)
    """
    return [c for c in try_all_gpus() if c.device_type == "gpu"] + [mx.cpu(0)]


def _as_contexts(ctx: Any, what: str = "ctx") -> List["mx.Context"]:
    ctxs = check_contexts(ctx, what)
    n = num_gpus()
    missing = [c for c in ctxs if c.device_type == "gpu" and c.device_id >= n]
    if missing:
        raise DeviceError(f"{what}: {listing([str(c) for c in missing])} not available "
                          f"({n} GPU(s) here). Available: "
                          f"{listing([str(c) for c in available_contexts()])}")
    return list(ctxs)


# --------------------------------------------------------------------------- replicas

class ReplicaRow(NamedTuple):
    """One parameter's replicas: where they live and how far apart they are."""

    path: str
    contexts: Tuple[str, ...]
    max_abs_diff: Optional[float]  # None when there is nothing to compare
    status: str  # 'consistent', 'OUT OF SYNC', 'single replica', 'deferred', 'uninitialized'


class ReplicaReport(Report):
    """Path -> :class:`ReplicaRow`; ``str()`` is a table that ends in a plain verdict.

    ``consistent`` is True when no replica differs; ``out_of_sync`` lists the paths
    whose replicas differ, in walk order.
    """

    _what = "parameter"
    _kind = "replica report"

    def __init__(self, rows: "OrderedDict[str, ReplicaRow]"):
        super().__init__(rows)
        self._rows = self._entries

    @property
    def out_of_sync(self) -> List[str]:
        return [p for p, r in self._rows.items() if r.status == "OUT OF SYNC"]

    @property
    def consistent(self) -> bool:
        return not self.out_of_sync

    def verdict(self) -> str:
        """The report's last line, in words."""
        bad = self.out_of_sync
        multi = [r for r in self._rows.values() if r.max_abs_diff is not None]
        if bad:
            worst = ", ".join(f"{p!r} (max |diff| {self._rows[p].max_abs_diff:.3g})" for p in bad)
            return (f"{len(bad)} of {len(multi)} replicated parameters are OUT OF SYNC: {worst}. "
                    f"Fix: sync_replicas(block) copies one replica over the others.")
        if not multi:
            return "No parameter has more than one replica: nothing to compare."
        ctxs = sorted({c for r in multi for c in r.contexts})
        return (f"The replicas are consistent: all {len(multi)} replicated parameters are "
                f"identical on {', '.join(ctxs)}.")

    def _table(self):
        body = [(r.path, ", ".join(r.contexts) or "-",
                 "-" if r.max_abs_diff is None else f"{r.max_abs_diff:.3g}", r.status)
                for r in self._rows.values()]
        return ("path", "contexts", "max |diff|", "status"), body, (False, False, True, False)

    def _footer(self) -> List[str]:
        return [self.verdict()]


def replica_report(block: Block, *, atol: float = 0.0) -> ReplicaReport:
    """Per parameter, its contexts and the max |difference| between its replicas.

    Every replica is compared with the first. CPU replicas are read where they are, chunk
    by chunk (no copies: the extra memory is one small chunk); others are compared on the
    first replica's device, and all those maxima come back to the host in one transfer. NaN against NaN at the same place
    counts as equal (identical replicas of a diverged parameter are in sync); NaN
    against a number makes the difference NaN: out of sync.

    Args:
        block: the network.
        atol: differences up to this are still "consistent" (default: exact equality).

    Returns:
        A :class:`ReplicaReport`; its text names every out-of-sync parameter by path.

    Raises:
        DeviceError: ``atol`` is negative, NaN or infinite (``DeviceTypeError`` when it is
            not a number, a bool included).

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Dense(2, in_units=3); net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
        >>> net.weight.data(mx.cpu(1))[:] += 1
        >>> report = replica_report(net)
        >>> report.out_of_sync, report['bias'].status
        (['weight'], 'consistent')
    """
    check_block(block)
    check_number(atol, "atol", DeviceError, minimum=0)  # NaN would call equal replicas out of sync
    params = named_parameters(block)
    pending: List[Tuple[str, Any, Any, Any]] = []  # (path, first, other, |other - first| max)
    maxima: dict = {}
    for path, p in params.items():
        data = arrays(p)
        if data is not None and len(data) > 1:
            first = data[0].as_nd_ndarray()
            for other in data[1:]:
                other = other.as_nd_ndarray()
                host = max_abs_diff(first, other)  # CPU replicas: read in place, no copies
                if host is not None:
                    maxima[path] = _worst(maxima.get(path, 0.0), host)
                    continue
                other = other.copyto(first.context)
                diff = mx.nd.max(mx.nd.abs(other - first)).as_in_context(mx.cpu())
                pending.append((path, first, other, diff))
    if pending:
        values = mx.nd.concat(*[m.reshape((1,)) for *_, m in pending], dim=0).asnumpy().tolist()
        for i, (path, first, other, _) in enumerate(pending):
            if values[i] != values[i]:  # rare: NaN somewhere; NaN against NaN is no difference
                same = (other == first) + (other != other) * (first != first)
                exact = mx.nd.where(same, mx.nd.zeros_like(first), mx.nd.abs(other - first))
                values[i] = float(mx.nd.max(exact).asscalar())
        for (path, *_), v in zip(pending, values):
            maxima[path] = _worst(maxima.get(path, 0.0), v)
    rows: "OrderedDict[str, ReplicaRow]" = OrderedDict()
    for path, p in params.items():
        ctxs = tuple(str(c) for c in (_list_ctx(p) or ()))
        if is_deferred(p):
            rows[path] = ReplicaRow(path, ctxs, None, "deferred")
        elif not has_data(p):
            rows[path] = ReplicaRow(path, (), None, "uninitialized")
        elif path not in maxima:
            rows[path] = ReplicaRow(path, ctxs, None, "single replica")
        else:
            diff = maxima[path]
            ok = diff <= atol  # NaN (NaN against a number) compares False: out of sync
            rows[path] = ReplicaRow(path, ctxs, diff, "consistent" if ok else "OUT OF SYNC")
    return ReplicaReport(rows)


def sync_replicas(block: Block, *, source: Optional["mx.Context"] = None) -> List[str]:
    """Make every replica equal to the one on ``source`` (default: each one's first context).

    Args:
        block: the network.
        source: the context whose replica wins; every replicated parameter must live there.

    Returns:
        The paths whose replicas were overwritten (every parameter with several replicas).

    Raises:
        DeviceError: ``source`` is not a context of some replicated parameter (nothing
            changed); ``DeviceTypeError`` when it is not an ``mx.Context`` at all.

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Dense(2, in_units=3); net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
        >>> net.weight.data(mx.cpu(1))[:] += 1
        >>> sync_replicas(net, source=mx.cpu(0))
        ['weight', 'bias']
        >>> replica_report(net).consistent
        True
    """
    check_block(block)
    check_context(source, "source", allow_none=True)
    todo = [(path, p) for path, p in named_parameters(block).items()
            if has_data(p) and len(arrays(p) or ()) > 1]
    if source is not None:
        lacking = [f"{path} (on {', '.join(map(str, p.list_ctx()))})"
                   for path, p in todo if source not in p.list_ctx()]
        if lacking:
            raise DeviceError(f"source {source} holds no replica of: {listing(lacking)}. "
                              f"Pick a context every replicated parameter lives on.")
    for _, p in todo:
        write_everywhere(p, p.data(source or p.list_ctx()[0]), from_replica=True)
    return [path for path, _ in todo]


def set_data_everywhere(block: Block, path: str,
                        value: Union[Any, Callable[[Any], Any]]) -> Parameter:
    """Set the parameter at ``path`` on all its replicas at once: the safe ``data()[:] = ...``.

    Args:
        block: the network.
        path: the parameter's structural path (any form :func:`~gluon_params_kit.tree.get`
            accepts).
        value: an array or scalar, or a function of the current value (read from the first
            replica) returning the new one: ``lambda w: w + 1`` is the book's ``[:] += 1``.

    Returns:
        The Parameter, changed on every context.

    Raises:
        PathError: ``path`` does not name a parameter.
        DeviceError: the parameter is not initialized, or the new value has another shape.

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Dense(2, in_units=3); net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
        >>> _ = set_data_everywhere(net, 'bias', lambda b: b + 1)
        >>> [b.asnumpy().tolist() for b in net.bias.list_data()]
        [[1.0, 1.0], [1.0, 1.0]]
    """
    p = get(block, path)
    if not isinstance(p, Parameter):
        raise DeviceError(f"path {path!r} is a block ({type(p).__name__}), not a parameter")
    if not has_data(p):
        state = "deferred (run one forward first)" if is_deferred(p) else "not initialized"
        raise DeviceError(f"parameter {path!r} is {state}: there is no replica to set")
    current = p.data(p.list_ctx()[0])
    new = value(current.copy()) if callable(value) else value
    if isinstance(new, (bool, _onp.bool_)):  # True is no parameter value, and 1.0 is not what it says
        raise DeviceTypeError(f"new value for {path!r} must be an array, a number or a function of the "
                              f"current value, got {shown(new)}")
    if isinstance(new, numbers.Real) and getattr(new, "ndim", 0) == 0:  # incl. numpy scalars
        _check_fits(new, current.dtype, path)
        # a filled array, not current * 0 + x: NaN * 0 stays NaN
        new = _like(current, _onp.full(tuple(current.shape), float(new)))
    if not hasattr(new, "shape") or tuple(new.shape) != tuple(current.shape):
        raise DeviceError(f"new value for {path!r} has shape {getattr(new, 'shape', None)}, "
                          f"the parameter has {tuple(current.shape)}")
    if not isinstance(new, type(current)):  # numpy array, or nd value in np mode (or back)
        new = _like(current, new)
    write_everywhere(p, new)
    return p


def _check_fits(number: Any, dtype: Any, path: str) -> None:
    """A finite number that the parameter's float type would turn into an infinity is refused
    (NaN and a float infinity are values a float parameter holds, set on purpose)."""
    kind = _onp.dtype(dtype)
    if kind.kind != "f":
        return
    try:
        x = float(number)
    except OverflowError:  # an int beyond any float
        x = math.inf
    if math.isnan(x) or (math.isinf(x) and isinstance(number, (float, _onp.floating))):
        return
    with _onp.errstate(over="ignore"):
        if not math.isinf(x) and math.isfinite(float(_onp.asarray(x).astype(kind))):
            return
    raise DeviceError(f"new value {shown(number)} for {path!r} does not fit the parameter's {kind.name} "
                      f"(it would become inf)")


def _like(current, value):
    import numpy as onp
    host = value.asnumpy() if hasattr(value, "asnumpy") else onp.asarray(value)
    arr = mx.nd.array(host, ctx=current.context, dtype=current.dtype)
    return arr.as_np_ndarray() if isinstance(current, mx.np.ndarray) else arr


# --------------------------------------------------------------------------- move

class MoveReport(Report):
    """Path -> ``(from_contexts, to_contexts, state)`` for every parameter :func:`move` saw.

    ``str()`` and the notebook's HTML are one table (path, from, to, state, a row per
    parameter) under a title, and a last line that counts the states;
    ``to_records()`` gives ``{'path', 'from', 'to', 'state'}`` per parameter.
    """

    _what = "parameter"
    _kind = "move report"

    def __init__(self, rows: "OrderedDict[str, Tuple[Tuple[str, ...], Tuple[str, ...], str]]", *,
                 title: str = ""):
        super().__init__(rows, title=title)

    def _record(self, key: str, entry) -> Dict[str, Any]:
        return {"path": key, "from": list(entry[0]), "to": list(entry[1]), "state": entry[2]}

    def _table(self):
        rows = [(path, ", ".join(a) or "-", ", ".join(b), state) for path, (a, b, state) in self.items()]
        return ("path", "from", "to", "state"), rows, (False, False, False, False)

    def _footer(self) -> List[str]:
        counts: Dict[str, int] = {}
        for _, _, state in self.values():
            key = state.split(" (")[0]
            counts[key] = counts.get(key, 0) + 1
        return [(", ".join(f"{n} {k}" for k, n in counts.items()) or "no parameter to move") + "."]


def move(block: Block, ctx: ContextLike) -> MoveReport:
    """Put every parameter (and its gradient buffer) of ``block`` on ``ctx``.

    Values come from each parameter's first replica, exactly (Gluon's ``reset_ctx``
    averages the replicas instead). A gradient survives a move from one context to one
    context; otherwise new zero gradients are made on the new contexts. Deferred
    parameters will be created on ``ctx`` at the first forward. A ``gluon.Trainer``
    made for fewer contexts than ``ctx`` would update only some replicas: a warning
    says so; create the Trainer after moving.

    Args:
        block: the network.
        ctx: a context or a list of contexts.

    Returns:
        A :class:`MoveReport` (states: ``moved``, ``already there``, ``deferred``,
        ``uninitialized``).

    Raises:
        DeviceError: ``ctx`` is empty, repeats a context, or names a missing GPU
            (``DeviceTypeError`` when it is not a context or a list of them).

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Dense(2, in_units=3); net.initialize()
        >>> print(move(net, [mx.cpu(0), mx.cpu(1)]))
        move Dense 'dense...' to cpu(0), cpu(1)
        path    from    to              state
        -------------------------------------
        weight  cpu(0)  cpu(0), cpu(1)  moved
        bias    cpu(0)  cpu(0), cpu(1)  moved
        2 moved.
    """
    check_block(block)
    ctxs = _as_contexts(ctx)
    to = tuple(str(c) for c in ctxs)
    params = named_parameters(block)
    # A Trainer keeps one updater per context it was made for: on more contexts it
    # updates only that many replicas (fewer, or as many elsewhere, work).
    stale = [path for path, p in params.items() if p._trainer is not None
             and len(ctxs) > len(getattr(p._trainer, "_contexts", ctxs))]
    if stale:
        warnings.warn(f"{listing(stale)} belong to a gluon.Trainer made for fewer contexts; "
                      f"it would update only some replicas and let the others drift apart: "
                      f"create the Trainer after move()", stacklevel=2)
    rows: "OrderedDict[str, Tuple[Tuple[str, ...], Tuple[str, ...], str]]" = OrderedDict()
    for path, p in params.items():
        before = tuple(str(c) for c in (_list_ctx(p) or ()))
        if is_deferred(p):
            p.reset_ctx(ctxs)
            rows[path] = (before, to, "deferred (created there at the first forward)")
        elif not has_data(p):
            rows[path] = (before, to, "uninitialized (initialize(ctx=...) places it)")
        elif list(p.list_ctx()) == ctxs:
            rows[path] = (before, to, "already there")
        else:
            value = p.data(p.list_ctx()[0]).copyto(mx.cpu())
            grad = None
            if p.grad_req != "null" and len(before) == 1 and len(ctxs) == 1:
                grad = p.list_grad()[0].copyto(mx.cpu())
            follow = carried(p)  # the provenance record follows the rebuilt arrays
            p.reset_ctx(ctxs)
            for arr in p.list_data():
                value.copyto(arr)
            follow()
            if grad is not None:
                grad.copyto(p.list_grad()[0])
            rows[path] = (before, to, "moved")
    return MoveReport(rows, title=f"move {type(block).__name__} {block.name!r} to {', '.join(to)}")


# --------------------------------------------------------------------------- helpers

def _worst(old: float, new: float) -> float:
    """The larger difference; NaN (NaN against a number) wins and stays."""
    return new if new != new else max(old, new)


def _list_ctx(p: Parameter):
    if not has_data(p) and not is_deferred(p):
        return None
    return p.list_ctx()
