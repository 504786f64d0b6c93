"""One way in for the three checkpoint formats: ``.params``, ``.safetensors`` and ``.npz``.

:func:`format_of` picks the format (``format=`` first, then the suffix, then, for a file
being read, its first bytes), :func:`read_header` gives the format's :class:`Header`,
:func:`read_host` its arrays as numpy arrays, and :func:`iter_values` one array's flat
values in bounded pieces (a reused buffer: the streaming readers of ``diff``, ``inspect
--stats`` and ``export`` never hold a whole array; sparse arrays and Fortran-order members
are put in C order piece by piece too). Nothing here imports mxnet.

One version of the file per call: :func:`open_checkpoint` reads the header and every
value from one open file; :func:`open_values` opens the file of a header read earlier and
makes sure it is the same version (its :data:`~gluon_params_kit._io.header.Stamp`, and,
for a file written moments ago, its layout read again), else a
:class:`~gluon_params_kit.errors.CheckpointError` says it changed. Values are always
looked up by name in the header that describes the open file.
"""
from __future__ import annotations

import contextlib
import gc
import os
import tempfile
import time
from collections import OrderedDict
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as onp

from ..errors import CheckpointError, CheckpointTypeError, listing
from . import npz as _npz
from . import params as _header
from . import safetensors_file as _safetensors
from .files import file_path, open_source
from .header import BFLOAT16, ArrayInfo, DataFile, Header, changed_error, check_expansion, numpy_dtype

__all__ = ["FORMATS", "format_of", "read_header", "read_host", "iter_values", "CHUNK_VALUES", "as_float",
           "open_checkpoint", "open_values", "open_with_header"]

FORMATS = ("params", "safetensors", "npz")
SUFFIXES = {".params": "params", ".safetensors": "safetensors", ".npz": "npz"}
#: Values per piece of :func:`iter_values`: 4 MiB of float32.
CHUNK_VALUES = 1 << 20
#: A file modified this recently before its header was read may have been replaced within
#: one tick of the file system's clock: its layout is read again when it is re-opened.
SETTLE_NS = 2_000_000_000
_PARSERS = {"params": _header.parse, "safetensors": _safetensors.parse, "npz": _npz.parse}


def format_of(path: Any, format: Optional[str] = None, *, reading: bool = True) -> str:
    """``format`` if given, else the suffix's format, else (reading) what the bytes say.

    >>> format_of('net.safetensors'), format_of('w.npz'), format_of('x', 'params')
    ('safetensors', 'npz', 'params')
    """
    if format is not None:
        if not isinstance(format, str):
            raise CheckpointTypeError(f"format must be one of {listing(FORMATS)} (or None: the suffix "
                                      f"says), got {type(format).__name__}")
        if format not in FORMATS:
            raise CheckpointError(f"unknown format {format!r}; expected one of {listing(FORMATS)}")
        return format
    text = file_path(path)
    suffix = os.path.splitext(text)[1].lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if not reading:
        return "params"
    try:
        f, _ = open_source(text)
    except CheckpointError:
        return "params"  # the reader says what is wrong with it
    with f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "npz"
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") != 0x112:
        return "safetensors"
    return "params"


def read_header(path: Any, format: Optional[str] = None) -> Header:
    """The :class:`Header` of a checkpoint in any of the three formats, data unread."""
    kind = format_of(path, format)
    f, text = open_source(path)
    with f:
        return _parse(kind, f, text)


def _parse(kind: str, f, path: str) -> Header:
    # a header of 10^5 arrays allocates a few hundred thousand small objects and no cycle:
    # the cyclic collector (which would walk them again and again) waits (as _core.gcpause)
    running = gc.isenabled()
    if running:
        gc.disable()
    try:
        header = _PARSERS[kind](f, path)
    finally:
        if running:
            gc.enable()
    header.read_ns = time.time_ns()
    return header


@contextlib.contextmanager
def open_checkpoint(path: Any, format: Optional[str] = None) -> Iterator[Tuple[Header, DataFile]]:
    """The header of a checkpoint and the open file its values are read from, one version.

    >>> import os, tempfile, numpy as np
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.npz'); np.savez(f, w=np.arange(3.0))
    >>> with open_checkpoint(f) as (h, src):
    ...     read_host(h, src=src)['w'].tolist()
    [0.0, 1.0, 2.0]
    """
    header, src = open_with_header(path, format)
    with src:
        yield header, src
        src.check()


def open_with_header(path: Any, format: Optional[str] = None) -> Tuple[Header, DataFile]:
    """:func:`open_checkpoint` without the ``with``: the caller closes the file (and calls
    its ``check()`` after a clean read)."""
    kind = format_of(path, format)
    src = DataFile.open(path)
    try:
        header = _parse(kind, src.file, src.path)
        if header.stamp != src.stamp:
            raise changed_error(src.path)
    except BaseException:
        src.close()
        raise
    return header, src


def _layout(header: Header):
    return (header.file_size, header.names, header.arrays, header.metadata, header.aliases)


def open_values(header: Header) -> DataFile:
    """The file ``header`` was read from, opened again for its values, or a CheckpointError.

    The file must still be the version the header describes: the same :data:`Stamp`
    (device, inode, size, times) and, when it was modified within :data:`SETTLE_NS` of
    the header's read (a replacement inside one tick of a coarse file-system clock could
    reuse the inode with equal times), the same layout read again from the open file.
    """
    src = DataFile.open(header.path)
    try:
        if header.stamp is None:  # a header built by hand: nothing to compare
            return src
        if src.stamp != header.stamp:
            raise changed_error(header.path)
        read_ns = header.read_ns
        settled = read_ns is not None and header.stamp[3] < read_ns - SETTLE_NS \
            and header.stamp[4] < read_ns - SETTLE_NS
        if not settled and not header.verified:
            again = _PARSERS[header.format](src.file, src.path)
            if again.stamp != header.stamp or _layout(again) != _layout(header):
                raise changed_error(header.path)
            header.verified = True
        return src
    except BaseException:
        src.close()
        raise


@contextlib.contextmanager
def _values_of(header: Header, src: Optional[DataFile]) -> Iterator[DataFile]:
    if src is not None:
        yield src
        return
    opened = open_values(header)
    with opened:
        yield opened
        opened.check()


def read_host(header: Header, names: Optional[List[str]] = None, *,
              src: Optional[DataFile] = None, allow_expand: bool = False) -> "OrderedDict[str, onp.ndarray]":
    """Arrays of a file as numpy arrays (sparse ``.params`` arrays dense), by name, from
    ``src`` (the file held open for the call) or the header's file opened again. An array
    whose dense size its stored bytes do not justify needs ``allow_expand`` (see
    :func:`~gluon_params_kit._io.header.check_expansion`); one that does not fit in memory
    is a CheckpointError naming it."""
    wanted = header.names if names is None else names
    for name in wanted:
        check_expansion(header.path, name, header[name], allow_expand)
    with _values_of(header, src) as f:
        out: "OrderedDict[str, onp.ndarray]" = OrderedDict()
        for name in wanted:
            try:
                if header.format == "safetensors":
                    out.update(_safetensors.read_arrays(f, header, [name]))
                elif header.format == "npz":
                    out.update(_npz.read_arrays(f, header, [name]))
                else:
                    out[name] = _header.read_array(f, header[name])
            except (MemoryError, ValueError, OverflowError) as exc:
                if isinstance(exc, CheckpointError):
                    raise
                info = header[name]
                raise CheckpointError(f"cannot hold array {name!r} of {header.path!r} (shape "
                                      f"{info.shape}, {info.dtype}) in memory: {exc}") from None
        return out


def iter_values(header: Header, info: ArrayInfo, chunk_values: int = CHUNK_VALUES,
                buffer: Optional[bytearray] = None, *, src: Optional[DataFile] = None,
                allow_expand: bool = False) -> Iterator[onp.ndarray]:
    """The flat C-order values of one array, ``chunk_values`` at a time.

    Pieces may be views of one reused buffer: use each before asking for the next.
    bfloat16 comes as MXNet's record dtype (:func:`as_float` turns it into float32).
    Sparse arrays and Fortran-order members come in C order piece by piece (bounded
    memory); one whose dense size its stored bytes do not justify needs ``allow_expand``
    (see :func:`~gluon_params_kit._io.header.check_expansion`). ``.npz`` members are
    CRC-checked after their last piece.
    """
    if info.shape is None or info.dtype is None or info.size == 0:  # no shape: no dtype either
        return
    check_expansion(header.path, header.name_at(info.index), info, allow_expand)
    native = numpy_dtype(info.dtype)
    dt = native.newbyteorder(">") if info.big_endian else native
    pieces = _iter_stored_values(header, info, dt, chunk_values, buffer, src)
    if info.big_endian:  # handed out in native order
        pieces = (p.astype(native) for p in pieces)
    yield from pieces


def _iter_stored_values(header: Header, info: ArrayInfo, dt: onp.dtype, chunk_values: int,
                        buffer: Optional[bytearray], src: Optional[DataFile]) -> Iterator[onp.ndarray]:
    with _values_of(header, src) as f:
        if info.stype != "default":
            yield from _header.iter_dense(f, info, chunk_values)
        elif info.fortran_order:
            yield from _fortran_values(f, header, info, dt, chunk_values)
        elif info.offset >= 0:
            pieces = (_npz.iter_stored(f, header, info, chunk_values * dt.itemsize, buffer)
                      if header.format == "npz" else
                      f.iter_range(info.offset, info.nbytes, chunk_values * dt.itemsize, buffer,
                                   repr(info.name)))
            for raw in pieces:
                yield onp.frombuffer(raw, dtype=dt)
        else:  # deflated member: inflate piece by piece
            yield from _whole_items(_npz.iter_member(f, header, info, chunk_values * dt.itemsize), dt)


def _whole_items(pieces: Iterator[bytes], dt: onp.dtype) -> Iterator[onp.ndarray]:
    carry = b""
    for data in pieces:
        data = carry + data
        whole = len(data) - len(data) % dt.itemsize
        carry = data[whole:]
        if whole:
            yield onp.frombuffer(data[:whole], dtype=dt)


#: Values a Fortran-order member is put in C order by at a time (each piece's tile).
FORTRAN_BLOCK = 1 << 22


def _fortran_values(src: DataFile, header: Header, info: ArrayInfo, dt: onp.dtype,
                    chunk_values: int) -> Iterator[onp.ndarray]:
    """A Fortran-order member's values in C order, a tile of rows at a time, read from a
    file that allows random access: the member itself when stored, else a temporary file
    it is inflated into (memory stays at one tile either way)."""
    if info.offset >= 0:
        # the member's CRC first (one sequential pass), then the values in C order
        for _ in _npz.iter_stored(src, header, info, chunk_values * dt.itemsize):
            pass
        yield from _transposed(lambda pos, out: src.readinto(info.offset + pos, out, repr(info.name)),
                               info, dt, chunk_values)
        return
    with tempfile.TemporaryFile(prefix="gpk-fortran-") as tmp:
        for data in _npz.iter_member(src, header, info, chunk_values * dt.itemsize):
            tmp.write(data)
        tmp.flush()
        spill = DataFile(tmp, f"{header.path} ({info.member}, inflated)")
        yield from _transposed(lambda pos, out: spill.readinto(pos, out), info, dt, chunk_values)


def _transposed(read_at: Callable[[int, Any], None], info: ArrayInfo, dt: onp.dtype,
                chunk_values: int) -> Iterator[onp.ndarray]:
    """C-order pieces of an array stored in Fortran order (``read_at(byte, out)`` reads).

    The stored bytes are a C-order array of the reversed shape: ``lines`` runs of
    ``shape[0]`` values each. Rows ``a .. b-1`` of the array need values ``a .. b-1`` of
    every line: read as one short run per line (many small reads) or by passes over the
    whole member (few large reads), whichever costs less.
    """
    assert info.shape is not None
    shape, size = tuple(info.shape), info.size
    d0 = shape[0]
    lines = size // d0
    item = dt.itemsize
    rows = max(1, FORTRAN_BLOCK // lines)  # rows per tile
    tiles = -(-d0 // rows)
    by_runs = lines * tiles * 15e-6 + size * item / 2e9  # a read call from Python: ~15 us
    by_passes = tiles * size * item / 2e9
    for a in range(0, d0, rows):
        b = min(d0, a + rows)
        tile = onp.empty((lines, b - a), dt)
        if by_runs <= by_passes:
            for q in range(lines):
                read_at((q * d0 + a) * item, tile[q].view(onp.uint8))
        else:
            per = max(1, FORTRAN_BLOCK // d0)  # whole lines per read
            buf = onp.empty(per * d0, dt)
            for q in range(0, lines, per):
                n = min(per, lines - q)
                read_at(q * d0 * item, buf[:n * d0].view(onp.uint8))
                tile[q:q + n] = buf[:n * d0].reshape(n, d0)[:, a:b]
        block = onp.ascontiguousarray(tile.reshape(shape[:0:-1] + (b - a,)).T).reshape(-1)
        for i in range(0, block.size, chunk_values):
            yield block[i:i + chunk_values]


def as_float(a: onp.ndarray) -> onp.ndarray:
    """Values as a float array numpy can reduce (bfloat16 records -> exact float32)."""
    if a.dtype == BFLOAT16 or a.dtype.names:
        from .header import bfloat16_to_float32
        return bfloat16_to_float32(a)
    return a
