"""Streamed writers: ``.params`` files as ``mx.nd.save`` writes them, ``.safetensors`` files
as the library lays them out, both from records whose data comes in pieces.

A :class:`Record` says what one array is (name, shape, dtype, storage) and how its data
bytes get to the file (``fill(sink)``); the writers put the format's framing around
them, so memory stays at the :class:`Sink`'s buffer whatever the file's size, and work
per array is a few ``struct.pack`` calls and a copy into that buffer.

``.params`` (MXNet's NDArray list format, ``NDArray::Save`` in src/ndarray/ndarray.cc;
see :mod:`.params` for the layout): in nd mode each array is a V2 record (magic
0xF993FAC9), in np mode (np shape semantics) a V3 record (0xF993FACA), whose 0-d and
zero-size shapes are known shapes. A sparse record (nd mode only: MXNet refuses to save
sparse arrays under np shape semantics) carries its storage shape, and its index arrays'
dtypes and shapes after the dtype; its data is the stored values, then the indices. The
bytes equal ``mx.nd.save``'s for the arrays ``mx.nd.load`` gives back
(``tests/test_convert_stream.py`` compares them).

``.npz`` (uncompressed): :func:`write_npz`, a zip of stored ``.npy`` members.

``.safetensors``: an 8-byte little-endian header length, the JSON header (compact, with
``__metadata__`` first, padded with spaces to a multiple of 8 bytes), the data. Tensors
are laid out in the library's order (by dtype, widest first, then by name), so the
safetensors library and the kit's reader read the file as one the library wrote.

Nothing here imports mxnet.
"""
from __future__ import annotations

import functools
import io
import json
import os
import struct
import threading
import time
import zlib
from typing import Any, Callable, Dict, Iterable, List, Mapping, NamedTuple, Optional, Tuple

import numpy as onp
from numpy.lib import format as npy

from ..errors import CheckpointError
from .files import copy_range, end_at, open_to_write, start_writeback
from .header import DataFile
from .params import DTYPES, LIST_MAGIC, STYPES, V2_MAGIC, V3_MAGIC

__all__ = ["CONTEXTS", "MEMORY_SINK_BUFFER", "TYPE_FLAGS", "Record", "SAFETENSORS_CODES", "Sink", "context_ids", "safetensors_order", "sink_to_file",
           "npy_header", "write_npz", "write_params", "write_safetensors"]

#: numpy dtype name (``'bfloat16'`` for MXNet's own) -> mshadow type flag.
TYPE_FLAGS = _FLAGS = {name: flag for flag, (name, _size) in DTYPES.items()}
_STYPE_IDS = {name: i for i, name in STYPES.items()}
#: Device type names as the ``.params`` reader shows them -> MXNet's device type id.
CONTEXTS = {"cpu": 1, "gpu": 2, "cpu_pinned": 3, "cpu_shared": 5}
#: numpy dtype name -> safetensors dtype code, in the library's order (its ``Dtype`` enum:
#: tensors are laid out by that order, last first, then by name).
SAFETENSORS_CODES = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
                     "float16": "F16", "bfloat16": "BF16", "int32": "I32", "uint32": "U32",
                     "float32": "F32", "float64": "F64", "int64": "I64", "uint64": "U64"}
_ST_RANK = {code: i for i, code in enumerate(SAFETENSORS_CODES.values())}

#: Bytes the sink gathers before one write; arrays at least this big are copied on their
#: own (by the kernel when they come straight from a file).
SINK_BUFFER = 8 << 20
#: The sink's buffer when every array is in memory (a save): big arrays are written from
#: their own memory, so the buffer only gathers small ones.
MEMORY_SINK_BUFFER = 1 << 20


class Record(NamedTuple):
    """One array to write: the writer's ``fill(sink, record)`` writes its ``nbytes`` data
    bytes (C order, little-endian; a sparse ``.params`` array's stored values, then its
    indices), from what ``source`` says (one function for every record: no closure each)."""

    name: str
    shape: Optional[Tuple[int, ...]]  # None: an empty handle (``.params`` only)
    dtype: str
    nbytes: int
    source: Any = None
    context: Tuple[int, int] = (1, 0)
    stype: str = "default"
    storage_shape: Optional[Tuple[int, ...]] = None
    aux: Tuple[Tuple[str, Tuple[int, ...]], ...] = ()


@functools.lru_cache(maxsize=64)
def context_ids(context: str) -> Tuple[int, int]:
    """``'cpu(0)'`` -> ``(1, 0)``, as ``NDArray::Save`` writes a context; anything else
    (a format that records none) is ``cpu(0)``.

    >>> context_ids('cpu_pinned(2)'), context_ids('')
    ((3, 2), (1, 0))
    """
    kind, _, rest = context.partition("(")
    if kind in CONTEXTS and rest.endswith(")") and rest[:-1].isdigit():
        return CONTEXTS[kind], int(rest[:-1])
    if kind.startswith("dev") and kind[3:].isdigit() and rest[:-1].isdigit():
        return int(kind[3:]), int(rest[:-1])
    return 1, 0


def sink_to_file(path: str, writeback: bool, write: Callable[["Sink"], None]) -> int:
    """Write ``path`` from byte 0 through a :class:`Sink` of :data:`MEMORY_SINK_BUFFER` bytes
    (``write(sink)``), cut the file where the writing ended; the bytes written.

    >>> import os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.bin')
    >>> sink_to_file(f, False, lambda sink: sink.write(b'abc')), open(f, 'rb').read()
    (3, b'abc')
    """
    fd = open_to_write(path)
    try:
        sink = Sink(fd, buffer_bytes=MEMORY_SINK_BUFFER, writeback=writeback)
        write(sink)
        sink.close()
        end_at(fd, sink.pos)
    finally:
        os.close(fd)
    return sink.pos


class Sink:
    """Positional writes to an open file through one buffer: small pieces are gathered,
    big ones written from their own memory, byte ranges of another open file copied by
    the kernel (``copy_file_range``) when big. With ``writeback`` (for a file about to be
    flushed, or renamed over another), each ~8 MiB written is handed to the disk at once
    (:func:`~.files.start_writeback`). ``progress(n)`` is told every data byte.

    >>> import os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), 'x')
    >>> fd = os.open(f, os.O_RDWR | os.O_CREAT)
    >>> sink = Sink(fd); sink.write(b'ab'); sink.write(memoryview(b'cd')); sink.close(); os.close(fd)
    >>> open(f, 'rb').read(), sink.pos
    (b'abcd', 4)
    """

    def __init__(self, fd: int, *, buffer_bytes: int = SINK_BUFFER,
                 progress: Optional[Callable[[int], Any]] = None, writeback: bool = True):
        self.fd, self.pos = fd, 0
        self._writeback = writeback
        self._buf = bytearray(buffer_bytes)
        self._view = memoryview(self._buf)
        self._used = 0
        self._started = 0  # bytes already handed to the disk
        self._progress = progress
        self._crc: Optional[int] = None  # CRC-32 of what is written since begin_crc()

    def begin_crc(self) -> None:
        """Start a CRC-32 of everything written from here (:meth:`end_crc` gives it)."""
        self._crc = 0

    def end_crc(self) -> int:
        crc, self._crc = self._crc, None
        assert crc is not None  # begin_crc() came first
        return crc

    def write(self, data: Any, *, counted: bool = False) -> None:
        """Append ``data`` (bytes-like); ``counted``: data bytes for the progress bar."""
        view = memoryview(data).cast("B")
        n = view.nbytes
        if self._crc is not None:
            self._crc = zlib.crc32(view, self._crc)
        if n > len(self._buf) - self._used:
            self.flush()
            if n >= len(self._buf):
                self._pwrite(view)
                self._count(n, counted)
                return
        self._view[self._used:self._used + n] = view
        self._used += n
        self._count(n, counted)

    def copy(self, src: DataFile, offset: int, nbytes: int, what: str = "") -> None:
        """Append the ``nbytes`` bytes of ``src`` at ``offset`` (data bytes)."""
        if nbytes >= len(self._buf) and hasattr(os, "pread"):
            self.flush()
            worker: Optional[threading.Thread] = None
            found: Dict[str, Any] = {}
            if self._crc is not None:  # from the source's bytes, while the kernel copies them
                start = self._crc

                def crc_job() -> None:
                    try:
                        crc = start
                        for piece in src.iter_range(offset, nbytes, 4 << 20, what=what):
                            crc = zlib.crc32(piece, crc)
                        found["crc"] = crc
                    except BaseException as exc:  # noqa: BLE001  (re-raised in the writer's thread)
                        found["error"] = exc
                worker = threading.Thread(target=crc_job, name="gpk-crc", daemon=True)
                worker.start()
            try:
                copy_range(src.fileno(), self.fd, offset, self.pos, nbytes)
            finally:
                if worker is not None:
                    worker.join()
            if "error" in found:
                raise found["error"]
            if worker is not None:
                self._crc = found["crc"]
            self.pos += nbytes
            self._started = self.pos  # copy_range handed each piece to the disk
            self._count(nbytes, True)
            return
        while nbytes:
            room = len(self._buf) - self._used
            if not room:
                self.flush()
                continue
            n = min(room, nbytes)
            src.readinto(offset, self._view[self._used:self._used + n], what)
            if self._crc is not None:
                self._crc = zlib.crc32(self._view[self._used:self._used + n], self._crc)
            self._used += n
            offset, nbytes = offset + n, nbytes - n
            self._count(n, True)

    @property
    def written(self) -> int:
        """Bytes written so far, gathered ones included."""
        return self.pos + self._used

    def patch(self, offset: int, data: bytes) -> None:
        """Overwrite bytes written earlier (in the buffer, or in the file)."""
        if offset >= self.pos:
            self._view[offset - self.pos:offset - self.pos + len(data)] = data
        else:
            end = min(len(data), self.pos - offset)
            os.pwrite(self.fd, data[:end], offset)
            if end < len(data):
                self._view[:len(data) - end] = data[end:]

    def flush(self) -> None:
        if self._used:
            self._pwrite(self._view[:self._used])
            self._used = 0

    def close(self) -> None:
        """Write what is gathered; the caller fsyncs and closes the file."""
        self.flush()
        if self._writeback:
            start_writeback(self.fd, self._started, self.pos - self._started)
        self._started = self.pos

    def _pwrite(self, view: memoryview) -> None:
        while view.nbytes:
            n = os.pwrite(self.fd, view, self.pos) if hasattr(os, "pwrite") else self._seek_write(view)
            view, self.pos = view[n:], self.pos + n
        if self.pos - self._started >= SINK_BUFFER and self._writeback:
            start_writeback(self.fd, self._started, self.pos - self._started)
            self._started = self.pos

    def _seek_write(self, view: memoryview) -> int:  # no pwrite (Windows)
        os.lseek(self.fd, self.pos, os.SEEK_SET)
        return os.write(self.fd, view)

    def _count(self, n: int, counted: bool) -> None:
        if counted and self._progress is not None and n:
            self._progress(n)


def _shape(dims: Tuple[int, ...]) -> bytes:
    return struct.pack(f"<i{len(dims)}q", len(dims), *dims)


def _record_head(rec: Record, np_shape: bool) -> bytes:
    """Everything ``NDArray::Save`` writes for one array before its data."""
    stype = _STYPE_IDS[rec.stype]
    head = struct.pack("<Ii", V3_MAGIC if np_shape else V2_MAGIC, stype)
    if stype:
        assert rec.storage_shape is not None  # a sparse record always has one
        head += _shape(rec.storage_shape)
    if rec.shape is None:  # an empty handle: an unknown shape ends the record
        return head + struct.pack("<i", -1 if np_shape else 0)
    head += _shape(rec.shape) + struct.pack("<iii", rec.context[0], rec.context[1], _FLAGS[rec.dtype])
    for dtype, shape in rec.aux:
        head += struct.pack("<i", _FLAGS[dtype]) + _shape(shape)
    return head


Fill = Callable[[Sink, Record], None]


def write_params(sink: Sink, records: Iterable[Record], count: int, fill: Fill, *, named: bool = True,
                 np_shape: bool = False) -> None:
    """A ``.params`` file of ``count`` records (a dict of their names, or a list).

    >>> import os, tempfile, numpy as np
    >>> from gluon_params_kit._io.params import read_header
    >>> f = os.path.join(tempfile.mkdtemp(), 'w.params'); fd = os.open(f, os.O_RDWR | os.O_CREAT)
    >>> data = np.arange(6, dtype='float32')
    >>> rec = Record('w', (2, 3), 'float32', data.nbytes, data)
    >>> sink = Sink(fd); write_params(sink, [rec], 1, lambda s, r: s.write(r.source)); sink.close()
    >>> os.close(fd)
    >>> h = read_header(f); h.names, h['w'].shape, h['w'].dtype
    (['w'], (2, 3), 'float32')
    """
    names: List[bytes] = []
    sink.write(struct.pack("<QQQ", LIST_MAGIC, 0, count))
    written = 0
    for rec in records:
        sink.write(_record_head(rec, np_shape))
        if rec.shape is not None:
            start = sink.written
            fill(sink, rec)
            if sink.written - start != rec.nbytes:
                raise CheckpointError(f"array {rec.name!r} gave {sink.written - start} data "
                                 f"bytes, not {rec.nbytes}")
        if named:
            raw = rec.name.encode("utf-8")
            names.append(struct.pack("<Q", len(raw)) + raw)
        written += 1
    if written != count:
        raise CheckpointError(f"{written} arrays written, {count} announced")
    sink.write(struct.pack("<Q", len(names)))
    for piece in names:
        sink.write(piece)


def safetensors_order(records: List[Record]) -> List[Record]:
    """``records`` in the order the safetensors library lays tensors out."""
    return sorted(records, key=lambda r: (-_ST_RANK[SAFETENSORS_CODES[r.dtype]], r.name))


def write_safetensors(sink: Sink, records: List[Record], metadata: Mapping[str, str], fill: Fill) -> None:
    """A ``.safetensors`` file of ``records`` (dense, any order given) and ``metadata``.

    >>> import os, tempfile, numpy as np
    >>> from safetensors.numpy import load_file
    >>> f = os.path.join(tempfile.mkdtemp(), 'w.safetensors'); fd = os.open(f, os.O_RDWR | os.O_CREAT)
    >>> a, b = np.arange(3.0), np.ones((2, 2), 'float16')
    >>> recs = [Record(k, v.shape, str(v.dtype), v.nbytes, v) for k, v in [('b', b), ('a', a)]]
    >>> sink = Sink(fd); write_safetensors(sink, recs, {'x': '1'}, lambda s, r: s.write(r.source))
    >>> sink.close(); os.close(fd)
    >>> {k: v.tolist() for k, v in load_file(f).items()}
    {'a': [0.0, 1.0, 2.0], 'b': [[1.0, 1.0], [1.0, 1.0]]}
    """
    ordered = safetensors_order(records)
    table: Dict[str, Any] = {}
    if metadata:
        table["__metadata__"] = dict(metadata)
    start = 0
    for rec in ordered:
        assert rec.shape is not None and rec.stype == "default"
        table[rec.name] = {"dtype": SAFETENSORS_CODES[rec.dtype], "shape": list(rec.shape),
                           "data_offsets": [start, start + rec.nbytes]}
        start += rec.nbytes
    text = json.dumps(table, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    sink.write(struct.pack("<Q", len(text)))
    sink.write(text)
    for rec in ordered:
        before = sink.written
        fill(sink, rec)
        if sink.written - before != rec.nbytes:
            raise CheckpointError(f"tensor {rec.name!r} gave {sink.written - before} data "
                             f"bytes, not {rec.nbytes}")


def npy_header(dtype: Any, shape: Tuple[int, ...]) -> bytes:
    """The ``.npy`` header ``numpy.save`` writes for a C-order array of ``dtype`` and ``shape``.

    >>> head = npy_header('float32', (2,)); head[1:6], len(head) % 64
    (b'NUMPY', 0)
    """
    buf = io.BytesIO()
    header = dict(descr=npy.dtype_to_descr(onp.dtype(dtype)), fortran_order=False, shape=tuple(shape))
    try:
        npy.write_array_header_1_0(buf, header)
    except ValueError:  # too long for version 1.0
        buf = io.BytesIO()
        npy.write_array_header_2_0(buf, header)
    return buf.getvalue()


def _dos_time(now: float) -> Tuple[int, int]:
    t = time.localtime(now)
    return ((t.tm_year - 1980) << 9 | t.tm_mon << 5 | t.tm_mday,
            t.tm_hour << 11 | t.tm_min << 5 | t.tm_sec // 2)


_U32 = 0xFFFFFFFF


def write_npz(sink: Sink, records: List[Record], npy_header: Callable[[Record], bytes], fill: Fill) -> None:
    """An uncompressed ``.npz`` (a zip of stored ``.npy`` members, zip64 throughout, as
    ``zipfile`` writes with ``force_zip64``): per member a local header (its CRC-32 put in
    once the data is written: from the sink's buffer, or read back from the file for a
    member bigger than the buffer), the ``.npy`` header ``npy_header(record)``, the data;
    then the central directory. Work per member: a few ``struct.pack`` calls.

    >>> import os, tempfile, numpy as np
    >>> f = os.path.join(tempfile.mkdtemp(), 'w.npz'); fd = os.open(f, os.O_RDWR | os.O_CREAT)
    >>> a = np.arange(3.0)
    >>> sink = Sink(fd); write_npz(sink, [Record('a', (3,), 'float64', 24, a)],
    ...                            lambda r: npy_header(r.dtype, r.shape), lambda s, r: s.write(r.source))
    >>> sink.close(); os.close(fd)
    >>> np.load(f)['a'].tolist()
    [0.0, 1.0, 2.0]
    """
    date, clock = _dos_time(time.time())
    central: List[bytes] = []
    for rec in records:
        raw = (rec.name + ".npy").encode("utf-8")
        flags = 0 if raw.isascii() else 0x800
        head = npy_header(rec)
        size = len(head) + rec.nbytes
        at = sink.written
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, flags, 0, clock, date, 0, _U32, _U32,
                            len(raw), 20) + raw + struct.pack("<HHQQ", 1, 16, size, size)
        sink.write(local)
        sink.begin_crc()
        sink.write(head)
        start = sink.written
        fill(sink, rec)
        crc = sink.end_crc()
        if sink.written - start != rec.nbytes:
            raise CheckpointError(f"member {rec.name!r} gave {sink.written - start} data bytes, not {rec.nbytes}")
        sink.patch(at + 14, struct.pack("<I", crc))
        extra, fields = b"", []
        for value in (size, size, at):
            if value >= _U32:
                fields.append(value)
        if fields:
            extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 3 << 8 | 45, 45, flags, 0, clock, date,
                                   crc, min(size, _U32), min(size, _U32), len(raw), len(extra), 0, 0, 0,
                                   0o600 << 16, min(at, _U32)) + raw + extra)
    cd_start = sink.written
    for entry in central:
        sink.write(entry)
    cd_size, n = sink.written - cd_start, len(central)
    if n >= 0xFFFF or cd_start >= _U32 or cd_size >= _U32:
        end64 = sink.written
        sink.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 3 << 8 | 45, 45, 0, 0, n, n, cd_size, cd_start))
        sink.write(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
    sink.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, min(n, 0xFFFF), min(n, 0xFFFF),
                           min(cd_size, _U32), min(cd_start, _U32), 0))
