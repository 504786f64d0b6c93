"""``.npz`` files: the header from the zip directory and each ``.npy`` header, data unread.

An ``.npz`` is a zip of ``NAME.npy`` members. :func:`read_header` reads the central
directory, then each member's local header and ``.npy`` header (magic, version, dtype,
shape, order) and nothing more; a stored (not deflated) member's data offset in the file is
known from those, so its values can be streamed like any other format's. Only plain
numeric dtypes are accepted (never an object dtype: no pickle), and each member's size
must be exactly what its ``.npy`` header says. Values are read from the file held open for
the call (a :class:`~gluon_params_kit._io.header.DataFile`), never by path again, and every
member read is CRC-checked as ``numpy.load`` (through ``zipfile``) checks it: a stored
member's CRC over the same pieces the caller gets, a deflated one by ``zipfile`` at its
end. Writing streams each array into its member.
"""
from __future__ import annotations

import ast
import io
import os
import re
import struct
import sys
import threading
import time
import zipfile
import zlib
from collections import OrderedDict
from typing import Any, BinaryIO, Iterable, Iterator, Mapping, Optional, Tuple

import numpy as onp
from numpy.lib import format as npy

from ..errors import CheckpointError
from .files import copy_range, open_source
from .header import BFLOAT16, ArrayInfo, DataFile, Header, file_stamp

__all__ = ["MAX_KEY_BYTES", "SMALL_MEMBER", "check_member", "iter_member", "iter_stored", "parse", "read_arrays",
           "read_header", "write"]

#: Longest zip entry name (``key + '.npy'``, UTF-8 bytes) a ``.npz`` can hold.
MAX_KEY_BYTES = 0xFFFF
_LOCAL = struct.Struct("<IHHHHHIIIHH")  # zip local file header (30 bytes)
_BAD_ZIP = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            NotImplementedError, zlib.error, struct.error, SyntaxError)


def _fail(path: str, what: str) -> CheckpointError:
    return CheckpointError(f"cannot read {path!r} as .npz: {what}")


def read_header(path: Any) -> Header:
    """Names, shapes and dtypes of a ``.npz`` (``numpy.savez``, ``export_npz``), data unread.

    >>> import os, tempfile, numpy as np
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.npz')
    >>> np.savez(f, w=np.ones((2, 3), np.float32), b=np.zeros(2, np.int64))
    >>> h = read_header(f); [(k, a.shape, a.dtype) for k, a in h.items()]
    [('w', (2, 3), 'float32'), ('b', (2,), 'int64')]
    """
    f, path = open_source(path)
    with f:
        return parse(f, path)


def parse(f: BinaryIO, path: str) -> Header:
    """:func:`read_header` of a file already open (at any position)."""
    stamp = file_stamp(f.fileno())
    try:
        f.seek(0)
        with zipfile.ZipFile(f) as z:
            arrays = [_member(z, f, path, info, i) for i, info in enumerate(z.infolist())]
    except CheckpointError:
        raise
    except _BAD_ZIP as exc:
        raise _fail(path, f"{type(exc).__name__}: {exc}") from None
    except RecursionError:
        raise _fail(path, "its zip directory is nested too deeply") from None
    names = [a.name for a in arrays]
    if len(set(names)) != len(names):
        raise _fail(path, "two members have the same name")
    np_shape = any(a.size == 0 or a.shape == () for a in arrays)
    return Header(path, stamp[2], arrays, True, format="npz", np_shape=np_shape, stamp=stamp)


def _member(z: zipfile.ZipFile, f, path: str, info: zipfile.ZipInfo, i: int) -> ArrayInfo:
    if not info.filename.endswith(".npy"):
        raise _fail(path, f"member {info.filename!r} is not an .npy array")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _fail(path, f"member {info.filename!r} uses compression {info.compress_type}; "
                          f"only stored and deflated members are read")
    offset = -1
    if info.compress_type == zipfile.ZIP_STORED:
        # straight from the file, as ZipFile.open checks it (its magic, name and flags),
        # without a ZipExtFile per member (10^5 members: most of the header's time)
        f.seek(info.header_offset)
        fields = _LOCAL.unpack(f.read(_LOCAL.size))
        if fields[0] != 0x04034B50:
            raise zipfile.BadZipFile(f"bad magic number for member {info.filename!r}")
        if f.read(fields[9]) != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
            raise zipfile.BadZipFile(f"file name in directory {info.orig_filename!r} and header differ")
        if info.flag_bits & 0x1 or fields[2] & 0x1:
            raise NotImplementedError(f"member {info.filename!r} is encrypted")
        f.seek(fields[10], os.SEEK_CUR)
        shape, fortran, dtype, head = _npy_header(f, path, info.filename)
        offset = info.header_offset + _LOCAL.size + fields[9] + fields[10] + len(head)
    else:
        with z.open(info) as m:
            shape, fortran, dtype, head = _npy_header(m, path, info.filename)
    hlen = len(head)
    count = 1
    for d in shape:
        count *= d
    nbytes = count * dtype.itemsize
    if info.file_size != hlen + nbytes:
        raise _fail(path, f"member {info.filename!r} holds {info.file_size - hlen} bytes of "
                          f"data, not the {nbytes} its .npy header says")
    name = info.filename[:-4]
    kind = _NAMES.get(dtype)
    if kind is None:
        kind = _NAMES[dtype] = "bfloat16" if dtype == BFLOAT16 else dtype.name
    deflated = info.compress_type != zipfile.ZIP_STORED
    return ArrayInfo(name, shape, kind, "default", "", offset, nbytes, 0, i, member=info.filename,
                     fortran_order=fortran and len(shape) > 1, crc=(zlib.crc32(head), info.CRC),
                     compressed_nbytes=info.compress_size if deflated else -1,
                     big_endian=dtype.byteorder == ">" or (dtype.byteorder == "=" and sys.byteorder == "big"))


#: The header numpy writes (``write_array_header_1_0``/``2_0``), read without
#: ``ast.literal_eval`` (which compiles each one: ~70 us a member); anything else is
#: read by ``literal_eval`` as before.
_CANONICAL = re.compile(r"\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': (True|False), "
                        r"'shape': \(((?:\d+, )*\d+,?|)\), \} *\n?\Z")
_DTYPES: dict = {}  # descr -> dtype
_NAMES: dict = {}  # dtype -> its name in an ArrayInfo


def _canonical(text: str) -> Optional[Tuple[str, bool, Tuple[int, ...]]]:
    m = _CANONICAL.match(text)
    if m is None:
        return None
    dims = m.group(3).replace(",", " ").split()
    return m.group(1), m.group(2) == "True", tuple(int(d) for d in dims)


def _npy_header(m, path: str, member: str) -> Tuple[Tuple[int, ...], bool, onp.dtype, bytes]:
    """Shape, Fortran order, dtype and the bytes of a member's ``.npy`` header."""
    try:
        version = npy.read_magic(m)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unknown .npy version {version}")
        hsize = struct.unpack("<H" if version == (1, 0) else "<I",
                              m.read(2 if version == (1, 0) else 4))[0]
        if hsize > 1 << 20:
            raise ValueError(f"an .npy header of {hsize} bytes")
        text = m.read(hsize)
        if len(text) != hsize:
            raise ValueError("the .npy header is truncated")
        decoded = text.decode("latin1" if version < (3, 0) else "utf8")
        fast = _canonical(decoded)
        if fast is not None:
            descr, fortran, shape = fast
            dtype = _DTYPES.get(descr)
            if dtype is None:
                dtype = _DTYPES[descr] = npy.descr_to_dtype(descr)
        else:
            d = ast.literal_eval(decoded)
            if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
                raise ValueError(f"the .npy header is not a descr/fortran_order/shape dict: {d!r:.80}")
            shape, fortran, descr = d["shape"], d["fortran_order"], d["descr"]
            if not isinstance(shape, tuple) or not all(isinstance(x, int) and x >= 0 for x in shape):
                raise ValueError(f"invalid shape {shape!r}")
            if not isinstance(fortran, bool):
                raise ValueError(f"invalid fortran_order {fortran!r}")
            dtype = npy.descr_to_dtype(descr)
    except CheckpointError:
        raise
    except Exception as exc:  # noqa: BLE001  (whatever a damaged header makes numpy raise)
        raise _fail(path, f"member {member!r}: {exc}") from None
    if dtype.hasobject or (dtype.names and dtype != BFLOAT16) or dtype.kind not in "biufcV":
        raise _fail(path, f"member {member!r} has dtype {dtype}: only plain numeric arrays are "
                          f"read (never objects, which would need pickle)")
    head = (npy.MAGIC_PREFIX + bytes(version)
            + struct.pack("<H" if version == (1, 0) else "<I", hsize) + text)
    return tuple(shape), fortran, dtype, head


def _zip(src: DataFile) -> zipfile.ZipFile:
    """The open file's zip directory, read once per call."""
    z = src.cache.get("zip")
    if z is None:
        src.file.seek(0)
        z = src.cache["zip"] = zipfile.ZipFile(src.file)
    return z


def _damaged(header: Header, info: ArrayInfo, what: str) -> CheckpointError:
    return _fail(header.path, f"member {info.member!r} is damaged ({what}); its values are not "
                              f"read")


def read_arrays(src: DataFile, header: Header,
                names: Optional[Iterable[str]] = None) -> "OrderedDict[str, onp.ndarray]":
    """The arrays as new numpy arrays, read from the open file, each member's CRC checked
    (as ``numpy.load`` does through ``zipfile``); Fortran-order members keep their order."""
    wanted = header.names if names is None else list(names)
    out: "OrderedDict[str, onp.ndarray]" = OrderedDict()
    for name in wanted:
        info = header[name]
        assert info.shape is not None and info.dtype is not None  # every member has both
        dt = BFLOAT16 if info.dtype == "bfloat16" else onp.dtype(info.dtype)
        flat = onp.empty(info.size, dt.newbyteorder(">") if info.big_endian else dt)
        buf = flat.view(onp.uint8)
        if info.offset >= 0:
            if buf.size:
                src.readinto(info.offset, buf, repr(name))
            _check_crc(header, info, zlib.crc32(buf.data, info.crc[0]) if info.crc else None)
        else:
            done = 0
            for piece in iter_member(src, header, info, 1 << 22):
                buf[done:done + len(piece)] = onp.frombuffer(piece, onp.uint8)
                done += len(piece)
        shape = tuple(info.shape)
        if info.big_endian:
            flat = flat.astype(dt)
        out[name] = flat.reshape(shape[::-1]).T if info.fortran_order else flat.reshape(shape)
    return out


def check_member(header: Header, info: ArrayInfo, data: Any) -> None:
    """Check the CRC of a stored member whose data bytes the caller read whole."""
    if info.crc is not None:
        _check_crc(header, info, zlib.crc32(data, info.crc[0]))


def _check_crc(header: Header, info: ArrayInfo, crc: Optional[int]) -> None:
    if crc is not None and info.crc is not None and crc != info.crc[1]:
        raise _damaged(header, info, f"CRC-32 0x{crc:08x}, the zip directory says 0x{info.crc[1]:08x}")


def iter_stored(src: DataFile, header: Header, info: ArrayInfo, chunk_bytes: int,
                buffer: Optional[bytearray] = None) -> Iterator[memoryview]:
    """A stored member's data bytes in pieces of one reused buffer; the member's CRC is
    checked after the last piece (an error then, before the caller's loop ends)."""
    crc = info.crc[0] if info.crc else 0
    for piece in src.iter_range(info.offset, info.nbytes, chunk_bytes, buffer, repr(info.name)):
        crc = zlib.crc32(piece, crc)
        yield piece
    _check_crc(header, info, crc)


def iter_member(src: DataFile, header: Header, info: ArrayInfo, chunk_bytes: int) -> Iterator[bytes]:
    """A deflated member's data bytes (after its ``.npy`` header), ``chunk_bytes`` at a time,
    inflated from the open file; ``zipfile`` checks the CRC at the member's end."""
    member = info.member
    assert member is not None  # every array of an .npz header names its zip entry
    try:
        with _zip(src).open(member) as m:
            _npy_header(m, header.path, member)
            left = info.nbytes
            while left:
                data = m.read(min(left, chunk_bytes))
                if not data:
                    raise _damaged(header, info, "it ends early")
                left -= len(data)
                if not left and m.read(1):  # also makes zipfile check the CRC
                    raise _damaged(header, info, "it is longer than its .npy header says")
                yield data
            if not info.nbytes:
                m.read(1)
    except CheckpointError:
        raise
    except zipfile.BadZipFile as exc:
        raise _damaged(header, info, str(exc)) from None
    except _BAD_ZIP as exc:
        raise _fail(header.path, f"member {member!r}: {type(exc).__name__}: {exc}") from None


def check_keys(keys: Iterable[str]) -> None:
    too_long = [k for k in keys if len((k + ".npy").encode("utf-8")) > MAX_KEY_BYTES]
    if too_long:
        raise CheckpointError(
            f"cannot export {len(too_long)} key(s) to .npz: a zip entry name holds at most "
            f"{MAX_KEY_BYTES} bytes with '.npy', and {too_long[0][:60]!r}... has "
            f"{len(too_long[0].encode('utf-8'))}; rename them first (convert with a remap)")


def write(path: str, arrays: Mapping[str, Any], compressed: bool = False, *,
          writeback: bool = True) -> Optional[int]:
    """Write ``name -> array`` (or a streamed entry, see below) as a ``.npz``; the bytes
    written when the kit wrote them itself (stored members of arrays in memory, each from
    its own memory: :func:`~.params_writer.write_npz`), else ``None`` (``zipfile`` wrote
    them). ``writeback``: hand the bytes to the disk as they are written (for a file about
    to be flushed, or renamed over another).

    A streamed entry is ``(dtype, shape, chunks, source, fortran)``: ``chunks()`` yields the
    data bytes (C order, or Fortran order when ``fortran``: the member then says so, as
    numpy writes a Fortran array; memory stays at one chunk); ``source``, when not None, is
    ``(fd, offset)`` of those same bytes in a file open for reading, which a stored member
    then copies inside the kernel (``copy_file_range``, as ``cp`` does) after one read for
    the CRC.
    """
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    if not compressed and all(isinstance(v, onp.ndarray) and not v.dtype.hasobject for v in arrays.values()):
        return _write_stored(path, arrays, writeback)
    heads: dict = {}  # (dtype, shape, fortran) -> .npy header: many arrays share one
    when = time.localtime(time.time())[:6]

    def head_of(dtype, shape, fortran=False) -> bytes:
        key = (dtype, tuple(shape), fortran)
        head = heads.get(key)
        if head is None:
            head = heads[key] = _npy_header_bytes(dtype, shape, fortran)
        return head

    with zipfile.ZipFile(path, "w", compression=mode, allowZip64=True) as zf:
        for key, value in arrays.items():
            if isinstance(value, tuple):
                dtype, shape, chunks, source, fortran = value
                if not compressed and _count(shape) * onp.dtype(dtype).itemsize <= SMALL_MEMBER:
                    # one write each, the CRC known first: no thread, no seek back per member
                    data = b"".join(bytes(c) for c in chunks())
                    _put_member(zf, key + ".npy", head_of(dtype, shape, fortran), data, when)
                    continue
                if source is not None and not compressed and hasattr(os, "pread"):
                    _copy_member(zf, key + ".npy", *value)
                    continue
                with zf.open(key + ".npy", "w", force_zip64=True) as fh:
                    fh.write(head_of(dtype, shape, fortran))
                    for chunk in chunks():
                        fh.write(chunk)
                continue
            # not ascontiguousarray: it turns a 0-d array into shape (1,)
            arr = onp.require(value, requirements="C")
            if not compressed and not arr.dtype.hasobject and arr.nbytes <= SMALL_MEMBER:
                _put_member(zf, key + ".npy", head_of(arr.dtype, arr.shape),
                            arr.reshape(-1).view(onp.uint8).tobytes(), when)
                continue
            with zf.open(key + ".npy", "w", force_zip64=True) as fh:
                npy.write_array(fh, arr, allow_pickle=False)
    return None


def _write_stored(path: str, arrays: Mapping[str, onp.ndarray], writeback: bool) -> int:
    """An uncompressed ``.npz`` of in-memory arrays, each member's data written from the
    array's own memory (C order; small ones gathered into one buffer); the bytes written."""
    from .params_writer import Record, sink_to_file, write_npz
    heads: dict = {}
    records = []
    for key, value in arrays.items():
        arr = onp.require(value, requirements="C")  # not ascontiguousarray: 0-d stays 0-d
        head = heads.get((arr.dtype, arr.shape))
        if head is None:
            head = heads[arr.dtype, arr.shape] = _npy_header_bytes(arr.dtype, arr.shape)
        records.append(Record(key, arr.shape, arr.dtype.str, arr.nbytes, (arr, head)))
    return sink_to_file(path, writeback, lambda sink: write_npz(sink, records, _stored_head, _stored_fill))


def _stored_head(rec: Any) -> bytes:
    return rec.source[1]


def _stored_fill(sink: Any, rec: Any) -> None:
    if rec.nbytes:
        sink.write(rec.source[0].reshape(-1).view(onp.uint8))


#: Members of at most this many data bytes are written whole, in one write each.
SMALL_MEMBER = 1 << 20


def _count(shape) -> int:
    count = 1
    for d in shape:
        count *= d
    return count


def _put_member(zf: zipfile.ZipFile, name: str, head: bytes, data: bytes, when) -> None:
    """A stored member written whole: what ``ZipFile.writestr`` writes, its CRC computed
    before its local header, so nothing is written twice."""
    info = zipfile.ZipInfo(name, date_time=when)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o600 << 16
    info.file_size = info.compress_size = len(head) + len(data)
    info.CRC = zlib.crc32(data, zlib.crc32(head))
    fp = zf.fp
    assert fp is not None  # zf is open for writing
    info.header_offset = fp.tell()
    zf._writecheck(info)  # type: ignore[attr-defined]  # private ZipFile API, used on purpose
    zf._didModify = True  # type: ignore[attr-defined]  # private ZipFile API, used on purpose
    fp.write(info.FileHeader(zip64=False))
    fp.write(head)
    fp.write(data)
    zf.filelist.append(info)
    zf.NameToInfo[info.filename] = info
    zf.start_dir = fp.tell()


def _npy_header_bytes(dtype: onp.dtype, shape, fortran: bool = False) -> bytes:
    """The ``.npy`` header ``write_array`` would write for this dtype, shape and order."""
    buf = io.BytesIO()
    header = dict(descr=npy.dtype_to_descr(dtype), fortran_order=fortran, shape=tuple(shape))
    (npy.write_array_header_2_0 if _needs_v2(dtype, shape) else npy.write_array_header_1_0)(
        buf, header)
    return buf.getvalue()


def _copy_member(zf: zipfile.ZipFile, name: str, dtype, shape, chunks, source,
                 fortran: bool = False) -> None:
    """A stored member whose data bytes are copied from ``source`` by the kernel.

    Writes what ``ZipFile.open(name, 'w')`` writes for a stored member (a zip64 local
    header, the bytes, the header rewritten with the CRC), then registers the member. The
    CRC is computed by a second thread from its own reads while the kernel copies, so
    the two overlap (both release the GIL).
    """
    src_fd, offset = source
    head = _npy_header_bytes(dtype, shape, fortran)
    count = 1
    for d in shape:
        count *= d
    nbytes = count * onp.dtype(dtype).itemsize
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o600 << 16
    info.file_size = info.compress_size = len(head) + nbytes
    info.CRC = 0  # rewritten once the data is in
    found: dict = {}

    def crc_job():
        try:
            crc = zlib.crc32(head)
            for chunk in chunks():
                crc = zlib.crc32(chunk, crc)
            found["crc"] = crc
        except BaseException as exc:  # noqa: BLE001  (re-raised in the writer's thread)
            found["error"] = exc

    fp = zf.fp
    assert fp is not None  # zf is open for writing: the caller is adding members to it
    info.header_offset = fp.tell()
    # what ZipFile.open(name, 'w') does before writing a member (typeshed omits these names)
    zf._writecheck(info)  # type: ignore[attr-defined]  # private ZipFile API, used on purpose
    zf._didModify = True  # type: ignore[attr-defined]  # private ZipFile API, used on purpose
    fp.write(info.FileHeader(zip64=True))
    fp.write(head)
    fp.flush()
    worker = threading.Thread(target=crc_job, name="gpk-npz-crc", daemon=True)
    worker.start()
    out_fd, pos = fp.fileno(), fp.tell()
    try:
        # from the source file held open for the call (never its path again): in the
        # kernel, or by hand across file systems
        pos += copy_range(src_fd, out_fd, offset, pos, nbytes)
    finally:
        worker.join()
    if "error" in found:
        raise found["error"]
    info.CRC = found["crc"]
    fp.seek(info.header_offset)
    fp.write(info.FileHeader(zip64=True))  # same length: only the CRC changed
    fp.seek(pos)
    zf.filelist.append(info)
    zf.NameToInfo[info.filename] = info
    zf.start_dir = fp.tell()


def _needs_v2(dtype: onp.dtype, shape) -> bool:
    """What ``write_array`` decides: version 1.0 unless the header does not fit 65535 bytes."""
    text = repr(dict(descr=npy.dtype_to_descr(dtype), fortran_order=False, shape=tuple(shape)))
    return len(text) + 12 > 65535
