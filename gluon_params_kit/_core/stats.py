"""Statistics kernels behind ``inspection.stats``: one read per parameter, no per-statistic trips.

On CPU, numpy reads a zero-copy DLPack view of the parameter's memory in cache-sized
chunks, computing every statistic of a chunk while it is in cache (MXNet 1.9.1's CPU
reductions are many times slower than numpy's). Many small CPU arrays (a ResNet's 300,
a DenseNet's 1,000) are measured together (:func:`cpu_arrays_stats`): copied into one
cache-sized buffer, then every statistic of every array in a few vectorized passes
(segment reductions, one histogram pass), so the cost is per value, not per array.
With numba installed (the ``fast`` extra), compiled loops (:mod:`.stats_kernels`) do
those passes for the parameters in memory: two passes per chunk and one over the
histogram's sample (:func:`compiled`). No array is then copied: compiled loops ask
MXNet's C API for their addresses; the small ones are read there, each binned while in
cache (:func:`_located_stats`), while larger ones are read in place in a second thread.
Files (``inspect --stats``) do not load numba (it would cost a short command more than it
saves): their chunks go through :class:`_Kernel`, the C kernel of :mod:`.stats_native`
where it is built, else numpy.
Elsewhere, MXNet ops run on the parameter's own device and the results come back in
one transfer.
"""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as _onp

from . import display as D

__all__ = [
    "BATCH", "CHUNK", "HIST_SAMPLE", "ParamStats", "WORKERS", "array_stats", "chunk_stats", "compiled",
    "cpu_arrays_stats", "host_stats", "max_abs_diff", "memory_chunks",
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
_KERNELS: Any = None      # stats_kernels once imported, False when numba is absent or turned off


def compiled(load: bool = True) -> Any:
    """The compiled loops (:mod:`~gluon_params_kit._core.stats_kernels`), or None.

    None when numba is not installed (or cannot load with this numpy), or when the
    environment says ``GPK_NUMBA=0``; the numpy kernels then measure the same statistics.
    Loading them costs a process about 0.6 s and 120 MB once (numba and LLVM), which
    measuring the parameters in memory repays; the file layer (``inspect --stats``) only
    uses them when they are loaded already (``load=False``), and only for histograms,
    whose counts and edges are numpy's either way.
    """
    global _KERNELS
    if _KERNELS is None and not load:
        return None
    if _KERNELS is None:
        _KERNELS = False
        if os.environ.get("GPK_NUMBA", "1") != "0":
            try:
                from . import stats_kernels
                if stats_kernels.numba is not None:
                    with _machine_lock("numba"):  # one process at a time writes numba's cache
                        stats_kernels.warm()
                    _KERNELS = stats_kernels
            except ImportError:  # numba cannot load with this numpy (it says so by ImportError)
                pass
    return _KERNELS or None


@contextlib.contextmanager
def _machine_lock(name: str) -> Iterator[None]:
    """An exclusive lock shared by this machine's processes (``flock`` on a file in the
    temporary folder); none where ``fcntl`` is missing or the file cannot be opened."""
    try:
        import fcntl
        fd = os.open(os.path.join(tempfile.gettempdir(), f"gluon_params_kit-{name}.lock"),
                     os.O_RDWR | os.O_CREAT, 0o666)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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


def _made(**fields: Any) -> ParamStats:
    """``ParamStats(**fields)`` with every field given, without the frozen dataclass's
    ``__init__`` (a third of its cost: one ``object.__setattr__`` per field), for the
    thousand small arrays a batch holds. Equal to the constructed one."""
    made = object.__new__(ParamStats)
    made.__dict__.update(fields)
    return made


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


def host_stats(a: _onp.ndarray, bins: int, hist_sample: Optional[int], workers: int = WORKERS) -> ParamStats:
    """All statistics of an in-memory array: :func:`chunk_stats` over its chunks (views).

    With the compiled loops (:func:`compiled`), the chunks are measured in one call (split
    among up to ``workers`` threads past 2 chunks a thread), their parts merged in chunk
    order as :func:`chunk_stats` merges its own: the same bits for any number of threads,
    and :func:`chunk_stats`'s answer up to float rounding.
    """
    n = a.size
    step = _sample_step(n, hist_sample)
    kernels = compiled()
    if kernels is None or a.dtype not in _FAST or not a.flags.c_contiguous:
        return chunk_stats(n, a.dtype, memory_chunks(a), bins, hist_sample, sample=a[::step])
    off = _onp.arange(0, n, CHUNK, dtype=_onp.intp)
    k = _onp.minimum(n - off, CHUNK)
    sample = a if step == 1 else _onp.empty(-(-n // step), a.dtype)  # a[::step], filled in cache
    pick, into = (0, None) if step == 1 else (step, sample)
    pieces = min(workers, off.size // 2)
    if pieces <= 1:
        return _finish(n, a.dtype, _compiled_parts(kernels, a, off, k, pick, into), sample, bins)
    cut = [off.size * w // pieces for w in range(pieces + 1)]
    parts: List[List[_Part]] = [[] for _ in range(pieces)]

    def work(w: int) -> None:
        lo, hi = cut[w], cut[w + 1]
        parts[w] = _compiled_parts(kernels, a, off[lo:hi], k[lo:hi], pick, into)

    _in_threads(work, pieces)
    return _finish(n, a.dtype, [p for run in parts for p in run], sample, bins)


def _in_threads(work: Callable[[int], None], n: int, stop: Optional[threading.Event] = None) -> None:
    """``work(0)`` here and ``work(1)`` .. ``work(n - 1)`` in threads, all joined; the error
    of the lowest-numbered failed one re-raised. ``stop``, when given, is set at the first
    error and when the wait is interrupted, for works that check it to end early."""
    errors: List[Optional[BaseException]] = [None] * n

    def run(w: int) -> None:
        try:
            work(w)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the caller's thread)
            errors[w] = exc
            if stop is not None:
                stop.set()

    helpers = [threading.Thread(target=run, args=(w,), name=f"gpk-stats-{w}", daemon=True)
               for w in range(1, n)]
    for t in helpers:
        t.start()
    try:
        run(0)
        for t in helpers:
            t.join()
    finally:
        if stop is not None:
            stop.set()  # an interrupted join: the helpers stop at their next chunk
        for t in helpers:
            t.join()
    for exc in errors:
        if exc is not None:
            raise exc


def memory_chunks(a: _onp.ndarray) -> Callable[[int, int], Iterator[_onp.ndarray]]:
    """The ``chunks`` of :func:`chunk_stats` for a flat in-memory array: views, no copies.

    >>> import numpy as np
    >>> [c.size for c in memory_chunks(np.zeros(CHUNK + 3))(0, 2)]
    [262144, 3]
    """
    return lambda lo, hi: (a[j * CHUNK:(j + 1) * CHUNK] for j in range(lo, hi))


def _sample_step(n: int, hist_sample: Optional[int]) -> int:
    return 1 if hist_sample is None or n <= hist_sample else -(-n // hist_sample)


def _sample_steps(k: _onp.ndarray, hist_sample: Optional[int]) -> _onp.ndarray:
    """:func:`_sample_step` of every size in ``k``."""
    if hist_sample is None:
        return _onp.ones(k.size, _onp.intp)
    return _onp.where(k > hist_sample, -(-k // hist_sample), 1)


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
    of threads, and this kernel on values in memory and ``inspect --stats`` (a file read
    chunk by chunk) agree to the last bit. ``gpk.stats`` measures small arrays many at a
    time (:func:`cpu_arrays_stats`) and, with numba, every array by the compiled loops; it
    agrees with this kernel up to float rounding (~1e-7 relative in mean, std and l2;
    counts, extremes and histograms exactly). The histogram counts every ``step``-th value
    (``hist_sample`` of them, or all), picked up as the chunks go by unless ``sample``
    (those very values) is given.

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
    parts, picks = [], []
    for run in runs:
        for part, piece in run:
            parts.append(part)
            if piece is not None:
                picks.append(piece)
    if sample is None:
        sample = _onp.concatenate(picks) if picks else _onp.empty(0, dtype)
    return _finish(size, dtype, parts, sample, bins)


def _finish(size: int, dtype: _onp.dtype, parts: Iterable["_Part"], sample: _onp.ndarray,
            bins: int) -> ParamStats:
    """The statistics from the chunks' parts (merged in chunk order) and the histogram sample."""
    acc = _Acc()
    for part in parts:
        acc.add(part)
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


def _numpy_range(lo: float, hi: float, t: Any) -> Optional[Tuple[float, float]]:
    """The range ``numpy.histogram`` bins ``[lo, hi]`` of values of type ``t`` over (widened by
    0.5 each way for equal values), or None where it cannot (see :func:`_histogram`)."""
    a, b = (lo, hi) if lo < hi else (lo - 0.5, hi + 0.5)
    if -1e37 < a and b < 1e37 and t is not _onp.float16:  # no overflow (errstate costs ~5 us)
        width = float(t(b) - t(a))
    else:
        with _onp.errstate(over="ignore", invalid="ignore"):
            width = float(t(b) - t(a))
    return (a, b) if a < b and 2.0 ** -60 <= width < math.inf and b - a < math.inf else None


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
    span = _numpy_range(lo, hi, sample.dtype.type)
    if span is not None:
        if compiled(load=False) is None:
            return _onp.histogram(sample, bins=bins, range=(lo, hi))
        one = _onp.ones(1, _onp.intp)
        counts, edges = _segment_histograms(_onp.ascontiguousarray(sample), 0 * one, sample.size * one, one,
                                            _onp.array([span[0]]), _onp.array([span[1]]), bins)
        return counts[0], edges[0]
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
    stop = threading.Event()  # the other runs end at their next chunk once one fails
    runs: List[Any] = [None] * (len(bounds) - 1)

    def work(w: int) -> None:
        runs[w] = _measure_run(size, dtype, chunks, bounds[w], bounds[w + 1], step, stop)

    _in_threads(work, len(runs), stop)
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


_NO_SCRATCH = _onp.empty(0)


class _Kernel:
    """Measures chunks of one float type: by the C kernel where it is built
    (:mod:`.stats_native`), else by numpy with one thread's scratch memory (a chunk of
    ones, one of shifted values and one of flags)."""

    def __init__(self, dtype: _onp.dtype):
        from . import stats_native
        self._native = stats_native.kernel(dtype) if dtype in _FAST else None
        self._dtype = dtype
        self._ones = self._flags = _NO_SCRATCH  # the numpy path's scratch, made on its first chunk
        self._buf: Optional[_onp.ndarray] = None

    def measure(self, c: _onp.ndarray) -> _Part:
        k = c.size
        if self._native is not None and c.flags.c_contiguous:
            return _row_part(c, self._native(c))
        if self._ones is _NO_SCRATCH:
            self._ones, self._flags = _onp.ones(CHUNK, self._dtype), _onp.empty(CHUNK, bool)
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


def _compiled_parts(kernels: Any, x: _onp.ndarray, off: _onp.ndarray, k: _onp.ndarray, step: int = 0,
                    sample: Optional[_onp.ndarray] = None) -> List[_Part]:
    """The part of every segment ``x[o:o + k]`` (a chunk) by the compiled loops (numba's)."""
    rows = kernels.parts(x, off, k, step, sample).tolist()
    return [_row_part(x[o:o + n], row) for o, n, row in zip(off.tolist(), k.tolist(), rows)]


def _row_part(c: _onp.ndarray, row: Sequence[float]) -> _Part:
    """Chunk ``c``'s part from its row of the compiled loops (``stats_kernels.parts``, numba's,
    or the C kernel's: min, max, centre, sums of ``v - centre``, of its squares and of
    ``v ** 2``, zeros), made as :func:`_moments_of` makes the rows of many segments; a chunk
    whose sums do not hold (NaN or Inf; float64 squares that could overflow or underflow)
    by :func:`_float64_part`."""
    lo, hi, centre, sd, sq, l2sq, zeros = row
    if not (math.isfinite(sd) and math.isfinite(sq) and math.isfinite(l2sq)):
        return _float64_part(c)
    if c.dtype.itemsize == 8:
        biggest = max(-lo, hi)
        if biggest > _BIG or 0.0 < biggest < 1.0 / _BIG:
            return _float64_part(c)
    k = c.size
    return _Part(k, min(max(centre + sd / k, lo), hi), sq - sd * sd / k, l2sq, lo, hi, int(zeros))


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
    # MXNet finds a value's bin by scanning the bounds up while the value is >= the bound, so
    # for a value equal to the last edge (the largest one always is) it reads past the end
    # of ``bins`` (a segfault when what follows is smaller): an infinite bound there stops
    # the scan, and what lands in that extra bin belongs to the last one (numpy's rule)
    bounds = F.concat(edges, F.ones((1,), ctx=x.context, dtype=x.dtype) * math.inf, dim=0)
    hist, _ = F.histogram(F.where(finite, xs, F.broadcast_like(lo_s, xs)), bins=bounds)
    spread = F.sum(F.square(centred)) - F.square(F.sum(centred)) / F.maximum(count, 1)
    parts = [count, mean, spread, F.sum(F.square(safe)), lo, hi,  # corrected two-pass m2
             F.sum(x == 0), F.sum(F.contrib.isnan(x)), F.sum(F.contrib.isinf(x)), scale]
    flat = F.concat(*[p.reshape(1) for p in parts], hist.astype("float64"), edges,
                    dim=0).asnumpy()
    cnt, mean_, ss, l2sq, lo_, hi_, zeros, nan, inf, sc = (float(v) for v in flat[:10])
    counts = flat[10:10 + bins].astype(_onp.int64)
    counts[-1] += int(flat[10 + bins])  # the values equal to the last edge
    counts[0] -= int(n - cnt)  # non-finite values were parked in the first bin
    if cnt == 0:
        return ParamStats(state="ok", size=n, zero_fraction=0.0, nan=int(nan), inf=int(inf),
                          hist=(0,) * bins)
    with _onp.errstate(over="ignore"):
        edges_ = _onp.clip(flat[11 + bins:] * sc, -_FMAX, _FMAX)
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


# --------------------------------------------------------------------------- many small arrays

#: Values per batch of :func:`cpu_arrays_stats` (1 MiB of float32: the copy and every pass
#: over it stay in L2). An array of more values is measured alone by :func:`array_stats`,
#: where its values, not its count, are the cost.
BATCH = CHUNK
#: Batched dtypes -> the type they are measured in (float16 in float64, as :func:`chunk_stats`).
_BATCH_NAMES = {t: _onp.dtype(t).name for t in (_onp.float16, _onp.float32, _onp.float64)}
#: From this many values on, an array is copied into the batch by numpy from a zero-copy
#: view: MXNet copies it with OpenMP threads (``MXNET_CPU_PARALLEL_SIZE``, 200,000), which
#: a busy machine slows down many times.
_VIEW_COPY = 1 << 16


def cpu_arrays_stats(items: Sequence[Tuple[Any, int]], bins: int,
                     hist_sample: Optional[int]) -> List[ParamStats]:
    """Statistics of many dense CPU MXNet arrays, each what :func:`array_stats` gives for it.

    ``items`` are ``(array, size)`` pairs; the size is the caller's (a Parameter's shape
    says it: asking MXNet costs more than measuring a small array, and MXNet refuses the
    copy when it is wrong). Arrays of float16/32/64 with at most :data:`BATCH` values are
    copied a batch at a time into one buffer (``MXNDArraySyncCopyToCPU``, which also reads
    MKL-DNN layouts; numpy from a zero-copy view past :data:`_VIEW_COPY` values) and
    measured together by :func:`_batch_stats`: a fixed number of numpy calls per batch,
    not per array. With the compiled loops, arrays of fewer than :data:`_LOCATED` values
    are read at their addresses instead (:func:`_located_stats`: no copy, no Python
    object per array) and larger ones in place at theirs, in a second thread (an MKL-DNN
    layout turned into the default one where it is, as MXNet's ``MXNDArrayGetData``
    does). Every other array, and any array whose values the batch cannot measure in
    their own type (NaN, Inf, squares past the type, denormals, a range too narrow to
    bin), goes through :func:`host_stats` or :func:`array_stats`. The
    answers equal :func:`array_stats`'s up to float rounding (the sums are pairwise, not
    BLAS dot products); counts, extremes and histograms are the same.

    >>> import mxnet as mx
    >>> out = cpu_arrays_stats([(mx.nd.ones(3), 3), (mx.nd.array([0, 1, 2, 5]), 4)], 2, None)
    >>> [(s.mean, s.max, s.hist) for s in out]
    [(1.0, 1.0, (0, 3)), (2.0, 5.0, (3, 1))]
    """
    kernels = compiled()
    if kernels is not None:
        return _compiled_arrays_stats(kernels, items, bins, hist_sample)
    out: List[Optional[ParamStats]] = [None] * len(items)
    small = []
    for i, (arr, size) in enumerate(items):
        if 0 < size <= BATCH and arr.dtype in _BATCH_NAMES:
            small.append((i, arr, size))
        else:
            out[i] = array_stats(arr, bins, hist_sample)
    # one thread: MXNet reads MKL-DNN layouts (conv weights after a forward) with OpenMP
    # threads, which threads of ours would oversubscribe (5x slower on DenseNet-201)
    _copied_stats(small, bins, hist_sample, out)
    return out  # type: ignore[return-value]  # every slot is filled above


def _copied_stats(members: List[Tuple[int, Any, int]], bins: int, hist_sample: Optional[int],
                  out: List[Optional[ParamStats]]) -> None:
    """Measure ``(slot, array, size)`` members of the batched dtypes a batch at a time:
    copied into a buffer per dtype (:func:`_copy_batch`), measured by :func:`_batch_stats`."""
    groups: Dict[str, List[Tuple[int, Any, int]]] = {}
    for member in members:
        groups.setdefault(_BATCH_NAMES[member[1].dtype], []).append(member)
    for name, group in groups.items():
        buf = _onp.empty(min(BATCH, sum(m[2] for m in group)), name)
        batch: List[Tuple[int, Any, int]] = []
        filled = 0
        for member in group:
            if filled + member[2] > BATCH:
                _measure_batch(buf, batch, bins, hist_sample, out)
                batch, filled = [], 0
            batch.append(member)
            filled += member[2]
        _measure_batch(buf, batch, bins, hist_sample, out)


#: Arrays of fewer values are measured where they are, through their addresses
#: (:func:`_located_stats`); larger ones in place too, chunk by chunk (:class:`_InPlace`),
#: in a second thread.
_LOCATED = 1 << 16


def _compiled_arrays_stats(kernels: Any, items: Sequence[Tuple[Any, int]], bins: int,
                           hist_sample: Optional[int]) -> List[ParamStats]:
    """:func:`cpu_arrays_stats` by the compiled loops: arrays found by compiled calls into
    MXNet's C API (:func:`_locate`), the larger ones first, so that a second thread reads
    those in place while this one finds and measures the arrays of fewer than
    :data:`_LOCATED` values at their addresses (then joins the second one)."""
    out: List[Optional[ParamStats]] = [None] * len(items)
    small_members: List[Tuple[int, Any, int]] = []
    large: List[Tuple[int, Any, int]] = []
    for i, (arr, size) in enumerate(items):
        if size <= 0:
            out[i] = array_stats(arr, bins, hist_sample)
        else:
            (small_members if size < _LOCATED else large).append((i, arr, size))
    addr, code = _locate(kernels, large) if large else (_onp.zeros(0, _onp.int64),) * 2
    views = []
    for m, a, c in zip(large, addr.tolist(), code.tolist()):
        if c in (0, 1):
            views.append((m[0], _at_address(a, m[2], c)))
        else:  # another dtype, sparse, on a GPU, not that size
            out[m[0]] = array_stats(m[1], bins, hist_sample)
    views.sort(key=lambda iv: -iv[1].size)  # largest first: the threads finish together
    jobs = _InPlace(views, hist_sample)
    todo = iter(range(len(jobs.views)))  # next() from two threads: each index once
    lock = threading.Lock()
    done = [0]

    def in_place() -> None:
        for j in todo:
            jobs.measure(kernels, j, bins)
            with lock:
                done[0] += 1
                last = done[0] == len(jobs.views)
            if last:  # their histograms in one call
                jobs.finish(bins, out)

    def work(w: int) -> None:
        if w == 0 and small_members:
            _located_stats(kernels, small_members, *_locate(kernels, small_members), bins, hist_sample, out)
        in_place()

    _in_threads(work, WORKERS if (small_members and jobs.views) or len(jobs.views) > 1 else 1)
    if done[0] != len(jobs.views):  # never: an error would have been raised
        raise RuntimeError("stats: arrays left unmeasured")
    return out  # type: ignore[return-value]  # every slot is filled above


_MX_FNS: Optional[Tuple[_onp.ndarray, bool]] = None


def _mx_functions() -> Tuple[_onp.ndarray, bool]:
    """The addresses of the MXNet C functions ``stats_kernels.locate`` calls, and whether
    MXNet reports shapes in int64 (a large-tensor build)."""
    global _MX_FNS
    if _MX_FNS is None:
        import ctypes

        from .compat import mx
        wide = bool(getattr(mx.ndarray.ndarray, "_int64_enabled", lambda: False)())
        names = ("MXNDArrayWaitToRead", "MXNDArrayGetStorageType", "MXNDArrayGetContext", "MXNDArrayGetDType",
                 "MXNDArrayGetShapeEx64" if wide else "MXNDArrayGetShapeEx", "MXNDArrayGetData")
        fns = [ctypes.cast(getattr(mx.base._LIB, n), ctypes.c_void_p).value for n in names]
        _MX_FNS = (_onp.array(fns, _onp.int64), wide)
    return _MX_FNS


#: MXNet's dtype codes of the types the compiled loops measure at an address.
_LOCATED_TYPES = ((0, _onp.dtype(_onp.float32)), (1, _onp.dtype(_onp.float64)))


def _locate(kernels: Any, members: List[Tuple[int, Any, int]]) -> Tuple[_onp.ndarray, _onp.ndarray]:
    """Each ``(slot, array, size)`` member's address and code, by one compiled call into
    MXNet's C API (``stats_kernels.locate``): each array waited for, an MKL-DNN layout turned
    into the default one in place (MXNet's ``MXNDArrayGetData`` does, as ``asnumpy`` reads
    it), and its code: 0 float32, 1 float64, MXNet's code of another dtype, or -1 for an
    array that is not dense, not in host memory or not of the size given."""
    fns, wide = _mx_functions()
    handles = _onp.array([m[1].handle.value for m in members], _onp.int64)
    sizes = _onp.array([m[2] for m in members], _onp.int64)
    return kernels.locate(fns, handles, sizes, wide)


class _Address:
    """A numpy array interface over ``size`` values of ``dtype`` at an address (read-only)."""

    __slots__ = ("__array_interface__",)

    def __init__(self, addr: int, size: int, dtype: _onp.dtype):
        self.__array_interface__ = dict(version=3, data=(addr, True), shape=(size,), typestr=dtype.str)


def _at_address(addr: int, size: int, code: int) -> _onp.ndarray:
    """A read-only numpy view of a located array (code 0 float32, 1 float64): its values where
    MXNet keeps them, for as long as the array lives and is not written."""
    return _onp.asarray(_Address(addr, size, _LOCATED_TYPES[code][1]))


def _located_stats(kernels: Any, members: List[Tuple[int, Any, int]], addr: _onp.ndarray, code: _onp.ndarray,
                   bins: int, hist_sample: Optional[int], out: List[Optional[ParamStats]]) -> None:
    """Measure ``(slot, array, size)`` members at their addresses ``addr`` (:func:`_locate`):
    :func:`_segments_stats` of each dtype's arrays at once, read through those addresses.
    What that cannot measure (other dtypes, NaN or Inf, a size that is not the array's) is
    copied in batches or measured alone.
    """
    sizes = _onp.array([m[2] for m in members], _onp.int64)
    left = _onp.ones(len(members), bool)
    steps = _sample_steps(sizes, hist_sample)
    for c, dtype in _LOCATED_TYPES:  # one compiled pass per dtype: no buffer, nothing to cut in groups
        where = _onp.flatnonzero(code == c)
        if where.size:
            _located_group(kernels, members, where, addr, sizes, steps, dtype, bins, hist_sample, out, left)
    rest = [members[j] for j in _onp.flatnonzero(left).tolist()]
    for i, arr, _size in rest:
        if arr.dtype not in _BATCH_NAMES:
            out[i] = array_stats(arr, bins, hist_sample)
    _copied_stats([m for m in rest if m[1].dtype in _BATCH_NAMES], bins, hist_sample, out)


def _located_group(kernels: Any, members: List[Tuple[int, Any, int]], sel: _onp.ndarray, addr: _onp.ndarray,
                   sizes: _onp.ndarray, steps: _onp.ndarray, dtype: _onp.dtype, bins: int,
                   hist_sample: Optional[int], out: List[Optional[ParamStats]], left: _onp.ndarray) -> None:
    """Measure the members ``sel`` (all of ``dtype``) at their addresses: their rows and
    histograms in one compiled pass (``stats_kernels.stats_at``: each array binned while it
    is in cache, as :func:`_segment_histograms` bins a sample), then :func:`_segments_stats`."""
    k, step = sizes[sel], steps[sel]
    at = addr[sel]
    rows, counts, edges, binned = kernels.stats_at(at, k, step, dtype, bins, _BIG)
    with _onp.errstate(over="ignore", invalid="ignore", under="ignore"):
        moments = _moments_of(rows, k, dtype.itemsize == 8)

    def histogram(idx: _onp.ndarray, st: _onp.ndarray, first: _onp.ndarray, last: _onp.ndarray
                  ) -> Tuple[_onp.ndarray, _onp.ndarray]:
        if binned[idx].all():  # the kernel binned what _segments_stats bins: always, by the same tests
            return counts[idx], edges[idx]
        code = 0 if dtype.itemsize == 4 else 1  # never comes here: the same tests, in Python
        sample = _onp.concatenate([_at_address(int(a), int(n), code)[::s] for a, n, s in zip(at[idx], k[idx], st)])
        per = -(-k[idx] // st)
        return _segment_histograms(sample, _starts(per), per, _onp.ones_like(per), first, last, bins)
    res = _segments_stats(moments, k, dtype.type, bins, hist_sample, histogram)
    for j, rec in zip(sel.tolist(), res):
        if rec is not None:
            out[members[j][0]] = rec
            left[j] = False


class _InPlace:
    """Arrays measured in place by the compiled loops, one call each (any thread), finished
    together: one histogram call for all their samples, which the loops pick up into one
    buffer per dtype while each chunk is in cache. The answer is :func:`host_stats`'s, to
    the last bit (the same parts, merged in the same order, binned by the same arithmetic).
    """

    def __init__(self, views: List[Tuple[int, _onp.ndarray]], hist_sample: Optional[int]):
        self.views = views
        self.hist_sample = hist_sample
        self.rows: List[Any] = [None] * len(views)     # per job: parts, or a finished ParamStats
        self.samples: Dict[_onp.dtype, _onp.ndarray] = {}
        self.slots: List[Tuple[int, int, int]] = []  # per job: step, first sample, sample count
        used: Dict[_onp.dtype, int] = {}
        for _i, view in views:
            n = view.size
            step = _sample_step(n, hist_sample)
            at, count = used.get(view.dtype, 0), -(-n // step)
            if step > 1:  # else the array itself is its sample (host_stats)
                used[view.dtype] = at + count
            self.slots.append((step, at, count))
        for dtype, total in used.items():
            self.samples[dtype] = _onp.empty(total, dtype)

    def measure(self, kernels: Any, j: int, bins: int) -> None:
        view = self.views[j][1]
        step, at, count = self.slots[j]
        if step == 1:
            self.rows[j] = host_stats(view, bins, self.hist_sample, workers=1)  # threads enough already
            return
        n = view.size
        off = _onp.arange(0, n, CHUNK, dtype=_onp.intp)
        k = _onp.minimum(n - off, CHUNK)
        self.rows[j] = _compiled_parts(kernels, view, off, k, step, self.samples[view.dtype][at:at + count])

    def finish(self, bins: int, out: List[Optional[ParamStats]]) -> None:
        plain: Dict[_onp.dtype, List[Tuple[int, _Acc, float, float, int, int]]] = {}
        for (i, view), (step, at, count), rows in zip(self.views, self.slots, self.rows):
            if isinstance(rows, ParamStats):
                out[i] = rows
                continue
            acc = _Acc()
            for part in rows:
                acc.add(part)
            span = _numpy_range(acc.lo, acc.hi, view.dtype.type)
            if acc.count == view.size and acc.scale == 1.0 and span is not None:
                plain.setdefault(view.dtype, []).append((i, acc, span[0], span[1], at, count))
            else:  # NaN, Inf or a range numpy cannot bin: as host_stats finishes it
                out[i] = _finish(view.size, view.dtype, rows, self.samples[view.dtype][at:at + count], bins)
        for dtype, group in plain.items():
            first, last = _onp.array([g[2] for g in group]), _onp.array([g[3] for g in group])
            starts, sizes = (_onp.array([g[j] for g in group], _onp.intp) for j in (4, 5))
            counts, edges = _segment_histograms(self.samples[dtype], starts, sizes, _onp.ones_like(starts), first,
                                                last, bins)
            for (i, acc, _a, _b, _at, n), hist, edge in zip(group, counts.tolist(), edges.tolist()):
                size = acc.count  # every value (finite)
                out[i] = _made(
                    state="ok", size=size, mean=acc.mean, std=math.sqrt(max(acc.m2 / size, 0.0)), min=acc.lo,
                    max=acc.hi, l2=math.sqrt(max(acc.l2sq, 0.0)), zero_fraction=acc.zeros / size, nan=0, inf=0,
                    hist=tuple(hist), edges=tuple(edge), hist_values=n)


def _measure_batch(buf: _onp.ndarray, batch: List[Tuple[int, Any, int]], bins: int,
                   hist_sample: Optional[int], out: List[Optional[ParamStats]]) -> None:
    """Copy ``batch``'s arrays into ``buf``, measure them, put each answer in its slot."""
    _measure_copied(_copy_batch(buf, batch, bins, hist_sample, out), bins, hist_sample, out)


_Copied = Tuple[_onp.ndarray, List[int], List[int]]  # the values, their slots, their sizes


def _copy_batch(buf: _onp.ndarray, batch: List[Tuple[int, Any, int]], bins: int,
                hist_sample: Optional[int], out: List[Optional[ParamStats]]) -> _Copied:
    """Copy ``batch``'s arrays into ``buf`` one after the other (an array MXNet will not copy
    at the size given is measured alone, its answer put in its slot now)."""
    from .compat import mx  # here: the file layer's statistics need no mxnet
    copy, check = _sync_copy(), mx.base.check_call
    base, item = buf.ctypes.data, buf.itemsize
    kept, sizes = [], []
    at = 0
    for i, arr, size in batch:
        try:
            if size >= _VIEW_COPY:
                view = _host_view(arr)
                if view.size != size or view.dtype != buf.dtype:
                    raise ValueError("not the size or dtype given")
                buf[at:at + size] = view
            else:
                check(copy(arr.handle.value, base + at * item, size))
        except (mx.base.MXNetError, ValueError):  # a size that is not the array's: measured alone
            out[i] = array_stats(arr, bins, hist_sample)
            continue
        kept.append(i)
        sizes.append(size)
        at += size
    return buf[:at], kept, sizes


_COPY: Any = None


def _sync_copy() -> Any:
    """``MXNDArraySyncCopyToCPU(handle, address, size)`` taking plain ints (a prototype of its
    own: converting the arguments is most of a ctypes call's cost for a small array)."""
    global _COPY
    if _COPY is None:
        import ctypes

        from .compat import mx
        proto = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
        _COPY = proto(("MXNDArraySyncCopyToCPU", mx.base._LIB))
    return _COPY


def _measure_copied(copied: _Copied, bins: int, hist_sample: Optional[int],
                    out: List[Optional[ParamStats]]) -> None:
    """Measure a copied batch (any thread), each answer in its slot."""
    src, kept, sizes = copied
    if not kept:
        return
    x = src if src.dtype in _FAST else src.astype(_onp.float64)
    k = _onp.array(sizes, _onp.intp)
    for i, rec, lo, size in zip(kept, _batch_stats(x, k, bins, hist_sample), _starts(k).tolist(),
                                sizes):
        out[i] = rec if rec is not None else host_stats(src[lo:lo + size], bins, hist_sample, workers=1)


def _starts(k: _onp.ndarray) -> _onp.ndarray:
    off = _onp.zeros(k.size, _onp.intp)
    _onp.cumsum(k[:-1], out=off[1:])
    return off


def _numpy_moments(x: _onp.ndarray, off: _onp.ndarray, k: _onp.ndarray) -> Tuple[_onp.ndarray, ...]:
    """Each segment's mean, m2, l2sq, lo, hi (float64) and whether the batch can measure it, by
    numpy's segment reductions (pairwise sums) and a shifted pass where the mean is far from 0."""
    kf = k.astype(_onp.float64)
    T = x.dtype.type
    f64 = _onp.float64
    s = _onp.add.reduceat(x, off).astype(f64)
    tmp = _onp.multiply(x, x)
    ss = _onp.add.reduceat(tmp, off).astype(f64)
    lo = _onp.minimum.reduceat(x, off).astype(f64)
    hi = _onp.maximum.reduceat(x, off).astype(f64)
    biggest = _onp.maximum(-lo, hi)
    small = _SMALL32 if x.dtype.itemsize == 4 else 1.0 / _BIG
    good = (_onp.isfinite(s) & _onp.isfinite(ss) & (biggest <= _BIG)
            & ~((biggest > 0.0) & (biggest < small)))
    mean = s / kf
    m2 = ss - s * s / kf
    l2sq = ss.copy()
    shifted = _onp.flatnonzero(good & ~(mean * mean <= 0.25 * (ss / kf - mean * mean)))
    if shifted.size:  # far from 0: shift by the mean (in the values' type), pairwise sums
        ks = k[shifted]
        shift = mean[shifted].astype(T)
        part = _onp.concatenate([x[o:o + n] for o, n in zip(off[shifted].tolist(), ks.tolist())])
        t = _onp.subtract(part, _onp.repeat(shift, ks), out=part)
        at = _starts(ks)
        st = _onp.add.reduceat(t, at).astype(f64)
        _onp.multiply(t, t, out=t)
        sst = _onp.add.reduceat(t, at).astype(f64)
        sh, kfs = shift.astype(f64), kf[shifted]
        good[shifted] = _onp.isfinite(sst)
        mean[shifted] = sh + st / kfs
        m2[shifted] = sst - st * st / kfs
        l2sq[shifted] = sst + 2 * sh * st + kfs * sh * sh
    return mean, m2, l2sq, lo, hi, good


def _compiled_moments(kernels: Any, x: _onp.ndarray, off: _onp.ndarray, k: _onp.ndarray,
                      step: int = 0, sample: Optional[_onp.ndarray] = None) -> Tuple[_onp.ndarray, ...]:
    """Each segment's mean, m2, l2sq, lo, hi (float64), whether the compiled sums hold, and its
    zeros, by :func:`~gluon_params_kit._core.stats_kernels.parts` (``step`` and ``sample``:
    the histogram's sample, picked up on the way)."""
    return _moments_of(kernels.parts(x, off, k, step, sample), k, x.dtype.itemsize == 8)


def _moments_of(rows: _onp.ndarray, k: _onp.ndarray, wide: bool) -> Tuple[_onp.ndarray, ...]:
    """:func:`_compiled_moments` from the rows of ``stats_kernels.parts`` (``wide``: float64 values).

    The sums do not hold for a segment with NaN or Inf (they are not finite), nor for
    float64 values past :data:`_BIG` or below its inverse (squares that overflow or
    underflow): those are measured by :func:`_float64_part`.
    """
    lo, hi, centre, sd, sq, l2sq, zeros = rows.T
    good = _onp.isfinite(sd) & _onp.isfinite(sq) & _onp.isfinite(l2sq)
    if wide:
        with _onp.errstate(invalid="ignore"):  # NaN extremes of a segment with NaN
            biggest = _onp.maximum(-lo, hi)
            good &= (biggest <= _BIG) & ~((biggest > 0.0) & (biggest < 1.0 / _BIG))
    kf = k.astype(_onp.float64)
    if good.all():  # finite sums of values within _BIG: no overflow below (errstate costs ~5 us)
        return _onp.minimum(_onp.maximum(centre + sd / kf, lo), hi), sq - sd * sd / kf, l2sq, lo, hi, good, zeros
    with _onp.errstate(over="ignore", invalid="ignore"):
        mean = _onp.minimum(_onp.maximum(centre + sd / kf, lo), hi)
        m2 = sq - sd * sd / kf
    return mean, m2, l2sq, lo, hi, good, zeros


def _batch_stats(x: _onp.ndarray, k: _onp.ndarray, bins: int, hist_sample: Optional[int]
                 ) -> List[Optional[ParamStats]]:
    """The statistics of segments ``k`` (lengths, each >= 1, at most :data:`CHUNK`) of ``x``.

    The kernel of :class:`_Kernel` for one chunk, on every segment at once: with numba
    (:func:`compiled`), its two compiled passes per segment; else sums, sums of squares and
    extremes by segment reductions (``reduceat``, pairwise sums), the shifted pass for
    segments whose mean is far from 0 beside their spread, and zeros counted where a
    segment's range holds 0. Then one histogram pass bins every segment's sample
    (``numpy.histogram``'s own float32 arithmetic and edges, per segment). A segment the
    kernel would measure in float64 (NaN, Inf, squares that overflow or underflow) or whose
    range numpy cannot bin gets None.
    """
    off = _starts(k)
    kernels = compiled()
    with _onp.errstate(over="ignore", invalid="ignore", under="ignore"):
        if kernels is not None:
            moments = _compiled_moments(kernels, x, off, k)
        else:
            mean, m2, l2sq, lo, hi, good = _numpy_moments(x, off, k)
            zeros = _onp.zeros(k.size, _onp.intp)
            if (good & (lo <= 0.0) & (hi >= 0.0)).any():  # else no value can be zero
                at = _onp.flatnonzero(x == 0)
                if at.size:
                    zeros = _onp.bincount(_onp.searchsorted(off, at, "right") - 1, minlength=k.size)
            moments = (mean, m2, l2sq, lo, hi, good, zeros)
    return _segments_stats(moments, k, x.dtype.type, bins, hist_sample,
                           lambda idx, step, first, last: _segment_histograms(
                               x, off[idx], k[idx], step, first, last, bins))


def _segments_stats(moments: Tuple[_onp.ndarray, ...], k: _onp.ndarray, T: Any, bins: int,
                    hist_sample: Optional[int], histogram: Callable[..., Tuple[_onp.ndarray, _onp.ndarray]]
                    ) -> List[Optional[ParamStats]]:
    """Each segment's ParamStats from its ``moments`` (mean, m2, l2sq, lo, hi, whether they
    hold, zeros) and ``histogram(idx, step, first, last)`` (counts and edges of the segments
    ``idx``); None for a segment whose moments do not hold or whose range numpy cannot bin."""
    mean, m2, l2sq, lo, hi, good, zeros = moments
    kf = k.astype(_onp.float64)
    with _onp.errstate(over="ignore", invalid="ignore", under="ignore"):
        # numpy.histogram's range: [lo, hi], widened by 0.5 each way for equal values
        first = _onp.where(lo < hi, lo, lo - 0.5)
        last = _onp.where(lo < hi, hi, hi + 0.5)
        width = (last.astype(T) - first.astype(T)).astype(_onp.float64)
        good = good & (first < last) & (width >= 2.0 ** -60) & (width < math.inf) & (last - first < math.inf)
        # the histogram: each good segment's sample (every step-th value), binned at once
        step = _sample_steps(k, hist_sample)
        idx = _onp.flatnonzero(good)
        # a segment of equal values (a BatchNorm's gamma, beta, running mean and variance):
        # every sampled value lands where its first does, so that one is binned for them all
        same = lo[idx] == hi[idx]
        counts, edges = histogram(idx, _onp.where(same, k[idx], step[idx]), first[idx], last[idx])
        if same.any():
            counts[same] *= -(-k[idx][same] // step[idx][same])[:, None]
        mean = (mean * kf) / kf  # as _Acc merges a single part
        std = _onp.sqrt(_onp.maximum(_onp.maximum(m2, 0.0) / kf, 0.0))
        l2 = _onp.sqrt(_onp.maximum(l2sq, 0.0))
    res: List[Optional[ParamStats]] = [None] * k.size
    keep, copies = _kinds_of_same(same, idx, (kf, lo, mean, std, l2, zeros))
    at = idx[keep]
    cols = (c[at].tolist() for c in (k, mean, std, lo, hi, l2, zeros.astype(_onp.intp)))
    for j, size, mu, sd, a, b, norm, z, hist, edge, n in zip(
            at.tolist(), *cols, counts[keep].tolist(), edges[keep].tolist(), counts[keep].sum(axis=1).tolist()):
        res[j] = _made(state="ok", size=size, mean=mu, std=sd, min=a, max=b, l2=norm, zero_fraction=z / size,
                       nan=0, inf=0, hist=tuple(hist), edges=tuple(edge), hist_values=n)
    for j, r in copies:
        res[j] = res[r]
    return res


def _kinds_of_same(same: _onp.ndarray, idx: _onp.ndarray, columns: Sequence[_onp.ndarray]
                   ) -> Tuple[_onp.ndarray, List[Tuple[int, int]]]:
    """Which of the segments ``idx`` :func:`_segments_stats` builds a ParamStats for, and
    ``(segment, segment whose ParamStats it shares)`` for the others.

    Equal-valued segments (``same``) of one size, value and sums get the same numbers by the
    same arithmetic, histogram and all: one frozen ParamStats serves them all (DenseNet-201
    has 805 BatchNorm vectors of about 120 kinds). Their ``columns`` are compared by their
    bits, so -0.0 is not 0.0.
    """
    keep = ~same
    if _onp.count_nonzero(same) < 2:
        return _onp.ones(idx.size, bool), []
    sp = _onp.flatnonzero(same)
    bits = _onp.stack([c[idx[sp]].astype(_onp.float64) for c in columns]).view(_onp.int64)
    order = _onp.lexsort(bits)  # stable: the first of equal ones leads its run
    run = bits[:, order]
    starts = _onp.ones(sp.size, bool)
    starts[1:] = (run[:, 1:] != run[:, :-1]).any(axis=0)
    rep = _onp.empty_like(sp)
    rep[order] = sp[order[starts]][_onp.cumsum(starts) - 1]
    keep[rep] = True
    shared = rep != sp
    return keep, list(zip(idx[sp[shared]].tolist(), idx[rep[shared]].tolist()))


#: Segments with samples of at least this many values are binned by in-place ufunc calls
#: of their own; smaller ones together, each value's segment constants gathered.
_LOOP_SAMPLE = 2048


def _sample_of(x: _onp.ndarray, off: _onp.ndarray, k: _onp.ndarray, step: _onp.ndarray,
               per: _onp.ndarray, ids: Optional[_onp.ndarray]
               ) -> Tuple[_onp.ndarray, Optional[_onp.ndarray]]:
    """The sampled values of the segments (every ``step``-th), one after the other, and
    each value's segment id (from ``ids``; None without ``ids``)."""
    pieces: List[_onp.ndarray] = []
    run_lo = run_hi = 0
    for o, n, st in zip(off.tolist(), k.tolist(), step.tolist()):
        if st == 1 and o == run_hi:  # runs of whole segments: one slice
            run_hi = o + n
            continue
        if run_hi > run_lo:
            pieces.append(x[run_lo:run_hi])
        if st == 1:
            run_lo, run_hi = o, o + n
        else:
            pieces.append(x[o:o + n:st])
            run_lo = run_hi = o + n
    if run_hi > run_lo:
        pieces.append(x[run_lo:run_hi])
    sample = pieces[0] if len(pieces) == 1 else _onp.concatenate(pieces)
    if ids is None:
        return sample, None
    seg = _onp.zeros(sample.size, _onp.intp)
    seg[_starts(per)[1:]] = _onp.diff(ids)
    seg[0] = ids[0]
    _onp.cumsum(seg, out=seg)
    return sample, seg


def _segment_histograms(x: _onp.ndarray, off: _onp.ndarray, k: _onp.ndarray, step: _onp.ndarray,
                        first: _onp.ndarray, last: _onp.ndarray, bins: int
                        ) -> Tuple[_onp.ndarray, _onp.ndarray]:
    """``numpy.histogram(x[o:o + k:step], bins, range=(first, last))`` for every segment.

    numpy's fast path for equal bins, on all segments at once: edges by ``linspace``'s
    arithmetic in the values' type, and each value's bin estimate ``(v - first) * norm``
    in that type (by ufunc calls of its own for a big sample, with gathered constants for
    many small ones), written in float64 plus ``bins`` times its segment's number, so
    that one ``bincount`` counts every segment's bins. Where numpy
    would step a value one bin down or up (it falls outside its estimated bin's edges,
    which happens only within rounding of an edge) the value is checked against numpy's
    own edges; so the counts and edges are numpy's.
    """
    g = k.size
    T = x.dtype.type
    # numpy.linspace(first, last, bins + 1, dtype=T) of each segment, by its own arithmetic
    y = _onp.arange(bins + 1, dtype=_onp.float64)[:, None] * ((last - first) / bins)
    y += first
    y[-1] = last
    edges = _onp.ascontiguousarray(y.T, dtype=T)
    per = -(-k // step)
    if g == 0 or int(per.sum()) == 0:
        return _onp.zeros((g, bins), _onp.intp), edges
    norm = bins / (last - first)
    # within rounding of an integer: a few ulps of the estimate, the edges' own rounding
    # (half an ulp of the largest edge, in bins), the offset's rounding for float64 values
    ulp = _onp.spacing(_onp.maximum(_onp.abs(first), _onp.abs(last)).astype(T)).astype(_onp.float64)
    kernels = compiled(load=False)
    if kernels is not None:  # numpy's arithmetic, value by value, in one compiled pass
        near = 4.0 * ulp * norm + bins * 2.0 ** -20
        return kernels.histograms(x, off, k, step, first.astype(T), norm.astype(T), near, edges), edges
    tol = 4.0 * float(_onp.max(ulp * norm)) + bins * 2.0 ** -20
    first_t, norm_t = first.astype(T), norm.astype(T)
    flat = edges.reshape(-1)
    keys = []
    for part in (_onp.flatnonzero(per >= _LOOP_SAMPLE), _onp.flatnonzero(per < _LOOP_SAMPLE)):
        if not part.size:
            continue
        c = per[part]
        looped = bool(c[0] >= _LOOP_SAMPLE)
        sample, seg = _sample_of(x, off[part], k[part], step[part], c, None if looped else part)
        if looped:  # big samples: two in-place ufunc calls per segment
            key = _onp.empty(sample.size, _onp.float64)
            at = 0
            for j, n in zip(part.tolist(), c.tolist()):
                t = _onp.subtract(sample[at:at + n], first_t[j])
                _onp.multiply(t, norm_t[j], out=t)  # numpy's estimate, in the values' type
                _onp.add(t, j * bins, out=key[at:at + n], dtype=_onp.float64)  # exact
                at += n
        else:  # many small samples: each value's segment constants gathered
            assert seg is not None  # made since ids were given
            f = _onp.subtract(sample, first_t[seg])
            f *= norm_t[seg]
            key = _onp.add(f, seg * bins, dtype=_onp.float64)
        near = _onp.subtract(key, _onp.rint(key))
        near = _onp.flatnonzero(_onp.abs(near, out=near) <= tol)
        bin_of = key.astype(_onp.intp)
        if near.size:  # numpy's one-step corrections, against its own edges
            v = sample[near]
            s_ = seg[near] if seg is not None else part[_onp.searchsorted(_starts(c), near, "right") - 1]
            j_ = _onp.minimum(bin_of[near] - s_ * bins, bins - 1)
            row = s_ * (bins + 1)
            j_ -= v < flat[row + j_]
            j_ += (v >= flat[row + j_ + 1]) & (j_ != bins - 1)
            bin_of[near] = s_ * bins + j_
        keys.append(bin_of)
    bin_of = keys[0] if len(keys) == 1 else _onp.concatenate(keys)
    counts = _onp.bincount(bin_of, minlength=g * bins).reshape(g, bins)
    return counts, edges


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
