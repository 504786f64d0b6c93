"""What every checkpoint format's header says, in one shape: :class:`ArrayInfo` and :class:`Header`.

The readers of ``.params`` (``params``), ``.safetensors`` (``safetensors_file``) and ``.npz``
(``npz``) all return a :class:`Header`: a read-only mapping of array name ->
:class:`ArrayInfo`, data left unread. A header remembers which file it describes (device,
inode, size, modification and change times: its :attr:`Header.stamp`); the values are
then read from one :class:`DataFile`, that same file held open for the whole call, in
bounded pieces (:meth:`DataFile.iter_range`), never from the path again: a checkpoint
replaced by rename or cut short while it is read gives the old version entirely, or a
:class:`~gluon_params_kit.errors.CheckpointError` saying it changed, never a mix. Nothing
here imports mxnet: the report base, the path grammar and the display helpers it uses
(``_core/report.py``, ``paths.py``, ``display.py``) import none either.
"""
from __future__ import annotations

import math
import operator
import os
import threading
from typing import Any, BinaryIO, Dict, Iterator, List, Mapping, NamedTuple, Optional, Tuple

import numpy as onp

from .._core.display import format_count, format_shape
from .._core.report import Report
from ..errors import CheckpointError, CheckpointTypeError
from .files import open_source

__all__ = [
    "ArrayInfo", "BFLOAT16", "DataFile", "EXPAND_FLOOR", "EXPAND_RATIO", "Header", "Stamp",
    "bfloat16_to_float32", "changed_error", "check_expansion", "crc_concat", "dense_info", "dense_infos",
    "file_keys_of", "file_stamp", "numpy_dtype", "renamed",
]

#: What identifies one version of a file: device, inode, size, modification and change times (ns).
Stamp = Tuple[int, int, int, int, int]
#: An array whose dense bytes exceed both this and :data:`EXPAND_RATIO` times the bytes the
#: file stores for it (a sparse array, a deflated member) is read out only on request.
EXPAND_FLOOR = 64 << 20
EXPAND_RATIO = 64

#: MXNet's bfloat16 (type flag 12) as numpy sees it: a record of one uint16.
BFLOAT16 = onp.dtype([("bfloat16", onp.uint16)])


class ArrayInfo(NamedTuple):
    """One array of a checkpoint file, as its header describes it.

    ``offset`` is where its data starts in the file and ``nbytes`` how many bytes of
    data (values, then sparse indices) follow; ``shape`` is ``None`` for an array
    saved without a shape (an empty handle). ``offset`` is ``-1`` for a deflated
    ``.npz`` member (its bytes are not stored as they are); ``member`` names the zip entry.
    """

    name: Optional[str]
    shape: Optional[Tuple[int, ...]]
    dtype: Optional[str]
    stype: str
    context: str
    offset: int
    nbytes: int
    version: int
    # the array's position in the file: a public field (records, _replace) that shadows tuple.index on purpose
    index: int = 0  # type: ignore[assignment]
    #: Sparse arrays: the stored values' shape, and ``(dtype, shape)`` of each index array.
    storage_shape: Optional[Tuple[int, ...]] = None
    aux: Tuple[Tuple[str, Tuple[int, ...]], ...] = ()
    #: ``.npz`` only: the zip entry and whether the array is stored in Fortran order.
    member: Optional[str] = None
    fortran_order: bool = False
    #: ``.npz`` only: CRC-32 of the member's ``.npy`` header, and of the whole member (as the
    #: zip directory records it), checked whenever the member's data is read; and the
    #: member's compressed size (``-1``: stored as it is).
    crc: Optional[Tuple[int, int]] = None
    compressed_nbytes: int = -1
    #: ``.npz`` only: the member stores its values big-endian (``dtype`` names the type;
    #: readers hand out native byte order).
    big_endian: bool = False

    @property
    def size(self) -> int:
        """Number of elements of the (dense) shape."""
        return 0 if self.shape is None else math.prod(self.shape)  # in C: called per array


_NAME, _SHAPE, _NBYTES = (operator.attrgetter(f) for f in ("name", "shape", "nbytes"))
#: The fields after ``index`` of a dense array's :class:`ArrayInfo`: their defaults.
_DENSE_REST = tuple(ArrayInfo._field_defaults[f] for f in ArrayInfo._fields[9:])
_new = tuple.__new__


def dense_infos(arrays: List[Tuple[Optional[str], Tuple[int, ...], str, int, int]], context: str = "",
                version: int = 0) -> List[ArrayInfo]:
    """:class:`ArrayInfo` of dense arrays given as ``(name, shape, dtype, offset, nbytes)``,
    indexed in order: the same as calling ``ArrayInfo(...)`` for each, without its
    Python-level ``__new__`` (a header of 10^5 arrays).

    >>> dense_infos([('w', (2,), 'float32', 8, 8)]) == [ArrayInfo('w', (2,), 'float32', 'default', '', 8, 8, 0, 0)]
    True
    """
    return [dense_info(name, shape, dtype, context, offset, nbytes, version, i)
            for i, (name, shape, dtype, offset, nbytes) in enumerate(arrays)]


def dense_info(name: Optional[str], shape: Tuple[int, ...], dtype: str, context: str, offset: int,
               nbytes: int, version: int, index: int) -> ArrayInfo:
    """``ArrayInfo(name, shape, dtype, 'default', context, offset, nbytes, version, index)``
    without the NamedTuple's Python-level ``__new__``.

    >>> dense_info('w', (2,), 'float32', '', 8, 8, 0, 0) == ArrayInfo('w', (2,), 'float32', 'default', '', 8, 8, 0, 0)
    True
    """
    return _new(ArrayInfo, (name, shape, dtype, "default", context, offset, nbytes, version, index) + _DENSE_REST)


def renamed(info: ArrayInfo, name: Optional[str]) -> ArrayInfo:
    """``info._replace(name=name)`` without the NamedTuple's Python-level code.

    >>> renamed(dense_info(None, (2,), 'float32', '', 8, 8, 0, 0), 'w').name
    'w'
    """
    return _new(ArrayInfo, (name,) + info[1:])


class Header(Report):
    """Everything a checkpoint file says about its arrays, data left unread.

    One of the kit's reports (:class:`~gluon_params_kit._core.report.Report`, which imports
    no mxnet): a read-only mapping of array name -> :class:`ArrayInfo`, in file order:
    iterating yields the names, ``header[name]`` the info (any path form the kit accepts,
    such as ``'[0][1].bias'``, ``'net[0].bias'`` or ``(0, 1, 'bias')``, a tied alias, and an
    int position; a missing name raises :class:`~gluon_params_kit.errors.PathError`, a
    ``KeyError``, with the closest names), ``to_records()`` one dict per array (the
    :class:`ArrayInfo` fields, ``name`` the stored name), ``str()`` the summary line over a
    table of the arrays. ``.arrays`` is the tuple of infos, ``.format`` one of
    ``'params'``, ``'safetensors'``, ``'npz'``. ``.metadata`` is the safetensors
    ``__metadata__`` (empty for the other formats) and ``.aliases`` maps the other paths
    of a tied Parameter, which the kit's safetensors files store once, to the stored name.
    ``.ordered`` says whether the file order is the writer's order (``.params``, ``.npz``,
    the kit's ``.safetensors``), evidence when keys must be paired; a ``.safetensors``
    file the library sorted by name carries none.

    >>> h = Header('w.params', 100, [ArrayInfo('0.weight', (2, 3), 'float32', 'default', 'cpu(0)',
    ...                                        16, 24, 2)], True)
    >>> h['[0].weight'].shape, h[(0, 'weight')] is h[0], h.to_records()[0]['nbytes']
    ((2, 3), True, 24)
    >>> print(h)
    Header('w.params': 1 arrays (dict), 6 elements, 24 bytes of data)
    name      shape   dtype    bytes  offset
    ----------------------------------------
    0.weight  (2, 3)  float32     24      16
    """

    _what = "array"
    _positional = True

    def __init__(self, path: str, file_size: int, arrays: List[ArrayInfo], named: bool, *,
                 format: str = "params", metadata: Optional[Dict[str, str]] = None,
                 aliases: Optional[Dict[str, str]] = None, np_shape: Optional[bool] = None,
                 ordered: bool = True, stamp: Optional[Stamp] = None):
        self.path = path
        #: The file version the header was read from (None for a header built by hand):
        #: values are read only from that version.
        self.stamp = stamp
        #: When it was read (``time.time_ns()``), and whether a re-open found the same layout
        #: under :attr:`stamp` (see ``formats.open_values``).
        self.read_ns: Optional[int] = None
        self.verified = False
        #: True when the file order is the writer's order (not sorted by a library).
        self.ordered = ordered
        self.file_size = file_size
        self.arrays = tuple(arrays)
        #: True for a dict file (``{name: array}``), False for a plain list.
        self.named = named
        self.format = format
        self.metadata: Dict[str, str] = dict(metadata or {})
        self.aliases: Dict[str, str] = dict(aliases or {})
        self._np_shape = np_shape
        # a named file's arrays all carry their name; a list file's are named by position
        self._names = list(map(_NAME, self.arrays)) if named else []
        if not named or None in self._names:
            self._names = [a.name if named and a.name is not None else str(i) for i, a in enumerate(self.arrays)]
        kind = "dict" if named else "list"
        fmt = "" if format == "params" else f"{format}, "
        super().__init__(zip(self._names, self.arrays), self.aliases, title=(
            f"Header({path!r}: {fmt}{len(self.arrays)} arrays ({kind}), "
            f"{self.total_size} elements, {self.total_bytes} bytes of data)"))
        #: What a lookup error calls the header: the file is named.
        self._kind = f"header of {path!r}"

    @property
    def by_name(self) -> Mapping[str, ArrayInfo]:
        """Stored name -> info: the header's own table, one dict lookup per name (no path
        forms, no aliases, no copy; do not change it)."""
        return self._entries

    @property
    def names(self) -> List[str]:
        """The array names in file order (``'0'``, ``'1'``... for a list file)."""
        return list(self._names)

    def name_at(self, index: int) -> str:
        """The name of the array at ``index`` in file order (no copy of :attr:`names`)."""
        if isinstance(index, bool) or not isinstance(index, int):
            raise CheckpointTypeError(f"index must be an int (a position in the file), got {type(index).__name__}")
        if not -len(self._names) <= index < len(self._names):
            raise CheckpointError(f"index {index} is out of range: {self.path!r} holds "
                                  f"{len(self._names)} array(s)")
        return self._names[index]

    @property
    def np_shape(self) -> bool:
        """True when the arrays need np shape semantics (V3 records, 0-d or zero-size)."""
        if self._np_shape is not None:
            return self._np_shape
        return any(a.version == 3 for a in self.arrays)

    @property
    def total_bytes(self) -> int:
        return sum(map(_NBYTES, self.arrays))

    @property
    def total_size(self) -> int:
        return sum([math.prod(s) for s in map(_SHAPE, self.arrays) if s is not None])

    def _record(self, key: str, entry: ArrayInfo) -> Dict[str, Any]:
        return dict(entry._asdict(), name=key)

    def _table(self):
        sparse = any(a.stype != "default" for a in self.arrays)
        head = ["name", "shape", "dtype"] + (["stype"] if sparse else []) + ["bytes", "offset"]
        rows = [[name, format_shape(a.shape), a.dtype or "?"] + ([a.stype] if sparse else [])
                + [format_count(a.nbytes), "-" if a.offset < 0 else str(a.offset)]
                for name, a in self.items()]
        return head, rows, [False, False, False] + ([False] if sparse else []) + [True, True]

    def _footer(self) -> List[str]:
        lines = []
        if self.aliases:
            shown = ", ".join(f"{a} -> {n}" for a, n in list(self.aliases.items())[:3])
            more = f" (+{len(self.aliases) - 3} more)" if len(self.aliases) > 3 else ""
            lines.append(f"{len(self.aliases)} tied path(s) stored once: {shown}{more}")
        if self.metadata:
            lines.append(f"metadata: {', '.join(sorted(self.metadata))}")
        return lines


def file_keys_of(header: Header) -> List[str]:
    """The keys a file offers: its stored names, then the tied aliases it records."""
    return header.names + [k for k in header.aliases if k not in header.names]


def numpy_dtype(name: str) -> onp.dtype:
    """The numpy dtype MXNet uses for a dtype name (bfloat16 is a uint16 record)."""
    if name == "bfloat16":
        return BFLOAT16
    try:
        return onp.dtype(name)
    except TypeError:
        raise CheckpointError(f"dtype {name!r} has no numpy equivalent here; the array's "
                              f"values cannot be read (its header can)") from None


def bfloat16_to_float32(a: onp.ndarray) -> onp.ndarray:
    """bfloat16 values (uint16 bits, plain or as MXNet's record) as exact float32."""
    bits = a["bfloat16"] if a.dtype.names else a.view(onp.uint16)
    return (bits.astype(onp.uint32) << 16).view(onp.float32)


def file_stamp(fd: int) -> Stamp:
    """The :data:`Stamp` of an open file."""
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def changed_error(path: str, what: str = "") -> CheckpointError:
    """The one message for a file that changed under a read."""
    return CheckpointError(f"{path!r} changed while reading{what} (replaced, rewritten or cut "
                           f"short since its header was read); read it again")


class DataFile:
    """One checkpoint file held open for one call: every byte the call reads comes from it.

    Reads are positional (``pread``: threads may share it) and exact: a file that ends
    early, or whose :data:`Stamp` is no longer the one it was opened with
    (:meth:`check`), raises :class:`~gluon_params_kit.errors.CheckpointError` saying it
    changed. A file renamed over the path meanwhile does not matter: the open file is the
    old version, whole.

    >>> import os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.bin'); _ = open(f, 'wb').write(b'0123456789')
    >>> with DataFile.open(f) as d:
    ...     d.read(2, 3), [bytes(p) for p in d.iter_range(0, 5, 2)]
    (b'234', [b'01', b'23', b'4'])
    """

    def __init__(self, f: BinaryIO, path: str, stamp: Optional[Stamp] = None):
        self.file: Any = f  # a binary file (BinaryIO's stub lacks readinto)
        self.path = path
        self.stamp = stamp if stamp is not None else file_stamp(f.fileno())
        #: What a format's reader keeps for the call (the ``.npz`` zip directory).
        self.cache: Dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Any) -> "DataFile":
        f, text = open_source(path)
        return cls(f, text)

    def fileno(self) -> int:
        return self.file.fileno()

    @property
    def size(self) -> int:
        return self.stamp[2]

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> "DataFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def check(self, what: str = "") -> None:
        """Raise the "changed" error if the file is no longer the version it was opened as
        (its size or modification time moved; not its change time, which a rename over
        the path moves on the old file while its bytes stay as they were)."""
        if file_stamp(self.fileno())[:4] != self.stamp[:4]:
            raise changed_error(self.path, what)

    def readinto(self, offset: int, out: Any, what: str = "") -> None:
        """Fill the writable buffer ``out`` with the bytes at ``offset``."""
        view = memoryview(out).cast("B")
        got, fd = 0, self.fileno()
        while got < len(view):
            if hasattr(os, "preadv"):
                n = os.preadv(fd, [view[got:]], offset + got)
            elif hasattr(os, "pread"):  # no preadv (macOS before 11): one copy more
                data = os.pread(fd, len(view) - got, offset + got)
                n = len(data)
                view[got:got + n] = data
            else:  # no positional reads (Windows): seek and read, one reader at a time
                with self._lock:
                    self.file.seek(offset + got)
                    n = self.file.readinto(view[got:]) or 0
            if not n:
                raise changed_error(self.path, f" {what}: short read at byte {offset + got}"
                                    if what else f": short read at byte {offset + got}")
            got += n

    def read(self, offset: int, nbytes: int, what: str = "") -> bytes:
        """The ``nbytes`` bytes at ``offset``."""
        buf = bytearray(nbytes)
        self.readinto(offset, buf, what)
        return bytes(buf)

    def iter_range(self, offset: int, nbytes: int, chunk_bytes: int,
                   buffer: Optional[bytearray] = None, what: str = "") -> Iterator[memoryview]:
        """The bytes ``offset .. offset + nbytes`` in pieces of ``chunk_bytes``.

        One buffer is reused for every piece (a piece is valid until the next one is
        asked for), so memory stays at ``chunk_bytes`` whatever the size.
        """
        buf = buffer if buffer is not None and len(buffer) >= chunk_bytes else bytearray(chunk_bytes)
        view = memoryview(buf)
        done = 0
        while done < nbytes:
            n = min(nbytes - done, chunk_bytes)
            self.readinto(offset + done, view[:n], what)
            done += n
            yield view[:n]


def check_expansion(path: str, name: str, info: ArrayInfo, allow_expand: bool) -> None:
    """Refuse to read out an array whose dense size the file's bytes do not justify.

    A sparse array (its stored values and indices) or a deflated ``.npz`` member (its
    compressed bytes) may claim a dense size far beyond what the file holds (117 bytes
    claiming 1 GiB); reading it out needs ``allow_expand=True`` once it exceeds both
    :data:`EXPAND_FLOOR` bytes and :data:`EXPAND_RATIO` times the stored bytes.
    """
    if allow_expand or info.shape is None or info.dtype is None:
        return
    if info.stype != "default":
        stored = info.nbytes
    elif info.compressed_nbytes >= 0:
        stored = info.compressed_nbytes
    else:
        return
    dense = info.size * numpy_dtype(info.dtype).itemsize
    if dense > EXPAND_FLOOR and dense > EXPAND_RATIO * stored:
        kind = "sparse" if info.stype != "default" else "deflated"
        ratio = f"{dense / stored:,.0f} times" if stored else "infinitely"
        raise CheckpointError(
            f"{path!r}: {kind} array {name!r} ({info.stype}, shape {info.shape}, {info.dtype}) "
            f"claims {dense:,} dense bytes from {stored:,} stored bytes ({ratio} more); "
            f"reading it out densely needs an explicit opt-in: pass allow_expand=True")


def _gf2_times(mat: List[int], vec: int) -> int:
    total, i = 0, 0
    while vec:
        if vec & 1:
            total ^= mat[i]
        vec >>= 1
        i += 1
    return total


def _zeros_operator(nbytes: int) -> List[int]:
    """The GF(2) matrix that advances a CRC-32 over ``nbytes`` zero bytes (zlib's
    ``crc32_combine``, which Python does not expose)."""
    op = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    for _ in range(3):  # one zero byte
        op = [_gf2_times(op, op[n]) for n in range(32)]
    result: Optional[List[int]] = None
    while nbytes:
        if nbytes & 1:
            result = op if result is None else [_gf2_times(op, result[n]) for n in range(32)]
        nbytes >>= 1
        if nbytes:
            op = [_gf2_times(op, op[n]) for n in range(32)]
    return result if result is not None else [1 << n for n in range(32)]


def crc_concat(first: int, pieces: List[Tuple[int, int]]) -> int:
    """The CRC-32 of some bytes followed by pieces given as ``(crc, length)`` each.

    >>> import zlib
    >>> a, b, c = b'npy header', b'values ' * 5, b'end'
    >>> crc_concat(zlib.crc32(a), [(zlib.crc32(b), len(b)), (zlib.crc32(c), len(c))]) == zlib.crc32(a + b + c)
    True
    """
    crc, ops = first, {}
    for piece, length in pieces:
        if length not in ops:
            ops[length] = _zeros_operator(length)
        crc = _gf2_times(ops[length], crc) ^ piece
    return crc
