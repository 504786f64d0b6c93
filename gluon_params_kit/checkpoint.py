"""Checkpoints by structural path: atomic saves, loads that explain themselves, remapping.

:func:`save` writes exactly the keys ``save_parameters`` writes (``0.1.weight``), in nd
and np modes, through a temporary file that replaces the old one only once complete.
:func:`load` checks the whole file against the block first (missing, unexpected, shape,
dtype, tied keys) from the file's header alone, and changes nothing unless everything it
is asked to load can be loaded; the :class:`LoadReport` it returns (or carries in the
:class:`~gluon_params_kit.errors.CheckpointError`) prints as a table and suggests a
:class:`Remap` when the keys differ by a prefix or by the legacy auto-name scheme.
:func:`convert` rewrites a file's keys, :func:`diff` compares two parameter sets and
:func:`export_npz` writes a pickle-free ``.npz``.

The byte-level file work (:func:`read_header`, atomic writes) lives in ``_header``, the
remap rules in ``_remap``, diff and export in ``_compare``; this module is the public face.
"""
from __future__ import annotations

import html
import os
import warnings
from collections import Counter, OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as onp

from ._compare import DiffReport, diff, export_npz
from ._compat import gluon, is_np_array, mx
from ._display import format_shape, html_table, known_shape, text_table
from ._header import ArrayInfo, Header, atomic_write, numpy_dtype, read_header
from ._remap import Remap, as_remap, collapse_keys
from .errors import (CheckpointError, CheckpointTypeError, LoadWarning, PathError, PathTypeError,
                     listing)
from ._backbone import check_block, key_index
from .tree import named_parameters
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
    "read_header",
    "save",
]

Block = gluon.Block
PathLike = Union[str, os.PathLike]
DTYPE_POLICIES = ("check", "cast", "saved")


# --------------------------------------------------------------------------- saving

def save(block: Block, path: PathLike, *, deduplicate: bool = False,
         fsync: bool = True) -> List[str]:
    """Save ``block``'s parameters under their structural paths, atomically.

    The keys are those of ``block.save_parameters`` (every alias of a shared Parameter,
    or only its canonical path with ``deduplicate=True``), so Gluon's
    ``load_parameters`` reads the file too. The file is written to a temporary file in
    the same folder, flushed to disk and renamed over ``path``: an error or a crash
    mid-write leaves any previous file as it was. In np mode it is written as
    ``npx.save`` writes it. Flushing to disk costs a few milliseconds plus the disk's
    write time; ``fsync=False`` skips it (the rename still never exposes a partial file,
    but a power loss may lose the newest save).

    Args:
        block: The network; every Parameter must be initialized.
        path: Destination file.
        deduplicate: Save a shared Parameter once, under its canonical (first) path.
            Gluon's ``save_parameters(deduplicate=True)`` keeps the last path instead;
            both load either way.
        fsync: Flush the file (and the folder entry) to disk before returning.

    Returns:
        The keys written, in order.

    Raises:
        CheckpointError: A Parameter is not initialized yet (deferred), or the file
            cannot be written; the previous file is untouched.

    Examples:
        >>> import os, tempfile
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(3, in_units=2)); net.initialize()
        >>> save(net, os.path.join(tempfile.mkdtemp(), 'net.params'))
        ['0.weight', '0.bias']
    """
    check_block(block, PathTypeError)
    params = named_parameters(block, aliases=not deduplicate)
    pending = [k for k, p in params.items() if p._data is None]
    if pending:
        raise CheckpointError(
            f"cannot save {type(block).__name__}: {len(pending)} parameters are not initialized "
            f"yet ({listing(collapse_keys(pending))}); run a forward pass (deferred "
            f"initialization) or call initialize() first. Nothing was written.")
    arrays = OrderedDict((k, _host_value(p)) for k, p in params.items())
    atomic_write(path, lambda tmp: _write_arrays(tmp, arrays), fsync=fsync,
                 size_hint=_size_hint(arrays), verify=_verifier(list(arrays), True))
    return list(arrays)


def _size_hint(arrays: Mapping[str, Any]) -> int:
    """About the bytes ``nd.save`` writes: the data plus a record header and name each."""
    return sum(int(onp.prod(a.shape)) * onp.dtype(a.dtype).itemsize + 128 + len(k)
               for k, a in arrays.items())


def _verifier(keys: List[str], named: bool):
    """A check that a freshly written file holds ``keys``: MXNet's writer can lose a
    failed write (a full disk at the final flush) without saying so."""
    def verify(tmp: str) -> None:
        try:
            header = read_header(tmp)
        except CheckpointError as exc:
            raise CheckpointError(f"the file MXNet wrote is incomplete ({exc})") from None
        if header.names != (keys if named else [str(i) for i in range(len(keys))]):
            raise CheckpointError(f"the file MXNet wrote holds {len(header)} arrays, "
                                  f"not the {len(keys)} it was given")
    return verify


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


def _write_arrays(path: str, arrays: Mapping[str, Any]) -> None:
    """Write arrays as MXNet does: ``npx.save`` in np mode, ``nd.save`` otherwise."""
    if is_np_array():
        mx.npx.save(path, dict(arrays))
    else:
        mx.nd.save(path, dict(arrays))


# --------------------------------------------------------------------------- the report

class LoadReport:
    """What :func:`load` found and did: loaded, missing, unexpected, mismatched, skipped.

    Attributes:
        loaded: Paths whose values were (or, after a refused load, would be) loaded.
        missing: Parameters of the block that the file does not have.
        unexpected: File keys (after remapping) that are not in the block.
        shape_mismatches: ``path -> (block shape, file shape)``.
        dtype_mismatches: ``path -> (block dtype, file dtype)`` (``dtype='check'``).
        cast: ``path -> (file dtype, loaded dtype)`` for ``dtype='cast'``/``'saved'``.
        tied_conflicts: ``path -> file keys`` of a shared Parameter whose copies disagree.
        renamed: ``file key -> new key`` for keys the remap changed; ``dropped``: removed.
        suggestion: A :class:`Remap` that would match more keys, or ``None``.
        applied: Whether values were written into the block.
    """

    def __init__(self, path: str, block_name: str):
        self.path, self.block_name = path, block_name
        self.loaded: List[str] = []
        self.missing: List[str] = []
        self.unexpected: List[str] = []
        self.shape_mismatches: Dict[str, Tuple[Any, Any]] = OrderedDict()
        self.dtype_mismatches: Dict[str, Tuple[str, str]] = OrderedDict()
        self.cast: Dict[str, Tuple[str, str]] = OrderedDict()
        self.tied_conflicts: Dict[str, List[str]] = OrderedDict()
        self.renamed: Dict[str, str] = OrderedDict()
        self.dropped: List[str] = []
        self.suggestion: Optional[Remap] = None
        self.suggestion_matches = 0
        self.paired: Dict[str, str] = OrderedDict()
        self.not_loaded_values: Optional[int] = 0
        self.applied = False

    @property
    def ok(self) -> bool:
        """True when every Parameter and every file key was matched and compatible."""
        return not self.problems()

    def problems(self) -> List[str]:
        """One sentence per kind of problem, with the keys collapsed."""
        out = []
        for label, keys in (("missing from the file", self.missing),
                            ("unexpected in the file", self.unexpected),
                            ("with a different shape", list(self.shape_mismatches)),
                            ("with a different dtype", list(self.dtype_mismatches)),
                            ("shared but different in the file", list(self.tied_conflicts))):
            if keys:
                out.append(f"{len(keys)} {label} ({listing(collapse_keys(keys), 6)})")
        return out

    @property
    def not_loaded(self) -> List[str]:
        """The block's Parameters that keep the values they had (or stay uninitialized):
        missing from the file, or refused for a shape, dtype or tied-copy conflict."""
        return (self.missing + list(self.shape_mismatches) + list(self.dtype_mismatches)
                + [k for k in self.tied_conflicts if k not in self.shape_mismatches])

    @property
    def skipped(self) -> List[str]:
        """Everything a ``strict=False`` load left alone: missing and mismatched
        Parameters (unchanged in the block) and unexpected file keys (ignored)."""
        return (self.missing + list(self.shape_mismatches) + list(self.dtype_mismatches)
                + list(self.tied_conflicts) + self.unexpected)

    def rows(self) -> List[Tuple[str, str, str]]:
        """``(status, key, detail)`` rows, repeated indices collapsed."""
        rows: List[Tuple[str, str, str]] = []

        def add(status, keys_details):
            by_detail: "OrderedDict[str, List[str]]" = OrderedDict()
            for key, detail in keys_details:
                by_detail.setdefault(detail, []).append(key)
            for detail, keys in by_detail.items():
                rows.extend((status, k, detail) for k in collapse_keys(keys))

        add("missing", [(k, "not in the file") for k in self.missing])
        add("unexpected", [(k, "not in the block") for k in self.unexpected])
        add("shape", [(k, f"block {format_shape(a)} vs file {format_shape(b)}")
                      for k, (a, b) in self.shape_mismatches.items()])
        add("dtype", [(k, f"block {a} vs file {b}") for k, (a, b) in self.dtype_mismatches.items()])
        add("tied", [(k, f"copies disagree: {', '.join(v)}") for k, v in self.tied_conflicts.items()])
        add("cast", [(k, f"{a} -> {b}") for k, (a, b) in self.cast.items()])
        add("renamed", [(k, f"from {old}") for old, k in self.renamed.items()])
        add("dropped", [(k, "by the remap") for k in self.dropped])
        add("loaded", [(k, "") for k in self.loaded])
        return rows

    def to_records(self) -> List[Dict[str, str]]:
        """The rows as dicts (``status``, ``key``, ``detail``), e.g. for JSON."""
        return [dict(status=s, key=k, detail=d) for s, k, d in self.rows()]

    def __str__(self) -> str:
        state = "loaded" if self.applied else "not applied"
        head = (f"LoadReport {self.path!r} -> {self.block_name} ({state}): "
                f"{len(self.loaded)} loaded, {len(self.missing)} missing, "
                f"{len(self.unexpected)} unexpected, {len(self.shape_mismatches)} shape, "
                f"{len(self.dtype_mismatches)} dtype, {len(self.tied_conflicts)} tied")
        lines = [head] + text_table(["status", "key", "detail"], self.rows(), [False] * 3)
        if self.paired:
            lines.append(_paired_line(self.paired))
        if self.applied and self.not_loaded:
            lines.append(_unloaded_line(self))
        if self.suggestion is not None:
            lines.append(f"suggested: remap={self.suggestion!r} "
                         f"(matches {self.suggestion_matches} of the block's parameters)")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        title = html.escape(str(self).splitlines()[0])
        hint = (f"<p>suggested: <code>remap={html.escape(repr(self.suggestion))}</code></p>"
                if self.suggestion is not None else "")
        return (f"<p>{title}</p>" + html_table(["status", "key", "detail"], self.rows(),
                                                [False] * 3) + hint)


# --------------------------------------------------------------------------- loading

def load(block: Block, path: PathLike, *, strict: bool = True, remap: Any = None,
         dtype: str = "check", ctx: Optional[Any] = None) -> LoadReport:
    """Load a checkpoint into ``block``, all or nothing, and report what happened.

    The file's keys (after ``remap``) are checked against ``named_parameters(block,
    aliases=True)`` from its header alone: missing Parameters, unexpected keys, shape
    and dtype mismatches; the data is then read and shared Parameters saved under
    several paths must agree. Only then are values assigned. Deferred Parameters take
    the file's shapes (as ``load_parameters`` does); files written in nd or np mode load
    in either mode, and so do auto-name files with ``remap='structural'``.

    Args:
        block: The network (initialized, deferred or not initialized at all).
        path: A ``.params`` file (``save``, ``save_parameters``, ``nd.save``...).
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

    Returns:
        The :class:`LoadReport` (``report.applied`` is True).

    Raises:
        CheckpointError: A strict load found problems (``exc.report`` has them; nothing
            was changed), or the file cannot be read.

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
    """
    check_block(block, PathTypeError)
    if not isinstance(strict, bool):
        raise CheckpointTypeError(f"strict must be True or False, got {strict!r}")
    if dtype not in DTYPE_POLICIES:
        raise CheckpointError(f"unknown dtype policy {dtype!r}; expected one of "
                              f"{listing(DTYPE_POLICIES)}")
    ctx_list = _context_list(ctx)
    header = read_header(path)
    report, plan = _plan(block, header, as_remap(remap), dtype)
    if strict and not report.ok:
        raise CheckpointError(_refusal(report, header, block), report=report)
    arrays = _read_for_load(header)
    for canon, (param, keys) in list(plan.items()):
        if len(keys) > 1:  # copies of one Parameter: bit for bit (NaN equals NaN)
            first = _bits(arrays[keys[0]])
            if any(_bits(arrays[k]) != first for k in keys[1:]):
                report.tied_conflicts[canon] = keys
                del plan[canon]
    if strict and report.tied_conflicts:
        raise CheckpointError(_refusal(report, header, block), report=report)
    report.loaded = list(plan)
    if ctx_list is not None:
        _check_contexts(plan, ctx_list, report, header, block)
    np_mode = is_np_array()
    # Parameters a live Trainer keeps in its kvstore are written through it (set_data
    # would reset the store); the hook checks them first and returns what it wrote.
    written = before_assign([(param, arrays[keys[0]]) for param, keys in plan.values()],
                            dtype=dtype, what=repr(header.path))
    for canon, (param, keys) in plan.items():
        if id(param) in written:
            continue
        data = arrays[keys[0]]
        data = data.as_np_ndarray() if np_mode else data.as_nd_ndarray()
        use_ctx = ctx_list if param._data is None and not param._deferred_init else None
        if dtype == "saved" and param._data is not None and onp.dtype(param.dtype) != data.dtype:
            param.cast(data.dtype)  # set_data alone would cast the values back
        param._load_init(data, use_ctx, cast_dtype=dtype != "check",
                         dtype_source="current" if dtype == "cast" else "saved")
    report.applied = True
    if report.not_loaded:
        _warn_not_loaded(report, block)
    return report


def _warn_not_loaded(report: LoadReport, block: Block) -> None:
    """A strict=False load that left Parameters alone says so, with the count of values."""
    params = named_parameters(block)
    sizes = [_size(params[k].shape) for k in report.not_loaded]
    report.not_loaded_values = None if None in sizes else sum(sizes)
    hint = (f" remap={report.suggestion!r} would match {report.suggestion_matches} of "
            f"{len(params)}." if report.suggestion is not None else "")
    warnings.warn(f"load({report.path!r}, strict=False) into {report.block_name}: "
                  f"{_unloaded_line(report)[len('NOT LOADED: '):]}; only {len(report.loaded)} "
                  f"of {len(params)} parameters were loaded.{hint}", LoadWarning, stacklevel=3)


def _size(shape) -> Optional[int]:
    if shape is None or any(d <= 0 for d in shape):
        return None
    return int(onp.prod(shape, dtype=onp.int64))


def _bits(array) -> Tuple[Any, str, bytes]:
    host = array.asnumpy()
    return host.shape, host.dtype.str, host.tobytes()


def _plan(block: Block, header: Header, remap: Remap, dtype: str):
    report = LoadReport(header.path, type(block).__name__)
    file_keys = header.names
    mapping = remap(file_keys, block)
    params = named_parameters(block, aliases=True)
    unknown = -1 if mx.util.is_np_shape() else 0
    by_target: "OrderedDict[str, str]" = OrderedDict()
    for old, new in mapping.items():
        if new is None:
            report.dropped.append(old)
            continue
        if new != old:
            report.renamed[old] = new
        if new in by_target:
            raise CheckpointError(f"remap {remap!r} sends both {by_target[new]!r} and {old!r} "
                                  f"to {new!r} in {header.path!r}")
        by_target[new] = old
    report.unexpected = [k for k in by_target if k not in params]
    plan: "OrderedDict[str, Tuple[Any, List[str]]]" = OrderedDict()
    canon_of: Dict[int, str] = {}
    for path, param in params.items():
        canon = canon_of.setdefault(id(param), path)
        if path in by_target:
            plan.setdefault(canon, (param, []))[1].append(by_target[path])
    for path, param in named_parameters(block).items():
        if path not in plan:
            report.missing.append(path)
            continue
        for key in plan[path][1]:
            info = header[key]
            if not _shape_fits(param.shape, info.shape, unknown):
                report.shape_mismatches[path] = (known_shape(param.shape), info.shape)
            elif param.dtype is not None and info.dtype is not None \
                    and onp.dtype(param.dtype) != numpy_dtype(info.dtype):
                if dtype == "check":
                    report.dtype_mismatches[path] = (onp.dtype(param.dtype).name, info.dtype)
                else:
                    to = onp.dtype(param.dtype).name if dtype == "cast" else info.dtype
                    report.cast[path] = (info.dtype, to)
        if path in report.shape_mismatches or path in report.dtype_mismatches:
            del plan[path]
    report.loaded = list(plan)
    if report.missing or report.unexpected:
        _suggest(report, block, header, remap, params)
    return report, plan


def _shape_fits(expected, saved, unknown: int) -> bool:
    if saved is None:
        return False
    if expected is None:
        return True
    if len(expected) != len(saved):
        return False
    return all(e in (unknown, s) for e, s in zip(expected, saved))


def _suggest(report: LoadReport, block: Block, header: Header, remap: Remap, params) -> None:
    """Try the remaps that explain the usual mismatches; keep the one matching the most.

    Candidates: auto names -> paths, attribute paths -> Gluon keys (a recurrent layer's
    ``l0_i2h_weight``, a cell's own scheme), a common prefix added or stripped (also
    combined with the attribute rule), and, when the missing and unexpected keys still
    pair one to one by shape and dtype in order, that pairing as ``Remap.keys``.
    """
    file_keys = header.names
    index = key_index(block)
    attributes: Dict[str, List[str]] = {}
    for alias, key in index.use_of.items():
        attributes.setdefault(key, []).append(alias)
    candidates: List[Remap] = []
    if file_keys and not any("." in k for k in file_keys):
        candidates.append(Remap.to_structural())
    if any(u in index.use_of for u in report.unexpected):
        candidates.append(Remap.to_gluon_keys())
    prefixes: Counter = Counter()
    for u in report.unexpected[:64]:  # a sample is enough to see a common prefix
        for t in report.missing[:64]:
            for spelling in [t] + attributes.get(t, []):
                if u.endswith("." + spelling):
                    prefixes[("strip", u[:len(u) - len(spelling)])] += 1
                elif spelling.endswith("." + u):
                    prefixes[("add", spelling[:len(spelling) - len(u)])] += 1
    for (kind, p), _ in prefixes.most_common(4):
        rule = Remap.strip_prefix(p) if kind == "strip" else Remap.add_prefix(p)
        candidates += [rule, rule + Remap.to_gluon_keys()]
    pairs = _pair_by_shape(report, header, params)
    if pairs:
        candidates.append(Remap.keys(pairs))
    total = len(named_parameters(block))
    best, best_score, best_map = None, total - len(report.missing), None
    for cand in candidates:
        try:
            mapping = (remap + cand)(file_keys, block)
        except (CheckpointError, PathError):
            continue
        new_keys = {k for k in mapping.values() if k is not None}
        score = len({id(param) for path, param in params.items() if path in new_keys})
        if score > best_score:
            best, best_score, best_map = cand, score, mapping
    if best is not None:
        report.suggestion, report.suggestion_matches = best, best_score
        before = remap(file_keys, block)
        missing = set(report.missing)
        report.paired = OrderedDict((before[k], new) for k, new in best_map.items()
                                    if before[k] in report.unexpected and new in missing)


def _pair_by_shape(report: LoadReport, header: Header, params) -> Dict[str, str]:
    """Unexpected file key -> missing path, when the two lists pair one to one, in order,
    by shape and dtype; empty when they do not."""
    if not report.missing or len(report.missing) != len(report.unexpected):
        return {}
    unknown = -1 if mx.util.is_np_shape() else 0
    left = list(report.missing)
    pairs: "OrderedDict[str, str]" = OrderedDict()
    for key in report.unexpected:
        info = header[key]
        for path in left:
            param = params[path]
            if _shape_fits(param.shape, info.shape, unknown) and (
                    param.dtype is None or info.dtype is None
                    or onp.dtype(param.dtype) == numpy_dtype(info.dtype)):
                pairs[key] = path
                left.remove(path)
                break
        else:
            return {}
    return pairs


def _paired_line(paired: Mapping[str, str]) -> str:
    shown = ", ".join(f"{a} -> {b}" for a, b in list(paired.items())[:3])
    more = f" (+{len(paired) - 3} more)" if len(paired) > 3 else ""
    return (f"paired: {len(paired)} unexpected key(s) pair one to one with missing "
            f"parameters: {shown}{more}")


def _unloaded_line(report: LoadReport) -> str:
    values = "an unknown number of" if report.not_loaded_values is None else \
        f"{report.not_loaded_values:,}"
    keys = report.not_loaded
    return (f"NOT LOADED: {len(keys)} parameter(s), {values} values, keep their initial "
            f"values ({listing(collapse_keys(keys), 4)})")


def _refusal(report: LoadReport, header: Header, block: Block) -> str:
    msg = (f"cannot load {header.path!r} into {type(block).__name__}: "
           + "; ".join(report.problems()) + ". Nothing was changed.")
    if not header.named:
        msg += " The file holds an unnamed list of arrays, not a name -> array dict."
    if report.dtype_mismatches:
        msg += (" Use dtype='cast' to cast the file's values to the block's dtypes (or "
                "dtype='saved' to give the parameters the file's dtypes).")
    if report.suggestion is not None:
        msg += (f" Try remap={report.suggestion!r}: it matches {report.suggestion_matches} "
                f"of {len(named_parameters(block))} parameters.")
    elif len(report.problems()) > bool(report.dtype_mismatches):
        msg += " Use strict=False to load what matches."
    return msg


def _context_list(ctx) -> Optional[List[Any]]:
    if ctx is None:
        return None
    ctxs = [ctx] if isinstance(ctx, mx.Context) else ctx
    if not isinstance(ctxs, (list, tuple)) or not ctxs \
            or not all(isinstance(c, mx.Context) for c in ctxs) or len(set(ctxs)) != len(ctxs):
        raise CheckpointError(f"ctx must be an mx.Context or a non-empty list of distinct ones, "
                              f"like mx.cpu() or [mx.cpu(0), mx.cpu(1)]; got {ctx!r}")
    return list(ctxs)


def _check_contexts(plan, ctx_list, report, header, block) -> None:
    for canon, (param, _) in plan.items():
        current = param._deferred_init[1] if param._deferred_init else (
            param.list_ctx() if param._data is not None else None)
        if current is not None and set(current) != set(ctx_list):
            raise CheckpointError(
                f"cannot load {header.path!r} into {type(block).__name__}: parameter "
                f"{canon!r} lives on {current}, not on ctx={ctx_list}. Nothing was changed.",
                report=report)


def _read_for_load(header: Header) -> "OrderedDict[str, Any]":
    """The file's arrays as ``mx.nd.NDArray`` keyed as :attr:`Header.names`."""
    with mx.util.np_array(False), mx.util.np_shape(header.np_shape):
        try:
            loaded = mx.nd.load(header.path)
        except mx.base.MXNetError as exc:
            raise CheckpointError(f"MXNet cannot read {header.path!r}: "
                                  f"{str(exc).strip().splitlines()[-1]}") from None
    values = list(loaded.values()) if isinstance(loaded, dict) else list(loaded)
    return OrderedDict(zip(header.names, values))


# --------------------------------------------------------------------------- converting

def convert(src: PathLike, dst: PathLike, *, remap: Any = None, to: Optional[str] = None,
            block: Optional[Block] = None) -> "OrderedDict[str, Optional[str]]":
    """Rewrite a ``.params`` file's keys (atomically; ``dst`` may be ``src``).

    Args:
        src: The file to read.
        dst: The file to write (same nd/np format as ``src``).
        remap: Rules applied first, as in :func:`load`.
        to: ``'structural'`` (auto names -> paths) or ``'legacy'`` (paths -> auto
            names); both need ``block``, the network the file belongs to.
        block: The network whose structure and names drive ``to``.

    Returns:
        ``old key -> new key`` (``None`` for dropped keys), in file order.

    Raises:
        CheckpointError: Unreadable file, unknown ``to``, a missing ``block``, or two
            keys that would get the same name.

    Examples:
        >>> import os, tempfile, mxnet as mx
        >>> d = tempfile.mkdtemp(); f = os.path.join(d, 'a.params')
        >>> mx.nd.save(f, {'features.0.weight': mx.nd.ones((2,))})
        >>> dict(convert(f, os.path.join(d, 'b.params'), remap=Remap.strip_prefix('features.')))
        {'features.0.weight': '0.weight'}
    """
    rules = as_remap(remap)
    if to is not None:
        if to not in ("structural", "legacy"):
            raise CheckpointError(f"unknown key scheme to={to!r}; expected 'structural' or 'legacy'")
        rules = rules + as_remap(to)
    header = read_header(src)
    mapping = rules(header.names, block)
    new_keys = [k for k in mapping.values() if k is not None]
    dup = sorted({k for k in new_keys if new_keys.count(k) > 1})
    if dup:
        raise CheckpointError(f"converting {header.path!r} with {rules!r} gives repeated keys "
                              f"{listing(dup)}; nothing was written")
    arrays = _read_for_load(header)
    out = OrderedDict((new, arrays[old]) for old, new in mapping.items() if new is not None)

    def write(tmp):
        with mx.util.np_array(False), mx.util.np_shape(header.np_shape):
            mx.nd.save(tmp, dict(out) if header.named else list(out.values()))

    atomic_write(dst, write, size_hint=header.total_bytes + 128 * len(out),
                 verify=_verifier(list(out), header.named))
    return mapping
