"""Statistics of an array inside a checkpoint file, by the very kernel of ``gpk.stats``.

``gluon-params inspect --stats`` must not disagree with :func:`gluon_params_kit.stats` on
the same values (beyond float rounding: ``stats()`` measures small arrays in batches, and
with numba by compiled loops), so
it does not compute anything itself: it hands ``_stats.chunk_stats``
a reader of the array's values in the kernel's own chunks (:data:`~gluon_params_kit._core.stats.CHUNK`
values, 1 MiB of float32), each read from the file once. The kernel's threads each read
their own run of chunks into their own buffer (``pread``: no shared file position) and
measure each chunk while it is still in cache; reads and numpy loops release the GIL, so
on two cores one thread reads while the other computes. Memory stays at a few chunks per
thread; the file is never mapped (a file truncated under a mapping kills the process with
SIGBUS; a short read here is an error that names the file).

The file is the version the header describes (opened again and checked, or the caller's
open file): a file replaced or cut short since is a CheckpointError saying it changed.
An ``.npz`` member's CRC is checked over the same reads (each chunk's CRC, combined in
order), sparse arrays and Fortran-order or deflated members are streamed in C order
piece by piece (bounded memory), and an array whose dense size its stored bytes do not
justify needs ``allow_expand=True``.
"""
from __future__ import annotations

import os
import zlib
from typing import Callable, Iterator, Optional

import numpy as onp

from .._io.formats import iter_values, open_values
from .._io.header import ArrayInfo, DataFile, Header, bfloat16_to_float32, check_expansion, crc_concat, numpy_dtype
from ..errors import CheckpointError
from .stats import CHUNK, HIST_SAMPLE, ParamStats, chunk_stats

__all__ = ["file_chunks", "file_stats"]


def file_chunks(fd: int, path: str, info: ArrayInfo, crcs: Optional[dict] = None
                ) -> Callable[[int, int], Iterator[onp.ndarray]]:
    """The ``chunks`` of ``chunk_stats`` for one stored, C-order array of an open file.

    ``file_chunks(...)(lo, hi)`` reads chunks ``lo`` to ``hi - 1`` into a buffer of its
    own, each a view valid until the next one is asked for; bfloat16 is yielded as exact
    float32. A file that is shorter than its header says raises CheckpointError naming it.
    ``crcs``, when given, gets each chunk's ``(crc32, nbytes)`` by chunk number.

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
            if crcs is not None:
                crcs[j] = (zlib.crc32(piece.view(onp.uint8).data), piece.nbytes)
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
            raise CheckpointError(f"{path!r} changed while reading {info.name!r}: short read at "
                                  f"byte {offset + got} (replaced, rewritten or cut short since "
                                  f"its header was read); read it again")
        got += n


def file_stats(header: Header, info: ArrayInfo, bins: int = 16,
               hist_sample: Optional[int] = HIST_SAMPLE,
               workers: Optional[int] = None, *, src: Optional[DataFile] = None,
               allow_expand: bool = False) -> ParamStats:
    """:class:`~gluon_params_kit.inspection.ParamStats` of one array of a checkpoint file
    (``workers``: threads, default ``_stats.WORKERS``; the answer is the same for any),
    read from ``src`` (the file held open by the caller) or the header's file opened again
    and checked to be the version it describes.

    >>> import os, tempfile, numpy as np
    >>> from gluon_params_kit._io.formats import read_header
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.npz'); np.savez(f, w=np.arange(4.0))
    >>> h = read_header(f); round(file_stats(h, h['w']).std, 6)
    1.118034
    """
    if info.shape is None or info.dtype is None or info.size == 0:  # no shape: no dtype either
        return ParamStats(state="empty", size=0)
    check_expansion(header.path, header.name_at(info.index), info, allow_expand)
    if src is None:
        with open_values(header) as opened:
            result = file_stats(header, info, bins, hist_sample, workers, src=opened,
                                allow_expand=allow_expand)
            opened.check(f" {info.name!r}")
        return result
    stored = numpy_dtype(info.dtype)
    dtype = onp.dtype(onp.float32) if stored.names else stored
    if info.stype == "default" and info.offset >= 0 and not info.fortran_order and not info.big_endian:
        crcs: Optional[dict] = {} if info.crc is not None else None
        result = chunk_stats(info.size, dtype, file_chunks(src.fileno(), src.path, info, crcs),
                             bins, hist_sample, workers=workers)
        if crcs is not None and info.crc is not None:
            crc = crc_concat(info.crc[0], [crcs[j] for j in sorted(crcs)])
            if crc != info.crc[1]:
                raise CheckpointError(
                    f"cannot read {header.path!r} as .npz: member {info.member!r} is damaged "
                    f"(CRC-32 0x{crc:08x}, the zip directory says 0x{info.crc[1]:08x}); its values "
                    f"are not read")
        return result
    # sparse .params arrays, deflated or Fortran-order .npz members: C-order pieces, in
    # the kernel's chunks, from one sequential reader (bounded memory)
    pieces = _rechunk(iter_values(header, info, CHUNK, src=src, allow_expand=allow_expand),
                      stored)
    done = {"next": 0}

    def chunks(lo: int, hi: int) -> Iterator[onp.ndarray]:
        if lo != done["next"]:
            raise RuntimeError("file_stats streams in order: one worker only")  # never: workers=1
        for _ in range(lo, hi):
            piece = next(pieces)
            done["next"] += 1
            yield bfloat16_to_float32(piece) if stored.names else piece
    result = chunk_stats(info.size, dtype, chunks, bins, hist_sample, workers=1)
    for _ in pieces:  # to the end: an .npz member's CRC is checked there
        pass
    return result


def _rechunk(pieces: Iterator[onp.ndarray], dt: onp.dtype) -> Iterator[onp.ndarray]:
    """The values of ``pieces`` in pieces of exactly :data:`CHUNK` (the last shorter)."""
    buf = onp.empty(CHUNK, dt)
    fill = 0
    for p in pieces:
        p = onp.asarray(p)
        while p.size:
            n = min(CHUNK - fill, p.size)
            buf[fill:fill + n] = p[:n]
            fill, p = fill + n, p[n:]
            if fill == CHUNK:
                yield buf
                buf, fill = onp.empty(CHUNK, dt), 0
    if fill:
        yield buf[:fill]
