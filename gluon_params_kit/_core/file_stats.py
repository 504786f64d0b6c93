"""Statistics of an array inside a checkpoint file, by the very kernel of ``gpk.stats``.

``gluon-params inspect --stats`` must not disagree with :func:`gluon_params_kit.stats` on
the same values, so it does not compute anything itself: it hands ``_stats.chunk_stats``
a reader of the array's values in the kernel's own chunks (:data:`~gluon_params_kit._core.stats.CHUNK`
values, 1 MiB of float32), each read from the file once. The kernel's threads each read
their own run of chunks into their own buffer (``pread``: no shared file position) and
measure each chunk while it is still in cache; reads and numpy loops release the GIL, so
on two cores one thread reads while the other computes. Memory stays at a few chunks per
thread; the file is never mapped (a file truncated under a mapping kills the process with
SIGBUS; a short read here is an error that names the file).
"""
from __future__ import annotations

import os
from typing import Callable, Iterator, Optional

import numpy as onp

from .._io.files import open_source
from .._io.formats import iter_values
from .._io.header import ArrayInfo, Header, bfloat16_to_float32, numpy_dtype
from .stats import CHUNK, HIST_SAMPLE, ParamStats, chunk_stats, host_stats

__all__ = ["file_chunks", "file_stats"]


def file_chunks(fd: int, path: str, info: ArrayInfo
                ) -> Callable[[int, int], Iterator[onp.ndarray]]:
    """The ``chunks`` of ``chunk_stats`` for one stored, C-order array of an open file.

    ``file_chunks(...)(lo, hi)`` reads chunks ``lo`` to ``hi - 1`` into a buffer of its
    own, each a view valid until the next one is asked for; bfloat16 is yielded as exact
    float32. A file that is shorter than its header says raises ``OSError`` naming it.

    >>> import os, tempfile, numpy as np
    >>> from gluon_params_kit._io.formats import read_header
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.npz'); np.savez(f, w=np.arange(3.0))
    >>> h = read_header(f); fd = os.open(f, os.O_RDONLY)
    >>> [c.tolist() for c in file_chunks(fd, f, h['w'])(0, 1)]; os.close(fd)
    [[0.0, 1.0, 2.0]]
    """
    assert info.dtype is not None  # only an array saved without a shape has no dtype
    stored = numpy_dtype(info.dtype)
    bf16 = bool(stored.names)

    def chunks(lo: int, hi: int) -> Iterator[onp.ndarray]:
        buf = onp.empty(min(CHUNK, info.size), stored)
        for j in range(lo, hi):
            piece = buf[:min(CHUNK, info.size - j * CHUNK)]
            _pread_into(fd, path, info, piece, info.offset + j * CHUNK * stored.itemsize)
            yield bfloat16_to_float32(piece) if bf16 else piece
    return chunks


def _pread_into(fd: int, path: str, info: ArrayInfo, out: onp.ndarray, offset: int) -> None:
    view = out.data.cast("B")  # out's own buffer (numpy 1.23's stubs lack the Buffer protocol)
    got = 0
    while got < len(view):
        if hasattr(os, "preadv"):
            n = os.preadv(fd, [view[got:]], offset + got)
        else:  # no preadv (macOS before 11): one copy more
            data = os.pread(fd, len(view) - got, offset + got)
            n = len(data)
            view[got:got + n] = data
        if not n:
            raise OSError(f"{path!r} changed while reading {info.name!r}: short read")
        got += n


def file_stats(header: Header, info: ArrayInfo, bins: int = 16,
               hist_sample: Optional[int] = HIST_SAMPLE,
               workers: Optional[int] = None) -> ParamStats:
    """:class:`~gluon_params_kit.inspection.ParamStats` of one array of a checkpoint file
    (``workers``: threads, default ``_stats.WORKERS``; the answer is the same for any).

    >>> import os, tempfile, numpy as np
    >>> from gluon_params_kit._io.formats import read_header
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.npz'); np.savez(f, w=np.arange(4.0))
    >>> h = read_header(f); round(file_stats(h, h['w']).std, 6)
    1.118034
    """
    if info.shape is None or info.dtype is None or info.size == 0:  # no shape: no dtype either
        return ParamStats(state="empty", size=0)
    if info.stype == "default" and info.offset >= 0 and not info.fortran_order:
        stored = numpy_dtype(info.dtype)
        dtype = onp.dtype(onp.float32) if stored.names else stored
        f, path = open_source(header.path)
        with f:
            return chunk_stats(info.size, dtype, file_chunks(f.fileno(), path, info), bins,
                               hist_sample, workers=workers)
    # sparse .params arrays, deflated or Fortran-order .npz members: one dense copy
    values = onp.concatenate([onp.array(p) for p in iter_values(header, info)])
    if values.dtype.names:
        values = bfloat16_to_float32(values)
    return host_stats(values, bins, hist_sample)
