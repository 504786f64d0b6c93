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
thread.

A file whose pages are in memory is read through a mapping instead (no copy: the values
are measured in the page cache), but only while the kit holds a read lease on it
(:class:`_Lease`): a file cut short under a mapping would kill the process with SIGBUS,
and the lease makes the kernel hold back any process that opens the file to write or
truncate it until the kit lets go. Each chunk is mapped only if the lease still holds and
its pages are resident (``cachestat``, or ``mincore`` before Linux 6.5: a disk error under
a mapping would be a SIGBUS too); else it is read with ``pread``, where a short read is an
error that names the file.

The file is the version the header describes (opened again and checked, or the caller's
open file): a file replaced or cut short since is a CheckpointError saying it changed.
An ``.npz`` member's CRC is checked over the same reads (each chunk's CRC, combined in
order), sparse arrays and Fortran-order or deflated members are streamed in C order
piece by piece (bounded memory), and an array whose dense size its stored bytes do not
justify needs ``allow_expand=True``.
"""
from __future__ import annotations

import mmap
import os
import signal
import stat
import sys
import zlib
from typing import Any, Callable, Iterator, Optional, Tuple

import numpy as onp

from .._io.formats import iter_values, open_values
from .._io.header import ArrayInfo, DataFile, Header, bfloat16_to_float32, check_expansion, crc_concat, numpy_dtype
from ..errors import CheckpointError
from .stats import CHUNK, HIST_SAMPLE, ParamStats, chunk_stats

__all__ = ["file_chunks", "file_stats"]


def file_chunks(fd: int, path: str, info: ArrayInfo, crcs: Optional[dict] = None,
                lease: Optional["_Lease"] = None) -> Callable[[int, int], Iterator[onp.ndarray]]:
    """The ``chunks`` of ``chunk_stats`` for one stored, C-order array of an open file.

    ``file_chunks(...)(lo, hi)`` reads chunks ``lo`` to ``hi - 1`` into a buffer of its
    own, each a view valid until the next one is asked for; bfloat16 is yielded as exact
    float32. A file that is shorter than its header says raises CheckpointError naming it.
    ``crcs``, when given, gets each chunk's ``(crc32, nbytes)`` by chunk number. With a
    ``lease`` that holds, a chunk whose pages are in memory is a view of a mapping of the
    file instead of a copy.

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
    item = stored.itemsize

    def chunks(lo: int, hi: int) -> Iterator[onp.ndarray]:
        buf: Optional[onp.ndarray] = None
        window: Optional[Tuple[Any, int, int]] = None  # a mapped run of the array's bytes
        start = end = 0  # its first and last byte, from the array's first byte
        for j in range(lo, hi):
            n = min(CHUNK, info.size - j * CHUNK)
            at = j * CHUNK * item  # from the array's first byte
            piece = None
            if lease is not None and lease.holds():
                if at + n * item > end:  # the next window: _WINDOW bytes, if all in memory
                    window = None  # unmapped once the consumer lets go of its last chunk
                    start, end = at, min(info.nbytes, at + _WINDOW)
                    window = lease.map(info.offset + start, end - start)
                if window is not None:
                    piece = onp.frombuffer(window[0], stored, n, window[1] + at - start)
            if piece is None:
                if buf is None:
                    buf = onp.empty(min(CHUNK, info.size), stored)
                piece = buf[:n]
                _pread_into(fd, path, info, piece, info.offset + at)
            if crcs is not None:
                crcs[j] = (zlib.crc32(piece.view(onp.uint8).data), piece.nbytes)
            yield bfloat16_to_float32(piece) if bf16 else piece
    return chunks


#: Bytes of a file mapped at a time by one reader (its memory in mapped pages).
_WINDOW = 16 * CHUNK * 4
#: Arrays of fewer bytes are only read: for them a lease and a mapping cost more than a copy.
_MAP_FROM = 4 * CHUNK * 4
_LOW_BIT = bytes(b & 1 for b in range(256))  # a translate() table: each byte to its low bit
#: File systems on which a read lease holds back every writer of the file (local ones:
#: ext2/3/4, XFS, Btrfs, tmpfs, F2FS); elsewhere (NFS, FUSE, ...) the file is only read.
_LEASE_FS = frozenset((0xEF53, 0x58465342, 0x9123683E, 0x01021994, 0xF2F52010))
_F_SETLEASE, _F_GETLEASE, _F_SETSIG = 1024, 1025, 10  # Linux's fcntl commands
_SYS_CACHESTAT = 451  # Linux's cachestat system call (one number on every architecture)
_CACHESTAT_WORKS = True  # until the kernel refuses it
_LIBC: Any = None


def _libc() -> Any:
    """The C library (ctypes, errno kept), loaded once."""
    global _LIBC
    if _LIBC is None:
        import ctypes
        _LIBC = ctypes.CDLL(None, use_errno=True)
    return _LIBC


class _Lease:
    """A read lease on an open file (Linux ``F_SETLEASE``) while the kit maps it.

    While it is held, a process that opens the file for writing or truncates it waits in
    that call until the lease is let go (at most ``/proc/sys/fs/lease-break-time``
    seconds); the kernel tells the holder with a signal, set here to SIGURG, which is
    ignored unless a program handles it (then no lease is taken). Each chunk checks that
    the lease still holds (``F_GETLEASE``) before it is mapped; from the first chunk that
    finds it breaking, the file is only read. Taken only on a regular file of a local file
    system, opened read-only by its owner, with nobody writing to it, and a break time of a
    second or more; :meth:`take` returns None otherwise (and wherever leases or ``mmap``
    are missing).
    """

    def __init__(self, fd: int, fcntl: Any):
        self.fd = fd
        self.broken = False
        self._fcntl, self._libc = fcntl, _libc()

    @classmethod
    def take(cls, fd: int) -> Optional["_Lease"]:
        if not sys.platform.startswith("linux") or os.environ.get("GPK_MAP", "1") == "0":
            return None
        try:
            import ctypes
            import fcntl
            quiet = signal.getsignal(signal.SIGURG) in (signal.SIG_DFL, signal.SIG_IGN)  # no handler of its own
            if not (stat.S_ISREG(os.fstat(fd).st_mode) and quiet):
                return None
            with open("/proc/sys/fs/lease-break-time") as f:
                if int(f.read()) < 1:
                    return None
            libc = _libc()
            fs = (ctypes.c_long * 64)()  # struct statfs: f_type first
            if libc.fstatfs(fd, fs) != 0 or fs[0] & 0xFFFFFFFF not in _LEASE_FS:
                return None
            fcntl.fcntl(fd, _F_SETSIG, signal.SIGURG)
            fcntl.fcntl(fd, _F_SETLEASE, fcntl.F_RDLCK)
        except (OSError, ValueError, ImportError, AttributeError):
            return None  # EACCES (not the owner), EAGAIN (open for writing), EINVAL (no leases)
        return cls(fd, fcntl)

    def holds(self) -> bool:
        """Whether the lease is whole (not being broken): then the file cannot shrink."""
        if not self.broken:
            try:
                self.broken = self._fcntl.fcntl(self.fd, _F_GETLEASE) != self._fcntl.F_RDLCK
            except OSError:
                self.broken = True
        return not self.broken

    def map(self, offset: int, nbytes: int) -> Optional[Tuple[Any, int, int]]:
        """``(mapping, where the bytes start in it, its address)`` of the file's ``nbytes``
        from ``offset``; None where ``mmap`` refuses or some of them are not in memory
        (:meth:`_cached_pages`, else ``mincore``: those are read with ``pread``, where a
        disk error is an error, not the SIGBUS it would be under a mapping)."""
        import ctypes
        first = offset - offset % mmap.ALLOCATIONGRANULARITY
        length = offset + nbytes - first
        cached = self._cached_pages(first, length)
        if cached is not None and cached < -(-length // mmap.PAGESIZE):
            return None
        try:
            mapping = mmap.mmap(self.fd, length, offset=first, prot=mmap.PROT_READ)
        except (OSError, ValueError, OverflowError):
            return None
        address = onp.frombuffer(mapping, onp.uint8).ctypes.data
        if cached is None:  # no cachestat: ask per page of the mapping
            vec = ctypes.create_string_buffer(-(-length // mmap.PAGESIZE))
            if self._libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(length), vec) != 0:
                return None
            if b"\0" in vec.raw.translate(_LOW_BIT):  # the low bit: resident (the others are reserved)
                return None
        return mapping, offset - first, address

    def _cached_pages(self, offset: int, nbytes: int) -> Optional[int]:
        """Pages of the file's ``nbytes`` from ``offset`` in the page cache, by Linux's
        ``cachestat`` (6.5 on: it counts by folio, ten times faster than ``mincore`` on a
        16 MiB window); None where the kernel has none (then :meth:`map` asks ``mincore``)."""
        global _CACHESTAT_WORKS
        if not _CACHESTAT_WORKS:
            return None
        import ctypes
        span = (ctypes.c_uint64 * 2)(offset, nbytes)
        out = (ctypes.c_uint64 * 5)()  # nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted
        if self._libc.syscall(ctypes.c_long(_SYS_CACHESTAT), ctypes.c_int(self.fd), span, out, ctypes.c_uint(0)) != 0:
            _CACHESTAT_WORKS = False  # ENOSYS (an older kernel) or refused: mincore from now on
            return None
        return int(out[0])

    def release(self) -> None:
        try:
            self._fcntl.fcntl(self.fd, _F_SETLEASE, self._fcntl.F_UNLCK)
        except OSError:
            pass


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
        lease = _Lease.take(src.fileno()) if info.nbytes >= _MAP_FROM else None
        try:
            result = chunk_stats(info.size, dtype, file_chunks(src.fileno(), src.path, info, crcs, lease),
                                 bins, hist_sample, workers=workers)
        finally:
            if lease is not None:
                lease.release()
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
