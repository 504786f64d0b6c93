"""Statistics of an array inside a checkpoint file, by the very kernel of ``gpk.stats``.

``gluon-params inspect --stats`` must not disagree with :func:`gluon_params_kit.stats` on
the same values, so it does not compute anything itself: it hands ``_stats.host_stats``
a :class:`FileVector`, a read-only flat array whose slices are read from the file on
demand (one window of a few MiB at a time). Memory stays at that window; the file is
never mapped or read whole.
"""
from __future__ import annotations

from typing import Optional

import numpy as onp

from ._fileheader import ArrayInfo, Header, bfloat16_to_float32, numpy_dtype
from ._files import open_source
from ._formats import iter_values
from ._stats import HIST_SAMPLE, ParamStats, host_stats

__all__ = ["FileVector", "file_stats"]

#: Values per window read from the file (4 MiB of float32).
WINDOW = 1 << 20


class FileVector:
    """The flat values of one stored, C-order array, sliced straight from the file.

    Supports what the statistics kernel asks for: ``size``, ``dtype``, ``a[i:j]`` and
    ``a[::step]``. Sequential slices are served from one window read ahead; bfloat16 is
    presented as exact float32.
    """

    def __init__(self, path: str, info: ArrayInfo):
        self.path, self.info = path, info
        self.stored = numpy_dtype(info.dtype)
        self.bf16 = bool(self.stored.names)
        self.dtype = onp.dtype(onp.float32) if self.bf16 else self.stored
        self.size = info.size
        self.shape = (self.size,)
        self._f, _ = open_source(path)
        self._lo = self._hi = 0
        self._window = onp.empty(0, self.stored)
        self._buffer: Optional[onp.ndarray] = None

    def close(self) -> None:
        self._f.close()

    def _convert(self, raw: onp.ndarray) -> onp.ndarray:
        return bfloat16_to_float32(raw) if self.bf16 else raw

    def _read(self, start: int, count: int, reuse: bool = False) -> onp.ndarray:
        """``count`` stored values from ``start``; with ``reuse``, into the one window
        buffer (no allocation per window: the kernel reads a window's slices before it
        asks for the next one)."""
        itemsize = self.stored.itemsize
        self._f.seek(self.info.offset + start * itemsize)
        if reuse and count <= WINDOW:
            if self._buffer is None:
                self._buffer = onp.empty(WINDOW, self.stored)
            out = self._buffer[:count]
        else:
            out = onp.empty(count, self.stored)
        got = self._f.readinto(memoryview(out).cast("B"))
        if got != count * itemsize:
            raise OSError(f"{self.path!r} changed while reading {self.info.name!r}: short read")
        return out

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key) -> onp.ndarray:
        if not isinstance(key, slice):
            raise TypeError("FileVector supports slices only")
        start, stop, step = key.indices(self.size)
        if step != 1:
            return self._strided(start, stop, step)
        if stop <= start:
            return onp.empty(0, self.dtype)
        if not (self._lo <= start and stop <= self._hi):
            count = max(WINDOW, stop - start)
            count = min(count, self.size - start)
            self._window = self._read(start, count, reuse=True)
            self._lo, self._hi = start, start + count
        return self._convert(self._window[start - self._lo:stop - self._lo])

    def _strided(self, start: int, stop: int, step: int) -> onp.ndarray:
        """Every ``step``-th value: read window by window when the values are dense
        enough, else one read per value (a sample of a big array)."""
        idx = range(start, stop, step)
        if not len(idx):
            return onp.empty(0, self.dtype)
        if step * self.stored.itemsize <= 1 << 16:
            parts = []
            for lo in range(start, stop, WINDOW):
                hi = min(stop, lo + WINDOW)
                first = lo + (start - lo) % step
                if first < hi:
                    parts.append(self._read(first, hi - first)[::step].copy())
            out = onp.concatenate(parts) if parts else onp.empty(0, self.stored)
        else:
            out = onp.concatenate([self._read(i, 1) for i in idx])
        return self._convert(out)


def file_stats(header: Header, info: ArrayInfo, bins: int = 16,
               hist_sample: Optional[int] = HIST_SAMPLE) -> ParamStats:
    """:class:`~gluon_params_kit.inspection.ParamStats` of one array of a checkpoint file.

    >>> import os, tempfile, numpy as np
    >>> from gluon_params_kit._formats import read_header
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.npz'); np.savez(f, w=np.arange(4.0))
    >>> h = read_header(f); round(file_stats(h, h['w']).std, 6)
    1.118034
    """
    if info.shape is None or info.size == 0:
        return ParamStats(state="empty", size=0)
    if info.stype == "default" and info.offset >= 0 and not info.fortran_order:
        vector = FileVector(header.path, info)
        try:
            return host_stats(vector, bins, hist_sample)
        finally:
            vector.close()
    # sparse .params arrays, deflated or Fortran-order .npz members: one dense copy
    values = onp.concatenate([onp.array(p) for p in iter_values(header, info)])
    if values.dtype.names:
        values = bfloat16_to_float32(values)
    return host_stats(values, bins, hist_sample)
