"""What :func:`~gluon_params_kit.checkpoint.load` found: :class:`LoadReport`, its refusal
message and the :class:`~gluon_params_kit.checkpoint.Remap` it suggests.

Private: :mod:`gluon_params_kit.checkpoint` re-exports :class:`LoadReport`.
"""
from __future__ import annotations

import re
from collections import Counter, OrderedDict
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as onp

from .._core.compat import mx
from .._core.display import format_shape
from .._core.gluon import key_index
from .._core.report import Report
from .._core.types import Block
from .._io.header import Header, file_keys_of, numpy_dtype
from ..errors import CheckpointError, PathError, listing
from ..tree import named_parameters
from ._pairing import crosses_roles, pair_by_roles
from ._remap import Remap, collapse_keys

__all__ = ["LoadReport", "brief_repr", "file_keys_of", "refusal", "shape_fits", "suggest", "unloaded_line"]



class LoadReport(Report):
    """What :func:`load` found and did: loaded, missing, unexpected, mismatched, skipped.

    A mapping like the kit's other reports: iterating yields every key it speaks of
    (loaded, then mismatched, missing and unexpected ones), ``report[path]`` (any path
    form) gives ``{'key', 'status', 'detail'}`` for it, and ``to_records()`` those dicts;
    the lists below say the same by kind. ``str()`` and the HTML are a table of the same
    rows with repeated indices collapsed (:meth:`rows`), and what the load suggests.

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
        paired: ``unexpected file key -> missing path`` where they pair one to one.
        ambiguous: File keys that fit more than one missing layer equally (same roles,
            shapes and dtypes, and no name or file order decides): no pair is guessed.
        not_loaded_values: How many values :attr:`not_loaded` keep (``None``: unknown).
        applied: Whether values were written into the block.
        symbol: The ``-symbol.json`` file the load read (an old symbol checkpoint), or ``None``.
        symbol_notes: Symbol attributes that make the loaded net compute otherwise
            (``fix_gamma=True`` with a gamma that is not 1, eps, momentum...), one
            ``SymbolNote`` each (``.layer``, ``.path``, ``.attribute``, ``.symbol``,
            ``.net``, ``.message``, ``.fixed``, ``.training_only``); printed under the table.
        excluded: What ``load(..., exclude=...)`` left out on purpose: the block's
            Parameters the pattern selects (they keep their values) and the file keys it
            selects that no other Parameter takes (not read); never missing or unexpected.
    """

    _what, _kind = "key", "load report"

    #: The findings the constructor takes as keywords (and :meth:`replace` copies).
    FIELDS: Tuple[str, ...] = (
        "loaded", "missing", "unexpected", "shape_mismatches", "dtype_mismatches", "cast",
        "tied_conflicts", "renamed", "dropped", "suggestion", "suggestion_matches", "paired",
        "ambiguous", "not_loaded_values", "applied", "symbol", "symbol_notes", "excluded")

    def __init__(self, path: str, block_name: str, *, loaded: Sequence[str] = (),
                 missing: Sequence[str] = (), unexpected: Sequence[str] = (),
                 shape_mismatches: Optional[Mapping[str, Tuple[Any, Any]]] = None,
                 dtype_mismatches: Optional[Mapping[str, Tuple[str, str]]] = None,
                 cast: Optional[Mapping[str, Tuple[str, str]]] = None,
                 tied_conflicts: Optional[Mapping[str, List[str]]] = None,
                 renamed: Optional[Mapping[str, str]] = None, dropped: Sequence[str] = (),
                 suggestion: Optional[Remap] = None, suggestion_matches: int = 0,
                 paired: Optional[Mapping[str, str]] = None, ambiguous: Sequence[str] = (),
                 not_loaded_values: Optional[int] = 0, applied: bool = False,
                 symbol: Optional[str] = None, symbol_notes: Sequence[Any] = (),
                 excluded: Sequence[str] = ()):
        self.path, self.block_name = path, block_name
        self.loaded: List[str] = list(loaded)
        self.missing: List[str] = list(missing)
        self.unexpected: List[str] = list(unexpected)
        self.shape_mismatches: Dict[str, Tuple[Any, Any]] = OrderedDict(shape_mismatches or {})
        self.dtype_mismatches: Dict[str, Tuple[str, str]] = OrderedDict(dtype_mismatches or {})
        self.cast: Dict[str, Tuple[str, str]] = OrderedDict(cast or {})
        self.tied_conflicts: Dict[str, List[str]] = OrderedDict(tied_conflicts or {})
        self.renamed: Dict[str, str] = OrderedDict(renamed or {})
        self.dropped: List[str] = list(dropped)
        self.suggestion = suggestion
        self.suggestion_matches = suggestion_matches
        self.paired: Dict[str, str] = OrderedDict(paired or {})
        self.ambiguous: List[str] = list(ambiguous)
        self.not_loaded_values = not_loaded_values
        self.applied = applied
        self.symbol = symbol
        self.symbol_notes: List[Any] = list(symbol_notes)
        self.excluded: List[str] = list(excluded)
        state = "loaded" if applied else "not applied"
        super().__init__(self._statuses(), title=(
            f"LoadReport {path!r} -> {block_name} ({state}): "
            f"{len(self.loaded)} loaded, {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected, {len(self.shape_mismatches)} shape, "
            f"{len(self.dtype_mismatches)} dtype, {len(self.tied_conflicts)} tied"
            + (f", {len(self.excluded)} excluded" if self.excluded else "")))

    def replace(self, **changes: Any) -> "LoadReport":
        """A new report of the same kind with some findings changed (:attr:`FIELDS`)."""
        unknown = sorted(set(changes) - set(self.FIELDS))
        if unknown:
            raise TypeError(f"{type(self).__name__}.replace() takes {listing(self.FIELDS, 20)}, "
                            f"not {listing(unknown)}")
        fields = {name: getattr(self, name) for name in self.FIELDS}
        fields.update(changes)
        return type(self)(self.path, self.block_name, **fields)

    def _statuses(self) -> "OrderedDict[str, Dict[str, str]]":
        """key -> ``{'key', 'status', 'detail'}``, from the lists."""
        out: "OrderedDict[str, Dict[str, str]]" = OrderedDict()

        def put(key, status, detail=""):
            out.setdefault(key, dict(key=key, status=status, detail=detail))
        old_of = {new: old for old, new in self.renamed.items()}
        for k in self.loaded:
            detail = [f"{a} -> {b}" for a, b in [self.cast[k]]] if k in self.cast else []
            detail += [f"from {old_of[k]}"] if k in old_of else []
            put(k, "loaded" if self.applied else "would load", "; ".join(detail))
        for k, (a, b) in self.shape_mismatches.items():
            put(k, "shape", f"block {format_shape(a)} vs file {format_shape(b)}")
        for k, (a, b) in self.dtype_mismatches.items():
            put(k, "dtype", f"block {a} vs file {b}")
        for k, v in self.tied_conflicts.items():
            put(k, "tied", f"copies disagree: {', '.join(v)}")
        for k in self.missing:
            put(k, "missing", "not in the file")
        for k in self.unexpected:
            put(k, "unexpected", "not in the block")
        for k in self.excluded:
            put(k, "excluded", "left out by exclude=")
        return out

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
                out.append(f"{len(keys)} {label} ({short_listing(keys)})")
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
        """``(status, key, detail)`` rows, repeated indices collapsed (the table's rows)."""
        rows: List[Tuple[str, str, str]] = []

        def add(status: str, keys_details: Iterable[Tuple[str, str]]) -> None:
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
        add("excluded", [(k, "left out by exclude=") for k in self.excluded])
        add("loaded", [(k, "") for k in self.loaded])
        return rows

    def _table(self):
        return ("status", "key", "detail"), self.rows(), (False, False, False)

    def _footer(self) -> List[str]:
        lines = []
        if self.paired:
            lines.append(paired_line(self.paired))
        if self.applied and self.not_loaded:
            lines.append(unloaded_line(self))
        if self.ambiguous:
            lines.append(ambiguous_line(self.ambiguous))
        if self.suggestion is not None:
            lines.append(f"suggested: remap={brief_repr(self.suggestion)} "
                         f"(matches {self.suggestion_matches} of the block's parameters)")
        if self.symbol is not None:
            lines.extend(symbol_lines(self.symbol, self.symbol_notes))
        return lines


def symbol_lines(symbol: str, notes: Sequence[Any]) -> List[str]:
    """The symbol's lines under a load report: notes of one attribute and wording on
    more than two layers printed once, with the layers listed."""
    open_notes = [n for n in notes if not n.fixed]
    lines = [f"symbol {symbol!r}: " + (
        f"{len(open_notes)} setting(s) of its layers make the net compute otherwise:" if open_notes
        else "its attributes agree with the net's layers" + (" (after the fixes below)" if notes else ""))]
    groups: "OrderedDict[Tuple[bool, str, str], List[Any]]" = OrderedDict()
    for n in open_notes + [n for n in notes if n.fixed]:
        groups.setdefault((n.fixed, n.attribute, n.detail or n.message), []).append(n)
    for (fixed, _, detail), members in groups.items():
        head = "  - fixed: " if fixed else "  - "
        if len(members) <= 2 or not members[0].detail:
            lines.extend(head + n.message for n in members)
            continue
        layers = ", ".join(f"{n.layer!r} -> {n.path!r}" for n in members[:3])
        more = f" (+{len(members) - 3} more)" if len(members) > 3 else ""
        lines.append(f"{head}{len(members)} layers ({layers}{more}): {detail}")
    return lines


def shape_fits(expected, saved, unknown: int) -> bool:
    if saved is None:
        return False
    if expected is None:
        return True
    if len(expected) != len(saved):
        return False
    return all(e in (unknown, s) for e, s in zip(expected, saved))


def suggest(report: LoadReport, block: Block, header: Header, remap: Remap, params) -> LoadReport:
    """Try the remaps that explain the usual mismatches; keep the one matching the most.

    Returns ``report`` with the best one as its suggestion (and the keys it pairs), or
    ``report`` itself when no candidate matches more than the load does.

    Candidates: auto names -> paths, attribute paths -> Gluon keys (a recurrent layer's
    ``l0_i2h_weight``, a cell's own scheme), a common prefix added or stripped (also
    combined with the attribute rule), and the pairing of the remaining keys by layer and
    role (:func:`~gluon_params_kit.checkpoint._pairing.pair_by_roles`) as ``Remap.keys``.
    A candidate that would put a file value in another role (gamma -> beta) is never
    kept; keys that fit more than one layer equally are reported as ``ambiguous``.
    """
    file_keys = file_keys_of(header)
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
    before = remap(file_keys, block)
    header_key = {new: old for old, new in before.items() if new is not None}
    unknown = -1 if mx.util.is_np_shape() else 0
    pairing = pair_by_roles(report.unexpected, report.missing, header, header_key, params,
                            lambda param, info: shape_fits(param.shape, info.shape, unknown) and (
                                param.dtype is None or info.dtype is None
                                or onp.dtype(param.dtype) == numpy_dtype(info.dtype)))
    if pairing.pairs:
        candidates.append(Remap.keys(pairing.pairs))
    ambiguous = pairing.ambiguous
    total = len(named_parameters(block))
    unexpected, missing = set(report.unexpected), set(report.missing)
    best, best_score, best_map = None, total - len(report.missing), None
    for cand in candidates:
        try:
            mapping = (remap + cand)(file_keys, block)
        except (CheckpointError, PathError):
            continue
        if any(crosses_roles(old, new) for k, new in mapping.items()
               for old in (before[k],) if old is not None and new is not None
               and old in unexpected and new in missing):
            continue  # a value in the wrong role is never suggested
        new_keys = {k for k in mapping.values() if k is not None}
        score = len({id(param) for path, param in params.items() if path in new_keys})
        if score > best_score:
            best, best_score, best_map = cand, score, mapping
    if best is None or best_map is None:
        return report.replace(ambiguous=ambiguous) if ambiguous else report
    paired = OrderedDict((before[k], new) for k, new in best_map.items()
                         if before[k] in unexpected and new in missing)
    ambiguous = [k for k in ambiguous if k not in paired]
    return report.replace(suggestion=best, suggestion_matches=best_score, paired=paired,
                          ambiguous=ambiguous)


def paired_line(paired: Mapping[str, str]) -> str:
    shown = ", ".join(f"{a} -> {b}" for a, b in list(paired.items())[:3])
    more = f" (+{len(paired) - 3} more)" if len(paired) > 3 else ""
    return (f"paired: {len(paired)} unexpected key(s) pair one to one with missing "
            f"parameters: {shown}{more}")


def ambiguous_line(keys: Sequence[str]) -> str:
    return (f"ambiguous: {len(keys)} file key(s) fit more than one layer equally and are "
            f"left unpaired ({short_listing(keys, 4)})")


def short_listing(keys: Sequence[str], limit: int = 6, width: int = 200) -> str:
    """Keys collapsed (``0.{0..3}.weight``), long index sets cut (``{0,3,...,78}``) and as
    many shown as fit in about ``width`` characters."""
    shown = [re.sub(r"\{([^{}]*)\}", _cut_set, k) for k in collapse_keys(keys)]
    while limit > 1 and len(listing(shown, limit)) > width:
        limit -= 1
    return listing(shown, limit)


def _cut_set(match: "re.Match[str]") -> str:
    items = match.group(1).split(",")
    if len(items) <= 5:
        return match.group(0)
    return "{" + ",".join(items[:3]) + ",...," + items[-1] + "}"


def brief_repr(remap: Remap, limit: int = 160) -> str:
    """The remap's repr, cut to ``limit`` characters (a long ``Remap.keys`` table)."""
    text = repr(remap)
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(", ", 1)[0] + ", ...}) (cut; the whole remap is report.suggestion)"


def unloaded_line(report: LoadReport) -> str:
    values = "an unknown number of" if report.not_loaded_values is None else \
        f"{report.not_loaded_values:,}"
    keys = report.not_loaded
    return (f"NOT LOADED: {len(keys)} parameter(s), {values} values, keep their initial "
            f"values ({listing(collapse_keys(keys), 4)})")


def refusal(report: LoadReport, header: Header, block: Block) -> str:
    """The refusal message: one sentence per line once it grows long (no line of
    thousands of characters, whatever the number of keys)."""
    head = f"cannot load {header.path!r} into {type(block).__name__}: "
    problems = report.problems()
    parts = ["; ".join(problems) + ". Nothing was changed."]
    if not header.named:
        parts.append("The file holds an unnamed list of arrays, not a name -> array dict.")
    if report.dtype_mismatches:
        parts.append("Use dtype='cast' to cast the file's values to the block's dtypes (or "
                     "dtype='saved' to give the parameters the file's dtypes).")
    if report.ambiguous:
        parts.append(f"No pair is guessed for {ambiguous_line(report.ambiguous)[len('ambiguous: '):]}.")
    notes = [n for n in report.symbol_notes if not n.fixed]
    if notes:
        parts.append(f"The symbol {report.symbol!r} says: " + "; ".join(
            n.message for n in notes[:3]) + (f" (+{len(notes) - 3} more)" if len(notes) > 3 else "") + ".")
    if report.suggestion is not None:
        parts.append(f"Try remap={brief_repr(report.suggestion)}: it matches "
                     f"{report.suggestion_matches} of {len(named_parameters(block))} parameters.")
    elif len(problems) > bool(report.dtype_mismatches):
        parts.append("Use strict=False to load what matches.")
    msg = head + " ".join(parts)
    if len(msg) <= LINE:
        return msg
    if len(head + parts[0]) > LINE:
        parts[0:1] = [p + ";" for p in problems[:-1]] + [problems[-1] + ". Nothing was changed."]
        return head.rstrip() + "\n" + "\n".join("  " + p for p in parts)
    return head + "\n".join(parts)


#: Past this many characters, a refusal puts each sentence on its own line.
LINE = 240
