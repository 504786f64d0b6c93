"""Numeric comparison of parameter sets (:func:`diff`) and pickle-free ``.npz`` export.

Private: :mod:`gluon_params_kit.checkpoint` re-exports :func:`diff`, :class:`DiffReport`
and :func:`export_npz`. Files of any format are streamed: each side's file is opened once
(header and every value from that one open file: a file replaced meanwhile is read as the
version that was opened, one cut short is an error saying it changed), each array read in
pieces through its header's offsets into one reused buffer per side, compared (or
written) piece by piece in cache-sized blocks, so memory stays at a few MiB whatever the
files' size; neither file, nor a float64 copy of an array, is ever held whole. Sparse
arrays and Fortran-order members come in C order piece by piece too.

The work per array is constant: each key is looked up once per side, in the header's own
table; small arrays (up to :data:`_SMALL` values) are compared in batches (their bytes
read by one call per run of neighbours in the file and put in order by one numpy gather
where they share a stored dtype, their sums by one numpy reduction per batch), ``.npz``
members up to 1 MiB are written whole, and progress bars move per 4 MiB; 10^5 arrays
cost per array what 10^3 do.
"""
from __future__ import annotations

import copy
import math
import operator
import os
from collections import Counter, OrderedDict
from typing import Any, Container, Dict, Iterator, List, Mapping, Optional, Tuple, Union

import numpy as onp

from .._core import gcpause as _gc
from .._core.compat import to_numpy
from .._core.display import format_float, format_shape
from .._core.display import progress as _progress
from .._core.gluon import has_data, spellings
from .._core.patterns import Pattern, make_matcher, selection
from .._core.report import Report
from .._core.types import Block, PathLike
from .._core.validate import check_bool, check_number
from .._io import npz as _npz
from .._io.files import atomic_write, check_source
from .._io.formats import CHUNK_VALUES, as_float, iter_values, open_with_header
from .._io.header import BFLOAT16, ArrayInfo, DataFile, Header, check_expansion
from ..errors import CheckpointError, CheckpointTypeError, PathError, listing
from ..tree import named_parameters
from ._pairing import crosses_roles, pair_by_roles
from ._remap import Remap, as_remap, collapse_keys

__all__ = ["DiffReport", "diff", "export_npz"]


Source = Union[Block, PathLike, Mapping[str, Any]]
#: Values per block of the comparison: three float32/float64 blocks stay in the L2 cache.
_BLOCK = 1 << 16


def _dot(a: onp.ndarray, b: onp.ndarray) -> float:
    """``sum(a * b)`` of two float64 blocks without BLAS: OpenBLAS's threaded dot waits for
    a second core, and on a busy machine that makes it many times slower than one core."""
    return onp.einsum("i,i->", a, b)


class _Side:
    """One side of a diff or an export: keys, ``(shape, dtype)`` per key, values in pieces."""

    def __init__(self, source: Source, what: str, allow_expand: bool = False):
        #: a file side's header and the file held open for the call (every value comes
        #: from it); a Block or mapping side has ``arrays`` instead
        self.header: Optional[Header] = None
        self.file: Optional[DataFile] = None
        self._owner = False  # closes the file
        self.allow_expand = allow_expand
        self.arrays: "OrderedDict[str, onp.ndarray]" = OrderedDict()
        self.aliases: Dict[str, str] = {}
        #: key -> Parameter of a Block side (for ``on='name'`` and predicates), else empty
        self.params: Dict[str, Any] = {}
        #: every other spelling of a key -> the key, for selection (a Block's attribute
        #: aliases too); ``aliases`` are the ones a lookup resolves
        self.spellings: Dict[str, str] = {}
        if isinstance(source, Block):
            params = self.params = named_parameters(source)
            pending = [k for k, p in params.items() if not has_data(p)]
            if pending:
                raise CheckpointError(f"{what}: parameters not initialized yet: "
                                      f"{listing(collapse_keys(pending))}")
            self.arrays = OrderedDict((k, to_numpy(p._reduce())) for k, p in params.items())
            canon = {id(p): k for k, p in params.items()}
            self.aliases = {k: canon[id(p)] for k, p in
                            named_parameters(source, aliases=True).items() if canon[id(p)] != k}
            self.spellings = {k: v for k, v in spellings(source).items() if k != v}
        elif isinstance(source, Mapping):
            self.arrays = OrderedDict((str(k), to_numpy(v)) for k, v in source.items())
        elif isinstance(source, (str, bytes, os.PathLike)):
            self.header, self.file = open_with_header(check_source(source))
            self._owner = True
        else:
            raise CheckpointTypeError(f"{what} must be a Block, a file path or a mapping of "
                                      f"arrays, got {type(source).__name__}: {source!r:.80}")
        if self.header is not None:
            self.aliases = dict(self.header.aliases)
        self.spellings = {**self.aliases, **self.spellings}
        #: the keys this side stores; ``aliases`` (other paths of tied Parameters) resolve too
        self.keys = list(self.arrays) if self.header is None else self.header.names
        #: stored name -> ArrayInfo of a file side: the header's own table (a dict lookup
        #: per key, not a report's path lookup; not a copy)
        self.infos: Mapping[str, Any] = self.header.by_name if self.header is not None else {}
        self._renamed = False
        #: what :meth:`has` looks a key up in: the stored table itself, else (aliases) a set
        self._present: Any = (set(self.keys) | set(self.aliases) if self.aliases
                              else self.infos if self.header is not None else self.arrays)
        #: the reused piece buffer, made on first use (8 MiB zeroed: most of a diff of
        #: 10^3 small arrays, which are read in batches and never need it)
        self.buffer: Optional[bytearray] = None

    def twin(self) -> "_Side":
        """This file side again, sharing its open file (``diff(f, f)`` reads one version)."""
        other = _Side.__new__(_Side)
        other.__dict__.update(self.__dict__)
        other._owner = False  # closed by this side
        other.buffer = None
        return other

    def close(self, error: bool = False) -> None:
        """Let the file go; after a clean read, check it did not change meanwhile."""
        if self._owner and self.file is not None:
            self._owner = False
            try:
                if not error:
                    self.file.check()
            finally:
                self.file.close()

    def check_expansion(self, keys: List[str]) -> None:
        if self.header is not None:
            for key in keys:
                if self.has(key):
                    key = self.aliases.get(key, key)
                    check_expansion(self.header.path, key, self.infos[key], self.allow_expand)

    def has(self, key: str) -> bool:
        return key in self._present

    def key_set(self) -> Container[str]:
        """What ``set(self.keys)`` would test, without building it: the stored table, whose
        keys are exactly these until a rename."""
        if self._renamed:
            return set(self.keys)
        return self.infos if self.header is not None else self.arrays

    def table(self) -> Mapping[str, Any]:
        """Every key this side has -> its stored entry (a file's ArrayInfo, else the array):
        the stored table itself unless aliases or a rename add keys."""
        stored = self.infos if self.header is not None else self.arrays
        if self._present is stored:
            return stored
        return {k: stored[self.aliases.get(k, k)] for k in self._present}

    def rename(self, mapping: Mapping[str, Optional[str]]) -> None:
        """Take the keys ``mapping`` gives (stored key -> new key, ``None`` drops it)."""
        stored = {k: self.aliases.get(k, k) for k in mapping}
        self.keys = [new for new in mapping.values() if new is not None]
        self._renamed = True
        self.aliases = {new: stored[old] for old, new in mapping.items() if new is not None}
        self.spellings = {}
        self._present = set(self.keys)

    def as_header(self, label: str) -> Header:
        """This side's keys as a :class:`Header` (in order), for the role pairing."""
        if self.header is not None and not self.aliases:
            return self.header
        infos = []
        for i, key in enumerate(self.keys):
            shape, dtype = self.info(key)
            infos.append(ArrayInfo(key, tuple(shape), dtype, "default", "", -1, 0, 0, i))
        ordered = self.header.ordered if self.header is not None else True
        return Header(label, 0, infos, True, ordered=ordered)

    def info(self, key: str) -> Tuple[Tuple[int, ...], str]:
        key = self.aliases.get(key, key)
        if self.header is None:
            a = self.arrays[key]
            return tuple(a.shape), "bfloat16" if a.dtype == BFLOAT16 else str(a.dtype)
        i = self.infos[key]
        return (i.shape if i.shape is not None else (0,)), (i.dtype or "float32")

    def nbytes(self, key: str) -> int:
        key = self.aliases.get(key, key)
        return self.infos[key].nbytes if self.header is not None else self.arrays[key].nbytes

    def pieces(self, key: str) -> Iterator[onp.ndarray]:
        key = self.aliases.get(key, key)
        if self.header is None:
            flat = self.arrays[key].reshape(-1)
            for i in range(0, flat.size, CHUNK_VALUES):
                yield flat[i:i + CHUNK_VALUES]
            return
        if self.buffer is None:
            self.buffer = bytearray(CHUNK_VALUES * 8)
        yield from iter_values(self.header, self.infos[key], CHUNK_VALUES, self.buffer, src=self.file,
                               allow_expand=self.allow_expand)


def _aligned(a: Iterator[onp.ndarray], b: Iterator[onp.ndarray]):
    """Pairs of equally long pieces from two piece iterators over the same number of values."""
    x = y = None
    while True:
        if x is None or not x.size:
            x = next(a, None)
        if y is None or not y.size:
            y = next(b, None)
        if x is None or y is None:
            for rest in (a, b):  # run each reader to its end: an .npz member's CRC is checked there
                for _ in rest:
                    pass
            return
        n = min(x.size, y.size)
        yield x[:n], y[:n]
        x, y = x[n:], y[n:]


#: Arrays of at most this many values are compared in batches: their bytes read by
#: one call per run of neighbours in the file, their sums by one numpy call per batch
#: (10^5 small arrays: no per-array reads, iterators or temporaries).
_SMALL = 1 << 12
#: Bytes between two arrays' data that one read still spans (record headers, zip
#: local headers), and the most one read spans.
_GAP, _SPAN = 1 << 16, 1 << 23


def _describe_info(info: ArrayInfo) -> Tuple[Tuple[int, ...], str, int]:
    """``(shape, dtype, values)`` of a file's array; ``values`` is its number of values when
    it is compared in a batch (small, dense, at a known place in the file), else 0."""
    shape = info.shape
    if shape is None:
        return (0,), info.dtype or "float32", 0
    size = math.prod(shape)
    small = (0 < size <= _SMALL and info.stype == "default" and not info.fortran_order
             and info.offset >= 0 and info.dtype is not None)
    return shape, info.dtype or "float32", size if small else 0


def _describe_array(a: onp.ndarray) -> Tuple[Tuple[int, ...], str, int]:
    """``(shape, dtype, values)`` of an array in memory (see :func:`_describe_info`)."""
    size = a.size
    return (tuple(a.shape), "bfloat16" if a.dtype == BFLOAT16 else str(a.dtype),
            size if 0 < size <= _SMALL else 0)


_STORED_DTYPES: Dict[Tuple[str, bool], onp.dtype] = {}


def _stored_dtype(info) -> onp.dtype:
    dt = _STORED_DTYPES.get((info.dtype, info.big_endian))
    if dt is None:
        native = BFLOAT16 if info.dtype == "bfloat16" else onp.dtype(info.dtype)
        dt = _STORED_DTYPES[(info.dtype, info.big_endian)] = (
            native.newbyteorder(">") if info.big_endian else native)
    return dt


def _fill(side: "_Side", entries: List[Any], starts: List[int], out: onp.ndarray) -> None:
    """The values of ``entries`` (batchable, see :func:`_describe_info`) as float64 into
    ``out[start:start + size]``."""
    if side.header is None:
        for a, lo in zip(entries, starts):
            a = a.reshape(-1)
            onp.copyto(out[lo:lo + a.size], as_float(a), casting="unsafe")
        return
    header, src = side.header, side.file
    assert src is not None  # a file side holds its file open for the call
    infos = entries
    if header.format != "npz" and _gather(src, infos, out):
        return
    ends = starts[1:] + [len(out)]
    sizes = [e - b for b, e in zip(starts, ends)]
    order = sorted(range(len(infos)), key=lambda j: infos[j].offset)
    npz = header.format == "npz"
    run: List[int] = []

    def read(run: List[int]) -> None:
        first, last = infos[run[0]], infos[run[-1]]
        start = first.offset
        buf = bytearray(last.offset + last.nbytes - start)
        src.readinto(start, buf, repr(first.name))
        view = memoryview(buf)
        k = 0
        while k < len(run):
            info = infos[run[k]]
            dt = _stored_dtype(info)
            # arrays back to back in the file, of one dtype, wanted back to back in ``out``
            # (a safetensors file in key order): one conversion for all of them
            m, at, lo = k + 1, info.offset + info.nbytes, starts[run[k]] + sizes[run[k]]
            while not npz and m < len(run) and infos[run[m]].offset == at and starts[run[m]] == lo \
                    and _stored_dtype(infos[run[m]]) is dt:
                at += infos[run[m]].nbytes
                lo += sizes[run[m]]
                m += 1
            raw = view[info.offset - start:at - start]
            if npz:
                _npz.check_member(header, info, raw)
            first = starts[run[k]]
            onp.copyto(out[first:lo], as_float(onp.frombuffer(raw, dt)), casting="unsafe")
            k = m

    end = 0
    for j in order:
        info = infos[j]
        if run and (info.offset - end > _GAP or info.offset + info.nbytes - infos[run[0]].offset > _SPAN
                    or info.offset < end):
            read(run)
            run = []
        run.append(j)
        end = info.offset + info.nbytes
    if run:
        read(run)


_OFFSET, _NBYTES = operator.attrgetter("offset"), operator.attrgetter("nbytes")
_KIND = operator.attrgetter("dtype", "big_endian")


def _gather(src: DataFile, infos: List[ArrayInfo], out: onp.ndarray) -> bool:
    """The values of ``infos`` (one stored dtype; none of them an ``.npz`` member, which is
    CRC-checked one by one) back to back into ``out``, with a few numpy calls whatever
    their number: each run of neighbours in the file read by one call (as :func:`_fill`
    groups them), then one gather puts the bytes in order. False (nothing read) when the
    arrays do not share one stored dtype."""
    if len(set(map(_KIND, infos))) != 1:
        return False
    dt = _stored_dtype(infos[0])
    n = len(infos)
    off = onp.fromiter(map(_OFFSET, infos), onp.int64, n)
    nb = onp.fromiter(map(_NBYTES, infos), onp.int64, n)
    total = int(nb.sum())
    if total != out.size * dt.itemsize:
        return False
    order = onp.argsort(off, kind="stable")
    so = off[order]
    se = so + nb[order]
    # a new read where the gap is over _GAP, or where an array comes again (a tied alias)
    cuts = (onp.flatnonzero((so[1:] - se[:-1] > _GAP) | (so[1:] < se[:-1])) + 1).tolist()
    runs = []
    for a, b in zip([0] + cuts, cuts + [n]):
        while a < b:  # and where a read would span over _SPAN
            m = a + 1 + int(onp.searchsorted(se[a + 1:b], so[a] + _SPAN, side="right"))
            runs.append((a, min(m, b)))
            a = m
    space = onp.empty(sum(int(se[b - 1] - so[a]) for a, b in runs), onp.uint8)
    at = onp.empty(n, onp.int64)  # where each array's bytes are in ``space`` (file order)
    base = 0
    for a, b in runs:
        length = int(se[b - 1] - so[a])
        src.readinto(int(so[a]), space[base:base + length], repr(infos[order[a]].name))
        at[a:b] = so[a:b] - (so[a] - base)
        base += length
    pos = onp.empty(n, onp.int64)
    pos[order] = at
    starts = onp.cumsum(nb) - nb  # where each array's bytes go: back to back, in batch order
    if not onp.array_equal(pos, starts):
        space = space[onp.repeat(pos - starts, nb) + onp.arange(total)]
    onp.copyto(out, as_float(space[:total].view(dt)), casting="unsafe")
    return True


class _Batch:
    """Rows of small arrays waiting to be compared together (see :data:`_SMALL`)."""

    def __init__(self, A: "_Side", B: "_Side", atol: float):
        self.A, self.B, self.atol = A, B, atol
        self.rows: List[Dict[str, Any]] = []
        self.starts: List[int] = []
        self.entries_a: List[Any] = []  # each row's stored entry on either side
        self.entries_b: List[Any] = []
        self.size = 0
        self.x = onp.empty(_BLOCK, onp.float64)
        self.y = onp.empty(_BLOCK, onp.float64)
        self.d = onp.empty(_BLOCK, onp.float64)
        self.sq = onp.empty(_BLOCK, onp.float64)
        self.scratch = onp.empty((3, _BLOCK), onp.float64)

    def add(self, row: Dict[str, Any], size: int, entry_a: Any, entry_b: Any) -> None:
        if self.size + size > _BLOCK:
            self.flush()
        self.rows.append(row)
        self.starts.append(self.size)
        self.entries_a.append(entry_a)
        self.entries_b.append(entry_b)
        self.size += size

    def flush(self) -> None:
        if not self.rows:
            return
        n, x, y = self.size, self.x[:self.size], self.y[:self.size]
        _fill(self.A, self.entries_a, self.starts, x)
        _fill(self.B, self.entries_b, self.starts, y)
        at = onp.array(self.starts, onp.intp)
        d, sq = self.d[:n], self.sq[:n]
        with onp.errstate(invalid="ignore", over="ignore"):
            onp.subtract(x, y, out=d)
            top, low = onp.maximum.reduceat(d, at), onp.minimum.reduceat(d, at)
            dd = onp.add.reduceat(onp.multiply(d, d, out=sq), at)
            xx = onp.add.reduceat(onp.multiply(x, x, out=sq), at)
            yy = onp.add.reduceat(onp.multiply(y, y, out=sq), at)
        ends = self.starts[1:] + [n]
        # Python floats in one call each, not a numpy scalar per row and sum
        tops, lows, dds, xxs, yys = top.tolist(), low.tolist(), dd.tolist(), xx.tolist(), yy.tolist()
        for j, row in enumerate(self.rows):
            if math.isfinite(dds[j]):
                _finish(row, max(tops[j], -lows[j]), dds[j], xxs[j], yys[j], self.atol)
            else:  # NaN or infinity: the per-array rule (equal values differ by 0)
                sums = _Sums(self.scratch)
                lo, hi = self.starts[j], ends[j]
                sums.add(x[lo:hi], y[lo:hi])
                _finish(row, sums.max_abs, sums.dd, sums.xx, sums.yy, self.atol)
        self.rows, self.starts, self.entries_a, self.entries_b, self.size = [], [], [], [], 0


def _finish(row: Dict[str, Any], max_abs: float, dd: float, xx: float, yy: float, atol: float) -> None:
    """Fill a row's numbers and status from its sums."""
    na, nb = math.sqrt(xx), math.sqrt(yy)
    row["max_abs"] = max_abs
    row["rel_l2"] = math.sqrt(dd) / na if na else (0.0 if not nb else float("inf"))
    row["cosine"] = (xx + yy - dd) / 2 / (na * nb) if na and nb else float(na == nb)
    if row["dtype_a"] != row["dtype_b"]:
        row["status"] = "dtype"
    elif not max_abs <= atol:  # nan counts as a difference
        row["status"] = "changed"


class _Sums:
    """Running max|a-b|, sum (a-b)^2, sum a^2 and sum b^2 of one key, in float64.

    ``a . b`` follows from those (``(|a|^2 + |b|^2 - |a-b|^2) / 2``): one pass fewer.
    """

    def __init__(self, scratch: Optional[onp.ndarray] = None):
        self.max_abs, self.dd, self.xx, self.yy = 0.0, 0.0, 0.0, 0.0
        # one scratch buffer per diff, not per key (10^5 keys: 10^5 allocations of 1.5 MiB)
        self._buf = scratch if scratch is not None else onp.empty((3, _BLOCK), onp.float64)

    @property
    def xy(self) -> float:
        return (self.xx + self.yy - self.dd) / 2

    def add(self, x: onp.ndarray, y: onp.ndarray) -> None:
        x, y = as_float(x), as_float(y)
        for i in range(0, x.size, _BLOCK):
            xs, ys = x[i:i + _BLOCK], y[i:i + _BLOCK]
            fx, fy = self._buf[0, :xs.size], self._buf[1, :xs.size]
            onp.copyto(fx, xs, casting="unsafe")  # float64: exact differences and sums
            onp.copyto(fy, ys, casting="unsafe")
            with onp.errstate(invalid="ignore", over="ignore"):
                d = onp.subtract(fx, fy, out=self._buf[2, :xs.size])
                dd = float(_dot(d, d))
            if not math.isfinite(dd):  # NaN or infinity: equal values differ by 0
                with onp.errstate(invalid="ignore"):
                    same = (fx == fy) | (onp.isnan(fx) & onp.isnan(fy))
                d[same] = 0.0
                dd = float(_dot(d, d))
            top = float(onp.maximum.reduce(d)) if d.size else 0.0
            low = float(onp.minimum.reduce(d)) if d.size else 0.0
            self.max_abs = _nanmax(self.max_abs, max(top, -low) if top == top and low == low
                                   else float("nan"))
            self.dd += dd
            self.xx += float(_dot(fx, fx))
            self.yy += float(_dot(fy, fy))


def _nanmax(a: float, b: float) -> float:
    return float("nan") if a != a or b != b else max(a, b)


class DiffReport(Report):
    """Per-key comparison of two parameter sets (see :func:`diff`): key -> row.

    A Mapping like every report of the kit: iteration yields every key, ``report[key]``
    the row (any path form), ``rows`` and ``to_records()`` every row in order. A row is a
    dict with ``key``, ``status`` (``same``, ``changed``, ``shape``, ``dtype``,
    ``only_a``, ``only_b``), shapes, dtypes, ``max_abs``, ``rel_l2`` (``|a-b|/|a|``) and
    ``cosine``.

    Its text and HTML list what differs (changed, only in a, only in b) and count the
    identical keys; ``report.view(all=True)`` (or ``report.show(all=True)``, or
    ``all=True`` here) lists every key. When the keys differ by a prefix or a naming
    scheme, ``suggestion`` is the :class:`~gluon_params_kit.checkpoint.Remap` that pairs
    them (``diff(a, b, remap=report.suggestion)`` applies it to b's keys) and
    ``suggestion_matches`` how many of b's keys it makes a's; ``remap`` is the one
    applied, if any.
    """

    _what = "key"
    _kind = "diff"

    def __init__(self, rows: List[Dict[str, Any]], label_a: str, label_b: str, *, all: bool = False,
                 suggestion: Optional[Remap] = None, suggestion_matches: int = 0,
                 remap: Optional[Remap] = None):
        self.rows, self.label_a, self.label_b = rows, label_a, label_b
        check_bool(all, "all", CheckpointTypeError)
        self.all = all
        self.suggestion, self.suggestion_matches, self.remap = suggestion, suggestion_matches, remap
        super().__init__(((r["key"], r) for r in rows))
        count = Counter([r["status"] for r in rows])  # one pass, not one list per status
        self.title = (f"diff {label_a} vs {label_b}: {len(rows)} keys, "
                      f"{count['changed'] + count['shape'] + count['dtype']} differ, "
                      f"{count['only_a']} only in a, {count['only_b']} only in b")

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
    def identical(self) -> List[str]:
        """Keys whose values are the same on both sides (within ``atol``)."""
        return self._keys("same")

    @property
    def same(self) -> bool:
        return all(r["status"] == "same" for r in self.rows)

    def view(self, *, all: bool) -> "DiffReport":
        """The same report drawn with (``all=True``) or without the identical keys; this
        one is left as it is.

        >>> import numpy as np
        >>> r = diff({'w': np.ones(2), 'b': np.zeros(1)}, {'w': np.ones(2), 'b': np.ones(1)})
        >>> [line.split()[0] for line in r.view(all=True).to_string().splitlines()[3:]]
        ['w', 'b']
        """
        check_bool(all, "all", CheckpointTypeError)
        other = copy.copy(self)
        other.all = all
        return other

    def show(self, *, all: bool = False, width: Optional[int] = None) -> None:
        """Print the report (``all=True``: every key, identical ones too)."""
        print(self.view(all=all).to_string(width))

    def _table(self):
        rows = self.rows if self.all else [r for r in self.rows if r["status"] != "same"]
        cells = [[r["key"], r["status"], format_shape(r["shape_a"]), format_shape(r["shape_b"]),
                  format_float(r["max_abs"]), format_float(r["rel_l2"]), format_float(r["cosine"])]
                 for r in rows]
        return (["key", "status", "shape a", "shape b", "max|a-b|", "rel L2", "cosine"], cells,
                [False] * 4 + [True] * 3)

    def _footer(self) -> List[str]:
        lines = []
        same = len(self.rows) - len(self.changed) - len(self.only_a) - len(self.only_b)
        if same and not self.all:
            lines.append(f"{same} key{'s' if same != 1 else ''} identical (all=True / --all shows them)")
        if self.remap is not None:
            lines.append(f"b's keys renamed by remap={_brief(self.remap)}")
        if self.suggestion is not None:
            lines.append(f"keys differ by a prefix or a naming scheme: with remap="
                         f"{_brief(self.suggestion)}, {self.suggestion_matches} of b's keys are a's "
                         f"(diff(a, b, remap=report.suggestion) compares them)")
        return lines


def _brief(remap: Remap, limit: int = 160) -> str:
    """The remap's repr, cut to ``limit`` characters (a long ``Remap.keys`` table)."""
    text = repr(remap)
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(", ", 1)[0] + ", ...}) (cut; the whole remap is report.suggestion)"


#: Keys left on either side beyond which no pairing by role is tried (it compares the
#: layers of one signature with each other; a plain prefix rule is still suggested).
_PAIR_LIMIT = 2048


def _suggest(A: _Side, B: _Side, block: Optional[Block], only_b: List[str]) -> Tuple[Optional[Remap], int]:
    """The remap of b's keys that makes the most of them a's, or ``(None, 0)``.

    Candidates: a common prefix stripped or added, auto names -> paths (with a Block on
    either side), and the pairing of the keys left by layer and role
    (:func:`~gluon_params_kit.checkpoint._pairing.pair_by_roles`: a norm layer's
    gamma/beta for PyTorch's weight/bias, moving_* for running_*; two candidates that
    fit equally pair nothing). One that would put a value in another role, or two keys
    on one, is never suggested. ``only_b``: b's keys a lacks.
    """
    if not only_b:
        return None, 0
    a_keys = A.key_set()
    only_a = [k for k in A.keys if not B.has(k)]
    if not only_a:
        return None, 0
    prefixes: Counter = Counter()
    for u in only_b[:64]:  # a sample is enough to see a common prefix
        for t in only_a[:64]:
            if u.endswith("." + t):
                prefixes[("strip", u[:len(u) - len(t)])] += 1
            elif t.endswith("." + u):
                prefixes[("add", t[:len(t) - len(u)])] += 1
    bases = [Remap()]
    for (kind, p), _ in prefixes.most_common(4):
        bases.append(Remap.strip_prefix(p) if kind == "strip" else Remap.add_prefix(p))
    if block is not None and not any("." in k for k in only_b[:64]):
        bases.append(Remap.to_structural())
    header = B.as_header("b")
    a_info = {k: A.info(k) for k in only_a}

    def fits(a: Any, info: Any) -> bool:
        return tuple(a[0]) == tuple(info.shape or ()) and a[1] == info.dtype

    already = len(B.keys) - len(only_b)
    best: Optional[Remap] = None
    best_score = already
    whole = min(len(A.keys), len(B.keys))  # no remap pairs more

    def consider(cand: Remap) -> None:
        nonlocal best, best_score
        try:
            mapping = cand(B.keys, block)
        except (CheckpointError, PathError):
            return
        news = [n for n in mapping.values() if n is not None]
        if len(set(news)) != len(news):
            return  # two of b's keys on one
        if any(new != old and crosses_roles(old, new) for old, new in mapping.items() if new is not None):
            return  # a value in the wrong role is never suggested
        score = sum(1 for n in news if n in a_keys)
        if score > best_score:
            best, best_score = cand, score

    # the plain rules first: on a tie the simpler suggestion wins, and one that pairs
    # every key leaves nothing for the pairing by role
    for base in bases[1:]:
        consider(base)
    if best_score >= whole:
        return best, best_score
    for base in bases:
        try:
            renamed = base(B.keys, block)
        except (CheckpointError, PathError):
            continue
        left_b = [new for new in renamed.values() if new is not None and new not in a_keys]
        taken = {new for new in renamed.values() if new in a_keys}
        left_a = [k for k in only_a if k not in taken]
        if left_b and left_a and len(left_b) <= _PAIR_LIMIT and len(left_a) <= _PAIR_LIMIT:
            header_key = {new: old for old, new in renamed.items() if new is not None}
            pairing = pair_by_roles(left_b, left_a, header, header_key, a_info, fits)
            if pairing.pairs:
                consider(base + Remap.keys(pairing.pairs) if len(base) else Remap.keys(pairing.pairs))
    return (best, best_score) if best is not None else (None, 0)


#: ``(shape, dtype, values)`` of a key a side lacks.
_ABSENT = (None, None, 0)


@_gc.paused  # 10^5 rows and infos, no cycle: the collector would walk them again and again
def diff(a: Source, b: Source, *, pattern: Pattern = None, atol: float = 0.0,
         progress: bool = False, exclude: Pattern = None, mode: str = "search",
         on: str = "path", allow_empty: bool = False, allow_expand: bool = False,
         remap: Any = None, all: bool = False) -> DiffReport:
    """Compare two parameter sets key by key: blocks, files of any format, or mappings.

    Files (``.params``, ``.safetensors``, ``.npz``, in any pairing) are streamed: each
    array is read in pieces from both files at once and compared block by block in
    float64, so extra memory stays at a few MiB however big the files are.

    Args:
        a: First side (a Block is read by structural path).
        b: Second side.
        pattern: Only the keys it selects, as :func:`~gluon_params_kit.select.select`
            selects (by default ``re.search`` in the key); a key is selected when any of
            its spellings matches (a Block's aliases, a file's tied paths).
        atol: Values differing by at most this much count as the same (NaN matches
            NaN at the same position; NaN against a number is a difference).
        progress: Show a progress bar while reading files over 100 MB (tqdm).
        exclude, mode: as in :func:`~gluon_params_kit.select.select`.
        on: ``'path'`` (the keys), or ``'name'``: the auto name of a Block side's
            Parameter (keys only a file or mapping holds have none and are left out).
        allow_empty: compare nothing (an empty report) instead of raising when the
            pattern selects no key (without ``pattern`` and ``exclude``, two empty sides
            are an empty report anyway).
        allow_expand: compare an array whose dense size its file's bytes do not justify
            (a sparse array or deflated ``.npz`` member far bigger than what is stored;
            see :func:`export_npz`); by default such an array is an error that says so.
        remap: Rename b's keys first, as ``load`` renames a file's (a
            :class:`~gluon_params_kit.checkpoint.Remap`, a mapping, a function, or
            ``'structural'``/``'gluon'``/``'legacy'``, which need a Block on either side),
            e.g. the report's own ``suggestion``.
        all: The report's text lists every key (default: what differs, and a count of
            the identical keys); its records always hold every key.

    Returns:
        A :class:`DiffReport`; ``report.same`` is True when nothing differs. When b's
        keys differ from a's by a prefix or a naming scheme (``net.0.weight`` for
        ``0.weight``, PyTorch's ``1.weight``/``1.bias`` for a norm layer's
        ``1.gamma``/``1.beta``), ``report.suggestion`` is the remap that pairs them,
        never one that puts a value in another role.

    Raises:
        CheckpointError: A side cannot be read (damaged, a CRC that does not match, or
            changed while it was read: each file is read from one open file, one version),
            an expansion not allowed, or ``atol`` is negative, NaN or infinite
            (``CheckpointTypeError`` when it is not a number).
        SelectionError: A bad pattern or option, or a pattern that selects no key of
            either side (the kit's one message for it).

    Examples:
        >>> import mxnet as mx
        >>> r = diff({'w': mx.nd.array([1, 2])}, {'w': mx.nd.array([1, 2.5]), 'b': mx.nd.zeros(1)})
        >>> r['w']['max_abs'], r.only_b, r.same
        (0.5, ['b'], False)
        >>> list(diff({'w': mx.nd.ones(2), 'b': mx.nd.zeros(1)}, {'w': mx.nd.ones(2)},
        ...           pattern='?', mode='glob', exclude='w'))
        ['b']
        >>> r = diff({'0.weight': mx.nd.ones(2)}, {'net.0.weight': mx.nd.ones(2)})
        >>> r.suggestion, diff({'0.weight': mx.nd.ones(2)}, {'net.0.weight': mx.nd.ones(2)},
        ...                    remap=r.suggestion).same
        (Remap.strip_prefix('net.'), True)
    """
    check_bool(progress, "progress", CheckpointTypeError)
    check_bool(allow_empty, "allow_empty", CheckpointTypeError)
    make_matcher(pattern, mode=mode, on=on)  # a bad pattern fails before any file is read
    check_number(atol, "atol", CheckpointError, minimum=0, where="diff")
    check_bool(allow_expand, "allow_expand", CheckpointTypeError)
    check_bool(all, "all", CheckpointTypeError)
    rule = as_remap(remap) if remap is not None else None
    block = a if isinstance(a, Block) else b if isinstance(b, Block) else None
    A = _Side(a, "a", allow_expand)
    try:
        B = A.twin() if _same_path(a, b) and A.header is not None else _Side(b, "b", allow_expand)
    except BaseException:
        A.close(error=True)
        raise
    failed = True
    try:
        if rule is not None:
            B.rename(rule(B.keys, block))
        in_a_keys = A.key_set()
        only_b = [k for k in B.keys if k not in in_a_keys]
        suggestion, matches = _suggest(A, B, block, only_b)
        every = A.keys + only_b
        if pattern is None and exclude is None and on == "path":
            keys = every  # everything: no search per key
        else:
            keys = selection(  # the kit's one selection path, over both sides' keys
                every, pattern, exclude=exclude,
                mode=mode, on=on, allow_empty=allow_empty or (pattern is None and exclude is None),
                aliases={**B.spellings, **A.spellings},
                params={**B.params, **A.params},
                owner=f"the keys of {_source_label(a)} and {_source_label(b)}")
        bar = None
        if progress:
            total = sum(side.nbytes(k) for k in keys for side in (A, B)
                        if side.header is not None and side.has(k))
            named = A.header if A.header is not None else B.header  # the bar names a file
            bar = _progress(total, named.path if named is not None else "diff") if total else None
        rows = []
        scratch = onp.empty((3, _BLOCK), onp.float64)
        batch = _Batch(A, B, atol)
        done = 0  # bytes read since the progress bar last moved
        # one dict lookup per key and side: the stored entry, or None where it is missing
        get_a, get_b = A.table().get, B.table().get
        describe_a = _describe_info if A.header is not None else _describe_array
        describe_b = _describe_info if B.header is not None else _describe_array
        for key in keys:
            entry_a, entry_b = get_a(key), get_b(key)
            shape_a, dtype_a, small_a = describe_a(entry_a) if entry_a is not None else _ABSENT
            shape_b, dtype_b, small_b = describe_b(entry_b) if entry_b is not None else _ABSENT
            status = ("only_b" if entry_a is None else "only_a" if entry_b is None
                      else "shape" if shape_a != shape_b else "same")
            row: Dict[str, Any] = {"key": key, "status": status, "shape_a": shape_a, "shape_b": shape_b,
                                   "dtype_a": dtype_a, "dtype_b": dtype_b, "max_abs": None,
                                   "rel_l2": None, "cosine": None}
            rows.append(row)
            if status != "same":
                continue
            if bar is not None:
                done += sum(s.nbytes(key) for s in (A, B) if s.header is not None)
            if small_a and small_b:
                batch.add(row, small_a, entry_a, entry_b)
            else:
                sums = _Sums(scratch)
                for x, y in _aligned(A.pieces(key), B.pieces(key)):
                    sums.add(x, y)
                _finish(row, sums.max_abs, sums.dd, sums.xx, sums.yy, atol)
            if bar is not None and done >= 1 << 22:
                batch.flush()
                bar.update(done)
                done = 0
        batch.flush()
        if bar is not None:
            bar.update(done)
            bar.close()
        failed = False
    finally:
        A.close(failed)
        B.close(failed)
    return DiffReport(rows, _source_label(a), _source_label(b), all=all, suggestion=suggestion,
                      suggestion_matches=matches, remap=rule)


def _same_path(a: Any, b: Any) -> bool:
    paths = (str, bytes, os.PathLike)
    if not isinstance(a, paths) or not isinstance(b, paths):
        return False
    return os.path.abspath(os.fsdecode(os.fspath(a))) == os.path.abspath(os.fsdecode(os.fspath(b)))


def _source_label(source) -> str:
    if isinstance(source, Block):
        return type(source).__name__
    if isinstance(source, (str, bytes, os.PathLike)):
        return repr(os.fsdecode(os.fspath(source)))
    return "mapping"


@_gc.paused  # 10^5 zip entries, no cycle
def export_npz(source: Union[Block, PathLike], path: PathLike, *, compressed: bool = False,
               progress: bool = False, fsync: bool = True, allow_expand: bool = False) -> List[str]:
    """Write parameters to a ``.npz`` that ``numpy.load(..., allow_pickle=False)`` reads.

    Args:
        source: A Block (keys are structural paths) or a ``.params``, ``.safetensors`` or
            ``.npz`` file (its keys; streamed piece by piece, memory stays at a few MiB).
        path: The ``.npz`` to write (atomically; no suffix is added).
        compressed: Deflate the arrays.
        progress: Show a progress bar while reading a file over 100 MB (tqdm).
        fsync: Flush the file to disk before returning, as :func:`save` does (on a 2 GiB
            export most of the time beyond ``cp``'s is this flush).
        allow_expand: Write out an array whose dense size the file's bytes do not justify:
            a sparse ``.params`` array or a deflated ``.npz`` member whose dense bytes
            exceed 64 MiB and 64 times what the file stores for it (a 117-byte file may
            claim 1 GiB). Without it such an array is a CheckpointError giving both sizes.

    A file source is read from one open file (one version, whatever replaces the path
    meanwhile), every ``.npz`` member CRC-checked: a damaged member is an error, never
    written again under a fresh CRC. Sparse arrays are written dense, piece by piece;
    Fortran-order members stay Fortran-order (numpy reads the same array).

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
    for name, flag in (("compressed", compressed), ("progress", progress), ("fsync", fsync)):
        check_bool(flag, name, CheckpointTypeError)
    check_bool(allow_expand, "allow_expand", CheckpointTypeError)
    side = _Side(source, "export source", allow_expand)
    failed = True
    try:
        _npz.check_keys(side.keys)
        side.check_expansion(side.keys)
        shown = _progress(side.header.file_size, side.header.path) if progress and side.header else None
        bar = _Ticker(shown) if shown is not None else None
        if side.header is None:
            entries: Dict[str, Any] = side.arrays
        else:
            entries = OrderedDict((k, _streamed(side, k, bar)) for k in side.keys)

        def write(tmp):
            try:
                _npz.write(tmp, entries, compressed)
            except OSError:
                if side.file is not None:  # a source cut short under the copy: say so
                    side.file.check()
                raise
            if side.file is not None:  # the source did not change under the copy
                side.file.check()

        size = sum(side.nbytes(k) + 256 + 2 * len(k) for k in side.keys)
        if side.header is not None:  # dense bytes written for sparse or deflated arrays
            size = sum(_dense_nbytes(side.infos[k]) + 256 + 2 * len(k) for k in side.keys)
        atomic_write(path, write, fsync, size_hint=None if compressed else size)
        if bar is not None:
            bar.close()
        failed = False
    finally:
        side.close(failed)
    return list(side.keys)


def _dense_nbytes(info) -> int:
    return info.size * (2 if info.dtype == "bfloat16" else onp.dtype(info.dtype or "float32").itemsize)


class _Ticker:
    """A progress bar moved every 4 MiB, not once per array (10^5 small arrays)."""

    def __init__(self, bar: Any):
        self.bar, self.pending = bar, 0

    def update(self, n: int) -> None:
        self.pending += n
        if self.pending >= 1 << 22:
            self.bar.update(self.pending)
            self.pending = 0

    def close(self) -> None:
        self.bar.update(self.pending)
        self.bar.close()


def _streamed(side: _Side, key: str, bar: Optional[_Ticker]):
    """``(dtype, shape, chunks, source, fortran)`` of one file array, for :func:`_npz.write`:
    a Fortran-order member is written as one (its bytes as they are, no reordering)."""
    header, src = side.header, side.file
    assert header is not None and src is not None  # only a file side streams
    info = side.infos[key]
    dtype = BFLOAT16 if info.dtype == "bfloat16" else onp.dtype(info.dtype or "float32")
    shape = info.shape if info.shape is not None else (0,)
    dense = info.stype == "default" and info.size and not info.big_endian  # else: native pieces
    raw = dense and info.offset >= 0
    if dense and info.fortran_order:
        if raw:
            def pieces():
                return _npz.iter_stored(src, header, info, CHUNK_VALUES * dtype.itemsize)
        else:
            def pieces():
                return _npz.iter_member(src, header, info, CHUNK_VALUES * dtype.itemsize)
    elif raw and info.nbytes <= _npz.SMALL_MEMBER:  # one read, no iterator per array
        def pieces():
            data = bytearray(info.nbytes)
            src.readinto(info.offset, data, repr(key))
            if header.format == "npz":
                _npz.check_member(header, info, data)
            return [data]
    else:
        def pieces():
            return (memoryview(p.view(onp.uint8)) for p in side.pieces(key))

    def chunks():
        for piece in pieces():
            yield piece
            if bar is not None:
                bar.update(len(piece))
    return (dtype, tuple(shape), chunks, (src.fileno(), info.offset) if raw else None,
            bool(dense and info.fortran_order))


#: Longest zip entry name (``key + '.npy'``, UTF-8 bytes) a ``.npz`` can hold.
MAX_KEY_BYTES = _npz.MAX_KEY_BYTES
