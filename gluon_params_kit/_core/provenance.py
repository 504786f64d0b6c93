"""Provenance records that know when they went stale.

A record (rule, spec, seed) is written when an ``InitPlan`` produces a Parameter's values.
Gluon can replace those values behind the kit's back: ``initialize(force_reinit=True)``
builds new arrays, ``load_parameters`` / ``set_data`` write new values into the old ones.
Training also changes the values, but the record stays true: those values grew from
what the rule made. So each record remembers

- the arrays it was made for (a weak reference to the first replica's handle: a
  re-initialization makes new arrays), and the shape tuple the Parameter had (``set_data``
  and ``load_parameters`` assign a new one; training never does),
- a fingerprint: up to 16 values at evenly spaced positions, gathered on MXNet's engine
  when the record is made (no wait).

A record is stale when the arrays or the shape tuple were replaced *and* the fingerprint
changed (a forward pass that re-infers shapes, or a ``reset_ctx`` that copies the same
values, is not a replacement). ``gpk.load`` marks the Parameters it loads stale directly,
and ``gpk.move`` lets a current record follow the arrays it rebuilds. Left: a Parameter
trained and *then* rebuilt by Gluon (``reset_ctx``, a re-inferring forward) shows stale,
the safe side (a wrong record never shows as current). Only a Parameter whose arrays
or shape tuple were replaced costs a look at its values (a 16-value gather).
"""
from __future__ import annotations

import math
import weakref
from typing import Any, Callable, Dict, Optional

import numpy as onp

from .compat import mx
from .gluon import arrays
from .types import Parameter

__all__ = ["MARK_ATTR", "PROVENANCE_ATTR", "carried", "mark_stale", "read", "record"]

#: The attribute each initialized Parameter carries: dict(rule=str, spec=str, seed=int|None).
PROVENANCE_ATTR = "_params_kit_provenance"
MARK_ATTR = "_params_kit_provenance_mark"
_SAMPLES = 16


class _Mark:
    """What a record was made for: the arrays, the shape tuple, a fingerprint."""

    def __init__(self, param: Parameter, values: Any, fill: Optional[float] = None) -> None:
        self.handle: Any = None  # set by adopt() once Gluon made the arrays
        self.shape = param._shape
        # values all equal to ``fill``: what _gather would take, known without an engine op
        self.fingerprint = _gather(values) if fill is None else _constant_sample(param, fill)
        self.stale: Optional[str] = None

    def adopt(self, param) -> None:
        """Follow ``param``'s current arrays and shape tuple (same values)."""
        data = arrays(param)
        if data is not None:  # nothing to follow before Gluon makes the arrays
            self.handle, self.shape = weakref.ref(data[0].handle), param._shape

    def same_arrays(self, param) -> bool:
        data = arrays(param)
        first = data[0] if data else None
        return first is not None and self.handle is not None and self.handle() is first.handle

    def reason(self, param) -> Optional[str]:
        if self.stale is not None:
            return self.stale
        data = arrays(param)
        if data is None:
            return "the parameter has no values any more (deferred or not initialized)"
        same_arrays = self.same_arrays(param)
        if same_arrays and param._shape is self.shape:
            return None  # the fast path: nothing replaced since the last look
        if not _same(self.fingerprint, _gather(data[0])):
            # set_data (load_parameters) assigns a new shape tuple; re-initializing does not
            self.stale = ("values replaced after this record was made (re-initialized)"
                          if param._shape is self.shape else
                          "values overwritten after this record was made (set_data / "
                          "load_parameters)")
            return self.stale
        self.adopt(param)  # same values: follow the new arrays
        return None


def _gather(array) -> Any:
    # every step-th value by one engine op: an index array made with mx.nd.array would
    # wait for the engine (behind the initializers' fills), once per Parameter
    flat = array.as_nd_ndarray()
    shape = flat.shape
    n = math.prod(shape)  # ints: numpy's prod would make an array of the tuple first
    if n == 0:
        return mx.nd.zeros((0,), ctx=flat.context, dtype=flat.dtype)
    flat = flat if len(shape) == 1 else flat.reshape(-1)
    return mx.nd.slice(flat, begin=(0,), end=(n,), step=(-(-n // _SAMPLES),))


def _constant_sample(param, fill: float) -> onp.ndarray:
    n = int(math.prod(param.shape))
    return onp.full(len(range(0, n, max(1, -(-n // _SAMPLES)))) if n else 0, fill,
                    onp.dtype(param.dtype))


def _same(a, b) -> bool:
    x, y = (v if isinstance(v, onp.ndarray) else v.asnumpy() for v in (a, b))
    return x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()


def record(param, values, rule: Optional[str], spec: Optional[str], seed: Optional[int],
           fill: Optional[float] = None, handed: bool = False) -> None:
    """Write ``param``'s provenance record, made for ``values`` (what the rule produced;
    ``fill``: the one value they all hold, when the caller knows it; ``handed``: ``values``
    is Gluon's own temporary array, which nothing else holds, and Gluon's own
    ``_init_impl`` comes next: the Parameter keeps that array on its context instead of a
    copy of it)."""
    setattr(param, PROVENANCE_ATTR, {"rule": rule, "spec": spec, "seed": seed})
    mark = param.__dict__[MARK_ATTR] = _Mark(param, values, fill)
    given = values if handed else None

    # The initializer fills ``values`` right before Gluon copies them into new arrays
    # (``Parameter._init_impl``, next in the same call): a one-shot hook on this
    # Parameter adopts those arrays, then removes itself.
    def init_impl(data, ctx_list):
        param.__dict__.pop("_init_impl", None)
        type(param)._init_impl(param, _Handed(data) if given is not None and data is given else data,
                               ctx_list)
        if param.__dict__.get(MARK_ATTR) is mark and arrays(param):
            mark.adopt(param)
    param.__dict__["_init_impl"] = init_impl


class _Handed:
    """What Gluon's ``_init_impl`` gets instead of its temporary array when nothing else
    holds that array: Gluon makes one array per context with ``data.copyto(ctx)``, and this
    ``copyto`` gives the array itself for its own context (once), a copy for any other."""

    __slots__ = ("array", "given")

    def __init__(self, array) -> None:
        self.array, self.given = array, False

    def copyto(self, ctx):
        if not self.given and ctx == self.array.context:
            self.given = True
            return self.array
        return self.array.copyto(ctx)


def mark_stale(param, reason: str) -> None:
    """Say that ``param``'s record no longer describes its values (e.g. a load)."""
    mark = param.__dict__.get(MARK_ATTR)
    if getattr(param, PROVENANCE_ATTR, None) is not None:
        if mark is None:
            mark = param.__dict__[MARK_ATTR] = _Mark.__new__(_Mark)
        mark.stale = reason


def carried(param) -> Callable[[], None]:
    """Call before an operation that rebuilds ``param``'s arrays with the same values
    (``gpk.move``); call what it returns afterwards: a current record follows the new
    arrays (Gluon's own ``reset_ctx`` after training shows stale: the values changed
    since the record and the arrays were rebuilt, as by a re-initialization)."""
    mark = param.__dict__.get(MARK_ATTR)
    record = read(param)
    current = mark is not None and record is not None and "stale" not in record

    def after() -> None:
        if current and arrays(param):
            mark.adopt(param)
    return after


def read(param) -> Optional[Dict[str, Any]]:
    """The record (a copy), ``{'stale': reason, 'previous': record}`` when it went stale,
    or None when the kit never initialized ``param``."""
    rec = getattr(param, PROVENANCE_ATTR, None)
    if rec is None:
        return None
    mark = param.__dict__.get(MARK_ATTR)
    reason = None if mark is None else mark.reason(param)
    if reason is None:
        return dict(rec)
    return {"stale": reason, "previous": dict(rec)}
