"""Statistics of an array inside a checkpoint file, by the very kernel of ``gpk.stats``.

``gluon-params inspect --stats`` must not disagree with :func:`gluon_params_kit.stats` on
the same values, so it does not compute anything itself: it feeds ``_stats.chunk_stats``
the array's values in the kernel's own chunks (:data:`~gluon_params_kit._stats.CHUNK`
values, 1 MiB of float32), read from the file once, in order. A second thread reads the
next chunks while the kernel measures the current one (both release the GIL: the read
is a system call, the kernel numpy and BLAS loops). Memory stays at a few chunks; the
file is never mapped (a file truncated under a mapping kills the process with SIGBUS; a
short read here is an error that names the file).
"""
from __future__ import annotations

import queue
import threading
from contextlib import closing
from typing import Iterator, Optional

import numpy as onp

from ._fileheader import ArrayInfo, Header, bfloat16_to_float32, numpy_dtype
from ._files import open_source
from ._formats import iter_values
from ._stats import CHUNK, HIST_SAMPLE, ParamStats, chunk_stats, host_stats

__all__ = ["READ_AHEAD", "file_chunks", "file_stats"]

#: Chunks read ahead of the kernel by the reader thread (0: read in the caller's thread).
READ_AHEAD = 3


def file_chunks(path: str, info: ArrayInfo, read_ahead: int = READ_AHEAD
                ) -> Iterator[onp.ndarray]:
    """The flat values of one stored, C-order array, :data:`CHUNK` values at a time.

    Each chunk is a view of a reused buffer, valid until the next one is asked for;
    bfloat16 is yielded as exact float32. A file that is shorter than its header says
    raises ``OSError`` naming it.

    >>> import os, tempfile, numpy as np
    >>> from gluon_params_kit._formats import read_header
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.npz'); np.savez(f, w=np.arange(3.0))
    >>> h = read_header(f); [c.tolist() for c in file_chunks(f, h['w'])]
    [[0.0, 1.0, 2.0]]
    """
    stored = numpy_dtype(info.dtype)
    bf16 = bool(stored.names)
    f, path = open_source(path)
    with f:
        f.seek(info.offset)
        pieces = _pieces(f, path, info, stored, read_ahead)
        try:
            for piece in pieces:
                yield bfloat16_to_float32(piece) if bf16 else piece
        finally:
            pieces.close()


def _read_into(f, path: str, info: ArrayInfo, out: onp.ndarray) -> None:
    view = memoryview(out).cast("B")
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            raise OSError(f"{path!r} changed while reading {info.name!r}: short read")
        got += n


def _pieces(f, path: str, info: ArrayInfo, stored: onp.dtype, read_ahead: int
            ) -> Iterator[onp.ndarray]:
    sizes = [min(CHUNK, info.size - lo) for lo in range(0, info.size, CHUNK)]
    if read_ahead <= 0 or len(sizes) <= 1:
        buf = onp.empty(min(CHUNK, info.size), stored)
        for k in sizes:
            _read_into(f, path, info, buf[:k])
            yield buf[:k]
        return
    buffers = [onp.empty(CHUNK, stored) for _ in range(min(read_ahead + 1, len(sizes)))]
    free: "queue.SimpleQueue[Optional[int]]" = queue.SimpleQueue()
    full: "queue.SimpleQueue[object]" = queue.SimpleQueue()
    for i in range(len(buffers)):
        free.put(i)

    def reader():
        try:
            for k in sizes:
                i = free.get()
                if i is None:  # the consumer stopped early
                    return
                _read_into(f, path, info, buffers[i][:k])
                full.put((i, k))
        except BaseException as exc:  # noqa: BLE001  (re-raised in the consumer's thread)
            full.put(exc)

    worker = threading.Thread(target=reader, name="gpk-stats-read", daemon=True)
    worker.start()
    held: Optional[int] = None
    try:
        for _ in sizes:
            if held is not None:
                free.put(held)  # the kernel is done with the chunk before it asks for more
                held = None
            item = full.get()
            if isinstance(item, BaseException):
                raise item
            held, k = item
            yield buffers[held][:k]
    finally:
        free.put(None)
        worker.join()


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
        stored = numpy_dtype(info.dtype)
        dtype = onp.dtype(onp.float32) if stored.names else stored
        with closing(file_chunks(header.path, info)) as chunks:  # the reader stops on errors
            return chunk_stats(info.size, dtype, chunks, bins, hist_sample)
    # sparse .params arrays, deflated or Fortran-order .npz members: one dense copy
    values = onp.concatenate([onp.array(p) for p in iter_values(header, info)])
    if values.dtype.names:
        values = bfloat16_to_float32(values)
    return host_stats(values, bins, hist_sample)
