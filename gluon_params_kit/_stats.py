"""Statistics kernels behind ``inspection.stats``: one read per parameter, no per-statistic trips.

On CPU, numpy reads a zero-copy DLPack view of the parameter's memory in cache-sized
chunks, computing every statistic of a chunk while it is in cache (MXNet 1.9.1's CPU
reductions are many times slower than numpy's). Elsewhere, MXNet ops run on the
parameter's own device and the results come back in one transfer.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as _onp

from . import _display as D
from ._compat import mx

__all__ = ["ParamStats", "array_stats", "host_stats", "max_abs_diff"]

_CHUNK = 1 << 16          # values per numpy step: a chunk (256 KiB of float32) stays in cache
HIST_SAMPLE = 1 << 14     # histograms of bigger parameters use an even stride of this many


@dataclass(frozen=True)
class ParamStats:
    """Statistics of one parameter's values (or gradient), as :func:`stats` returns them.

    ``state`` is ``'ok'``, or why there are no numbers: ``'deferred'`` (shape unknown until
    the first forward), ``'uninitialized'``, ``'no grad'`` (``grad_req='null'``) or
    ``'empty'``. ``mean``, ``std``, ``min``, ``max`` and ``l2`` are over the finite values;
    ``nan`` and ``inf`` count the others. ``hist`` counts values in ``len(hist)`` equal bins
    over ``edges`` (from ``min`` to ``max``); it counts ``hist_values`` finite values, all of
    them unless the parameter is larger than ``hist_sample`` (then an even stride).
    """

    state: str
    size: Optional[int] = None
    mean: Optional[float] = None
    std: Optional[float] = None
    min: Optional[float] = None
    max: Optional[float] = None
    l2: Optional[float] = None
    zero_fraction: Optional[float] = None
    nan: int = 0
    inf: int = 0
    hist: Tuple[int, ...] = ()
    edges: Tuple[float, ...] = ()
    hist_values: int = 0

    @property
    def sparkline(self) -> str:
        """The histogram as Unicode block characters (empty when there are no numbers)."""
        return D.sparkline(self.hist)

    def as_dict(self) -> Dict[str, Any]:
        """The fields as a plain dict (``hist`` and ``edges`` as lists)."""
        out = asdict(self)
        out["hist"], out["edges"] = list(self.hist), list(self.edges)
        return out

    def __str__(self) -> str:
        if self.state != "ok":
            return f"ParamStats({self.state})"
        f = D.format_float
        return (f"mean={f(self.mean)} std={f(self.std)} min={f(self.min)} max={f(self.max)} "
                f"l2={f(self.l2)} zeros={f(self.zero_fraction)} nan={self.nan} inf={self.inf} "
                f"|{self.sparkline}|")


class _DLPackView:
    """Hands an NDArray to ``numpy.from_dlpack`` without copying (CPU memory only)."""

    def __init__(self, arr):
        self._arr = arr

    def __dlpack__(self, stream=None):
        return self._arr.to_dlpack_for_read()

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def _host_view(arr) -> _onp.ndarray:
    """A read-only numpy view of a CPU array's memory (a copy only if DLPack fails)."""
    try:
        return _onp.from_dlpack(_DLPackView(arr)).reshape(-1)
    except (AttributeError, TypeError, ValueError, RuntimeError, BufferError):
        return arr.asnumpy().reshape(-1)


def _host_stats(a: _onp.ndarray, bins: int, hist_sample: Optional[int]) -> ParamStats:
    """All statistics in one chunked pass over ``a``: each chunk is read while in cache.

    Values around 0 (the histogram sample's mean within half its spread): the sum and the
    sum of squares of a chunk are BLAS dot products in the array's own float type (relative
    error ~1e-7 per chunk), and chunks add up in float64. Otherwise values are first
    shifted by that mean (exact in float32 for values within a factor 2 of it), so the
    variance keeps its digits, and summed pairwise (numpy's ``add.reduce``): the shifted
    values are coarse multiples of the mean's ulp, on which long BLAS runs drift.
    """
    n = a.size
    step = 1 if hist_sample is None or n <= hist_sample else -(-n // hist_sample)
    fast = a.dtype in (_onp.float32, _onp.float64)
    sample = a[::step] if fast else a[::step].astype(_onp.float64)
    finite = _onp.isfinite(sample)
    if not finite.all():
        sample = sample[finite]
    shift = 0.0
    if sample.size:
        mean = float(_onp.add.reduce(sample, dtype=_onp.float64)) / sample.size
        spread = float(_onp.std(sample, dtype=_onp.float64))
        if abs(mean) > 0.5 * spread:  # cancellation would cost digits: centre the values
            shift = float(a.dtype.type(mean)) if fast else mean
    acc = _Acc(shift, a.dtype if fast else _onp.dtype(_onp.float64))
    for i in range(0, n, _CHUNK):
        acc.add(a[i:i + _CHUNK] if fast else a[i:i + _CHUNK].astype(_onp.float64))
    nan = inf = 0
    if not (math.isfinite(acc.s) and math.isfinite(acc.ss)):  # NaN/Inf inside (or overflow)
        acc = _Acc(shift, _onp.dtype(_onp.float64))
        for i in range(0, n, _CHUNK):
            chunk = a[i:i + _CHUNK].astype(_onp.float64)
            nan += int(_onp.count_nonzero(_onp.isnan(chunk)))
            inf += int(_onp.count_nonzero(_onp.isinf(chunk)))
            acc.add(_onp.ascontiguousarray(chunk[_onp.isfinite(chunk)]))
    if acc.count == 0:
        return ParamStats(state="ok", size=n, zero_fraction=0.0, nan=nan, inf=inf,
                          hist=(0,) * bins)
    m = acc.s / acc.count
    counts, edges = _onp.histogram(sample, bins=bins, range=(acc.lo, acc.hi))
    return ParamStats(
        state="ok", size=n, mean=shift + m, std=math.sqrt(max(acc.ss / acc.count - m * m, 0.0)),
        min=acc.lo, max=acc.hi,
        l2=math.sqrt(max(acc.ss + 2 * shift * acc.s + acc.count * shift * shift, 0.0)),
        zero_fraction=acc.zeros / n, nan=nan, inf=inf,
        hist=tuple(int(c) for c in counts), edges=tuple(float(e) for e in edges),
        hist_values=int(sample.size))


class _Acc:
    """Running float64 sums of shifted values and of their squares, extremes, zero count.

    Scratch memory: one chunk of shifted values or of ones, and one of flags.
    """

    def __init__(self, shift: float, dtype: _onp.dtype):
        self.shift, self.s, self.ss, self.count, self.zeros = shift, 0.0, 0.0, 0, 0
        self.lo, self.hi = math.inf, -math.inf
        self._shift = dtype.type(shift)
        self._buf = _onp.empty(_CHUNK, dtype) if shift else None
        self._ones = None if shift else _onp.ones(_CHUNK, dtype)
        self._flags = _onp.empty(_CHUNK, bool)

    def add(self, c: _onp.ndarray) -> None:
        k = c.size
        if k == 0:
            return
        if self._buf is None:  # values around 0: BLAS dot products, one read each
            self.ss += float(_onp.dot(c, c))
            self.s += float(_onp.dot(c, self._ones[:k]))
        else:  # shifted values are coarse steps of the mean's ulp: BLAS runs would drift
            t = self._buf[:k]
            _onp.subtract(c, self._shift, out=t)
            self.s += float(_onp.add.reduce(t))  # pairwise sums: no drift
            _onp.multiply(t, t, out=t)
            self.ss += float(_onp.add.reduce(t))
        self.lo = min(self.lo, float(_onp.minimum.reduce(c)))
        self.hi = max(self.hi, float(_onp.maximum.reduce(c)))
        flags = self._flags[:k]
        _onp.equal(c, 0, out=flags)
        self.zeros += int(_onp.count_nonzero(flags))
        self.count += k


def _device_stats(arr, bins: int) -> ParamStats:
    """Statistics by MXNet ops on the array's own device, fetched in one transfer.

    Computed in float64 (counts and sums past 2**24 values stay exact); the temporaries
    live on the device only while this parameter is measured.
    """
    F = mx.nd
    x = arr.as_nd_ndarray() if hasattr(arr, "as_nd_ndarray") else arr
    x = x.reshape(-1).astype("float64")
    n = x.size
    finite = F.contrib.isfinite(x)
    count = F.sum(finite)
    safe = F.where(finite, x, F.zeros_like(x))
    mean = F.sum(safe) / F.maximum(count, 1)
    centred = F.where(finite, x - mean, F.zeros_like(x))
    big = float(_onp.finfo(_onp.float64).max)
    lo = F.min(F.where(finite, x, F.ones_like(x) * big))
    hi = F.max(F.where(finite, x, F.ones_like(x) * -big))
    wide = hi > lo
    start = F.where(wide, lo, lo - 0.5)
    span = F.where(wide, hi - lo, F.ones_like(hi))
    edges = start + span * F.arange(bins + 1, ctx=x.context, dtype=x.dtype) / bins
    edges = F.concat(edges[:bins], F.where(wide, hi, lo + 0.5), dim=0)  # exact last edge
    hist, _ = F.histogram(F.where(finite, x, F.broadcast_like(lo, x)), bins=edges)
    parts = [count, mean, F.sum(F.square(centred)), F.sum(F.square(safe)), lo, hi,
             F.sum(x == 0), F.sum(F.contrib.isnan(x)), F.sum(F.contrib.isinf(x))]
    flat = F.concat(*[p.reshape(1) for p in parts], hist.astype("float64"), edges,
                    dim=0).asnumpy()
    cnt, mean_, ss, l2sq, lo_, hi_, zeros, nan, inf = flat[:9]
    counts = flat[9:9 + bins].astype(_onp.int64)
    counts[0] -= int(n - cnt)  # non-finite values were parked in the first bin
    if cnt == 0:
        return ParamStats(state="ok", size=n, zero_fraction=0.0, nan=int(nan), inf=int(inf),
                          hist=(0,) * bins)
    return ParamStats(
        state="ok", size=n, mean=float(mean_), std=math.sqrt(ss / cnt), min=float(lo_),
        max=float(hi_), l2=math.sqrt(l2sq), zero_fraction=float(zeros) / n, nan=int(nan),
        inf=int(inf), hist=tuple(int(c) for c in counts),
        edges=tuple(float(e) for e in flat[9 + bins:]), hist_values=int(cnt))


def array_stats(arr, bins: int, hist_sample: Optional[int]) -> ParamStats:
    """Statistics of one MXNet array (nd or np), computed where it lives.

    A sparse array (the ``row_sparse`` gradient of ``Embedding(sparse_grad=True)``) is
    measured as the dense array it stands for, absent rows counting as zeros.

    >>> array_stats(mx.nd.array([0, 1, 2, 3]), 3, None).hist
    (1, 1, 2)
    """
    if getattr(arr, "stype", "default") != "default":
        arr = arr.tostype("default")  # one parameter's bytes, on its own device
    if arr.size == 0:
        return ParamStats(state="empty", size=0)
    if arr.context.device_type == "cpu":
        return _host_stats(_host_view(arr), bins, hist_sample)
    return _device_stats(arr, bins)


#: The CPU kernel under its public name: ``inspect --stats`` runs it on a file-backed
#: vector (``_file_stats``), so the command and ``stats()`` cannot disagree.
host_stats = _host_stats


_HOST_FLOATS = ("float16", "float32", "float64")


def max_abs_diff(a, b) -> Optional[float]:
    """max |a - b| of two CPU arrays of one float dtype and size, read chunk by chunk in place.

    No copy of either array: both are read through zero-copy views, a chunk at a time, with
    one chunk of scratch memory. NaN against NaN at the same place counts as equal; NaN
    against a number makes the answer NaN. Returns None when the arrays are not both CPU
    arrays of the same float16/32/64 dtype and size (compare those with MXNet ops).

    >>> max_abs_diff(mx.nd.array([1, 2, float('nan')]), mx.nd.array([1, 2.5, float('nan')]))
    0.5
    """
    if (a.context.device_type != "cpu" or b.context.device_type != "cpu" or a.size != b.size
            or str(_onp.dtype(a.dtype)) not in _HOST_FLOATS or a.dtype != b.dtype):
        return None
    x, y = _host_view(a), _host_view(b)
    buf = _onp.empty(min(_CHUNK, x.size), x.dtype)
    worst = 0.0
    for i in range(0, x.size, _CHUNK):
        u, v = x[i:i + _CHUNK], y[i:i + _CHUNK]
        t = buf[:u.size]
        _onp.subtract(u, v, out=t)
        _onp.abs(t, out=t)
        m = float(_onp.maximum.reduce(t)) if t.size else 0.0
        if m != m:  # NaN somewhere: NaN against NaN (and equal infinities) is no difference
            t[(u == v) | (_onp.isnan(u) & _onp.isnan(v))] = 0
            m = float(_onp.maximum.reduce(t))
            if m != m:
                return m
        worst = max(worst, m)
    return worst
