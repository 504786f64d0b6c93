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

__all__ = ["ParamStats", "array_stats", "host_stats"]

_CHUNK = 1 << 16          # values per numpy step: a 512 KiB float64 scratch stays in cache
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

    Sums are centred on the mean of the histogram sample, so the variance does not lose
    its digits to cancellation when the mean is large; they accumulate in float64.
    """
    n = a.size
    step = 1 if hist_sample is None or n <= hist_sample else -(-n // hist_sample)
    fast = a.dtype in (_onp.float32, _onp.float64)
    sample = a[::step] if fast else a[::step].astype(_onp.float64)
    finite = _onp.isfinite(sample)
    if not finite.all():
        sample = sample[finite]
    shift = float(_onp.add.reduce(sample, dtype=_onp.float64)) / sample.size if sample.size else 0.0
    acc = _Acc(shift)
    for i in range(0, n, _CHUNK):
        acc.add(a[i:i + _CHUNK] if fast else a[i:i + _CHUNK].astype(_onp.float64))
    nan = inf = 0
    if not (math.isfinite(acc.s) and math.isfinite(acc.ss)):  # NaN/Inf inside: redo, masked
        acc = _Acc(shift)
        for i in range(0, n, _CHUNK):
            chunk = a[i:i + _CHUNK].astype(_onp.float64)
            nan += int(_onp.count_nonzero(_onp.isnan(chunk)))
            inf += int(_onp.count_nonzero(_onp.isinf(chunk)))
            acc.add(chunk[_onp.isfinite(chunk)])
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
    """Running float64 sums of shifted values and of their squares, extremes, zero count."""

    def __init__(self, shift: float):
        self.shift, self.s, self.ss, self.count, self.zeros = shift, 0.0, 0.0, 0, 0
        self.lo, self.hi = math.inf, -math.inf
        self._buf = _onp.empty(_CHUNK, _onp.float64)  # one chunk: the only scratch memory

    def add(self, c: _onp.ndarray) -> None:
        if c.size == 0:
            return
        t = self._buf[:c.size]
        _onp.subtract(c, self.shift, out=t, dtype=_onp.float64)  # exact for float32 input
        self.s += float(_onp.add.reduce(t))
        self.ss += float(_onp.dot(t, t))
        self.lo = min(self.lo, float(_onp.minimum.reduce(c)))
        self.hi = max(self.hi, float(_onp.maximum.reduce(c)))
        self.zeros += int(_onp.count_nonzero(c == 0))
        self.count += c.size


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
