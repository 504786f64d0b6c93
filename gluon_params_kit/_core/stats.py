"""Statistics kernels behind ``inspection.stats``: one read per parameter, no per-statistic trips.

On CPU, numpy reads a zero-copy DLPack view of the parameter's memory in cache-sized
chunks, computing every statistic of a chunk while it is in cache (MXNet 1.9.1's CPU
reductions are many times slower than numpy's). Elsewhere, MXNet ops run on the
parameter's own device and the results come back in one transfer.
"""
from __future__ import annotations

import math
import os
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

import numpy as _onp

from . import display as D

__all__ = [
    "CHUNK", "HIST_SAMPLE", "ParamStats", "WORKERS", "array_stats", "chunk_stats", "host_stats",
    "max_abs_diff", "memory_chunks",
]

_CHUNK = 1 << 16          # values per step of max_abs_diff (two chunks of 256 KiB in cache)
#: Values per chunk of :func:`chunk_stats` (1 MiB of float32 stays in L2; fewer numpy calls
#: per value than smaller chunks). ``inspect --stats`` reads a file in pieces of this size.
CHUNK = 1 << 18
HIST_SAMPLE = 1 << 14     # histograms of bigger parameters use an even stride of this many
#: Threads measuring one large array (each a contiguous run of its chunks): the usable
#: cores, at most 4 (past that, memory bandwidth is the limit, not cores).
WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count() or 1))
_CHUNKS_PER_WORKER = 8    # smaller arrays are measured in fewer threads (8 MiB of float32 each)


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


def host_stats(a: _onp.ndarray, bins: int, hist_sample: Optional[int]) -> ParamStats:
    """All statistics of an in-memory array: :func:`chunk_stats` over its chunks (views)."""
    n = a.size
    return chunk_stats(n, a.dtype, memory_chunks(a), bins, hist_sample,
                       sample=a[::_sample_step(n, hist_sample)])


def memory_chunks(a: _onp.ndarray) -> Callable[[int, int], Iterator[_onp.ndarray]]:
    """The ``chunks`` of :func:`chunk_stats` for a flat in-memory array: views, no copies.

    >>> import numpy as np
    >>> [c.size for c in memory_chunks(np.zeros(CHUNK + 3))(0, 2)]
    [262144, 3]
    """
    return lambda lo, hi: (a[j * CHUNK:(j + 1) * CHUNK] for j in range(lo, hi))


def _sample_step(n: int, hist_sample: Optional[int]) -> int:
    return 1 if hist_sample is None or n <= hist_sample else -(-n // hist_sample)


def chunk_stats(size: int, dtype, chunks: Callable[[int, int], Iterable[_onp.ndarray]],
                bins: int, hist_sample: Optional[int], sample: Optional[_onp.ndarray] = None,
                workers: Optional[int] = None) -> ParamStats:
    """All statistics of ``size`` values of ``dtype`` in one pass, chunk by chunk.

    ``chunks(lo, hi)`` yields chunks ``lo`` to ``hi - 1`` of the flat values, in order:
    chunk ``j`` is values ``j * CHUNK`` to ``(j + 1) * CHUNK`` (the last one fewer), and may
    be a view of a buffer that the next chunk overwrites. An array of many chunks is cut
    into ``workers`` (default :data:`WORKERS`) contiguous runs measured by as many threads
    (numpy, BLAS and file reads release the GIL), each calling ``chunks`` once for its run.
    Every statistic of a chunk is computed while it is in cache, and the chunks' parts are
    merged in chunk order by Chan's formulas, so the answer does not depend on the number
    of threads, and the in-memory kernel and ``inspect --stats`` (a file read chunk by chunk)
    agree to the last bit. The histogram counts every ``step``-th value (``hist_sample`` of
    them, or all), picked up as the chunks go by unless ``sample`` (those very values) is
    given.

    A chunk's sum and sum of squares are BLAS dot products in the chunk's float type
    (relative error ~1e-7). When its mean is more than half its spread away from 0
    (cancellation would cost digits), the chunk is shifted by that mean (exact in float32
    for values within a factor 2 of it) and summed pairwise (numpy's ``add.reduce``: the
    shifted values are coarse multiples of the mean's ulp, on which long BLAS runs drift).
    A chunk with NaN or Inf (or whose squares overflow) is measured in float64.

    >>> import numpy as np
    >>> x = np.arange(4, dtype=np.float32)
    >>> r = chunk_stats(4, x.dtype, memory_chunks(x), 2, None)
    >>> r.mean, r.min, r.max, r.hist
    (1.5, 0.0, 3.0, (2, 2))
    """
    dtype = _onp.dtype(dtype)
    step = _sample_step(size, hist_sample)
    total = -(-size // CHUNK)
    workers = max(1, min(WORKERS if workers is None else workers, total // _CHUNKS_PER_WORKER))
    bounds = [total * w // workers for w in range(workers + 1)]
    runs = _measure_runs(size, dtype, chunks, bounds, step if sample is None else 0)
    acc = _Acc()
    picks = []
    for run in runs:
        for part, piece in run:
            acc.add(part)
            if piece is not None:
                picks.append(piece)
    if sample is None:
        sample = _onp.concatenate(picks) if picks else _onp.empty(0, dtype)
    if dtype not in _FAST:
        sample = sample.astype(_onp.float64)
    finite = _onp.isfinite(sample)
    if not finite.all():
        sample = sample[finite]
    if acc.count == 0:
        return ParamStats(state="ok", size=size, zero_fraction=0.0, nan=acc.nan, inf=acc.inf,
                          hist=(0,) * bins)
    counts, edges = _histogram(sample, bins, acc.lo, acc.hi)
    scale = acc.scale  # a float multiplication that overflows gives inf, never an exception
    return ParamStats(
        state="ok", size=size, mean=acc.mean, std=scale * math.sqrt(max(acc.m2 / acc.count, 0.0)),
        min=acc.lo, max=acc.hi, l2=scale * math.sqrt(max(acc.l2sq, 0.0)),
        zero_fraction=acc.zeros / size, nan=acc.nan, inf=acc.inf,
        hist=tuple(int(c) for c in counts), edges=tuple(float(e) for e in edges),
        hist_values=int(sample.size))


_FAST = (_onp.dtype(_onp.float32), _onp.dtype(_onp.float64))  # measured in their own type
#: Past this magnitude (float64 values only) or below its inverse, a chunk is measured
#: scaled by a power of two near its largest |value|: 2**63 squares of 2**400 still sum to
#: a finite float64, and squares of 2**-400 do not underflow.
_BIG = 2.0 ** 400
#: A float32 chunk whose largest |value| is below this (not 0) is measured in float64: its
#: squares would lose bits to float32's underflow (denormals).
_SMALL32 = 2.0 ** -20
_FMAX = float(_onp.finfo(_onp.float64).max)


def _scale_of(biggest: float) -> float:
    """1.0 from ``1 / _BIG`` to :data:`_BIG` (and for 0), else a power of two within a
    factor 2 of ``biggest``: dividing by it is exact, and the quotients' squares neither
    overflow nor underflow."""
    if biggest == 0.0 or 1.0 / _BIG <= biggest <= _BIG:
        return 1.0
    return math.ldexp(1.0, math.frexp(biggest)[1] - 1)


def _histogram(sample: _onp.ndarray, bins: int, lo: float, hi: float
               ) -> Tuple[_onp.ndarray, _onp.ndarray]:
    """``numpy.histogram(sample, bins, range=(lo, hi))`` where numpy can bin these values.

    numpy bins ``(x - lo) * bins / (hi - lo)`` in the sample's type, which overflows when the
    range does not fit it ([3e38, -3e38] in float32, [1e308, -1e308] in float64) or is
    too narrow for ``bins / (hi - lo)`` (denormals), and finds no width when ``lo == hi``
    is too large for its +-0.5 widening; those are binned in
    float64 scaled by :func:`_scale_of` (equal values get a width relative to them), edges
    scaled back and kept finite.

    >>> import numpy as np
    >>> x = np.array([3e38, -3e38, 1], np.float32)
    >>> counts, edges = _histogram(x, 2, float(x.min()), float(x.max()))
    >>> counts.tolist(), edges.tolist() == [float(x.min()), 0.0, float(x.max())]
    ([1, 2], True)
    """
    t = sample.dtype.type
    a, b = (lo, hi) if lo < hi else (lo - 0.5, hi + 0.5)
    with _onp.errstate(over="ignore", invalid="ignore"):
        width = float(t(b) - t(a))
    if a < b and 2.0 ** -60 <= width < math.inf and b - a < math.inf:
        return _onp.histogram(sample, bins=bins, range=(lo, hi))
    scale = _scale_of(max(-lo, hi))
    a, b = lo / scale, hi / scale
    if a == b:
        w = max(0.5, abs(a) * 2.0 ** -10)
        a, b = a - w, b + w
    counts, edges = _onp.histogram(sample.astype(_onp.float64) / scale, bins=bins, range=(a, b))
    with _onp.errstate(over="ignore"):
        edges = _onp.clip(edges * scale, -_FMAX, _FMAX)
    if lo < hi:
        edges[0], edges[-1] = lo, hi  # exact, though lo / scale may have underflowed
    return counts, edges

_Run = List[Tuple["_Part", Optional[_onp.ndarray]]]


def _measure_runs(size: int, dtype: _onp.dtype, chunks, bounds: List[int], step: int
                  ) -> List[_Run]:
    """The parts of the runs ``bounds[w]..bounds[w + 1]``, the first in this thread."""
    stop = threading.Event()
    runs: List[Any] = [None] * (len(bounds) - 1)

    def work(w: int) -> None:
        try:
            runs[w] = _measure_run(size, dtype, chunks, bounds[w], bounds[w + 1], step, stop)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the caller's thread)
            runs[w] = exc
            stop.set()

    helpers = [threading.Thread(target=work, args=(w,), name=f"gpk-stats-{w}", daemon=True)
               for w in range(1, len(runs))]
    for t in helpers:
        t.start()
    try:
        work(0)
        for t in helpers:
            t.join()
    finally:
        stop.set()  # an interrupted join: the helpers stop at their next chunk
        for t in helpers:
            t.join()
    for r in runs:
        if isinstance(r, BaseException):
            raise r
    return runs


def _measure_run(size: int, dtype: _onp.dtype, chunks, lo: int, hi: int, step: int,
                 stop: threading.Event) -> _Run:
    fast = dtype in _FAST
    kernel = _Kernel(dtype if fast else _onp.dtype(_onp.float64))
    out: _Run = []
    source = iter(chunks(lo, hi))
    try:
        for j in range(lo, hi):
            if stop.is_set():
                return out
            c = next(source, None)
            want = min(CHUNK, size - j * CHUNK)
            if c is None or c.size != want:
                raise ValueError(f"chunk {j} of {size} values has "
                                 f"{'none' if c is None else c.size}, not {want}")
            piece = None
            if step:
                first = (-j * CHUNK) % step
                if first < c.size:
                    piece = c[first::step].copy()
            out.append((kernel.measure(c if fast else c.astype(_onp.float64)), piece))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    return out


class _Part(NamedTuple):
    """One chunk's share: count (``finite``, not ``count``: that is tuple's method), mean,
    squared deviations and squares of its finite values, their extremes, and its counts of
    zeros, NaN and Inf. ``m2`` and ``l2sq`` are in units of ``scale ** 2`` (1.0 unless the
    chunk holds float64 values past :data:`_BIG`, whose squares could overflow)."""

    finite: int
    mean: float
    m2: float
    l2sq: float
    lo: float
    hi: float
    zeros: int
    nan: int = 0
    inf: int = 0
    scale: float = 1.0


class _Kernel:
    """Measures chunks of one float type, one thread's scratch memory: a chunk of ones, one
    of shifted values and one of flags."""

    def __init__(self, dtype: _onp.dtype):
        self._ones = _onp.ones(CHUNK, dtype)
        self._buf: Optional[_onp.ndarray] = None
        self._flags = _onp.empty(CHUNK, bool)

    def measure(self, c: _onp.ndarray) -> _Part:
        k = c.size
        ss = float(_onp.dot(c, c))
        s = float(_onp.dot(c, self._ones[:k]))
        if not (math.isfinite(s) and math.isfinite(ss)):
            return _float64_part(c)
        lo, hi = float(_onp.minimum.reduce(c)), float(_onp.maximum.reduce(c))
        biggest = max(-lo, hi)
        if biggest > _BIG or 0.0 < biggest < (_SMALL32 if c.dtype.itemsize == 4 else 1.0 / _BIG):
            return _float64_part(c)  # squares that could overflow (summed) or underflow
        m = s / k
        if m * m <= 0.25 * (ss / k - m * m):  # around 0: the dot products keep the digits
            m2, l2sq = ss - s * s / k, ss
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
                return _float64_part(c)
            shift = float(shift)
            m, m2 = shift + st / k, sst - st * st / k
            l2sq = sst + 2 * shift * st + k * shift * shift
        zeros = 0
        if lo <= 0.0 <= hi:  # else no value can be zero
            flags = self._flags[:k]
            _onp.equal(c, 0, out=flags)
            zeros = int(_onp.count_nonzero(flags))
        return _Part(k, m, m2, l2sq, lo, hi, zeros)


def _float64_part(c: _onp.ndarray) -> _Part:
    """A chunk with NaN or Inf, or too big for squares in its own type: in float64, and
    scaled (see :class:`_Part`) where even float64 squares or sums could overflow."""
    x = c.astype(_onp.float64)
    nan = int(_onp.count_nonzero(_onp.isnan(x)))
    inf = int(_onp.count_nonzero(_onp.isinf(x)))
    zeros = int(_onp.count_nonzero(x == 0))
    x = x[_onp.isfinite(x)]
    if x.size == 0:
        return _Part(0, 0.0, 0.0, 0.0, math.inf, -math.inf, zeros, nan, inf)
    lo, hi = float(_onp.minimum.reduce(x)), float(_onp.maximum.reduce(x))
    scale = _scale_of(max(-lo, hi))
    if scale != 1.0:
        x = x / scale  # exact: a power of two (values far below it may lose their last bits)
    k = x.size
    m = float(_onp.add.reduce(x)) / k
    d = x - m
    sd = float(_onp.add.reduce(d))  # the corrected two-pass m2: equal values give 0
    m2 = float(_onp.dot(d, d)) - sd * sd / k
    mean = min(max(m * scale, lo), hi)  # rounding cannot carry the mean out of its values' range
    return _Part(k, mean, m2, float(_onp.dot(x, x)), lo, hi, zeros, nan, inf, scale)


class _Acc:
    """The finite values' count, mean and squared deviations (chunk parts merged in order,
    Chan et al.), sum of squares and extremes; zero, NaN and Inf counts. ``m2`` and ``l2sq``
    are in units of ``scale ** 2``, the largest scale of the parts so far."""

    def __init__(self):
        self.count, self.mean, self.m2, self.l2sq = 0, 0.0, 0.0, 0.0
        self.zeros = self.nan = self.inf = 0
        self.lo, self.hi = math.inf, -math.inf
        self.scale = 1.0  # the first part with values sets it

    def add(self, p: _Part) -> None:
        if p.finite:
            n = self.count + p.finite
            pm2, pl2sq = max(p.m2, 0.0), p.l2sq
            if self.count == 0:
                self.scale = p.scale
            elif p.scale > self.scale:
                r = self.scale / p.scale  # what underflows here is negligible beside p
                self.m2, self.l2sq, self.scale = self.m2 * r * r, self.l2sq * r * r, p.scale
            elif p.scale < self.scale:
                r = p.scale / self.scale
                pm2, pl2sq = pm2 * r * r, pl2sq * r * r
            if self.scale == 1.0:
                d = p.mean - self.mean
                self.mean += d * p.finite / n
            else:  # means of opposite signs near the float64 limit: no difference taken unscaled
                d = p.mean / self.scale - self.mean / self.scale
                self.mean = self.mean * (self.count / n) + p.mean * (p.finite / n)
            self.m2 += pm2 + d * d * (self.count * p.finite / n)
            self.count = n
            self.l2sq += pl2sq
            self.lo, self.hi = min(self.lo, p.lo), max(self.hi, p.hi)
        self.zeros += p.zeros
        self.nan += p.nan
        self.inf += p.inf


def _device_stats(arr, bins: int) -> ParamStats:
    """Statistics by MXNet ops on the array's own device, fetched in one transfer.

    Computed in float64 (counts and sums past 2**24 values stay exact), on the values
    divided by a power of two near the largest |value| where that is past :data:`_BIG` or
    below its inverse (as the host kernel does: no square overflows or underflows); the
    temporaries live on the device only while this parameter is measured.
    """
    from .compat import mx  # here, not at the top: the file layer's statistics need no mxnet
    F = mx.nd
    x = arr.as_nd_ndarray() if hasattr(arr, "as_nd_ndarray") else arr
    x = x.reshape(-1).astype("float64")
    n = x.size
    finite = F.contrib.isfinite(x)
    count = F.sum(finite)
    lo = F.min(F.where(finite, x, F.ones_like(x) * _FMAX))
    hi = F.max(F.where(finite, x, F.ones_like(x) * -_FMAX))
    biggest = F.maximum(F.abs(lo), F.abs(hi))
    odd = (biggest > _BIG) + (biggest < 1.0 / _BIG) * (biggest > 0) > 0
    # 2 ** (floor(log2) - 1): a power of two (exact division) that log2's rounding up near
    # the float64 limit cannot push to inf
    scale = F.where(odd, F.power(2.0, F.floor(F.log2(F.where(odd, biggest, F.ones_like(biggest))))
                                 - 1), F.ones_like(biggest))
    xs = F.broadcast_div(x, scale)
    safe = F.where(finite, xs, F.zeros_like(xs))
    mean = F.sum(safe) / F.maximum(count, 1)
    centred = F.where(finite, F.broadcast_sub(xs, mean), F.zeros_like(xs))
    lo_s, hi_s = lo / scale, hi / scale
    wide = hi_s > lo_s
    half = F.where(lo_s - 0.5 < lo_s, F.ones_like(lo_s) * 0.5, F.abs(lo_s) * 2.0 ** -10)
    start = F.where(wide, lo_s, lo_s - half)
    span = F.where(wide, hi_s - lo_s, 2 * half)
    edges = start + span * F.arange(bins + 1, ctx=x.context, dtype=x.dtype) / bins
    edges = F.concat(edges[:bins], F.where(wide, hi_s, lo_s + half), dim=0)  # exact last edge
    hist, _ = F.histogram(F.where(finite, xs, F.broadcast_like(lo_s, xs)), bins=edges)
    spread = F.sum(F.square(centred)) - F.square(F.sum(centred)) / F.maximum(count, 1)
    parts = [count, mean, spread, F.sum(F.square(safe)), lo, hi,  # corrected two-pass m2
             F.sum(x == 0), F.sum(F.contrib.isnan(x)), F.sum(F.contrib.isinf(x)), scale]
    flat = F.concat(*[p.reshape(1) for p in parts], hist.astype("float64"), edges,
                    dim=0).asnumpy()
    cnt, mean_, ss, l2sq, lo_, hi_, zeros, nan, inf, sc = (float(v) for v in flat[:10])
    counts = flat[10:10 + bins].astype(_onp.int64)
    counts[0] -= int(n - cnt)  # non-finite values were parked in the first bin
    if cnt == 0:
        return ParamStats(state="ok", size=n, zero_fraction=0.0, nan=int(nan), inf=int(inf),
                          hist=(0,) * bins)
    with _onp.errstate(over="ignore"):
        edges_ = _onp.clip(flat[10 + bins:] * sc, -_FMAX, _FMAX)
    if lo_ < hi_:
        edges_[0], edges_[-1] = lo_, hi_  # exact, though lo / scale may have underflowed
    return ParamStats(
        state="ok", size=n, mean=min(max(mean_ * sc, lo_), hi_), std=sc * math.sqrt(max(ss, 0.0) / cnt),
        min=lo_, max=hi_, l2=sc * math.sqrt(l2sq), zero_fraction=zeros / n, nan=int(nan),
        inf=int(inf), hist=tuple(int(c) for c in counts),
        edges=tuple(float(e) for e in edges_), hist_values=int(cnt))


def array_stats(arr, bins: int, hist_sample: Optional[int]) -> ParamStats:
    """Statistics of one MXNet array (nd or np), computed where it lives.

    A sparse array (the ``row_sparse`` gradient of ``Embedding(sparse_grad=True)``) is
    measured as the dense array it stands for, absent rows counting as zeros.

    >>> import mxnet as mx
    >>> array_stats(mx.nd.array([0, 1, 2, 3]), 3, None).hist
    (1, 1, 2)
    """
    if getattr(arr, "stype", "default") != "default":
        arr = arr.tostype("default")  # one parameter's bytes, on its own device
    if arr.size == 0:
        return ParamStats(state="empty", size=0)
    if arr.context.device_type == "cpu":
        return host_stats(_host_view(arr), bins, hist_sample)
    return _device_stats(arr, bins)


#: The CPU kernel under its public name: ``inspect --stats`` runs it on a file-backed
#: vector (``_file_stats``), so the command and ``stats()`` cannot disagree.


_HOST_FLOATS = ("float16", "float32", "float64")


def max_abs_diff(a, b) -> Optional[float]:
    """max |a - b| of two CPU arrays of one float dtype and size, read chunk by chunk in place.

    No copy of either array: both are read through zero-copy views, a chunk at a time, with
    one chunk of scratch memory. NaN against NaN at the same place counts as equal; NaN
    against a number makes the answer NaN. Returns None when the arrays are not both CPU
    arrays of the same float16/32/64 dtype and size (compare those with MXNet ops).

    >>> import mxnet as mx
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
        with _onp.errstate(invalid="ignore"):  # inf - inf: NaN, handled below
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
