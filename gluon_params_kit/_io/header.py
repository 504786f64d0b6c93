"""What every checkpoint format's header says, in one shape: :class:`ArrayInfo` and :class:`Header`.

The readers of ``.params`` (``_header``), ``.safetensors`` (``_safetensors``) and ``.npz``
(``_npz``) all return a :class:`Header`: a read-only mapping of array name ->
:class:`ArrayInfo`, data left unread. Byte ranges of the data are read here in bounded
pieces (:func:`iter_range`), for the streaming readers of ``diff``, ``inspect --stats`` and
``export``. Nothing here imports mxnet.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union

import numpy as onp

from ..errors import CheckpointError, PathError, did_you_mean, listing
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
    index: int = 0
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


class Header(Mapping):
    """Everything a checkpoint file says about its arrays, data left unread.

    A read-only mapping of array name -> :class:`ArrayInfo`, in file order: iterating
    yields the names, ``header[name]`` the info (any path form the kit accepts, such as
    ``'[0][1].bias'`` or ``(0, 1, 'bias')``, and an int position; a missing name raises
    :class:`~gluon_params_kit.errors.PathError`, a ``KeyError``, with the closest names),
    ``to_records()`` plain dicts. It is mapped like the kit's reports (``_report.Report``)
    but does not derive from it: reading a header must not import mxnet. ``.arrays`` is the
    tuple of infos, ``.format`` one of ``'params'``, ``'safetensors'``, ``'npz'``.
    ``.metadata`` is the safetensors ``__metadata__`` (empty for the other formats) and
    ``.aliases`` maps the other paths of a tied Parameter, which the kit's safetensors
    files store once, to the stored name.
    """

    def __init__(self, path: str, file_size: int, arrays: List[ArrayInfo], named: bool, *,
                 format: str = "params", metadata: Optional[Dict[str, str]] = None,
                 aliases: Optional[Dict[str, str]] = None, np_shape: Optional[bool] = None):
        self.path = path
        self.file_size = file_size
        self.arrays = tuple(arrays)
        #: True for a dict file (``{name: array}``), False for a plain list.
        self.named = named
        self.format = format
        self.metadata: Dict[str, str] = dict(metadata or {})
        self.aliases: Dict[str, str] = dict(aliases or {})
        self._np_shape = np_shape
        self._names = [a.name if named else str(i) for i, a in enumerate(self.arrays)]
        self._by_name = dict(zip(self._names, self.arrays))

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

    def __len__(self) -> int:
        return len(self.arrays)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __getitem__(self, key: Union[str, int, Tuple[Any, ...]]) -> ArrayInfo:
        if isinstance(key, int) and not isinstance(key, bool):
            return self.arrays[key]
        if isinstance(key, str) and key in self._by_name:
            return self._by_name[key]
        name = self.key_of(key)
        if name is None:
            raise PathError(f"no array {key!r} in {self.path!r}. Arrays: "
                            f"{listing(self._names) or 'none'}."
                            + did_you_mean(str(key), self._names + list(self.aliases)))
        return self._by_name[name]

    def to_records(self) -> List[Dict[str, Any]]:
        """One plain dict per array (the :class:`ArrayInfo` fields), in file order."""
        return [dict(info._asdict(), name=name) for name, info in zip(self._names, self.arrays)]

    def key_of(self, key: Any) -> Optional[str]:
        """The stored name ``key`` stands for (a path form, or a tied alias), or None."""
        if isinstance(key, str) and key in self._by_name:
            return key
        if isinstance(key, str) and key in self.aliases:
            return self.aliases[key]
        if not isinstance(key, (str, tuple, list)):
            return None
        try:  # '[0][1].bias', 'net[0].weight', (0, 'weight'): the kit's path forms
            from .._core.paths import format_path, parse_path
            segs = parse_path(key)
        except Exception:  # noqa: BLE001  (not a path, or mxnet missing: not a key)
            return None
        for cand in (format_path(segs), format_path(segs[1:])):
            if cand in self._by_name:
                return cand
            if cand in self.aliases:
                return self.aliases[cand]
        return None

    def __contains__(self, key) -> bool:
        try:
            self[key]
        except (KeyError, IndexError):
            return False
        return True

    def __repr__(self) -> str:
        kind = "dict" if self.named else "list"
        fmt = "" if self.format == "params" else f"{self.format}, "
        return (f"Header({self.path!r}: {fmt}{len(self)} arrays ({kind}), "
                f"{self.total_size} elements, {self.total_bytes} bytes of data)")


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

