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
:class:`~gluon_params_kit.errors.CheckpointError` instead of exhausting memory.

:func:`atomic_write` is how every file of the kit is written: a temporary file in the
same folder, flushed to disk, then renamed over the target.
"""
from __future__ import annotations

import os
import struct
import tempfile
from typing import Callable, Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as onp

from .errors import CheckpointError, listing

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
STYPES = {0: "default", 1: "row_sparse", 2: "csr"}
_NUM_AUX = {0: 0, 1: 1, 2: 2}
_DEV_TYPES = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}


class ArrayInfo(NamedTuple):
    """One array of a ``.params`` file, as its header describes it.

    ``offset`` is where its data starts in the file and ``nbytes`` how many bytes of
    data (values, then sparse indices) follow; ``shape`` is ``None`` for an array
    saved without a shape (an empty handle).
    """

    name: Optional[str]
    shape: Optional[Tuple[int, ...]]
    dtype: Optional[str]
    stype: str
    context: str
    offset: int
    nbytes: int
    version: int
    index: int = 0

    @property
    def size(self) -> int:
        """Number of elements of the (dense) shape."""
        if self.shape is None:
            return 0
        n = 1
        for d in self.shape:
            n *= d
        return n


class Header:
    """Everything a ``.params`` file says about its arrays, data left unread.

    Indexable by name (dict files) or position; iterating yields :class:`ArrayInfo`.
    """

    def __init__(self, path: str, file_size: int, arrays: List[ArrayInfo], named: bool):
        self.path = path
        self.file_size = file_size
        self.arrays = tuple(arrays)
        #: True for a dict file (``{name: array}``), False for a plain list.
        self.named = named
        self._by_name = {a.name: a for a in arrays} if named else {}

    @property
    def names(self) -> List[str]:
        """The array names in file order (``'0'``, ``'1'``... for a list file)."""
        return [a.name if self.named else str(i) for i, a in enumerate(self.arrays)]

    @property
    def np_shape(self) -> bool:
        """True when the arrays were saved under np shape semantics (V3 records)."""
        return any(a.version == 3 for a in self.arrays)

    @property
    def total_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    @property
    def total_size(self) -> int:
        return sum(a.size for a in self.arrays)

    def __len__(self) -> int:
        return len(self.arrays)

    def __iter__(self) -> Iterator[ArrayInfo]:
        return iter(self.arrays)

    def __getitem__(self, key: Union[str, int]) -> ArrayInfo:
        if isinstance(key, int):
            return self.arrays[key]
        if key in self._by_name:
            return self._by_name[key]
        if not self.named and key.isdigit() and int(key) < len(self.arrays):
            return self.arrays[int(key)]
        raise KeyError(key)

    def __contains__(self, key) -> bool:
        try:
            self[key]
        except (KeyError, IndexError):
            return False
        return True

    def __repr__(self) -> str:
        kind = "dict" if self.named else "list"
        return (f"Header({self.path!r}: {len(self)} arrays ({kind}), "
                f"{self.total_size} elements, {self.total_bytes} bytes of data)")


class _Reader:
    """Bounded reads from a binary file: every read is checked against the file size."""

    def __init__(self, f, path: str, size: int):
        self.f, self.path, self.size, self.pos = f, path, size, 0

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(
            f"{self.path!r} is not a valid MXNet .params file: {what} "
            f"(at byte {self.pos} of {self.size})")

    @property
    def left(self) -> int:
        return self.size - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or n > self.left:
            raise self.fail(f"{what} needs {n} bytes but only {self.left} are left (truncated?)")
        data = self.f.read(n)
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
        self.f.seek(self.pos)

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
        CheckpointError: The file is missing, truncated, has a wrong magic number, a
            count or length the file cannot hold, or an unknown dtype/storage type.

    Examples:
        >>> import os, tempfile, mxnet as mx
        >>> f = os.path.join(tempfile.mkdtemp(), 'x.params')
        >>> mx.nd.save(f, {'w': mx.nd.ones((2, 3)), 'b': mx.nd.zeros((2,), dtype='int64')})
        >>> h = read_header(f)
        >>> [(a.name, a.shape, a.dtype, a.offset) for a in h]
        [('w', (2, 3), 'float32', 64), ('b', (2,), 'int64', 120)]
    """
    path = os.fspath(path)
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise CheckpointError(f"cannot open checkpoint {path!r}: {exc.strerror or exc}") from exc
    with f:
        size = os.fstat(f.fileno()).st_size
        r = _Reader(f, path, size)
        if size < 16:
            raise r.fail("the file is too short to hold the 16-byte list header")
        magic, _reserved = r.unpack("QQ", "list header")
        if magic != LIST_MAGIC:
            raise r.fail(f"wrong list magic number 0x{magic:x} (expected 0x{LIST_MAGIC:x})")
        (count,) = r.unpack("Q", "array count")
        if count * 12 > r.left:  # the smallest record (magic, stype, ndim) is 12 bytes
            raise r.fail(f"it claims {count} arrays, more than the {r.left} bytes left can "
                         f"hold (truncated?)")
        arrays = [_read_array(r, i) for i in range(count)]
        (nnames,) = r.unpack("Q", "name count")
        if nnames not in (0, count):
            raise r.fail(f"it has {count} arrays but {nnames} names")
        if nnames * 8 > r.left:
            raise r.fail(f"it claims {nnames} names, more than {r.left} bytes can hold")
        names: List[str] = []
        for i in range(nnames):
            (length,) = r.unpack("Q", f"length of name {i}")
            raw = r.take(length, f"name {i}")
            try:
                names.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise r.fail(f"name {i} is not valid UTF-8: {raw[:40]!r}") from None
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise r.fail(f"names repeat: {listing(dup)}")
    if names:
        arrays = [a._replace(name=n) for a, n in zip(arrays, names)]
    return Header(path, size, arrays, named=bool(names))


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
    aux, aux_shapes = [], []
    for k in range(nad):
        (aux_flag,) = r.unpack("i", f"{what} aux {k} dtype")
        if aux_flag not in DTYPES:
            raise r.fail(f"{what} aux {k} has unknown dtype flag {aux_flag}")
        aux_shape = r.shape(f"{what} aux {k} shape", version=version)
        if aux_shape is None or -1 in aux_shape:
            raise r.fail(f"{what} aux {k} has an unknown shape {aux_shape}")
        aux.append(DTYPES[aux_flag][1] * _prod(aux_shape))
        aux_shapes.append(aux_shape)
    stored = sshape if nad else shape
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
    ctx = f"{_DEV_TYPES.get(dev_type, f'dev{dev_type}')}({dev_id})"
    return ArrayInfo(None, tuple(shape), dtype, STYPES[stype], ctx, offset, nbytes, version, i)


def _prod(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def numpy_dtype(name: str) -> onp.dtype:
    """The numpy dtype MXNet uses for a dtype name (bfloat16 is a uint16 record)."""
    if name == "bfloat16":
        return onp.dtype([("bfloat16", onp.uint16)])
    return onp.dtype(name)


def read_array(path: str, info: ArrayInfo) -> onp.ndarray:
    """The dense values of one array, read straight from the file at its offset.

    Sparse arrays are expanded to dense (``row_sparse`` rows, ``csr`` rows).
    """
    if info.shape is None:
        return onp.zeros((0,), dtype="float32")
    dt = numpy_dtype(info.dtype)
    with open(path, "rb") as f:
        f.seek(info.offset)
        raw = f.read(info.nbytes)
    if len(raw) != info.nbytes:
        raise CheckpointError(f"{path!r} changed while reading {info.name!r}: short read")
    if info.stype == "default":
        return onp.frombuffer(raw, dtype=dt, count=info.size).reshape(info.shape).copy()
    return _densify(raw, info, dt, path)


def iter_chunks(path: str, info: ArrayInfo, chunk_bytes: int = 64 * 2**20
                ) -> Iterator[onp.ndarray]:
    """The flat values of one array in pieces of about ``chunk_bytes``, for bounded memory.

    Dense arrays are read piece by piece from the file; a sparse array comes as one
    dense piece.
    """
    if info.stype != "default" or info.shape is None:
        yield read_array(path, info).ravel()
        return
    dt = numpy_dtype(info.dtype)
    step = max(1, chunk_bytes // dt.itemsize)
    with open(path, "rb") as f:
        f.seek(info.offset)
        for start in range(0, info.size, step):
            count = min(step, info.size - start)
            raw = f.read(count * dt.itemsize)
            if len(raw) != count * dt.itemsize:
                raise CheckpointError(f"{path!r} changed while reading {info.name!r}: short read")
            yield onp.frombuffer(raw, dtype=dt)


def _densify(raw: bytes, info: ArrayInfo, dt: onp.dtype, path: str) -> onp.ndarray:
    # The sparse layout is easier to get from MXNet itself than to re-derive here.
    from ._compat import mx
    from mxnet import util
    with util.np_shape(info.version == 3):
        loaded = mx.nd.load(path)
    arr = loaded[info.name] if isinstance(loaded, dict) else loaded[info.index]
    return arr.tostype("default").asnumpy()


def atomic_write(path: Union[str, "os.PathLike[str]"], write: Callable[[str], None],
                 fsync: bool = True) -> None:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it over ``path``.

    The temporary file is flushed to disk first (``fsync``), takes the old file's
    permissions (or the umask's), and is removed if ``write`` raises: ``path`` is
    either the old file or the complete new one, never a mix. A folder that is missing
    or not writable, or a ``path`` that is a folder, raises ``CheckpointError``.

    Examples:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), 'note.txt')
        >>> atomic_write(f, lambda tmp: open(tmp, 'w').write('hello'))
        >>> open(f).read(), sorted(os.listdir(os.path.dirname(f)))
        ('hello', ['note.txt'])
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CheckpointError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise CheckpointError(f"cannot write {path!r}: it is a folder; give a file name")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    except OSError as exc:
        raise CheckpointError(f"cannot write {path!r}: cannot create a file in {folder!r} "
                              f"({exc.strerror or exc})") from exc
    os.close(fd)
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise CheckpointError(f"cannot write {path!r} ({exc.strerror or exc}); "
                                  f"any previous file is untouched") from exc
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if not fsync:
        return
    try:  # make the rename itself durable; not possible on every platform
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def _file_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
