"""What every checkpoint format's header says, in one shape: :class:`ArrayInfo` and :class:`Header`.

The readers of ``.params`` (``_header``), ``.safetensors`` (``_safetensors``) and ``.npz``
(``_npz``) all return a :class:`Header`: a read-only mapping of array name ->
:class:`ArrayInfo`, data left unread. Byte ranges of the data are read here in bounded
pieces (:func:`iter_range`), for the streaming readers of ``diff``, ``inspect --stats`` and
``export``. Nothing here imports mxnet: the report base, the path grammar and the display
helpers it uses (``_core/report.py``, ``paths.py``, ``display.py``) import none either.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import numpy as onp

from .._core.display import format_count, format_shape
from .._core.report import Report
from ..errors import CheckpointError
from .files import open_source

__all__ = [
    "ArrayInfo", "BFLOAT16", "Header", "bfloat16_to_float32", "file_keys_of", "iter_range",
    "numpy_dtype", "read_range",
]

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

    @property
    def size(self) -> int:
        """Number of elements of the (dense) shape."""
        if self.shape is None:
            return 0
        n = 1
        for d in self.shape:
            n *= d
        return n


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
                 ordered: bool = True):
        self.path = path
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
        self._names = [a.name if named and a.name is not None else str(i) for i, a in enumerate(self.arrays)]
        kind = "dict" if named else "list"
        fmt = "" if format == "params" else f"{format}, "
        super().__init__(dict(zip(self._names, self.arrays)), self.aliases, title=(
            f"Header({path!r}: {fmt}{len(self.arrays)} arrays ({kind}), "
            f"{self.total_size} elements, {self.total_bytes} bytes of data)"))
        #: What a lookup error calls the header: the file is named.
        self._kind = f"header of {path!r}"

    @property
    def names(self) -> List[str]:
        """The array names in file order (``'0'``, ``'1'``... for a list file)."""
        return list(self._names)

    @property
    def np_shape(self) -> bool:
        """True when the arrays need np shape semantics (V3 records, 0-d or zero-size)."""
        if self._np_shape is not None:
            return self._np_shape
        return any(a.version == 3 for a in self.arrays)

    @property
    def total_bytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    @property
    def total_size(self) -> int:
        return sum(a.size for a in self.arrays)

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


def read_range(path: str, info: ArrayInfo) -> bytes:
    """The ``info.nbytes`` data bytes of one array, read at its offset."""
    f, _ = open_source(path)
    with f:
        f.seek(info.offset)
        raw = f.read(info.nbytes)
    if len(raw) != info.nbytes:
        raise CheckpointError(f"{path!r} changed while reading {info.name!r}: short read")
    return raw


def iter_range(path: str, offset: int, nbytes: int, chunk_bytes: int,
               buffer: Optional[bytearray] = None) -> Iterator[memoryview]:
    """The bytes ``offset .. offset + nbytes`` of ``path`` in pieces of ``chunk_bytes``.

    One buffer is reused for every piece (a piece is valid until the next one is
    asked for), so memory stays at ``chunk_bytes`` whatever the size.
    """
    buf = buffer if buffer is not None and len(buffer) >= chunk_bytes else bytearray(chunk_bytes)
    view = memoryview(buf)
    f, _ = open_source(path)
    with f:
        f.seek(offset)
        left = nbytes
        while left > 0:
            n = min(left, chunk_bytes)
            got = f.readinto(view[:n])
            if got != n:
                raise CheckpointError(f"{path!r} changed while reading: short read at byte "
                                      f"{offset + nbytes - left}")
            left -= n
            yield view[:n]

