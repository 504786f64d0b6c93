"""Writing checkpoints in each format, reading them for a load, and :func:`convert`.

Private: :mod:`gluon_params_kit.checkpoint` re-exports :func:`convert`. Every file is
written through ``_files.atomic_write`` (temporary file, fsync, rename; refused targets;
a full disk in words) and checked once written.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections import Counter, OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as onp

from .._core.compat import array_memory, is_np_array, is_np_shape, load_mxnet, mx, new_cpu_array
from .._core.display import progress as _progress
from .._core.gcpause import paused
from .._core.gluon import key_index
from .._core.types import Block, PathLike
from .._core.validate import check_bool, check_choice
from .._io import npz as _npz
from .._io import npz_into as _npz_into
from .._io import params as _params
from .._io import params_writer as _writer
from .._io import safetensors_file as _safetensors
from .._io.files import atomic_write, end_at, open_to_write, write_behind
from .._io.formats import CHUNK_VALUES, format_of, iter_values, open_checkpoint, open_values, read_host
from .._io.formats import read_header as read_header
from .._io.header import BFLOAT16, ArrayInfo, DataFile, Header, check_expansion, file_keys_of, numpy_dtype
from .._io.params import TYPE_FLAGS, dense_pieces
from ..errors import CheckpointError, CheckpointTypeError, listing
from ._remap import as_remap

__all__ = ["Converted", "check_options", "convert", "host_arrays", "host_bytes", "host_numpy", "read_for_load",
           "tied_aliases", "write_file"]



def check_options(kind: str, metadata: Optional[Mapping[str, str]], compressed: bool) -> None:
    """``metadata=`` is for ``.safetensors``, ``compressed=`` for ``.npz``: say so up front."""
    if metadata is not None and kind != "safetensors":
        raise CheckpointError(f"metadata= is stored by .safetensors files only, not by "
                              f"{kind!r}; use a .safetensors path or format='safetensors'")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise CheckpointTypeError(f"metadata must be a mapping of str to str, got "
                                  f"{type(metadata).__name__}")
    check_bool(compressed, "compressed", CheckpointError)
    if compressed and kind != "npz":
        raise CheckpointError(f"compressed=True deflates .npz files only, not {kind!r}")


def host_numpy(value) -> onp.ndarray:
    """An MXNet array as a numpy array, bfloat16 as MXNet's uint16 record."""
    host = value.asnumpy()
    if str(value.dtype) == str(BFLOAT16) or getattr(value.dtype, "names", None):
        return host.view(BFLOAT16) if host.dtype != BFLOAT16 else host
    return host


def host_bytes(array: Any) -> Optional[Tuple[onp.ndarray, Tuple[int, ...], onp.dtype]]:
    """``(bytes, shape, dtype)`` of a dense ``mx.nd.NDArray`` in CPU memory: its bytes as a
    flat ``uint8`` numpy view of the array's own memory (no copy), waited for first (MXNet
    hands out a MKL-DNN layout reordered to the default one); ``None`` for anything else
    (``mx.np``, sparse, GPU, bfloat16, zero-size arrays). A few calls into MXNet per array.
    The view keeps the array alive; its values are the array's own (no write may run on
    the array while the view is read).

    >>> data, shape, dtype = host_bytes(mx.nd.array([1, 2], dtype='int32'))
    >>> data.tobytes(), shape, dtype.name
    (b'\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00', (2,), 'int32')
    """
    if type(array) is not _ndarray():
        return None
    dtype = onp.dtype(array.dtype)
    if dtype.kind not in "biuf" or array.context.device_type != "cpu":
        return None
    shape = array.shape
    nbytes = dtype.itemsize
    for d in shape:
        nbytes *= d
    if not nbytes:
        return None
    array.wait_to_read()
    memory = array_memory(array, nbytes)
    if memory is None:
        return None
    memory.owner = array  # the view keeps the array (and so its memory) alive
    return onp.frombuffer(memory, onp.uint8), shape, dtype


@functools.lru_cache(maxsize=None)
def _ndarray() -> Any:
    """``mx.nd.NDArray``, looked up once (not through the lazy module per array)."""
    return load_mxnet().nd.NDArray


def host_arrays(arrays: Mapping[str, Any]) -> "OrderedDict[str, onp.ndarray]":
    """``arrays`` (MXNet or numpy arrays) as numpy arrays: views of the MXNet arrays' own
    memory where :func:`host_bytes` gives them, else copies (:func:`host_numpy`)."""
    out: "OrderedDict[str, onp.ndarray]" = OrderedDict()
    for key, value in arrays.items():
        if isinstance(value, onp.ndarray):
            out[key] = value
            continue
        found = host_bytes(value)
        out[key] = found[0].view(found[2]).reshape(found[1]) if found is not None else host_numpy(value)
    return out


def tied_aliases(block: Block, index: Any = None) -> Dict[str, str]:
    """Other path of a shared Parameter -> its canonical path, in Gluon's order (from
    ``index``, the block's :func:`~gluon_params_kit._core.gluon.key_index`, when given)."""
    index = key_index(block) if index is None else index
    canon = {id(g.param): g.path for g in index.groups}
    return OrderedDict((k, canon[id(p)]) for k, p in index.keys.items() if canon[id(p)] != k)


def to_nd(a: onp.ndarray):
    """A numpy array as an ``mx.nd.NDArray`` on cpu(0), dtype exact (bfloat16 too)."""
    out = mx.nd.empty(a.shape, ctx=mx.cpu(0), dtype=a.dtype)  # never the default context (a GPU)
    if a.size:
        out._sync_copyfrom(onp.require(a, requirements="C"))
    return out


def read_for_load(header: Header, src: Optional[DataFile] = None,
                  names: Optional[List[str]] = None) -> "OrderedDict[str, Any]":
    """The file's arrays as ``mx.nd.NDArray``, by every key the file offers (tied aliases
    included: they share the stored array), each paired with its name by name; only
    ``names`` (file keys, aliases included) when given.

    Everything comes from one open file: ``src``, or the header's file opened again and
    checked to be the version the header describes (else a CheckpointError saying it
    changed, before anything is returned). Every format is read by the kit's own readers
    straight into the new arrays' memory, each value once (``.params``: values, dtypes,
    shapes and sparse storage as ``mx.nd.load`` gives them; ``.safetensors`` and ``.npz``:
    the bits ``load_file`` and ``numpy.load`` give, deflated members inflated piece by piece
    into the array).
    """
    if src is None:
        with open_values(header) as opened:
            out = read_for_load(header, opened, names)
            opened.check()
        return out
    wanted = header.names if names is None else list(OrderedDict.fromkeys(
        header.aliases.get(k, k) for k in names))
    with mx.util.np_array(False), mx.util.np_shape(header.np_shape):
        if header.format == "params":
            out = OrderedDict((name, _params_value(src, header, name)) for name in wanted)
        elif header.format == "safetensors" and _BATCHED:
            out = _safetensors_values(src, header, wanted)
        else:  # straight into fresh arrays' memory (_io.npz_into, _safetensors.read_into)
            out = OrderedDict((name, _stored_value(src, header, name)) for name in wanted)
    for alias, stored in header.aliases.items():
        if stored in out:
            out.setdefault(alias, out[stored])
    return out


def _params_value(src: DataFile, header: Header, name: str):
    """One ``.params`` array as ``mx.nd.load`` gives it, read from the open file."""
    info = header[name]
    if info.shape is None or info.dtype is None:  # an empty handle: what nd.load gives for it
        return mx.nd.NDArray(mx.nd.ndarray._new_empty_handle())
    with _held_in_memory(header, name):
        if info.stype != "default":
            values, idx = _params.sparse_parts(src, info)
            dtype = numpy_dtype(info.dtype)
            if info.stype == "row_sparse":
                return mx.nd.sparse.row_sparse_array((values, idx[0]), shape=info.shape, dtype=dtype)
            return mx.nd.sparse.csr_matrix((values, idx[1], idx[0]), shape=info.shape, dtype=dtype)
        return _fresh_array(info, lambda view: src.readinto(info.offset, view, repr(info.name)),
                            lambda: _params.read_array(src, info))


#: dtypes an MXNet array holds, read into its memory in place (others: through numpy).
_IN_PLACE = ("float16", "float32", "float64", "uint8", "int8", "int32", "int64", "bool")


def _stored_value(src: DataFile, header: Header, name: str):
    """One ``.safetensors`` or ``.npz`` array as a new ``mx.nd.NDArray`` on cpu(0), its
    values read from the open file into the array's own memory (no copy between); dtypes
    MXNet arrays cannot read in place (bfloat16, 0-d and empty arrays) through numpy. The
    block's own shapes justify the memory: no expansion check here."""
    read_into = _safetensors.read_into if header.format == "safetensors" else _npz_into.read_into
    with _held_in_memory(header, name):
        return _fresh_array(header[name], lambda view: read_into(src, header, name, view),
                            lambda: read_host(header, [name], src=src, allow_expand=True)[name])


#: Reads of many arrays at once: ``preadv`` (POSIX) into little-endian memory (where the
#: bytes of a ``.safetensors`` tensor are its values).
_BATCHED = hasattr(os, "preadv") and sys.byteorder == "little"
#: Buffers per ``preadv`` call (the kernel's ``IOV_MAX``).
_IOV_MAX = 1024


def _safetensors_values(src: DataFile, header: Header, wanted: List[str]) -> "OrderedDict[str, Any]":
    """:func:`_stored_value` of every name in ``wanted``, with fewer calls: the arrays MXNet
    holds in place are made first, then each run of back-to-back tensors is read straight
    into its arrays by one ``preadv`` (:func:`_read_runs`)."""
    infos = dict(zip(header.names, header.arrays))
    out: "OrderedDict[str, Any]" = OrderedDict()
    reads: List[Tuple[int, memoryview, str]] = []
    for name in wanted:
        info = infos[name]
        if info.dtype in _IN_PLACE and info.size and info.shape:
            try:
                array, view = new_cpu_array(info.shape, info.dtype)
            except (MemoryError, OverflowError, ValueError, mx.base.MXNetError) as exc:
                raise _memory_error(header, name, exc) from None
            if view is not None:
                out[name] = array
                reads.append((info.offset, view, repr(name)))
                continue
        out[name] = _stored_value(src, header, name)
    _read_runs(src, reads)
    return out


def _read_runs(src: DataFile, reads: List[Tuple[int, memoryview, str]]) -> None:
    """Fill each ``(offset, view, what)``'s view with the file's bytes at ``offset``: each run
    of views whose bytes lie back to back in the file by one ``preadv``. What a call
    leaves unread (the file ended early, the kernel's limit per call) is read view by
    view, so a file cut short fails with the error that names its array (``what``)."""
    reads = sorted(reads, key=_offset)
    fd, i = src.fileno(), 0
    while i < len(reads):
        start = end = reads[i][0]
        j = i
        while j < len(reads) and reads[j][0] == end and j - i < _IOV_MAX:
            end += len(reads[j][1])
            j += 1
        got = os.preadv(fd, [view for _o, view, _w in reads[i:j]], start)
        if got < end - start:
            for offset, view, what in reads[i:j]:
                done = min(max(got - (offset - start), 0), len(view))
                if done < len(view):
                    src.readinto(offset + done, view[done:], what)
        i = j


def _offset(read: Tuple[int, Any, str]) -> int:
    return read[0]


def _fresh_array(info: ArrayInfo, read_into, read_numpy):
    """A new cpu(0) array of ``info``'s values: ``read_into(view)`` fills its own memory
    where MXNet hands it out, else ``read_numpy()``'s array is copied in."""
    if info.dtype in _IN_PLACE and info.size and info.shape:
        out, view = new_cpu_array(info.shape, info.dtype)
        if view is not None:  # straight into the array's memory: no copy
            read_into(view)
            return out
    return to_nd(read_numpy())


@contextlib.contextmanager
def _held_in_memory(header: Header, name: str):
    """An array too big for memory (or MXNet refusing it) as a CheckpointError naming it."""
    try:
        yield
    except (MemoryError, OverflowError, ValueError, mx.base.MXNetError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise _memory_error(header, name, exc) from None


def _memory_error(header: Header, name: str, exc: BaseException) -> CheckpointError:
    info = header[name]
    kind = f"{info.stype}, " if header.format == "params" else ""
    last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    return CheckpointError(f"cannot hold array {name!r} of {header.path!r} ({kind}shape "
                           f"{info.shape}, {info.dtype}) in memory: {last[:200]}")


def _size_hint(arrays: Mapping[str, Any]) -> int:
    """About the bytes a file of ``arrays`` (numpy or MXNet) takes: the data plus a record
    and name each."""
    return sum((a.nbytes if isinstance(a, onp.ndarray) else int(onp.prod(a.shape)) * onp.dtype(a.dtype).itemsize)
               + 128 + len(k) for k, a in arrays.items())


_WRITER = {"params": "MXNet", "safetensors": "the safetensors library", "npz": "zipfile"}


def _verifier(keys: List[str], named: bool, kind: str):
    """A check that a freshly written file holds ``keys``: MXNet's writer can lose a
    failed write (a full disk at the final flush) without saying so."""
    def verify(tmp: str) -> None:
        try:
            header = read_header(tmp, kind)
        except CheckpointError as exc:
            raise CheckpointError(f"the file {_WRITER[kind]} wrote is incomplete ({exc})") from None
        expected = keys if named else [str(i) for i in range(len(keys))]
        if (header.names if kind == "params" else sorted(header.names)) != (
                expected if kind == "params" else sorted(expected)):
            raise CheckpointError(f"the file {_WRITER[kind]} wrote holds {len(header)} arrays, "
                                  f"not the {len(keys)} it was given")
    return verify


def write_file(path: PathLike, kind: str, arrays: Mapping[str, Any], *, named: bool = True,
               np_mode: Optional[bool] = False, metadata: Optional[Mapping[str, str]] = None,
               aliases: Optional[Mapping[str, str]] = None, compressed: bool = False,
               fsync: bool = True) -> None:
    """Write ``arrays`` (MXNet arrays; numpy arrays too for ``.safetensors`` and ``.npz``)
    atomically.

    The kit writes the bytes itself wherever it can, each array's from the array's own
    memory (:func:`host_bytes`: no copy), small arrays gathered into large writes: ``.params``
    of dense CPU arrays in nd mode (the bytes ``mx.nd.save`` writes), ``.safetensors``
    (laid out as the library lays it out) and stored ``.npz``; such a file is checked to
    hold every byte written. MXNet writes the other ``.params`` files and ``zipfile``
    deflated ``.npz`` files; those are read back once written (MXNet's writer can lose a
    failed write without saying so).

    The bytes are handed to the disk as they are written (``sync_file_range``) when the
    file is about to be flushed (``fsync``), or is big (:data:`EARLY_WRITEBACK_BYTES`) and
    renamed over an existing file, which ext4 and btrfs flush at the rename (so a crash
    never leaves an empty file there): started early, that flush overlaps the writing
    instead of holding up the rename (a third faster for a 1 GiB file; a file of 100 MB
    flushes as fast at the rename). Otherwise the kernel writes the file back when it likes.
    """
    written: List[Optional[int]] = [None]  # bytes the kit wrote itself
    replacing = isinstance(path, (str, os.PathLike)) and os.path.exists(path)
    if kind == "params":
        records = _dense_records(arrays) if np_mode is None and named else None
        size = sum(len(r[5]) + 128 + len(r[0]) for r in records) if records is not None else None

        def write(tmp):
            if records is not None:  # the bytes nd.save writes, straight from the arrays
                written[0] = write_behind(tmp, dense_pieces(records), writeback=writeback)
            elif np_mode is None:  # save(): as MXNet writes it in this process's mode
                (mx.npx.save if is_np_array() else mx.nd.save)(tmp, dict(arrays))
            else:
                with mx.util.np_array(False), mx.util.np_shape(np_mode):
                    mx.nd.save(tmp, dict(arrays) if named else list(arrays.values()))
        if size is None:
            size = _size_hint(arrays)
    elif kind == "safetensors":
        meta = _safetensors.kit_metadata(list(arrays), aliases or {}, bool(np_mode), metadata)
        host = host_arrays(arrays)
        size = _size_hint(host)

        def write(tmp):
            written[0] = _safetensors.write(tmp, host, meta, writeback=writeback)
    else:
        _npz.check_keys(arrays)
        host = host_arrays(arrays)
        size = _size_hint(host)

        def write(tmp):
            written[0] = _npz.write(tmp, host, compressed, writeback=writeback)
    writeback = fsync or (replacing and size >= EARLY_WRITEBACK_BYTES)
    read_back = _verifier(list(arrays), named, kind)

    def verify(tmp: str) -> None:
        if written[0] is None:
            read_back(tmp)
        elif os.stat(tmp).st_size != written[0]:
            raise CheckpointError(f"the file the kit wrote holds {os.stat(tmp).st_size} bytes, "
                                  f"not the {written[0]} it wrote")
    atomic_write(path, write, fsync=fsync, size_hint=None if compressed else size, verify=verify)


#: A file at least this big that replaces another is handed to the disk as it is written
#: (see :func:`write_file`).
EARLY_WRITEBACK_BYTES = 256 << 20


def _dense_records(arrays: Mapping[str, Any]) -> Optional[list]:
    """``arrays`` as :func:`~gluon_params_kit._io.params.dense_pieces` records, each array's
    data read in place (:func:`host_bytes`), when ``mx.nd.save`` would write them all as
    plain V2 records (nd mode, legacy shapes, dense CPU arrays of an ordinary dtype); else
    ``None`` (MXNet writes the file). Each record names ``cpu(0)``, as ``save_parameters``
    (whose ``_reduce`` copies to ``cpu(0)``) writes it whichever CPU the array is on."""
    if is_np_array() or mx.util.is_np_shape():
        return None
    records = []
    for key, a in arrays.items():
        found = host_bytes(a)
        if found is None or not found[1] or found[2] not in _FLAGGED:
            return None
        records.append((key, found[1], 1, 0, _FLAGGED[found[2]], found[0]))
    return records


#: numpy dtype -> its name, for the dtypes :func:`~gluon_params_kit._io.params.dense_pieces`
#: writes (``dtype.name`` costs microseconds per array).
_FLAGGED = {onp.dtype(name): name for name in TYPE_FLAGS}


@paused
def convert(src: PathLike, dst: PathLike, *, remap: Any = None, to: Optional[str] = None,
            block: Optional[Block] = None, format: Optional[str] = None,
            metadata: Optional[Mapping[str, str]] = None, compressed: bool = False,
            np_mode: Optional[bool] = None, allow_expand: bool = False,
            progress: bool = False) -> "Converted":
    """Rewrite a checkpoint's keys and/or format (atomically; ``dst`` may be ``src``).

    Any of ``.params``, ``.safetensors`` and ``.npz`` converts to any other; the format
    of ``dst`` is ``format=`` or its suffix. Values, dtypes and shapes are kept exactly,
    and ``.params -> .safetensors -> .params`` gives back the same bytes (the key order
    and the nd/np mode travel in the safetensors metadata).

    Args:
        src: The file to read.
        dst: The file to write.
        remap: Rules applied first, as in :func:`~gluon_params_kit.checkpoint.load`.
        to: ``'structural'`` (auto names -> paths) or ``'legacy'`` (paths -> auto
            names); both need ``block``, the network the file belongs to.
        block: The network whose structure and names drive ``to``.
        format: ``'params'``, ``'safetensors'`` or ``'npz'`` for ``dst``.
        metadata: Extra ``__metadata__`` entries (``.safetensors`` only).
        compressed: Deflate the arrays (``.npz`` only).
        np_mode: The array mode a ``.params`` (or ``.safetensors``) ``dst`` is written in:
            ``True`` np (np shape semantics: what np-mode ``load_parameters`` reads),
            ``False`` nd, ``None`` (default) the mode ``src`` records (a ``.params``
            file's records, the kit's ``.safetensors`` metadata), else, for an ``.npz`` or
            another writer's ``.safetensors``, the running MXNet's mode (np when
            ``mx.npx.set_np()`` or np shape is on), else nd. 0-d and zero-size arrays
            need np (``np_mode=False`` refuses them). An ``.npz`` records no mode.
        allow_expand: Write out densely an array whose dense size the file's bytes do not
            justify (a sparse array or deflated member far bigger than what is stored;
            see :func:`~gluon_params_kit.checkpoint.export_npz`).
        progress: Show a progress bar naming ``src`` while converting more than 100 MB
            of data (tqdm).

    The file is streamed: values go from ``src`` to ``dst`` in pieces (the kernel copies
    big dense arrays as they are), extra memory stays at a few buffers of 8 MiB whatever
    the size, and MXNet is not needed, for ``.params`` targets too (written byte for byte
    as ``mx.nd.save`` writes the arrays ``mx.nd.load`` reads; sparse arrays stay sparse in
    nd mode and are written dense in np mode, which MXNet cannot store sparse).

    Returns:
        ``old key -> new key`` (``None`` for dropped keys), in file order; its ``np_mode``
        says which mode was written (``None`` for an ``.npz``) and ``format`` the format.

    Raises:
        CheckpointError: Unreadable file (or one that changed while it was read), unknown
            ``to``, a missing ``block``, two keys that would get the same name, an option
            that does not fit the format, or an expansion not allowed.

    Examples:
        >>> import os, tempfile, mxnet as mx
        >>> from gluon_params_kit.checkpoint import Remap
        >>> d = tempfile.mkdtemp(); f = os.path.join(d, 'a.params')
        >>> mx.nd.save(f, {'features.0.weight': mx.nd.ones((2,))})
        >>> dict(convert(f, os.path.join(d, 'b.params'), remap=Remap.strip_prefix('features.')))
        {'features.0.weight': '0.weight'}
        >>> done = convert(f, os.path.join(d, 'a.safetensors'))
        >>> dict(done), done.np_mode
        ({'features.0.weight': 'features.0.weight'}, False)
    """
    if to is not None:
        check_choice(to, "to", ("structural", "legacy"), CheckpointError, where="convert")
    check_bool(allow_expand, "allow_expand", CheckpointTypeError)
    check_bool(progress, "progress", CheckpointTypeError)
    rules = as_remap(remap)
    if to is not None:
        rules = rules + as_remap(to)
    if np_mode is not None:
        check_bool(np_mode, "np_mode", CheckpointTypeError)
    kind = format_of(dst, format, reading=False)
    check_options(kind, metadata, compressed)
    with open_checkpoint(src) as (header, opened):
        keys = header.names if kind == "safetensors" else file_keys_of(header)
        mapping = rules(keys, block)
        new_keys = [k for k in mapping.values() if k is not None]
        if len(set(new_keys)) != len(new_keys):
            dup = sorted(k for k, c in Counter(new_keys).items() if c > 1)
            raise CheckpointError(f"converting {header.path!r} with {rules!r} gives repeated keys "
                                  f"{listing(dup)}; nothing was written")
        mode = _mode_to_write(header, np_mode) if kind != "npz" else None
        keep_sparse = header.format == "params" and kind == "params" and not mode
        pairs = [(old, new, header[old]) for old, new in mapping.items() if new is not None]
        for old, _new, info in pairs:
            if not (keep_sparse and info.stype != "default"):
                check_expansion(header.path, old, info, allow_expand)
        bar = _progress(sum(_out_nbytes(i, keep_sparse) for _o, _n, i in pairs), header.path) \
            if progress else None
        try:
            _write_streamed(dst, kind, header, opened, pairs, keep_sparse=keep_sparse,
                            named=header.named or kind != "params", np_mode=bool(mode),
                            metadata=metadata, aliases=_renamed_aliases(header, mapping, kind),
                            compressed=compressed, bar=bar)
        finally:
            if bar is not None:
                bar.close()
    return Converted(mapping, format=kind, np_mode=mode)


def _renamed_aliases(header: Header, mapping: Mapping[str, Optional[str]], kind: str) -> Dict[str, str]:
    """The tied aliases a ``.safetensors`` target records: both names renamed, kept unless
    either was dropped."""
    aliases: Dict[str, str] = {}
    if kind == "safetensors":
        for alias, stored in header.aliases.items():
            new_alias, new_stored = mapping.get(alias, alias), mapping.get(stored)
            if new_alias is not None and new_stored is not None:
                aliases[new_alias] = new_stored
    return aliases


def _itemsize(info: ArrayInfo) -> int:
    return numpy_dtype(info.dtype).itemsize if info.dtype is not None else 0


def _out_nbytes(info: ArrayInfo, keep_sparse: bool) -> int:
    """The data bytes one array takes in the converted file."""
    if keep_sparse and info.stype != "default":
        return info.nbytes
    return info.size * _itemsize(info)


def _npz_dtype(info: ArrayInfo) -> onp.dtype:
    return BFLOAT16 if info.dtype == "bfloat16" else onp.dtype(info.dtype or "float32")


def _npz_shape(info: ArrayInfo) -> Tuple[int, ...]:
    return tuple(info.shape) if info.shape is not None else (0,)


@functools.lru_cache(maxsize=256)
def _npy_header_of(dtype: onp.dtype, shape: Tuple[int, ...]) -> bytes:
    return _writer.npy_header(dtype, shape)


def _npy_header(rec: "_writer.Record") -> bytes:
    """The ``.npy`` header numpy writes for one converted array (C order, native dtype)."""
    return _npy_header_of(_npz_dtype(rec.source), _npz_shape(rec.source))


def _check_dtypes(header: Header, pairs: List[Tuple[str, str, ArrayInfo]], kind: str) -> None:
    """Every array's dtype is one ``kind`` stores (and numpy knows), before anything is written."""
    holds: Optional[List[str]] = {"params": list(_writer.TYPE_FLAGS),
                                  "safetensors": list(_writer.SAFETENSORS_CODES)}.get(kind)
    for old, _new, info in pairs:
        if info.dtype is None:
            continue
        try:
            numpy_dtype(info.dtype)  # a dtype numpy lacks (float8...)
        except CheckpointError as exc:
            raise CheckpointError(f"cannot convert {old!r} of {header.path!r}: {exc}") from None
        if holds is not None and info.dtype not in holds:
            raise CheckpointError(f"cannot convert {old!r} of {header.path!r} ({info.dtype}) to a "
                                  f".{kind} file; it holds {listing(holds)}")


def _write_streamed(dst: PathLike, kind: str, header: Header, src: DataFile,
                    pairs: List[Tuple[str, str, ArrayInfo]], *, keep_sparse: bool, named: bool,
                    np_mode: bool, metadata: Optional[Mapping[str, str]],
                    aliases: Mapping[str, str], compressed: bool, bar: Any) -> None:
    """Write ``pairs`` (old key, new key, info) of the open ``src`` to ``dst`` in ``kind``,
    piece by piece: memory stays at one buffer (:data:`~.._io.params_writer.SINK_BUFFER`)
    and a few pieces of :data:`~.._io.formats.CHUNK_VALUES` values, whatever the size."""
    _check_dtypes(header, pairs, kind)
    buffer = bytearray(CHUNK_VALUES * 8)
    update = bar.update if bar is not None else None

    def pieces(info: ArrayInfo):
        """The array's dense little-endian C-order bytes, in pieces (views of ``buffer``)."""
        if header.format == "npz" and info.offset >= 0 and info.stype == "default" \
                and not info.fortran_order and not info.big_endian:
            return _npz.iter_stored(src, header, info, min(len(buffer), max(info.nbytes, 1)), buffer)
        return (p.view(onp.uint8).data for p in iter_values(header, info, src=src, buffer=buffer,
                                                          allow_expand=True))

    def raw(info: ArrayInfo) -> bool:
        """Whether the file's bytes are the array's dense bytes as they are (no check to make)."""
        return header.format != "npz" and info.stype == "default" and info.offset >= 0 \
            and not info.big_endian and not info.fortran_order

    def fill(sink: _writer.Sink, rec: _writer.Record) -> None:
        info = rec.source
        if rec.stype != "default" or raw(info):
            sink.copy(src, info.offset, rec.nbytes, repr(info.name))
        else:
            for piece in pieces(info):
                sink.write(piece, counted=True)

    def record(new: str, info: ArrayInfo) -> _writer.Record:
        if keep_sparse and info.stype != "default":
            return _writer.Record(new, info.shape, info.dtype or "float32", info.nbytes, info,
                                  _writer.context_ids(info.context), info.stype,
                                  info.storage_shape, info.aux)
        return _writer.Record(new, info.shape, info.dtype or "float32", info.size * _itemsize(info),
                              info, _writer.context_ids(info.context))

    if kind == "npz" and compressed:  # zipfile deflates
        _npz.check_keys([new for _o, new, _i in pairs])

        def entry(info: ArrayInfo):
            def chunks():
                for piece in pieces(info):
                    yield piece
                    if update is not None:
                        update(len(piece))
            return (_npz_dtype(info), _npz_shape(info), chunks, None, False)
        entries = OrderedDict((new, entry(info)) for _o, new, info in pairs)

        def write(tmp: str) -> None:
            _npz.write(tmp, entries, compressed)
    else:
        if kind == "npz":
            _npz.check_keys([new for _o, new, _i in pairs])
        records = [record(new, info) for _o, new, info in pairs]
        meta = _safetensors.kit_metadata([r.name for r in records], aliases, np_mode, metadata) \
            if kind == "safetensors" else {}
        for r in records:
            if kind == "safetensors" and (r.shape is None or r.dtype not in _writer.SAFETENSORS_CODES):
                what = r.dtype if r.shape is not None else "an array saved without a shape"
                raise CheckpointError(f"cannot store {r.name!r} ({what}) in a .safetensors file; "
                                      f"the format holds {listing(list(_writer.SAFETENSORS_CODES))}")

        def write(tmp: str) -> None:
            fd = open_to_write(tmp)
            try:
                sink = _writer.Sink(fd, progress=update)
                if kind == "params":
                    _writer.write_params(sink, records, len(records), fill, named=named, np_shape=np_mode)
                elif kind == "npz":
                    _writer.write_npz(sink, records, _npy_header, fill)
                else:
                    _writer.write_safetensors(sink, records, meta, fill)
                sink.close()
                end_at(fd, sink.pos)
            finally:
                os.close(fd)

    def checked(tmp: str) -> None:
        try:
            write(tmp)
        except OSError:
            src.check()  # a source cut short under the copy: say it changed
            raise
        src.check()  # the source did not change under the copy

    size = sum(_out_nbytes(info, keep_sparse) + 128 + 2 * len(new) for _o, new, info in pairs)
    atomic_write(dst, checked, size_hint=None if compressed else size)


class Converted(OrderedDict):
    """What :func:`convert` did: ``old key -> new key`` (``None``: dropped), in file order,
    with the ``format`` written and its array mode ``np_mode`` (``None`` for ``.npz``)."""

    def __init__(self, mapping: Mapping[str, Optional[str]], *, format: str,
                 np_mode: Optional[bool]):
        super().__init__(mapping)
        self.format, self.np_mode = format, np_mode

    def __repr__(self) -> str:
        mode = "" if self.np_mode is None else f", np_mode={self.np_mode}"
        return f"Converted({dict(self)!r}, format={self.format!r}{mode})"


def _mode_to_write(header: Header, np_mode: Optional[bool]) -> bool:
    """The array mode a converted file is written in (see :func:`convert`'s ``np_mode``)."""
    needs_np = any(a.shape is not None and (a.shape == () or 0 in a.shape) for a in header.arrays)
    if np_mode is None:
        recorded = header.metadata.get(_safetensors.MODE) if header.format == "safetensors" else None
        if header.format == "params":
            np_mode = header.np_shape
        elif recorded in ("np", "nd"):
            np_mode = recorded == "np"
        else:
            np_mode = bool(is_np_array() or is_np_shape())  # without mxnet: nd
        return np_mode or needs_np
    if not np_mode and needs_np:
        shown = [n for n, a in zip(header.names, header.arrays)
                 if a.shape is not None and (a.shape == () or 0 in a.shape)]
        raise CheckpointError(f"np_mode=False cannot write {header.path!r}'s 0-d or zero-size "
                              f"arrays ({listing(shown)}): MXNet's nd mode reads those shapes as "
                              f"unknown; use np_mode=True (or None)")
    return np_mode
