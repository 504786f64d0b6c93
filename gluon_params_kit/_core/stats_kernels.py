"""Compiled loops behind :mod:`gluon_params_kit._core.stats`, when numba is installed.

numpy needs about twenty passes over a batch of small arrays to measure each one (segment
reductions, a shifted pass, a gathered histogram), and six over every chunk of a large
array; these loops make two passes and a histogram pass over the sampled values, so the
cost of ``stats`` is a few numpy passes per value (issue 33: <= 3 of one numpy pass). They
are compiled once per machine and kept in numba's cache (``cache=True``: a later process
loads them in milliseconds).

numba is optional (the ``fast`` extra): :func:`compiled` returns None without it, or with
``GPK_NUMBA=0`` in the environment, and ``stats`` then runs its numpy kernels, which give
the same counts, extremes and histograms, and the same mean, std and l2 up to float
rounding.

Every loop works on segments ``x[off[s]:off[s] + k[s]]`` of one flat array (a batch of
small arrays copied one after the other, or a large array's chunks), so a small array and a
chunk of a large one go through the very same arithmetic.

- :func:`parts` -- each segment's extremes and zeros (one pass over ordered integer keys of
  the floats' bits: integer min/max vectorize, float ones with their NaN rules do not),
  then sums of ``v - c`` and ``(v - c) ** 2`` around the middle ``c`` of its range (no
  cancellation) while the segment is in cache: in the values' type over blocks of 512
  values in vector lanes (``reassoc``: the order is the compiler's), the blocks' sums in
  float64 (relative error ~1e-7, below the numpy kernel's BLAS sums over whole chunks;
  digits that far may differ between machines). The histogram's sample is picked up on
  the way.
- :func:`histograms` -- ``numpy.histogram(x[o:o + k:step], bins, range)``'s counts, by
  numpy's own arithmetic: the bin estimate ``(v - first) * norm`` in the values' type,
  counted by comparisons, and numpy's one-step corrections where it is near an edge.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import numpy as np

try:
    import numba
except ImportError:  # no `fast` extra: the kit never uses these loops (stats.compiled() is None)
    numba = None


def _njit(**options: Any) -> Callable[[Any], Any]:
    """``numba.njit(**options)``; without numba the plain Python function (the doctests
    still run, slowly)."""
    return numba.njit(**options) if numba is not None else (lambda fn: fn)

__all__ = ["histograms", "locate", "parts", "stats_at", "warm"]  # and numba: None without it

_SUMS = {"reassoc", "nsz"}  # vector lanes for the sums; NaN and Inf keep their meaning
_LANES = 512  # values summed in their own type before the float64 sum (~32 per vector lane)


@_njit(cache=True, nogil=True, fastmath=_SUMS)
def _sums(seg, c):  # pragma: no cover  (compiled; tested through stats)
    """Sums of ``v - c`` and ``(v - c) ** 2`` (``c`` of the values' type): in that type over
    blocks of :data:`_LANES` values (vector lanes), the blocks' sums added in float64."""
    t = seg.dtype.type
    ct = t(c)
    sd = 0.0
    sq = 0.0
    for b0 in range(0, seg.size, _LANES):
        blk = seg[b0:b0 + _LANES]
        bd = t(0)
        bq = t(0)
        for i in range(blk.size):  # indices from 0 up: no negative-index check, so it vectorizes
            d = blk[i] - ct
            bd += d
            bq += d * d
        sd += np.float64(bd)
        sq += np.float64(bq)
    return sd, sq


@_njit(cache=True, nogil=True, fastmath=_SUMS)
def _sums64(seg, c):  # pragma: no cover
    """:func:`_sums` with every term in float64: float32 values whose squares would underflow
    (below 2**-20) or overflow (past 2**60) in their own type."""
    sd = 0.0
    sq = 0.0
    for i in range(seg.size):
        d = np.float64(seg[i]) - c
        sd += d
        sq += d * d
    return sd, sq


@_njit(cache=True, nogil=True)
def _keys(bits, shift, rest, top):  # pragma: no cover
    """(min, max, zeros) of the floats whose bits are ``bits`` (int32 or int64): each float's
    bits map to an integer of the same order (``v ^ ((v >> shift) & rest)``, ``rest`` all
    bits but the sign's, ``top`` the type's largest value), whose min and max vectorize."""
    a = top
    b = -top - 1
    z = 0
    for i in range(bits.size):
        v = bits[i]
        key = v ^ ((v >> shift) & rest)
        a = min(a, key)
        b = max(b, key)
        z += (v & rest) == 0  # 0.0 or -0.0
    return a ^ ((a >> shift) & rest), b ^ ((b >> shift) & rest), z  # the map is its own inverse


@_njit(cache=True, nogil=True)
def _part(seg, bits, ends, pair, out, s):  # pragma: no cover
    """Row ``s`` of :func:`parts` for one segment (``bits``: its values' bits as integers;
    ``ends`` two values of its type, ``pair`` their bits): every path to a row goes here."""
    int_t = bits.dtype.type
    shift = int_t(bits.itemsize * 8 - 1)
    top = int_t(np.iinfo(bits.dtype).max)
    n = seg.size
    pair[0], pair[1], z = _keys(bits, shift, top, top)
    lo, hi = np.float64(ends[0]), np.float64(ends[1])
    c = np.float64(seg.dtype.type(lo * 0.5 + hi * 0.5))  # the middle of the range, in the values' type
    big = max(-lo, hi)
    if bits.itemsize == 4 and not 2.0 ** -20 <= big <= 2.0 ** 60 and big != 0:
        sd, sq = _sums64(seg, c)
    else:
        sd, sq = _sums(seg, c)
    out[s, 0], out[s, 1], out[s, 2], out[s, 3] = lo, hi, c, sd
    out[s, 4], out[s, 5], out[s, 6] = sq, sq + c * (2.0 * sd + n * c), z  # sum v**2 = sum (d + c)**2


@_njit(cache=True, nogil=True)
def _parts(x, bits, off, k, step, sample, out):  # pragma: no cover
    ends = np.empty(2, x.dtype)
    pair = ends.view(bits.dtype)
    for s in range(off.size):
        o, n = off[s], k[s]
        _part(x[o:o + n], bits[o:o + n], ends, pair, out, s)
        if step:  # the histogram's sample (every step-th value of all segments), while in cache
            first = (step - o % step) % step
            if first < n:
                dst = (o + first) // step
                src = x[o + first:o + n:step]
                sample[dst:dst + src.size] = src


def parts(x: np.ndarray, off: np.ndarray, k: np.ndarray, step: int = 0,
          sample: Optional[np.ndarray] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
    """Per segment of float32 or float64 values: min, max, the centre ``c`` (their middle),
    sums of ``v - c``, of ``(v - c) ** 2`` and of ``v ** 2`` (as float64), and zeros (0.0 and -0.0).

    Rows of ``(len(off), 7)`` float64. A NaN or Inf in a segment makes its sums non-finite
    (its extremes then mean nothing); -0.0 counts below 0.0. Each segment is read twice
    while it is in cache: extremes and zeros (ordered integer keys of the floats' bits:
    integer min and max vectorize, float ones with their NaN rules do not), then the sums. With
    ``step``, ``sample`` receives every ``step``-th value of ``x`` (from ``x[0]``) that
    lies in a segment, at its index divided by ``step``. ``out``: rows to fill instead of
    new ones.

    >>> import numpy as np
    >>> x = np.array([3, -1, 2, 5, 0], np.float32)
    >>> parts(x, np.array([0, 3]), np.array([3, 2]))[:, [0, 1, 2, 3, 6]].tolist()
    [[-1.0, 3.0, 1.0, 1.0, 0.0], [0.0, 5.0, 2.5, 0.0, 1.0]]
    """
    if out is None:
        out = np.empty((off.size, 7), np.float64)
    ints = np.int64 if x.dtype.itemsize == 8 else np.int32
    _parts(x, x.view(ints), off, k, step, np.empty(0, x.dtype) if sample is None else sample, out)
    return out


_BLOCK = 4096  # values per step of the histogram loops (their bin numbers stay in L1)


@_njit(cache=True, nogil=True)
def _count(seg, f0, nm, t, e, fb, ge):  # pragma: no cover
    bins = ge.size - 1
    last = bins - 1
    one = fb.dtype.type(1)
    for b0 in range(0, seg.size, fb.size):
        blk = seg[b0:b0 + fb.size]
        m = blk.size
        near = 0
        for i in range(m):  # numpy's estimate, in the values' type; its bin is its floor
            f = (blk[i] - f0) * nm
            fb[i] = f
            r = f - np.floor(f)
            near += (r <= t) | (r >= one - t)
        ge[0] += m
        for b in range(1, bins):  # counted by comparisons, which vectorize
            threshold = fb.dtype.type(b)
            c = 0
            for i in range(m):
                c += fb[i] >= threshold
            ge[b] += c
        if near:  # values within rounding of an edge: numpy's one-step corrections
            for i in range(m):
                f = fb[i]
                r = f - np.floor(f)
                if (r <= t) | (r >= one - t):
                    j = min(np.intp(f), last)
                    v = blk[i]
                    if v < e[j]:
                        ge[j] -= 1  # one bin down: one fewer value at or above bin j
                    elif j != last and v >= e[j + 1]:
                        ge[j + 1] += 1


@_njit(cache=True, nogil=True)
def _histograms(x, off, k, step, first, norm, tol, edges, counts):  # pragma: no cover
    bins = counts.shape[1]
    fb = np.empty(_BLOCK, x.dtype)
    ge = np.zeros(bins + 1, np.intp)  # ge[b]: values whose bin is >= b
    for s in range(off.size):
        o, n, st = off[s], k[s], step[s]
        ge[:] = 0
        if st == 1:  # contiguous: the loops vectorize
            _count(x[o:o + n], first[s], norm[s], tol[s], edges[s], fb, ge)
        else:
            _count(x[o:o + n:st], first[s], norm[s], tol[s], edges[s], fb, ge)
        for b in range(bins):
            counts[s, b] = ge[b] - ge[b + 1]


def histograms(x: np.ndarray, off: np.ndarray, k: np.ndarray, step: np.ndarray, first: np.ndarray,
               norm: np.ndarray, tol: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts ``(len(off), bins)`` of every segment's sample ``x[o:o + k:step]``.

    ``first`` and ``norm`` (``bins / (last - first)``) are in ``x``'s type, ``edges`` are
    numpy's (``linspace`` in ``x``'s type, one row per segment), and every sampled value
    lies in its segment's ``[first, last]``: then the counts are ``numpy.histogram``'s.
    Each value's bin is the floor of numpy's estimate ``(v - first) * norm`` (in ``x``'s
    type), counted by comparisons with each bin number; where the estimate is within
    ``tol`` (in bins, per segment) of a whole number, numpy's one-step corrections against
    the edges are applied too.

    >>> import numpy as np
    >>> x = np.array([0, 1, 2, 3], np.float32)
    >>> e = np.linspace(0, 3, 3, dtype=np.float32)[None]
    >>> histograms(x, np.array([0]), np.array([4]), np.array([1]), np.zeros(1, np.float32),
    ...            np.array([2 / 3], np.float32), np.array([1e-3]), e).tolist()
    [[2, 2]]
    """
    counts = np.zeros((off.size, edges.shape[1] - 1), np.intp)
    _histograms(x, off, k, step, first, norm, tol.astype(x.dtype), edges, counts)
    return counts


# ------------------------------------------------------------------ arrays at addresses
# A thousand small parameters are measured where MXNet keeps them: their addresses come
# from MXNet's C API in one compiled loop (:func:`locate`), and :func:`stats_at` reads
# each one through a pointer, with no Python object per array, and bins its histogram
# sample while the array is in cache. The rows and counts are those the same values get
# as a segment of a batch (the same :func:`_part` and :func:`_count`).

if numba is not None:
    from llvmlite import ir as _ir
    from numba import types as _types
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def _pointer(typingctx, addr, like):  # pragma: no cover  (compiled)
        """A pointer to values of ``like``'s dtype at the integer address ``addr``."""
        sig = _types.CPointer(like.dtype)(_types.intp, like)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))
        return sig, codegen

    @_intrinsic
    def _call(typingctx, fn, a, b, c):  # pragma: no cover
        """``int fn(void *a, void *b, void *c)`` for the C function at the address ``fn``
        (a function of fewer arguments ignores the extra ones: the C calling convention)."""
        sig = _types.int32(_types.intp, _types.intp, _types.intp, _types.intp)

        def codegen(context, builder, signature, args):
            vp = _ir.IntType(8).as_pointer()
            f = builder.inttoptr(args[0], _ir.FunctionType(_ir.IntType(32), [vp, vp, vp]).as_pointer())
            return builder.call(f, [builder.inttoptr(v, vp) for v in args[1:]])
        return sig, codegen

    @numba.njit(cache=True, nogil=True)
    def _at(addr, n, like):  # pragma: no cover
        return numba.carray(_pointer(addr, like), n)
else:
    import ctypes as _ctypes

    def _at(addr, n, like):
        """``n`` values of ``like``'s dtype at the address ``addr`` (a view)."""
        return np.frombuffer((_ctypes.c_char * (int(n) * like.itemsize)).from_address(int(addr)), like.dtype)

    def _call(fn, a, b, c):
        p = _ctypes.c_void_p
        return _ctypes.CFUNCTYPE(_ctypes.c_int, p, p, p)(int(fn))(int(a), int(b), int(c))


@_njit(cache=True, nogil=True)
def _low(v):  # pragma: no cover
    """The C ``int`` in the low half of ``v`` (what a C function wrote into an int64 box)."""
    return ((v & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


@_njit(cache=True, nogil=True)
def _locate(fns, handles, sizes, wide, addr, code):  # pragma: no cover
    box = np.zeros(2, np.int64)  # what the C functions write: ints (low half) and pointers
    at = box.ctypes.data
    dims32, dims64 = np.empty(0, np.int32), np.empty(0, np.int64)  # the types of a shape's dims
    for s in range(handles.size):
        code[s] = -1
        addr[s] = 0
        h = handles[s]
        box[0] = box[1] = 0
        if _call(fns[0], h, 0, 0) or _call(fns[1], h, at, 0) or _low(box[0]) != 0:
            continue  # not ready, or not dense
        box[0] = 0
        if _call(fns[2], h, at, at + 8):
            continue
        dev = _low(box[0])
        if dev != 1 and dev != 3 and dev != 5:  # cpu, cpu_pinned, cpu_shared: host memory
            continue
        box[0] = 0
        if _call(fns[3], h, at, 0):
            continue
        dtype = _low(box[0])
        box[0] = box[1] = 0
        if _call(fns[4], h, at, at + 8):
            continue
        ndim = _low(box[0])
        if ndim < 0 or (ndim > 0 and box[1] == 0):
            continue  # unknown shape
        size = 1
        if wide:
            for d in _at(box[1], ndim, dims64):
                size *= d
        else:
            for d in _at(box[1], ndim, dims32):
                size *= d
        if size != sizes[s]:
            continue
        box[0] = 0
        if _call(fns[5], h, at, 0) or box[0] == 0:
            continue
        addr[s] = box[0]
        code[s] = dtype


def locate(fns: np.ndarray, handles: np.ndarray, sizes: np.ndarray, wide: bool = False):
    """``(addresses, dtype codes)`` of MXNet arrays, by MXNet's C API in one loop.

    ``fns`` holds the addresses of ``MXNDArrayWaitToRead``, ``MXNDArrayGetStorageType``,
    ``MXNDArrayGetContext``, ``MXNDArrayGetDType``, ``MXNDArrayGetShapeEx`` (``...Ex64``
    when ``wide``) and ``MXNDArrayGetData``; ``handles`` the arrays' handles. Each array is
    waited for (pending writes done), then kept if it is dense, in host memory and holds
    exactly its ``sizes`` entry of values: its address (``MXNDArrayGetData``, which also
    turns an MKL-DNN layout into the default one in place) and MXNet's dtype code (0
    float32, 1 float64, 2 float16, ...). Any other array, or any call that fails, gets
    code -1 and address 0.

    >>> import numpy as np
    >>> locate(np.zeros(6, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
    (array([], dtype=int64), array([], dtype=int64))
    """
    addr = np.zeros(handles.size, np.int64)
    code = np.zeros(handles.size, np.int64)
    _locate(fns, handles, sizes, wide, addr, code)
    return addr, code


@_njit(cache=True, nogil=True)
def _stats_at(addr, k, step, like, ilike, wide, big, out, counts, edges, binned):  # pragma: no cover
    ends = np.empty(2, like.dtype)
    pair = ends.view(ilike.dtype)
    t = like.dtype.type
    bins = counts.shape[1]
    fb = np.empty(_BLOCK, like.dtype)
    ge = np.zeros(bins + 1, np.intp)
    for s in range(addr.size):
        n, st = k[s], step[s]
        seg = _at(addr[s], n, like)
        _part(seg, _at(addr[s], n, ilike), ends, pair, out, s)
        lo, hi = out[s, 0], out[s, 1]
        # the row's sums hold (stats._moments_of) and numpy can bin its range (stats._segments_stats)
        good = np.isfinite(out[s, 3]) and np.isfinite(out[s, 4]) and np.isfinite(out[s, 5])
        if wide:
            biggest = max(-lo, hi)
            good = good and biggest <= big and not (0.0 < biggest < 1.0 / big)
        first, last = (lo, hi) if lo < hi else (lo - 0.5, hi + 0.5)
        width = np.float64(t(last) - t(first))
        binned[s] = good and first < last and 2.0 ** -60 <= width < np.inf and last - first < np.inf
        if not binned[s]:
            continue
        # stats._segment_histograms: numpy's edges (linspace's arithmetic), estimate and tolerance
        d = (last - first) / bins
        for b in range(bins):
            edges[s, b] = t(np.float64(b) * d + first)
        edges[s, bins] = t(last)
        norm = bins / (last - first)
        tol = t(4.0 * np.float64(np.spacing(t(max(abs(first), abs(last))))) * norm + bins * 2.0 ** -20)
        ge[:] = 0
        if lo == hi:  # equal values: the first is binned for all (the caller multiplies)
            _count(seg[:1], t(first), t(norm), tol, edges[s], fb, ge)
        elif st == 1:
            _count(seg, t(first), t(norm), tol, edges[s], fb, ge)
        else:
            _count(seg[::st], t(first), t(norm), tol, edges[s], fb, ge)
        for b in range(bins):
            counts[s, b] = ge[b] - ge[b + 1]


def stats_at(addr: np.ndarray, k: np.ndarray, step: np.ndarray, dtype: Any, bins: int, big: float
             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`parts` and the histograms of arrays at the addresses ``addr`` (``k`` values of
    ``dtype`` each, float32 or float64) in one pass: each array's row (the row it would get
    as a segment of a batch), then, while it is in cache, its sample (every ``step``-th
    value; one value if they are all equal) binned as ``stats._segments_stats`` bins it
    (:func:`histograms`' arithmetic, numpy's edges).
    Returns ``(rows, counts, edges, binned)``; ``binned`` is False where numpy could not bin
    the array (NaN or Inf, a range too wide or narrow; float64 values past ``big``) and
    its counts and edges mean nothing.

    >>> import numpy as np
    >>> x = np.array([0, 1, 2, 3], np.float32); one = np.ones(1, np.int64)
    >>> rows, counts, edges, binned = stats_at(np.array([x.ctypes.data]), 4 * one, one, x.dtype, 2, 2.0 ** 400)
    >>> counts.tolist(), edges.tolist(), binned.tolist()
    ([[2, 2]], [[0.0, 1.5, 3.0]], [True])
    """
    dtype = np.dtype(dtype)
    out = np.empty((addr.size, 7), np.float64)
    counts = np.zeros((addr.size, bins), np.intp)
    edges = np.zeros((addr.size, bins + 1), dtype)
    binned = np.zeros(addr.size, np.bool_)
    ints = np.int64 if dtype.itemsize == 8 else np.int32
    _stats_at(addr, k, step, np.empty(0, dtype), np.empty(0, ints), dtype.itemsize == 8, big, out, counts,
              edges, binned)
    return out, counts, edges, binned


def warm() -> None:
    """Load (or compile, once per machine) every specialization ``stats`` uses: float32 and
    float64 values, writable or read-only (zero-copy views of MXNet's memory).

    :func:`~gluon_params_kit._core.stats.compiled` calls this under a file lock, so that two
    processes never write numba's cache for these functions at once (numba's cache is not
    safe against that: numba/numba#4807).

    >>> warm()
    """
    for dtype in (np.float32, np.float64):
        for writable in (True, False):
            x = np.arange(4, dtype=dtype)
            x.flags.writeable = writable
            one = np.ones(1, np.intp)
            rows = parts(x, 0 * one, 4 * one, 2, np.empty(2, dtype))
            edges = np.linspace(0, 3, 3, dtype=dtype)[None]
            histograms(x, 0 * one, 4 * one, one, np.zeros(1, dtype), np.array([2 / 3], dtype),
                       np.array([1e-3]), edges)
            histograms(x, 0 * one, 4 * one, 2 * one, np.zeros(1, dtype), np.array([2 / 3], dtype),
                       np.array([1e-3]), edges)
            assert rows[0, 0] == 0 and rows[0, 1] == 3
        one64 = np.ones(1, np.int64)
        assert stats_at(np.array([x.ctypes.data]), 4 * one64, 2 * one64, dtype, 2, 2.0 ** 400)[1].sum() == 2
    none = np.zeros(0, np.int64)
    for wide in (False, True):
        locate(np.zeros(6, np.int64), none, none, wide)
