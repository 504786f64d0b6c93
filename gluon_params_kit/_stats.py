"""Statistics kernels behind ``inspection.stats``: one read per parameter, no per-statistic trips.

On CPU, numpy reads a zero-copy DLPack view of the parameter's memory in cache-sized
chunks, computing every statistic of a chunk while it is in cache (MXNet 1.9.1's CPU
reductions are many times slower than numpy's). Elsewhere, MXNet ops run on the
parameter's own device and the results come back in one transfer.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, Optional, Tuple

import numpy as _onp

from . import _display as D
from ._compat import mx

__all__ = ["CHUNK", "ParamStats", "array_stats", "chunk_stats", "host_stats", "max_abs_diff"]

_CHUNK = 1 << 16          # values per step of max_abs_diff (two chunks of 256 KiB in cache)
#: Values per chunk of :func:`chunk_stats` (1 MiB of float32 stays in L2; fewer numpy calls
#: per value than smaller chunks). ``inspect --stats`` reads a file in pieces of this size.
CHUNK = 1 << 18
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
    """All statistics of an in-memory array: :func:`chunk_stats` over its chunks (views)."""
    n = a.size
    step = _sample_step(n, hist_sample)
    return chunk_stats(n, a.dtype, (a[i:i + CHUNK] for i in range(0, n, CHUNK)), bins,
                       hist_sample, sample=a[::step])


def _sample_step(n: int, hist_sample: Optional[int]) -> int:
    return 1 if hist_sample is None or n <= hist_sample else -(-n // hist_sample)


def chunk_stats(size: int, dtype, chunks: Iterable[_onp.ndarray], bins: int,
                hist_sample: Optional[int], sample: Optional[_onp.ndarray] = None) -> ParamStats:
    """All statistics of ``size`` values of ``dtype`` in one pass over ``chunks``.

    ``chunks`` yields the flat values in order, :data:`CHUNK` values each (the last one
    fewer): the in-memory kernel and ``inspect --stats`` (a file read chunk by chunk) feed
    the same pieces, so their answers are the same to the last bit. Every statistic of a
    chunk is computed while it is in cache, and chunks are merged by Chan's formulas, so
    nothing has to be known before the pass. The histogram counts every ``step``-th value
    (``hist_sample`` of them, or all), picked up as the chunks go by unless ``sample``
    (those very values) is given.

    A chunk's sum and sum of squares are BLAS dot products in the chunk's float type
    (relative error ~1e-7). When its mean is more than half its spread away from 0
    (cancellation would cost digits), the chunk is shifted by that mean (exact in float32
    for values within a factor 2 of it) and summed pairwise (numpy's ``add.reduce``: the
    shifted values are coarse multiples of the mean's ulp, on which long BLAS runs drift).
    A chunk with NaN or Inf (or whose squares overflow) is measured in float64.

    >>> import numpy as np
    >>> r = chunk_stats(4, np.float32, [np.arange(4, dtype=np.float32)], 2, None)
    >>> r.mean, r.min, r.max, r.hist
    (1.5, 0.0, 3.0, (2, 2))
    """
    dtype = _onp.dtype(dtype)
    step = _sample_step(size, hist_sample)
    fast = dtype in (_onp.float32, _onp.float64)
    acc = _Acc(dtype if fast else _onp.dtype(_onp.float64))
    parts = []
    seen = 0
    for c in chunks:
        if sample is None:
            first = (-seen) % step
            if first < c.size:
                parts.append(c[first::step].copy())
        seen += c.size
        acc.add(c if fast else c.astype(_onp.float64))
    if seen != size:
        raise ValueError(f"chunk_stats got {seen} values, not the {size} announced")
    if sample is None:
        sample = _onp.concatenate(parts) if parts else _onp.empty(0, dtype)
    if not fast:
        sample = sample.astype(_onp.float64)
    finite = _onp.isfinite(sample)
    if not finite.all():
        sample = sample[finite]
    if acc.count == 0:
        return ParamStats(state="ok", size=size, zero_fraction=0.0, nan=acc.nan, inf=acc.inf,
                          hist=(0,) * bins)
    counts, edges = _onp.histogram(sample, bins=bins, range=(acc.lo, acc.hi))
    return ParamStats(
        state="ok", size=size, mean=acc.mean, std=math.sqrt(max(acc.m2 / acc.count, 0.0)),
        min=acc.lo, max=acc.hi, l2=math.sqrt(max(acc.l2sq, 0.0)),
        zero_fraction=acc.zeros / size, nan=acc.nan, inf=acc.inf,
        hist=tuple(int(c) for c in counts), edges=tuple(float(e) for e in edges),
        hist_values=int(sample.size))


class _Acc:
    """Count, mean and sum of squared deviations of the finite values (merged chunk by
    chunk, Chan et al.), sum of squares, extremes, zero, NaN and Inf counts.

    Scratch memory: one chunk of ones, one of shifted values and one of flags.
    """

    def __init__(self, dtype: _onp.dtype):
        self.count, self.mean, self.m2, self.l2sq = 0, 0.0, 0.0, 0.0
        self.zeros = self.nan = self.inf = 0
        self.lo, self.hi = math.inf, -math.inf
        self._ones = _onp.ones(CHUNK, dtype)
        self._buf: Optional[_onp.ndarray] = None
        self._flags = _onp.empty(CHUNK, bool)

    def add(self, c: _onp.ndarray) -> None:
        k = c.size
        if k == 0:
            return
        ss = float(_onp.dot(c, c))
        s = float(_onp.dot(c, self._ones[:k]))
        if not (math.isfinite(s) and math.isfinite(ss)):
            return self._add_float64(c)
        m = s / k
        if m * m <= 0.25 * (ss / k - m * m):  # around 0: the dot products keep the digits
            self._merge(k, m, ss - s * s / k)
            self.l2sq += ss
        else:
            if self._buf is None:
                self._buf = _onp.empty(CHUNK, c.dtype)
            shift = c.dtype.type(m)
            t = self._buf[:k]
            _onp.subtract(c, shift, out=t)
            st = float(_onp.add.reduce(t))  # pairwise sums: no drift
            _onp.multiply(t, t, out=t)
            sst = float(_onp.add.reduce(t))
            if not math.isfinite(sst):
                return self._add_float64(c)
            shift = float(shift)
            self._merge(k, shift + st / k, sst - st * st / k)
            self.l2sq += sst + 2 * shift * st + k * shift * shift
        self.lo = min(self.lo, float(_onp.minimum.reduce(c)))
        self.hi = max(self.hi, float(_onp.maximum.reduce(c)))
        flags = self._flags[:k]
        _onp.equal(c, 0, out=flags)
        self.zeros += int(_onp.count_nonzero(flags))

    def _add_float64(self, c: _onp.ndarray) -> None:
        """A chunk with NaN or Inf, or too big for squares in its own type."""
        x = c.astype(_onp.float64)
        self.nan += int(_onp.count_nonzero(_onp.isnan(x)))
        self.inf += int(_onp.count_nonzero(_onp.isinf(x)))
        self.zeros += int(_onp.count_nonzero(x == 0))
        x = x[_onp.isfinite(x)]
        if x.size == 0:
            return
        m = float(_onp.add.reduce(x)) / x.size
        d = x - m
        self._merge(x.size, m, float(_onp.dot(d, d)))
        self.l2sq += float(_onp.dot(x, x))
        self.lo = min(self.lo, float(_onp.minimum.reduce(x)))
        self.hi = max(self.hi, float(_onp.maximum.reduce(x)))

    def _merge(self, k: int, mean: float, m2: float) -> None:
        n = self.count + k
        d = mean - self.mean
        self.mean += d * k / n
        self.m2 += max(m2, 0.0) + d * d * (self.count * k / n)
        self.count = n


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
