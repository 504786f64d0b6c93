"""Numeric comparison of parameter sets (:func:`diff`) and pickle-free ``.npz`` export.

Private: :mod:`gluon_params_kit.checkpoint` re-exports :func:`diff`, :class:`DiffReport`
and :func:`export_npz`. Files are read array by array from the offsets in their header,
in whatever mode the process is in.
"""
from __future__ import annotations

import html
import os
import re
import zipfile
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as onp

from ._compat import gluon, to_numpy
from ._display import format_float, format_shape, html_table, progress, text_table
from ._files import atomic_write, check_source
from ._header import read_array, read_header
from ._remap import collapse_keys
from .errors import CheckpointError, CheckpointTypeError, listing
from .tree import named_parameters

__all__ = ["DiffReport", "diff", "export_npz"]

Block = gluon.Block
PathLike = Union[str, os.PathLike]

Source = Union[Block, PathLike, Mapping[str, Any]]


def _host_arrays(source: Source, what: str, progress: bool = False
                 ) -> "OrderedDict[str, onp.ndarray]":
    if isinstance(source, Block):
        params = named_parameters(source)
        pending = [k for k, p in params.items() if p._data is None]
        if pending:
            raise CheckpointError(f"{what}: parameters not initialized yet: "
                                  f"{listing(collapse_keys(pending))}")
        return OrderedDict((k, to_numpy(p._reduce())) for k, p in params.items())
    if isinstance(source, Mapping):
        return OrderedDict((str(k), to_numpy(v)) for k, v in source.items())
    if isinstance(source, (str, bytes, os.PathLike)):
        path = check_source(source)  # a FIFO or a device is refused, never read forever
        if path.endswith(".npz"):
            try:
                with onp.load(path, allow_pickle=False) as z:
                    return OrderedDict((k, z[k]) for k in z.files)
            except (OSError, ValueError, zipfile.BadZipFile) as exc:
                raise CheckpointError(f"cannot read {path!r} as .npz: {exc}") from None
        header = read_header(path)
        infos = list(zip(header.names, header))
        bar = _progress(header.file_size, path) if progress else None
        out = OrderedDict()
        for name, info in infos:
            out[name] = read_array(path, info)
            if bar is not None:
                bar.update(info.nbytes)
        if bar is not None:
            bar.close()
        return out
    raise CheckpointTypeError(f"{what} must be a Block, a file path or a mapping of arrays, "
                              f"got {type(source).__name__}: {source!r:.80}")


def _progress(total: int, label: str):
    """A tqdm bar on stderr for files over 100 MB (see ``_display.progress``)."""
    return progress(total, label)


def as_float(a: onp.ndarray) -> onp.ndarray:
    if a.dtype.names == ("bfloat16",):
        return (a["bfloat16"].astype(onp.uint32) << 16).view(onp.float32).astype(onp.float64)
    return a.astype(onp.float64)


class DiffReport:
    """Per-key comparison of two parameter sets (see :func:`diff`).

    ``rows`` are dicts with ``key``, ``status`` (``same``, ``changed``, ``shape``,
    ``dtype``, ``only_a``, ``only_b``), shapes, dtypes, ``max_abs``, ``rel_l2``
    (``|a-b|/|a|``) and ``cosine``.
    """

    def __init__(self, rows: List[Dict[str, Any]], label_a: str, label_b: str):
        self.rows, self.label_a, self.label_b = rows, label_a, label_b

    def _keys(self, *statuses) -> List[str]:
        return [r["key"] for r in self.rows if r["status"] in statuses]

    @property
    def only_a(self) -> List[str]:
        return self._keys("only_a")

    @property
    def only_b(self) -> List[str]:
        return self._keys("only_b")

    @property
    def changed(self) -> List[str]:
        """Keys present on both sides whose values, shape or dtype differ."""
        return self._keys("changed", "shape", "dtype")

    @property
    def same(self) -> bool:
        return all(r["status"] == "same" for r in self.rows)

    def __getitem__(self, key: str) -> Dict[str, Any]:
        for r in self.rows:
            if r["key"] == key:
                return r
        raise KeyError(key)

    def to_records(self) -> List[Dict[str, Any]]:
        return [dict(r) for r in self.rows]

    _COLUMNS = ["key", "status", "shape a", "shape b", "max|a-b|", "rel L2", "cosine"]
    _RIGHT = [False] * 4 + [True] * 3

    def _cells(self) -> List[List[str]]:
        return [[r["key"], r["status"], format_shape(r["shape_a"]), format_shape(r["shape_b"]),
                 format_float(r["max_abs"]), format_float(r["rel_l2"]), format_float(r["cosine"])]
                for r in self.rows]

    def _title(self) -> str:
        return (f"diff {self.label_a} vs {self.label_b}: {len(self.rows)} keys, "
                f"{len(self.changed)} differ, {len(self.only_a)} only in a, "
                f"{len(self.only_b)} only in b")

    def __str__(self) -> str:
        return "\n".join([self._title()] + text_table(self._COLUMNS, self._cells(), self._RIGHT))

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return (f"<p>{html.escape(self._title())}</p>"
                + html_table(self._COLUMNS, self._cells(), self._RIGHT))


def diff(a: Source, b: Source, *, pattern: Optional[str] = None, atol: float = 0.0,
         progress: bool = False) -> DiffReport:
    """Compare two parameter sets key by key: blocks, files (``.params``/``.npz``) or mappings.

    Args:
        a: First side (a Block is read by structural path).
        b: Second side.
        pattern: Only keys where ``re.search(pattern, key)`` matches.
        atol: Values differing by at most this much count as the same (NaN matches
            NaN at the same position; NaN against a number is a difference).
        progress: Show a progress bar while reading files over 100 MB (tqdm).

    Returns:
        A :class:`DiffReport`; ``report.same`` is True when nothing differs.

    Raises:
        CheckpointError: A side cannot be read, ``pattern`` is not a valid regex, or
            ``atol`` is negative.

    Examples:
        >>> import mxnet as mx
        >>> r = diff({'w': mx.nd.array([1, 2])}, {'w': mx.nd.array([1, 2.5]), 'b': mx.nd.zeros(1)})
        >>> r['w']['max_abs'], r.only_b, r.same
        (0.5, ['b'], False)
    """
    try:
        keep = re.compile(pattern).search if pattern else (lambda k: True)
    except re.error as exc:
        raise CheckpointError(f"diff pattern {pattern!r} is not a valid regex: {exc}") from None
    if isinstance(atol, bool) or not isinstance(atol, (int, float)) or not atol >= 0:
        raise CheckpointError(f"diff atol must be a number >= 0, got {atol!r}")
    A, B = _host_arrays(a, "a", progress), _host_arrays(b, "b", progress)
    rows = []
    for key in list(A) + [k for k in B if k not in A]:
        if not keep(key):
            continue
        x, y = A.get(key), B.get(key)
        row = dict(key=key, status="same", shape_a=None, shape_b=None, dtype_a=None,
                   dtype_b=None, max_abs=None, rel_l2=None, cosine=None)
        if x is not None:
            row.update(shape_a=tuple(x.shape), dtype_a=str(x.dtype))
        if y is not None:
            row.update(shape_b=tuple(y.shape), dtype_b=str(y.dtype))
        if x is None or y is None:
            row["status"] = "only_b" if x is None else "only_a"
        elif x.shape != y.shape:
            row["status"] = "shape"
        else:
            fx, fy = as_float(x).ravel(), as_float(y).ravel()
            # equal values (the same infinity, NaN against NaN) differ by 0, not by NaN
            with onp.errstate(invalid="ignore"):
                d = onp.where((fx == fy) | (onp.isnan(fx) & onp.isnan(fy)), 0.0, fx - fy)
            na, nb = float(onp.linalg.norm(fx)), float(onp.linalg.norm(fy))
            row["max_abs"] = float(onp.max(onp.abs(d))) if d.size else 0.0
            row["rel_l2"] = float(onp.linalg.norm(d)) / na if na else (0.0 if not nb else float("inf"))
            row["cosine"] = float(fx @ fy) / (na * nb) if na and nb else float(na == nb)
            if x.dtype != y.dtype:
                row["status"] = "dtype"
            elif not row["max_abs"] <= atol:  # nan counts as a difference
                row["status"] = "changed"
        rows.append(row)
    return DiffReport(rows, _label(a), _label(b))


def _label(source) -> str:
    if isinstance(source, Block):
        return type(source).__name__
    if isinstance(source, (str, bytes, os.PathLike)):
        return repr(os.fsdecode(os.fspath(source)))
    return "mapping"


def export_npz(source: Union[Block, PathLike], path: PathLike, *, compressed: bool = False,
               progress: bool = False) -> List[str]:
    """Write parameters to a ``.npz`` that ``numpy.load(..., allow_pickle=False)`` reads.

    Args:
        source: A Block (keys are structural paths) or a ``.params`` file (its keys).
        path: The ``.npz`` to write (atomically; no suffix is added).
        compressed: Deflate the arrays.
        progress: Show a progress bar while reading a file over 100 MB (tqdm).

    Returns:
        The keys written.

    Shapes round-trip exactly, 0-d and zero-size ones included.

    Raises:
        CheckpointError: The source cannot be read or is not initialized, a key is too
            long for a zip entry (:data:`MAX_KEY_BYTES`), the target is not a regular
            file, or the disk is full (the previous file is untouched).

    Examples:
        >>> import os, tempfile, numpy
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(3, in_units=2)); net.initialize()
        >>> f = os.path.join(tempfile.mkdtemp(), 'net.npz')
        >>> export_npz(net, f)
        ['0.weight', '0.bias']
        >>> numpy.load(f, allow_pickle=False)['0.weight'].shape
        (3, 2)
    """
    arrays = _host_arrays(source, "export source", progress)
    too_long = [k for k in arrays if len((k + ".npy").encode("utf-8")) > MAX_KEY_BYTES]
    if too_long:
        raise CheckpointError(
            f"cannot export {len(too_long)} key(s) to .npz: a zip entry name holds at most "
            f"{MAX_KEY_BYTES} bytes with '.npy', and {too_long[0][:60]!r}... has "
            f"{len(too_long[0].encode('utf-8'))}; rename them first (convert with a remap)")
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED

    def write(tmp):
        with zipfile.ZipFile(tmp, "w", compression=mode, allowZip64=True) as zf:
            for key, value in arrays.items():
                with zf.open(key + ".npy", "w", force_zip64=True) as fh:
                    # not ascontiguousarray: it turns a 0-d array into shape (1,)
                    onp.lib.format.write_array(fh, onp.require(value, requirements="C"),
                                               allow_pickle=False)

    size = sum(v.nbytes + 256 + 2 * len(k) for k, v in arrays.items())
    atomic_write(path, write, size_hint=None if compressed else size)
    return list(arrays)


#: Longest zip entry name (``key + '.npy'``, UTF-8 bytes) a ``.npz`` can hold.
MAX_KEY_BYTES = 0xFFFF
