"""Checkpoints by structural path in three formats: atomic saves, loads that explain themselves.

:func:`save` writes ``.params`` (exactly the keys and bytes of ``save_parameters``),
``.safetensors`` (laid out as the ``safetensors`` library lays it out: one tensor per
Parameter, tied paths and the kit's versions in ``__metadata__``) or ``.npz``, chosen by the
suffix or ``format=``,
in nd and np modes, through a temporary file that replaces the old one only once complete.
:func:`load` reads any of the three: it checks the whole file against the block first
(missing, unexpected, shape, dtype, tied keys) from the file's header alone, and changes
nothing unless everything it is asked to load can be loaded; the :class:`LoadReport` it
returns (or carries in the :class:`~gluon_params_kit.errors.CheckpointError`) prints as a
table and suggests a :class:`Remap` when the keys differ by a prefix or by the legacy
auto-name scheme. :func:`convert` rewrites keys and formats, :func:`diff` compares two
parameter sets and :func:`export_npz` writes a pickle-free ``.npz``, streaming files.

The byte-level work lives in ``_header`` (``.params``), ``_safetensors``, ``_npz`` and
``_formats`` (one dispatch), the report in ``_load_report``, the remap rules in ``_remap``,
writing and converting in ``_convert``, diff and export in ``_compare``; this module is the
public face.
"""
from __future__ import annotations

import functools
import warnings
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as onp

from .._core.compat import is_np_array, mx
from .._core.display import known_shape, known_size
from .._core.gluon import check_block, contexts, has_data, is_deferred, key_index
from .._core.patterns import selection
from .._core.types import Block, PathLike
from .._core.validate import check_bool, check_choice, check_contexts
from .._io.formats import format_of, read_host
from .._io.formats import read_header as _read_any_header
from .._io.header import ArrayInfo, Header, numpy_dtype
from ..errors import (
    CheckpointError,
    CheckpointTypeError,
    DeviceError,
    LoadWarning,
    PathTypeError,
    SelectionError,
    listing,
)
from ..tree import named_parameters
from ._convert import check_options, convert, read_for_load, tied_aliases, write_file
from ._diff import DiffReport, diff, export_npz
from ._load_report import LoadReport, file_keys_of, refusal, shape_fits, suggest, unloaded_line
from ._pairing import split_key
from ._remap import Remap, as_remap, collapse_keys
from ._symbol import FIX_GAMMA, SymbolLoad
from ._trainer_kv import before_assign

__all__ = [
    "ArrayInfo",
    "DiffReport",
    "Header",
    "LoadReport",
    "Remap",
    "collapse_keys",
    "convert",
    "diff",
    "export_npz",
    "load",
    "read_array",
    "read_header",
    "save",
    "split_key",
]

DTYPE_POLICIES = ("check", "cast", "saved")


def read_header(path: PathLike, *, format: Optional[str] = None) -> Header:
    """Names, shapes, dtypes and data offsets of every array in a checkpoint, data unread.

    Reads ``.params`` (``save_parameters``, ``collect_params().save``, ``nd.save`` and
    ``npx.save``, dict and list forms), ``.safetensors`` (its JSON header) and ``.npz``
    (its zip directory and ``.npy`` headers); the format comes from ``format=`` or the
    suffix, else from the file's first bytes. Only header fields are read, so a
    multi-GB file takes milliseconds.

    Args:
        path: The file to read.
        format: ``'params'``, ``'safetensors'`` or ``'npz'``.

    Returns:
        A :class:`Header`: a mapping of name -> :class:`ArrayInfo` (``header['0.weight']
        .shape``), with ``.names``, ``.format``, ``.metadata``, ``.aliases``.

    Raises:
        CheckpointError: The file is missing or not a regular file (a FIFO is refused,
            never waited on), truncated or damaged (a wrong magic number, a count,
            length or offset the file cannot hold, an unknown dtype, bad sparse index
            data), or ``format`` is unknown.
        CheckpointTypeError: ``path`` is not a str, bytes or os.PathLike (``None``, an int).

    Examples:
        >>> import os, tempfile, numpy as np
        >>> from safetensors.numpy import save_file
        >>> f = os.path.join(tempfile.mkdtemp(), 'x.safetensors')
        >>> save_file({'w': np.ones((2, 3), np.float32), 'b': np.zeros(2, np.int64)}, f)
        >>> h = read_header(f)
        >>> [(name, a.shape, a.dtype) for name, a in h.items()], h.format
        ([('b', (2,), 'int64'), ('w', (2, 3), 'float32')], 'safetensors')
    """
    return _read_any_header(path, format)


def read_array(path: PathLike, name: Any, *, format: Optional[str] = None) -> onp.ndarray:
    """One array of a checkpoint as a numpy array: the header, then that array's bytes alone.

    No other array is read (a ``.params`` or ``.safetensors`` array straight from its
    offset, one ``.npz`` member), and no mxnet is needed. Values, dtype and shape are
    those ``mx.nd.load`` gives, bit for bit; a ``row_sparse`` or ``csr`` array comes dense,
    as ``.asnumpy()`` gives it, bfloat16 as MXNet's ``uint16`` record.

    Args:
        path: The file to read (``.params``, ``.safetensors`` or ``.npz``).
        name: The array's key, in any path form (``'0.weight'``, ``'[0].weight'``,
            ``(0, 'weight')``), a tied path the file records, or a position for a list file.
        format: ``'params'``, ``'safetensors'`` or ``'npz'`` (default: suffix, then bytes).

    Returns:
        A new, writable numpy array.

    Raises:
        CheckpointError: The file cannot be read (see :func:`read_header`).
        PathError: The file holds no array ``name`` (the message lists the keys, and the
            closest ones).

    Examples:
        >>> import os, tempfile, numpy as np
        >>> from safetensors.numpy import save_file
        >>> f = os.path.join(tempfile.mkdtemp(), 'x.safetensors')
        >>> save_file({'0.weight': np.arange(6, dtype=np.float32).reshape(2, 3)}, f)
        >>> read_array(f, '[0].weight')
        array([[0., 1., 2.],
               [3., 4., 5.]], dtype=float32)
    """
    header = _read_any_header(path, format)
    stored = header.names[header[name].index]
    return read_host(header, [stored])[stored]


# --------------------------------------------------------------------------- saving

def save(block: Block, path: PathLike, *, format: Optional[str] = None,
         metadata: Optional[Mapping[str, str]] = None, compressed: bool = False,
         deduplicate: bool = False, fsync: bool = True) -> List[str]:
    """Save ``block``'s parameters under their structural paths, atomically.

    The format is ``format=`` or the suffix: ``.safetensors``, ``.npz``, else ``.params``.

    - ``.params``: the keys and bytes of ``block.save_parameters`` (every alias of a
      shared Parameter, or only its canonical path with ``deduplicate=True``), so
      Gluon's ``load_parameters`` reads the file too; in np mode as ``npx.save`` writes it.
    - ``.safetensors``: laid out as the ``safetensors`` library lays it out (tensors by
      dtype, then name; only ``__metadata__``'s order is the kit's own, where the library's
      follows a hash), one tensor per Parameter
      under its canonical path (a tied Parameter once; its other paths in the metadata),
      dtypes and shapes exact (bfloat16, float16, ints, bool, 0-d, zero-size);
      ``__metadata__`` records the kit and MXNet versions, the nd/np mode, the key order
      and ``metadata`` (your ``str -> str`` entries).
    - ``.npz``: ``numpy.load(..., allow_pickle=False)`` reads it; ``compressed=True``
      deflates it.

    Every array's bytes go to the file from the array's own memory (no copy), small
    arrays gathered into large writes (MXNet writes ``.params`` files of sparse arrays and
    np-mode shapes, ``zipfile`` deflated ``.npz`` files). The file is written to a temporary
    file in the same folder, flushed to disk and renamed over ``path``: an error or a crash
    mid-write leaves any previous file as it was. Flushing costs a few milliseconds plus the disk's write time; ``fsync=False``
    skips it (the rename still never exposes a partial file, but a power loss may lose
    the newest save).

    Args:
        block: The network; every Parameter must be initialized.
        path: Destination file.
        format: ``'params'``, ``'safetensors'`` or ``'npz'`` (default: from the suffix).
        metadata: Extra ``__metadata__`` entries (``.safetensors`` only).
        compressed: Deflate the arrays (``.npz`` only).
        deduplicate: Save a shared Parameter once, under its canonical (first) path
            (``.safetensors`` always does). Gluon's ``save_parameters(deduplicate=True)``
            keeps the last path instead; both load either way.
        fsync: Flush the file (and the folder entry) to disk before returning.

    Returns:
        The keys written, in order.

    Raises:
        CheckpointError: A Parameter is not initialized yet (deferred), an option does
            not fit the format, or the file cannot be written; the previous file is untouched.

    Examples:
        >>> import os, tempfile
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(3, in_units=2)); net.initialize()
        >>> d = tempfile.mkdtemp()
        >>> save(net, os.path.join(d, 'net.params'))
        ['0.weight', '0.bias']
        >>> save(net, os.path.join(d, 'net.safetensors'), metadata={'epoch': '3'})
        ['0.weight', '0.bias']
        >>> read_header(os.path.join(d, 'net.safetensors')).metadata['epoch']
        '3'
    """
    check_block(block, PathTypeError)
    check_bool(deduplicate, "deduplicate", CheckpointTypeError)
    check_bool(fsync, "fsync", CheckpointTypeError)
    kind = format_of(path, format, reading=False)
    check_options(kind, metadata, compressed)
    index = key_index(block)  # one walk: the keys, and the canonical paths of tied Parameters
    if deduplicate or kind == "safetensors":
        params = OrderedDict((group.path, group.param) for group in index.groups)
    else:
        params = OrderedDict(index.keys)
    pending = [k for k, p in params.items() if not has_data(p)]
    if pending:
        raise CheckpointError(
            f"cannot save {type(block).__name__}: {len(pending)} parameters are not initialized "
            f"yet ({listing(collapse_keys(pending))}); run a forward pass (deferred "
            f"initialization) or call initialize() first. Nothing was written.")
    # MXNet arrays: the writer reads their memory in place (or copies what it cannot read)
    arrays = OrderedDict((k, _host_value(p)) for k, p in params.items())
    aliases = tied_aliases(block, index) if kind == "safetensors" else {}
    write_file(path, kind, arrays, named=True,
               np_mode=None if kind == "params" else is_np_array(), metadata=metadata,
               aliases=aliases, compressed=compressed, fsync=fsync)
    return list(arrays)


def _host_value(param) -> Any:
    """The value to write: the array itself when it is a single dense CPU copy (saving
    only reads it), else Gluon's ``_reduce`` (replicas averaged, sparse rows pulled).

    The array is waited for first: ``nd.save`` of an array whose initializer is still
    running on MXNet's engine writes what is there so far (seen on Inception-v3 right
    after the first forward: a different file every other run).
    """
    ctxs = param.list_ctx()
    if len(ctxs) == 1 and ctxs[0].device_type == "cpu" and param._stype == "default":
        value = param.data(ctxs[0])
    else:
        value = param._reduce()
    value.wait_to_read()
    return value


# --------------------------------------------------------------------------- loading

def load(block: Block, path: Union[PathLike, Header], *, strict: bool = True, remap: Any = None,
         dtype: str = "check", ctx: Optional[Any] = None,
         format: Optional[str] = None, symbol: Any = None, example: Any = None,
         fix_gamma: Optional[str] = None, exclude: Any = None) -> LoadReport:
    """Load a checkpoint into ``block``, all or nothing, and report what happened.

    The file's keys (after ``remap``) are checked against ``named_parameters(block,
    aliases=True)`` from its header alone: missing Parameters, unexpected keys, shape
    and dtype mismatches; the data is then read and shared Parameters saved under
    several paths must agree. Only then are values assigned. Deferred Parameters take
    the file's shapes (as ``load_parameters`` does); files written in nd or np mode load
    in either mode, and so do auto-name files with ``remap='structural'``.

    An old symbol checkpoint (``mx.model.save_checkpoint``: ``prefix-symbol.json`` beside
    ``prefix-0000.params``, ``arg:``/``aux:`` keys under names people chose) loads into the
    equivalent structured Gluon net: when the keys do not match by name, the graph's
    parameterised layers are paired with the net's in forward order, layer by layer (operator,
    kernel, filters, groups, units, the file's shapes and, for a HybridBlock, the layers each
    one takes its input from), roles by the role table (a BatchNorm's ``moving_mean`` ->
    ``running_mean``); a layer that does not fit, or two that fit equally, refuse the load,
    named. ``report.symbol_notes`` then names every symbol
    attribute that makes the net compute otherwise: ``fix_gamma=True`` with a gamma that
    is not 1 in the file (``fix_gamma='ones'`` loads ones there; or build the layer with
    ``BatchNorm(scale=False)``), eps, momentum, ``use_global_stats``, strides, padding,
    ``no_bias`` against a layer with a bias.

    ``.params``, ``.safetensors`` (the kit's or any other writer's: a tied Parameter's
    other paths come from the kit's metadata) and ``.npz`` files load the same way.
    Memory and speed: the file's values are read whole before anything is assigned (that
    is what makes the load all or nothing), once, from the file straight into fresh
    arrays in every format (no intermediate copy): about one file's size at the peak, as
    ``load_parameters``. An initialized Parameter with one dense array then takes its
    fresh array over (an array got earlier from ``param.data()`` keeps the old values);
    the others are set from them as ``load_parameters`` sets them.

    Args:
        block: The network (initialized, deferred or not initialized at all).
        path: A ``.params`` (``save``, ``save_parameters``, ``nd.save``...),
            ``.safetensors`` or ``.npz`` file; or a :class:`Header` from
            :func:`read_header`: the values then come from the version of the file that
            header describes (a file renamed over it since is a ``CheckpointError``, with
            nothing changed).
        strict: Refuse the load on any problem. ``False`` loads what matches, lists
            what it skipped, and warns (:class:`~gluon_params_kit.errors.LoadWarning`)
            with how many Parameters and values keep their initial values.
        remap: A :class:`Remap`, a ``{old: new}`` mapping, a function of the key,
            ``'structural'`` (auto names -> paths) or ``'gluon'`` (attribute paths such as
            a recurrent layer's ``1.l0_i2h_weight`` -> Gluon's keys).
        dtype: ``'check'`` (a dtype difference is a problem), ``'cast'`` (cast the
            file's values to the Parameter's dtype) or ``'saved'`` (the Parameter takes
            the file's dtype).
        ctx: Context(s) for Parameters that are not initialized yet (default cpu).
        format: ``'params'``, ``'safetensors'`` or ``'npz'`` (default: from the suffix).
        symbol: The ``-symbol.json`` of an old symbol checkpoint; ``None`` looks for
            ``prefix-symbol.json`` beside ``prefix-NNNN.params``; ``False``: none.
        example: An input batch (or a tuple of them) for one traced forward pass that
            gives the net's layer order and deferred shapes to the symbol walk (the net
            must be initialized; nothing in it changes); without it, registration order.
        fix_gamma: ``'ones'`` loads ones into the gamma of each BatchNorm the symbol
            fixes (``fix_gamma=True``: MXNet ignores the stored gamma); ``None`` loads the
            file's gamma and reports the difference.
        exclude: Parameters to leave out on purpose (transfer learning: a new head), as
            :func:`~gluon_params_kit.select` selects them (a regex searched in each path
            or alias, a list of them, a compiled regex, or a predicate): they keep their
            values, are neither missing nor (their file keys) unexpected, also with
            ``strict=True``, and no warning names them; file keys the pattern selects
            that no remaining Parameter takes are left unread. ``report.excluded`` lists
            both. A pattern that selects nothing in the block or the file is a
            :class:`~gluon_params_kit.errors.SelectionError`.

    Returns:
        The :class:`LoadReport` (``report.applied`` is True; ``report.symbol_notes``).

    Raises:
        CheckpointError: A strict load found problems (``exc.report`` has them; nothing
            was changed), or the file cannot be read.
        DeviceError: ``ctx`` is empty or repeats a context (``DeviceTypeError`` when it is
            not a context), or an initialized Parameter lives elsewhere (nothing changed).

    Examples:
        >>> import os, tempfile
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(3, in_units=2)); net.initialize()
        >>> f = os.path.join(tempfile.mkdtemp(), 'net.params'); _ = save(net, f)
        >>> wrapped = nn.Sequential(); wrapped.add(net)
        >>> try:
        ...     load(wrapped, f)
        ... except CheckpointError as e:
        ...     print(e.report.suggestion)
        Remap.add_prefix('0.')
        >>> load(wrapped, f, remap=Remap.add_prefix('0.')).loaded
        ['0.0.weight', '0.0.bias']
        >>> load(wrapped, f, remap=Remap.add_prefix('0.'), exclude='bias').excluded
        ['0.0.bias']
    """
    check_block(block, PathTypeError)
    check_bool(strict, "strict", CheckpointTypeError)
    check_choice(dtype, "dtype policy", DTYPE_POLICIES, CheckpointError)
    ctx_list = check_contexts(ctx, "ctx", allow_none=True)  # a context's error: DeviceError
    check_choice(fix_gamma, "fix_gamma", FIX_GAMMA, CheckpointError)
    if isinstance(path, Header):
        if format is not None and format != path.format:
            raise CheckpointError(f"format={format!r} but the header given as path is of a "
                                  f"{path.format!r} file; leave format out")
        header = path
    else:
        header = read_header(path, format=format)
    left_out = _left_out(block, header, exclude)
    sym = SymbolLoad(header.path, symbol, header, fix_gamma)
    report, plan = sym.plan(block, lambda r: _plan(block, header, r, dtype, left_out), as_remap(remap),
                            walk=remap is None, strict=strict, example=example)
    if strict and not report.ok:
        raise CheckpointError(refusal(report, header, block), report=report)
    arrays = read_for_load(header, names=[k for _, keys in plan.values() for k in keys])
    conflicts: "OrderedDict[str, List[str]]" = OrderedDict()
    for canon, (param, keys) in list(plan.items()):
        if len(keys) > 1:  # copies of one Parameter: bit for bit (NaN equals NaN)
            first = _bits(arrays[keys[0]])
            if any(_bits(arrays[k]) != first for k in keys[1:]):
                conflicts[canon] = keys
                del plan[canon]
    notes = sym.notes(block, arrays)
    if strict and conflicts:
        refused = report.replace(tied_conflicts=conflicts, loaded=list(plan), symbol_notes=notes)
        raise CheckpointError(refusal(refused, header, block), report=refused)
    sym.apply(block, arrays)  # fix_gamma='ones'; the notes above saw the file's gamma
    if ctx_list is not None:
        _check_contexts(plan, ctx_list, header, block)
    _assign_loaded_values(plan, arrays, dtype, ctx_list, header)
    report = report.replace(tied_conflicts=conflicts, loaded=list(plan), symbol_notes=notes,
                            applied=True)
    if report.not_loaded:
        report = _warn_not_loaded(report, block)
    return report


def _assign_loaded_values(plan, arrays: Mapping[str, Any], dtype: str,
                          ctx_list: Optional[List[Any]], header: Header) -> None:
    """The one step of :func:`load` that changes the block: every check has passed.

    ``plan`` is ``canonical path -> (Parameter, file keys)``, ``arrays`` file key ->
    ``mx.nd.NDArray``.
    """
    np_mode = is_np_array()
    # Parameters a live Trainer keeps in its kvstore are written through it (set_data
    # would reset the store); the hook checks them first and returns what it wrote.
    written = before_assign([(param, arrays[keys[0]]) for param, keys in plan.values()],
                            dtype=dtype, what=repr(header.path))
    taken: set = set()  # arrays a Parameter took over: any other Parameter copies them
    marks: Tuple[List[Any], List[Any], List[str]] = ([], [], [])  # autograd, marked at once
    infos = dict(zip(header.names, header.arrays))
    try:
        for canon, (param, keys) in plan.items():
            if id(param) in written:
                continue
            data = arrays[keys[0]]
            data = data.as_np_ndarray() if np_mode else data.as_nd_ndarray()
            info = infos.get(header.aliases.get(keys[0], keys[0]))
            if id(arrays[keys[0]]) not in taken and _take_over(param, data, marks, info):
                taken.add(id(arrays[keys[0]]))
                continue
            use_ctx = ctx_list if not has_data(param) and not is_deferred(param) else None
            if dtype == "saved" and has_data(param) and onp.dtype(param.dtype) != data.dtype:
                param.cast(data.dtype)  # set_data alone would cast the values back
            param._load_init(data, use_ctx, cast_dtype=dtype != "check",
                             dtype_source="current" if dtype == "cast" else "saved")
    finally:
        if marks[0]:
            mx.autograd.mark_variables(*marks)


def _take_over(param, data, marks: Tuple[List[Any], List[Any], List[str]],
               info: Optional[ArrayInfo] = None) -> bool:
    """Swap ``data`` (a fresh array read for this load) in as an initialized Parameter's
    array, instead of copying it there, where the result is what ``set_data`` leaves: one
    dense array on the context it was read to, of the same type (dense), dtype and shape,
    in no Trainer. The gradient buffer stays the Parameter's: the new array and it go to
    ``marks`` (variables, gradients, requests) for one ``autograd.mark_variables``.
    Returns whether it did. Checks read Gluon's own fields (an NDArray property is a call
    into MXNet) and, for a dense array, the file's ``info``: :func:`read_for_load` makes
    every dense array on ``cpu(0)`` with the shape and dtype its header gives."""
    current = param._data
    if current is None or len(current) != 1 or param._stype != "default" \
            or getattr(param, "_trainer", None) is not None or type(current[0]) is not type(data):
        return False
    if info is not None and info.stype == "default" and info.shape is not None and info.dtype is not None:
        ctx, shape, dt = _cpu0(), info.shape, _dtype_of(info.dtype)
    else:
        ctx, shape, dt = data.context, data.shape, onp.dtype(data.dtype)
    if param._ctx_list != [ctx] or tuple(param.shape) != shape or onp.dtype(param.dtype) != dt:
        return False
    param._data = [data]
    if param._grad is not None:
        marks[0].append(data)
        marks[1].append(param._grad[0])
        marks[2].append(param.grad_req)
    return True


@functools.lru_cache(maxsize=1)
def _cpu0() -> Any:
    return mx.cpu(0)


@functools.lru_cache(maxsize=64)
def _dtype_of(name: str) -> onp.dtype:
    return numpy_dtype(name)


def _warn_not_loaded(report: LoadReport, block: Block) -> LoadReport:
    """A strict=False load that left Parameters alone says so, with the count of values;
    the report with that count."""
    params = named_parameters(block)
    sizes = [known_size(params[k].shape) for k in report.not_loaded]
    report = report.replace(not_loaded_values=None if None in sizes else sum(sizes))
    hint = (f" remap={report.suggestion!r} would match {report.suggestion_matches} of "
            f"{len(params)}." if report.suggestion is not None else "")
    warnings.warn(f"load({report.path!r}, strict=False) into {report.block_name}: "
                  f"{unloaded_line(report)[len('NOT LOADED: '):]}; only {len(report.loaded)} "
                  f"of {len(params)} parameters were loaded.{hint}", LoadWarning, stacklevel=3)
    return report


def _bits(array) -> Tuple[Any, str, bytes]:
    host = array.asnumpy()
    return host.shape, host.dtype.str, host.tobytes()


def _left_out(block: Block, header: Header, exclude: Any) -> Optional[Tuple[set, set]]:
    """``(ids of the Parameters, file keys)`` that ``exclude`` selects, through the kit's one
    selection path; ``None`` without ``exclude``."""
    if exclude is None:
        return None
    groups = selection(block, exclude, allow_empty=True)
    keys = selection(file_keys_of(header), exclude, allow_empty=True, aliases=header.aliases,
                     owner=f"file {header.path!r}")
    if not groups and not keys:  # the one error, saying it is load's exclude=
        try:
            selection(block, exclude)
        except SelectionError as exc:
            text = str(exc).replace(" Pass allow_empty=True to accept an empty selection.", "").rstrip(".")
            raise SelectionError(f"load(..., exclude=...): {text}; nor any key of {header.path!r}") from None
    return {id(g.param) for g in groups}, set(keys)


def _plan(block: Block, header: Header, remap: Remap, dtype: str,
          left_out: Optional[Tuple[set, set]] = None):
    file_keys = file_keys_of(header)
    mapping = remap(file_keys, block)
    params = named_parameters(block, aliases=True)
    excluded: List[str] = []
    if left_out is not None:  # exclude=: those Parameters are not there; their keys not read
        gone_ids, gone_keys = left_out
        everything = params
        params = OrderedDict((k, p) for k, p in everything.items() if id(p) not in gone_ids)
        excluded = [k for k, p in named_parameters(block).items() if id(p) in gone_ids]
        skipped = [(old, new) for old, new in mapping.items() if new is not None and new not in params
                   and (new in everything or old in gone_keys)]
        shown, left = set(excluded), {old for old, _new in skipped}
        excluded += [new for _old, new in skipped if new not in everything and new not in shown]
        mapping = OrderedDict((old, new) for old, new in mapping.items() if old not in left)
    unknown = -1 if mx.util.is_np_shape() else 0
    by_target: "OrderedDict[str, str]" = OrderedDict()
    renamed: "OrderedDict[str, str]" = OrderedDict()
    dropped: List[str] = []
    for old, new in mapping.items():
        if new is None:
            dropped.append(old)
            continue
        if new != old:
            renamed[old] = new
        if new in by_target:
            raise CheckpointError(f"remap {remap!r} sends both {by_target[new]!r} and {old!r} "
                                  f"to {new!r} in {header.path!r}")
        by_target[new] = old
    unexpected = [k for k in by_target if k not in params]
    plan: "OrderedDict[str, Tuple[Any, List[str]]]" = OrderedDict()
    canon_of: Dict[int, str] = {}
    for path, param in params.items():
        canon = canon_of.setdefault(id(param), path)
        if path in by_target:
            plan.setdefault(canon, (param, []))[1].append(by_target[path])
    missing: List[str] = []
    shapes: "OrderedDict[str, Tuple[Any, Any]]" = OrderedDict()
    dtypes: "OrderedDict[str, Tuple[str, str]]" = OrderedDict()
    cast: "OrderedDict[str, Tuple[str, str]]" = OrderedDict()
    for path, param in named_parameters(block).items():
        if path not in plan:
            if left_out is None or id(param) not in left_out[0]:
                missing.append(path)
            continue
        for key in plan[path][1]:
            info = header[key]
            if not shape_fits(param.shape, info.shape, unknown):
                shapes[path] = (known_shape(param.shape), info.shape)
            elif param.dtype is not None and info.dtype is not None \
                    and onp.dtype(param.dtype) != numpy_dtype(info.dtype):
                if dtype == "check":
                    dtypes[path] = (onp.dtype(param.dtype).name, info.dtype)
                else:
                    to = onp.dtype(param.dtype).name if dtype == "cast" else info.dtype
                    cast[path] = (info.dtype, to)
        if path in shapes or path in dtypes:
            del plan[path]
    report = LoadReport(header.path, type(block).__name__, loaded=list(plan), missing=missing,
                        unexpected=unexpected, shape_mismatches=shapes, dtype_mismatches=dtypes,
                        cast=cast, renamed=renamed, dropped=dropped, excluded=excluded)
    if report.missing or report.unexpected:
        report = suggest(report, block, header, remap, params)
    return report, plan


def _check_contexts(plan, ctx_list, header, block) -> None:
    for canon, (param, _) in plan.items():
        current = contexts(param)
        if current is not None and set(current) != set(ctx_list):
            raise DeviceError(
                f"cannot load {header.path!r} into {type(block).__name__}: parameter "
                f"{canon!r} lives on {current}, not on ctx={ctx_list}. Nothing was changed.")
