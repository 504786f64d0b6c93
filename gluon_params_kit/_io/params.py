"""The byte level of ``.params`` files: the header reader, raw array reads, atomic writes.

The layout, from MXNet's ``NDArray::Save`` (src/ndarray/ndarray.cc) and dmlc streams
(all little-endian)::

    uint64 0x112 (kMXAPINDArrayListMagic), uint64 reserved
    uint64 n, then n arrays:
        uint32 magic: 0xF993fac9 (V2) or 0xF993faca (V3, saved under np shape semantics)
        int32 stype (0 default, 1 row_sparse, 2 csr)
        [sparse] storage shape            shape = int32 ndim + ndim x int64
        shape                             (an unknown shape ends the record here)
        int32 dev_type, int32 dev_id, int32 type_flag
        [sparse] per aux array: int32 aux type flag, aux shape
        data bytes, then [sparse] aux data bytes
    uint64 k (0 for a list, n for a dict), then k names: uint64 length + bytes

Older files (V1 magic 0xF993fac8, and the first format whose magic is ndim with uint32
dims) are read too. Every count and length is checked against the bytes left in the
file before anything is allocated, so a damaged or hostile file raises
:class:`~gluon_params_kit.errors.CheckpointError` instead of exhausting memory. The header
is read through a window of the file (one ``read`` per window, not per field; 10^5 small
arrays cost ~3 us each): a dense record or a name in the common form is unpacked in one
go, anything else is read again field by field by the checking reader, which says what
is wrong.

Sparse arrays are checked further, because MXNet trusts their index data and crashes the
process on a bad one: ``row_sparse`` row indices must lie inside the shape and increase
strictly; ``csr`` ``indptr`` must start at 0, never decrease and end at the number of
stored values, and its column indices must lie inside the shape and increase within each
row. A file that fails is reported as damaged before MXNet ever sees it, and the readers
here expand sparse arrays with numpy, not MXNet. Names holding a NUL byte (which MXNet
would cut short) make the file damaged too.

:class:`Header` and :class:`ArrayInfo` (shared by the three formats) live in ``header``.
Values are read from a :class:`~gluon_params_kit._io.header.DataFile` (the file held open
for the call); sparse arrays are expanded whole (:func:`read_array`) or in pieces of rows
(:func:`iter_dense`, bounded memory).
"""
from __future__ import annotations

import os
import struct
from collections import Counter
from typing import Any, BinaryIO, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as onp

from ..errors import CheckpointError, listing
from .files import open_source
from .header import ArrayInfo, DataFile, Header, dense_info, file_stamp, numpy_dtype, renamed

__all__ = [
    "DTYPES", "LIST_MAGIC", "STYPES", "TYPE_FLAGS", "V1_MAGIC", "V2_MAGIC", "V3_MAGIC", "dense_pieces",
    "iter_dense", "parse", "read_array", "read_header", "sparse_parts",
]

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA

#: mshadow type flag -> (numpy dtype name, item size). bfloat16 is MXNet's own.
DTYPES = {
    0: ("float32", 4), 1: ("float64", 8), 2: ("float16", 2), 3: ("uint8", 1),
    4: ("int32", 4), 5: ("int8", 1), 6: ("int64", 8), 7: ("bool", 1), 8: ("int16", 2),
    9: ("uint16", 2), 10: ("uint32", 4), 11: ("uint64", 8), 12: ("bfloat16", 2),
}
#: numpy dtype name -> mshadow type flag, for the dtypes :func:`dense_pieces` writes.
TYPE_FLAGS = {name: flag for flag, (name, _size) in DTYPES.items() if name != "bfloat16"}
STYPES = {0: "default", 1: "row_sparse", 2: "csr"}
_NUM_AUX = {0: 0, 1: 1, 2: 2}
_DEV_TYPES = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}


#: Bytes of the file the header reader holds at a time: from 8 KiB (after the data of a
#: large array, jumped over) up to 1 MiB while records follow each other closely (10^5
#: small arrays: one read per MiB, not one per field).
_WINDOW_MIN, _WINDOW_MAX = 1 << 13, 1 << 20


class _Reader:
    """Bounded reads from a binary file: every read is checked against the file size.

    The bytes come from a window of the file (:meth:`view`), one ``read`` per window
    rather than one per field; ``pos`` is the next byte of the header.
    """

    def __init__(self, f, path: str, size: int):
        self.f, self.path, self.size, self.pos = f, path, size, 0
        self.buf, self.at = b"", 0  # the window: the file's bytes from byte ``at`` on

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(
            f"{self.path!r} is not a valid MXNet .params file: {what} "
            f"(at byte {self.pos} of {self.size})")

    @property
    def left(self) -> int:
        return self.size - self.pos

    def view(self, n: int) -> int:
        """Where bytes ``pos .. pos + n`` start in :attr:`buf`, read into it when they are
        not there yet (a file cut short meanwhile leaves fewer: callers check the length)."""
        off = self.pos - self.at
        if off >= 0 and off + n <= len(self.buf):
            return off
        close = off >= 0 and off <= len(self.buf)  # the next record, not past a large array
        window = min(_WINDOW_MAX, 2 * len(self.buf)) if close else _WINDOW_MIN
        self.f.seek(self.pos)
        self.buf, self.at = self.f.read(max(n, window, _WINDOW_MIN)), self.pos
        return 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or n > self.left:
            raise self.fail(f"{what} needs {n} bytes but only {self.left} are left (truncated?)")
        off = self.view(n)
        data = self.buf[off:off + n]
        if len(data) != n:
            raise self.fail(f"{what}: short read")
        self.pos += n
        return data

    def unpack(self, fmt: str, what: str):
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))

    def skip(self, n: int, what: str) -> None:
        if n < 0 or n > self.left:
            raise self.fail(f"{what} needs {n} bytes but only {self.left} are left (truncated?)")
        self.pos += n

    def shape(self, what: str, *, version: int) -> Optional[Tuple[int, ...]]:
        (ndim,) = self.unpack("i", f"{what} ndim")
        if ndim == -1 and version >= 2:  # unknown shape (np shape semantics)
            return None
        if ndim < 0 or ndim * 8 > self.left:
            raise self.fail(f"{what} has an impossible number of dimensions {ndim}")
        dims = self.unpack(f"{ndim}q", f"{what} dims") if ndim else ()
        if any(d < -1 for d in dims):
            raise self.fail(f"{what} has a negative dimension {dims}")
        return tuple(dims)


def read_header(path: Union[str, "os.PathLike[str]"]) -> Header:
    """Names, shapes, dtypes and data offsets of every array in a ``.params`` file.

    Only the header fields are read; array data is skipped with ``seek``, so a
    multi-GB file takes milliseconds. Works on files written by ``save_parameters``,
    ``collect_params().save``, ``mx.nd.save``/``npx.save`` (dict and list forms) and
    :func:`~gluon_params_kit.checkpoint.save`.

    Args:
        path: The file to read.

    Returns:
        A :class:`Header`: ``header['0.weight'].shape``, ``header.names``, offsets.

    Raises:
        CheckpointError: The file is missing or not a regular file (a FIFO is refused,
            never waited on), truncated, has a wrong magic number, a count or length the
            file cannot hold, an unknown dtype/storage type, sparse index data outside
            the shape, or a name with a NUL byte.
        CheckpointTypeError: ``path`` is not a str, bytes or os.PathLike (``None``, an int).

    Examples:
        >>> import os, tempfile, mxnet as mx
        >>> f = os.path.join(tempfile.mkdtemp(), 'x.params')
        >>> mx.nd.save(f, {'w': mx.nd.ones((2, 3)), 'b': mx.nd.zeros((2,), dtype='int64')})
        >>> h = read_header(f)
        >>> [(a.name, a.shape, a.dtype, a.offset) for a in h.values()]
        [('w', (2, 3), 'float32', 64), ('b', (2,), 'int64', 120)]
    """
    f, source = open_source(path)
    with f:
        return parse(f, source)


def parse(f: BinaryIO, source: str) -> Header:
    """:func:`read_header` of a file already open (at any position)."""
    stamp = file_stamp(f.fileno())
    size = stamp[2]
    f.seek(0)
    r = _Reader(f, source, size)
    if size < 16:
        raise r.fail("the file is too short to hold the 16-byte list header")
    magic, _reserved = r.unpack("QQ", "list header")
    if magic != LIST_MAGIC:
        raise r.fail(f"wrong list magic number 0x{magic:x} (expected 0x{LIST_MAGIC:x})")
    (count,) = r.unpack("Q", "array count")
    if count * 12 > r.left:  # the smallest record (magic, stype, ndim) is 12 bytes
        raise r.fail(f"it claims {count} arrays, more than the {r.left} bytes left can "
                     f"hold (truncated?)")
    arrays = _read_arrays(r, count)
    (nnames,) = r.unpack("Q", "name count")
    if nnames not in (0, count):
        raise r.fail(f"it has {count} arrays but {nnames} names")
    if nnames * 8 > r.left:
        raise r.fail(f"it claims {nnames} names, more than {r.left} bytes can hold")
    names = _read_names(r, nnames)
    if len(set(names)) != len(names):
        dup = sorted(n for n, c in Counter(names).items() if c > 1)
        raise r.fail(f"names repeat: {listing(dup)}")
    if names:
        arrays = [renamed(a, n) for a, n in zip(arrays, names)]
    return Header(source, size, arrays, named=bool(names), stamp=stamp)


_RECORD_HEAD = struct.Struct("<Iii")  # magic, storage type, ndim
_RECORD_TAIL = struct.Struct("<iii")  # device type, device id, type flag
_DIMS = [struct.Struct(f"<{n}q") for n in range(33)]
_LONGEST_RECORD = 24 + 8 * 32  # a dense record's fields at most (32 dimensions)
_LENGTH = struct.Struct("<Q")


def _read_arrays(r: _Reader, count: int) -> List[ArrayInfo]:
    """Every array record: read by :func:`_dense_record` where it can, else again from its
    first byte by :func:`_read_array`, which checks each field and says what is wrong."""
    arrays: List[ArrayInfo] = []
    contexts: Dict[Tuple[int, int], str] = {}
    for i in range(count):
        start = r.pos
        info = _dense_record(r, i, contexts)
        if info is None:
            r.pos = start
            info = _read_array(r, i)
        arrays.append(info)
    return arrays


def _dense_record(r: _Reader, i: int, contexts: Dict[Tuple[int, int], str]) -> Optional[ArrayInfo]:
    """A dense V2/V3 record whose fields are all in range, in three ``unpack_from`` calls
    on the window; None for anything else (sparse, old, empty, damaged)."""
    start, left = r.pos, r.size - r.pos
    if left < 12:
        return None
    off = r.view(min(left, _LONGEST_RECORD))
    buf = r.buf
    if len(buf) - off < 12:
        return None
    magic, stype, ndim = _RECORD_HEAD.unpack_from(buf, off)
    need = 24 + 8 * ndim  # head, dims, tail
    if (magic != V2_MAGIC and magic != V3_MAGIC) or stype != 0 or not 0 < ndim <= 32 or need > left \
            or len(buf) - off < need:
        return None
    shape = _DIMS[ndim].unpack_from(buf, off + 12)
    dev_type, dev_id, flag = _RECORD_TAIL.unpack_from(buf, off + need - 12)
    known = DTYPES.get(flag)
    if known is None or min(shape) < 0:
        return None
    nbytes = known[1] * _prod(shape)
    if nbytes > left - need:
        return None
    ctx = contexts.get((dev_type, dev_id))
    if ctx is None:
        ctx = contexts[(dev_type, dev_id)] = _context(dev_type, dev_id)
    r.pos = start + need + nbytes
    return dense_info(None, shape, known[0], ctx, start + need, nbytes, 2 if magic == V2_MAGIC else 3, i)


def _read_names(r: _Reader, count: int) -> List[str]:
    """``count`` names (uint64 length, then UTF-8 bytes): read by :func:`_plain_name`
    where it can, else again by :func:`_read_name`, which says what is wrong."""
    names: List[str] = []
    for i in range(count):
        start = r.pos
        name = _plain_name(r)
        if name is None:
            r.pos = start
            name = _read_name(r, i)
        names.append(name)
    return names


def _plain_name(r: _Reader) -> Optional[str]:
    """A name that fits the file, holds no NUL byte and is UTF-8, from the window; else None."""
    start, left = r.pos, r.size - r.pos
    if left < 8:
        return None
    off = r.view(8)
    if len(r.buf) - off < 8:
        return None
    (length,) = _LENGTH.unpack_from(r.buf, off)
    if length > left - 8:
        return None
    off = r.view(8 + length)
    raw = r.buf[off + 8:off + 8 + length]
    if len(raw) != length or b"\x00" in raw:
        return None
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    r.pos = start + 8 + length
    return name


def _read_name(r: _Reader, i: int) -> str:
    (length,) = r.unpack("Q", f"length of name {i}")
    raw = r.take(length, f"name {i}")
    if b"\x00" in raw:  # MXNet's C API would cut it there: its names would differ
        raise r.fail(f"name {i} holds a NUL byte: {raw[:40]!r}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise r.fail(f"name {i} is not valid UTF-8: {raw[:40]!r}") from None


def _context(dev_type: int, dev_id: int) -> str:
    return f"{_DEV_TYPES.get(dev_type, f'dev{dev_type}')}({dev_id})"


def _read_array(r: _Reader, i: int) -> ArrayInfo:
    what = f"array {i}"
    (magic,) = r.unpack("I", f"{what} magic")
    if magic in (V2_MAGIC, V3_MAGIC):
        version = 2 if magic == V2_MAGIC else 3
        (stype,) = r.unpack("i", f"{what} storage type")
        if stype not in STYPES:
            raise r.fail(f"{what} has unknown storage type {stype} (known: {sorted(STYPES)})")
        nad = _NUM_AUX[stype]
        sshape = r.shape(f"{what} storage shape", version=version) if nad else None
        shape = r.shape(f"{what} shape", version=version)
        if version == 2 and shape is not None and -1 in shape:
            raise r.fail(f"{what} has an unknown dimension in shape {shape}")
        if shape is None or (version == 2 and len(shape) == 0) or -1 in shape:
            return ArrayInfo(None, None, None, STYPES[stype], "", r.pos, 0, version, i)
        if nad and (sshape is None or -1 in sshape):
            raise r.fail(f"{what} is sparse with an unknown storage shape {sshape}")
    elif magic == V1_MAGIC:
        version, stype, nad, sshape = 1, 0, 0, None
        shape = r.shape(f"{what} shape", version=1)
        assert shape is not None  # only a V2/V3 record can leave its shape unknown
        if len(shape) == 0:
            return ArrayInfo(None, None, None, "default", "", r.pos, 0, 1, i)
    else:  # the first format: the magic is ndim, dims are uint32
        version, stype, nad, sshape = 0, 0, 0, None
        if magic * 4 > r.left:
            raise r.fail(f"{what} has an unknown magic number 0x{magic:08x}")
        shape = r.unpack(f"{magic}I", f"{what} dims") if magic else ()
        if len(shape) == 0:
            return ArrayInfo(None, None, None, "default", "", r.pos, 0, 0, i)
    dev_type, dev_id, type_flag = r.unpack("iii", f"{what} context and dtype")
    if type_flag not in DTYPES:
        raise r.fail(f"{what} has unknown dtype flag {type_flag} (known: {sorted(DTYPES)})")
    dtype, itemsize = DTYPES[type_flag]
    aux, aux_shapes, aux_flags = [], [], []
    for k in range(nad):
        (aux_flag,) = r.unpack("i", f"{what} aux {k} dtype")
        if aux_flag not in DTYPES:
            raise r.fail(f"{what} aux {k} has unknown dtype flag {aux_flag}")
        aux_flags.append(aux_flag)
        aux_shape = r.shape(f"{what} aux {k} shape", version=version)
        if aux_shape is None or -1 in aux_shape:
            raise r.fail(f"{what} aux {k} has an unknown shape {aux_shape}")
        aux.append(DTYPES[aux_flag][1] * _prod(aux_shape))
        aux_shapes.append(aux_shape)
    stored = sshape if sshape is not None else shape  # a sparse array's storage shape
    if nad and _prod(sshape) == 0:
        # MXNet may write the storage shape before the sparse array is computed; its
        # loader then derives it from the aux shapes (NDArray's sparse constructor).
        if stype == 1 and aux_shapes[0]:
            stored = (aux_shapes[0][0],) + tuple(shape[1:])
        elif stype == 2 and len(aux_shapes) > 1:
            stored = aux_shapes[1]
    offset = r.pos
    nbytes = itemsize * _prod(stored) + sum(aux)
    r.skip(nbytes, f"{what} data ({dtype}, shape {shape})")
    ctx = _context(dev_type, dev_id)
    aux_info: Tuple[Tuple[str, Tuple[int, ...]], ...] = ()
    if nad:
        aux_info = tuple((DTYPES[f][0], s) for f, s in zip(aux_flags, aux_shapes))
        _check_sparse(r, what, stype, tuple(shape), tuple(stored), aux_info,
                      offset + itemsize * _prod(stored))
    return ArrayInfo(None, tuple(shape), dtype, STYPES[stype], ctx, offset, nbytes, version, i,
                     tuple(stored) if nad else None, aux_info)


def _check_sparse(r: _Reader, what: str, stype: int, shape: Tuple[int, ...],
                  stored: Tuple[int, ...], aux: Tuple[Tuple[str, Tuple[int, ...]], ...],
                  aux_offset: int) -> None:
    """Refuse sparse index data MXNet would trust (and crash on): see the module doc."""
    for k, (name, s) in enumerate(aux):
        if onp.dtype(name).kind not in "iu" or len(s) != 1:
            raise r.fail(f"{what} index array {k} must be 1-d integers, got {name} {s}")
    sizes = [onp.dtype(n).itemsize * _prod(s) for n, s in aux]
    if sum(sizes) == 0:
        return
    here = r.pos
    r.f.seek(aux_offset)
    raw = r.f.read(sum(sizes))
    r.f.seek(here)
    if len(raw) != sum(sizes):
        raise r.fail(f"{what} index data: short read")
    idx, start = [], 0
    for (name, s), n in zip(aux, sizes):
        idx.append(onp.frombuffer(raw, dtype=onp.dtype(name).newbyteorder("<"), count=s[0],
                                  offset=start).astype(onp.int64))
        start += n
    bad = None
    if stype == 1:  # row_sparse: stored values are (nnz,) + shape[1:], rows strictly increase
        rows = idx[0]
        if not shape or stored != (len(rows),) + shape[1:]:
            bad = f"stores {stored} values for {len(rows)} rows of shape {shape}"
        elif len(rows) and (rows.min() < 0 or rows.max() >= shape[0]):
            bad = f"has row indices outside 0..{shape[0] - 1} (min {rows.min()}, max {rows.max()})"
        elif onp.any(onp.diff(rows) <= 0):
            bad = "has row indices that do not strictly increase"
    else:  # csr: indptr (rows + 1,), column indices (nnz,)
        indptr, cols = idx
        if len(shape) != 2 or len(indptr) != shape[0] + 1 or stored != (len(cols),):
            bad = (f"has indptr of length {len(indptr)}, {len(cols)} column indices and "
                   f"{stored} values for shape {shape}")
        elif indptr[0] != 0 or indptr[-1] != len(cols) or onp.any(onp.diff(indptr) < 0):
            bad = (f"has an indptr that does not run from 0 to {len(cols)} without decreasing "
                   f"(starts {indptr[0]}, ends {indptr[-1]})")
        elif len(cols) and (cols.min() < 0 or cols.max() >= shape[1]):
            bad = f"has column indices outside 0..{shape[1] - 1}"
        elif len(cols) > 1:
            step = onp.diff(cols) <= 0
            step[indptr[1:-1][(indptr[1:-1] > 0) & (indptr[1:-1] < len(cols))] - 1] = False
            if onp.any(step):
                bad = "has column indices that do not strictly increase within a row"
    if bad is not None:
        raise r.fail(f"{what} ({STYPES[stype]}, shape {shape}) {bad}: its index data is damaged")


def _prod(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def read_array(src: DataFile, info: ArrayInfo) -> onp.ndarray:
    """The dense values of one array, read from the open file at its offset.

    Sparse arrays are expanded to dense (``row_sparse`` rows, ``csr`` rows) with numpy,
    from index data :func:`read_header` has checked.
    """
    if info.shape is None or info.dtype is None:  # an empty handle (its dtype goes with its shape)
        return onp.zeros((0,), dtype="float32")
    dt = numpy_dtype(info.dtype)
    if info.stype == "default":
        out = onp.empty(info.shape, dtype=dt)
        if out.nbytes:
            src.readinto(info.offset, out.reshape(-1).view(onp.uint8), repr(info.name))
        return out
    return _densify(*sparse_parts(src, info), info, dt)


def sparse_parts(src: DataFile, info: ArrayInfo) -> Tuple[onp.ndarray, List[onp.ndarray]]:
    """A sparse array's stored values (storage shape) and index arrays (int64), as stored."""
    assert info.dtype is not None  # only an empty handle has no dtype, and it is dense
    dt = numpy_dtype(info.dtype)
    raw = src.read(info.offset, info.nbytes, repr(info.name))
    stored = info.storage_shape if info.storage_shape is not None else (0,)
    nvalues = _prod(stored)
    values = onp.frombuffer(raw, dtype=dt, count=nvalues).reshape(stored)
    start, idx = nvalues * dt.itemsize, []
    for name, s in info.aux:
        adt = onp.dtype(name).newbyteorder("<")
        idx.append(onp.frombuffer(raw, dtype=adt, count=s[0], offset=start).astype(onp.int64))
        start += adt.itemsize * s[0]
    return values, idx


def _densify(values: onp.ndarray, idx: List[onp.ndarray], info: ArrayInfo,
             dt: onp.dtype) -> onp.ndarray:
    shape = info.shape
    assert shape is not None  # read_array returns early for an array without a shape
    out = onp.zeros(shape, dtype=dt)
    if not values.size or not idx:
        return out
    if info.stype == "row_sparse":
        out[idx[0]] = values
    else:
        indptr, cols = idx
        rows = onp.repeat(onp.arange(shape[0]), onp.diff(indptr))
        out[rows, cols] = values
    return out


def _index_reader(src: DataFile, info: ArrayInfo, k: int, block: int):
    """Index array ``k`` of a sparse array, as int64 pieces read ``block`` entries at a time:
    ``get(i, j)`` gives entries ``i .. j-1`` (``j - i <= block``, ``i`` never decreasing)."""
    assert info.dtype is not None
    dt = numpy_dtype(info.dtype)
    stored = info.storage_shape if info.storage_shape is not None else (0,)
    start = info.offset + _prod(stored) * dt.itemsize
    for name, s in info.aux[:k]:
        start += onp.dtype(name).itemsize * s[0]
    adt = onp.dtype(info.aux[k][0]).newbyteorder("<")
    count = info.aux[k][1][0]
    cache: List[Any] = [0, 0, onp.zeros(0, onp.int64)]  # first entry, end, the entries

    def get(i: int, j: int) -> onp.ndarray:
        lo, hi, data = cache
        if not (lo <= i and j <= hi):
            hi = min(count, max(j, i + block))
            raw = src.read(start + i * adt.itemsize, (hi - i) * adt.itemsize, repr(info.name))
            lo, data = i, onp.frombuffer(raw, dtype=adt).astype(onp.int64)
            cache[:] = [lo, hi, data]
        return data[i - lo:j - lo]
    return get


def iter_dense(src: DataFile, info: ArrayInfo, chunk_values: int) -> Iterator[onp.ndarray]:
    """A sparse array's dense C-order values, at most ``chunk_values`` at a time, read piece
    by piece: extra memory stays at a few pieces whatever the dense size. Index data was
    checked by :func:`read_header` (in range, strictly increasing)."""
    shape, dtype = info.shape, info.dtype
    assert shape is not None and dtype is not None
    dt = numpy_dtype(dtype)
    nrows, row = shape[0], _prod(shape[1:])
    if nrows == 0 or row == 0:
        return
    per = max(1, chunk_values // row)  # whole rows per piece
    block = 1 << 16  # index entries per read
    what = repr(info.name)

    def values(k: int, n: int) -> onp.ndarray:  # stored values k .. k+n-1 (flat)
        out = onp.empty(n, dt)
        src.readinto(info.offset + k * dt.itemsize, out.view(onp.uint8), what)
        return out

    def pieces(r0: int, r1: int, fill) -> Iterator[onp.ndarray]:
        """Dense rows r0 .. r1-1 (a piece each; or a row in pieces when a row is too big)."""
        if row <= chunk_values:
            out = onp.zeros((r1 - r0) * row, dt)
            fill(out, 0, (r1 - r0) * row)
            yield out
            return
        for c in range(0, row, chunk_values):
            out = onp.zeros(min(chunk_values, row - c), dt)
            fill(out, c, c + out.size)
            yield out

    if info.stype == "row_sparse":
        index = _index_reader(src, info, 0, max(per, block))
        nnz, k = info.aux[0][1][0], 0  # k: the next stored row's ordinal
        for r0 in range(0, nrows, per):
            r1 = min(nrows, r0 + per)
            ids = index(k, min(nnz, k + (r1 - r0)))  # rows strictly increase: at most r1-r0 here
            n = int(onp.searchsorted(ids, r1))
            local, first = ids[:n] - r0, k

            def fill(out, lo, hi, local=local, first=first):
                if row <= chunk_values:
                    if len(local):
                        out.reshape(-1, row)[local] = values(first * row, len(local) * row).reshape(-1, row)
                elif len(local):  # one row in this piece range: columns lo .. hi-1
                    out[:] = values(first * row + lo, hi - lo)
            yield from pieces(r0, r1, fill)
            k += n
        return
    indptr = _index_reader(src, info, 0, max(per + 1, block))
    cols = _index_reader(src, info, 1, block)
    for r0 in range(0, nrows, per):
        r1 = min(nrows, r0 + per)
        ptr = indptr(r0, r1 + 1).copy()

        def fill(out, lo, hi, ptr=ptr, r0=r0):
            dense = out.reshape(-1, row) if row <= chunk_values else out.reshape(1, -1)
            for a in range(int(ptr[0]), int(ptr[-1]), block):
                b = min(int(ptr[-1]), a + block)
                c, v = cols(a, b), values(a, b - a)
                r = onp.searchsorted(ptr, onp.arange(a, b), side="right") - 1
                keep = (c >= lo) & (c < hi) if row > chunk_values else slice(None)
                dense[r[keep], c[keep] - lo] = v[keep]
        yield from pieces(r0, r1, fill)


#: One dense array to write: name, shape, device type id and id, numpy dtype name, data.
DenseRecord = Tuple[str, Tuple[int, ...], int, int, str, Any]


def dense_pieces(records: Sequence[DenseRecord]) -> List[Any]:
    """The bytes of a ``.params`` file of dense arrays, as ``mx.nd.save`` writes it
    outside np shape semantics (V2 records, a name per array), in pieces: the small
    header fields as ``bytes``, each array's data as the buffer it was given (not copied).

    Every shape must have at least one dimension and no zero (MXNet's legacy shape
    semantics read those as unknown); the dtype must be one of :data:`TYPE_FLAGS`.

    >>> import os, tempfile, numpy as np, mxnet as mx
    >>> d = tempfile.mkdtemp(); f, g = os.path.join(d, 'a.params'), os.path.join(d, 'b.params')
    >>> data = np.arange(6, dtype='float32')
    >>> with open(f, 'wb') as out:
    ...     for piece in dense_pieces([('w', (2, 3), 1, 0, 'float32', data)]):
    ...         _ = out.write(piece)
    >>> mx.nd.save(g, {'w': mx.nd.array(data.reshape(2, 3))})
    >>> open(f, 'rb').read() == open(g, 'rb').read()
    True
    """
    pieces: List[Any] = []
    head = [struct.pack("<QQQ", LIST_MAGIC, 0, len(records))]
    for name, shape, dev_type, dev_id, dtype, data in records:
        if not shape or 0 in shape:
            raise ValueError(f"array {name!r} has shape {shape}: write it with MXNet")
        head.append(struct.pack(f"<Iii{len(shape)}qiii", V2_MAGIC, 0, len(shape), *shape,
                                dev_type, dev_id, TYPE_FLAGS[dtype]))
        pieces.append(b"".join(head))
        pieces.append(data)
        head = []
    names = [struct.pack("<Q", len(records))]
    for name, *_rest in records:
        raw = name.encode("utf-8")
        names.append(struct.pack("<Q", len(raw)) + raw)
    pieces.append(b"".join(head + names))
    return pieces
