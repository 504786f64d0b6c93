"""The one base of the kit's result objects: a read-only Mapping from path to entry.

Every path-keyed answer (``Summary``, ``stats``, ``provenance``, ``InitPreview``,
``TiedGroups``, ``check_tied_gradients``, ``tie``, ``Changes``, ``LoadReport``, ``Header``,
``DiffReport``, ``ReplicaReport``, ``MoveReport``...) behaves the same way:

- iteration yields keys (paths, or array names for a file), in the report's order;
  ``values()`` / ``items()`` give the entries;
- ``report[key]`` accepts any path form the kit accepts (``'0.bias'``, ``'[0].bias'``,
  ``'net[0].bias'``, ``(0, 'bias')``) and the aliases the report knows (an attribute path,
  a tied Parameter's other paths), and a position (``report[0]``, ``report[-1]``) where
  the report says so (:attr:`Report._positional`); a key that is not there raises
  :class:`~gluon_params_kit.errors.PathError` (a ``KeyError``) listing the keys, with the
  closest ones;
- ``to_records()`` gives one plain dict per entry (for pandas, JSON, tests);
- ``str()``, ``repr()`` and :meth:`Report.to_string` (which fits a width) give the title,
  the table (left out when it has no row and the title or footer says so) and the lines
  under it; ``_repr_html_()`` draws the same in HTML, through :mod:`.display`.

A subclass passes its entries, aliases and title to ``__init__`` and fills the hooks:
:meth:`Report._table` (how the table looks), :meth:`Report._footer` (lines under it) and
:meth:`Report._record` (where an entry is not a NamedTuple or dict). A report that is not
one table (``Summary``: a table that drops columns to fit, and an HTML tree of blocks)
draws itself through :meth:`Report._text` and :meth:`Report._html` instead; no subclass
overrides ``__str__``, ``__repr__`` or ``_repr_html_``.

Nothing here imports mxnet (the argument checks of ``validate`` import it only to check a
context): the file layer's ``Header`` is a report too.
"""
from __future__ import annotations

import html
import textwrap
from collections.abc import Mapping
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from ..errors import InspectionError, PathError, did_you_mean, listing
from . import display as D
from .paths import ParamPath, key_in
from .validate import check_number

__all__ = ["Report", "Table"]

#: A report's table: headers, rows of cell strings, which columns are right-aligned.
Table = Tuple[Sequence[str], List[Sequence[str]], Sequence[bool]]


class Report(Mapping):
    """Read-only ``key -> entry`` mapping with the kit's lookup, records, text and HTML.

    >>> class Sizes(Report):
    ...     _what = "size"
    ...     def _table(self):
    ...         return ("path", "size"), [(k, str(v)) for k, v in self.items()], (False, True)
    >>> sizes = Sizes({'0.weight': 12, '0.bias': 4}, title="2 arrays")
    >>> list(sizes), sizes['[0].bias'], '0.bias' in sizes
    (['0.weight', '0.bias'], 4, True)
    >>> print(sizes)
    2 arrays
    path      size
    --------------
    0.weight    12
    0.bias       4
    >>> print(Sizes({'0.features.3.weight': 12}).to_string(width=20))
    path            size
    --------------------
    0.featu…weight    12
    >>> sizes['0.wieght']
    Traceback (most recent call last):
      ...
    gluon_params_kit.errors.PathError: no size '0.wieght' in this report. Rows: '0.weight', '0.bias'. Did you mean '0.weight'?
    """

    #: What an entry is called in a lookup error (``no row '1.bias' in this summary``).
    _what = "entry"
    #: What the report is called there.
    _kind = "report"
    #: Whether an int looks an entry up by its position (``report[0]``, ``report[-1]``).
    _positional = False
    #: The narrowest ``width`` :meth:`to_string` takes.
    _min_width = 20

    def __init__(self, entries: Union[Mapping[str, Any], Iterable[Tuple[str, Any]]],
                 aliases: Optional[Mapping[str, str]] = None, *, title: str = ""):
        # a dict keeps the order; an OrderedDict of 10^5 entries costs 3x (a node per key)
        self._entries: Dict[str, Any] = dict(entries)
        self._aliases: Dict[str, str] = dict(aliases or {})  # other spelling -> key
        self.title = title

    # ------------------------------------------------------------------ mapping
    def key_of(self, key: ParamPath) -> str:
        """The report's own key for ``key`` (any path form, alias, or a position where
        :attr:`_positional`), or :class:`PathError`."""
        if isinstance(key, str) and key in self._entries:
            return key
        if self._positional and isinstance(key, int) and not isinstance(key, bool):
            keys = list(self._entries)
            if not -len(keys) <= key < len(keys):
                raise PathError(f"{self._what} {key} out of range: this report has {len(keys)}")
            return keys[key]
        found: Any
        try:
            found = key_in(key, self._entries, self._aliases)
        except PathError:  # not a path at all (a file's array name may be anything)
            found = key
        if isinstance(found, str) and found in self._entries:
            return found
        keys = list(self._entries)
        raise PathError(f"no {self._what} {found!r} in this {self._kind}. Rows: "
                        f"{listing(keys) or 'none'}."
                        + did_you_mean(str(found), keys + [a for a in self._aliases
                                                           if a not in self._entries]))

    def __getitem__(self, key: ParamPath) -> Any:
        return self._entry(self.key_of(key))

    def _entry(self, key: str) -> Any:
        """The value ``report[key]`` returns (a subclass may return a copy)."""
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        try:
            self.key_of(key)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    # ------------------------------------------------------------------ records
    def to_records(self) -> List[Dict[str, Any]]:
        """One plain dict per entry, in the report's order."""
        return [self._record(key, entry) for key, entry in self._entries.items()]

    def _record(self, key: str, entry: Any) -> Dict[str, Any]:
        """Hook: the plain dict of one entry."""
        if hasattr(entry, "_asdict"):
            return dict(entry._asdict())
        if isinstance(entry, dict):
            return dict(entry)
        return {"key": key, "value": entry}

    # ------------------------------------------------------------------ display
    def _table(self) -> Table:
        """Hook: headers, rows and right-alignment of the report's table."""
        return ("key", "value"), [(k, str(v)) for k, v in self._entries.items()], (False, False)

    def _footer(self) -> List[str]:
        """Hook: lines under the table (totals, verdicts, warnings)."""
        return []

    def to_string(self, width: Optional[int] = None) -> str:
        """The report as text: its title, its table and the lines under it.

        Args:
            width: at most this many characters a line (long cells are shortened in the
                middle with ``…``, long lines wrapped); default: as wide as the table is.

        Raises:
            InspectionError: ``width`` is not None or an int >= the narrowest table.
        """
        return self._text(width)

    def _text(self, width: Optional[int]) -> str:
        """Hook for a report that is not one table: its text at most ``width`` wide (it
        checks ``width`` too)."""
        check_number(width, "width", InspectionError, integer=True, minimum=self._min_width,
                     allow_none=True, unit="characters")
        headers, rows, right = self._table()
        # names may come from a file: control characters shown escaped, never sent to a terminal
        rows = D.printable_rows(rows)
        title = [D.printable(self.title)] if self.title else []
        footer = [D.printable(line) for line in self._footer()]
        if width is not None:
            rows = D.fit_rows(headers, rows, width)
            title, footer = _wrapped(title, width), _wrapped(footer, width)
        table = D.text_table(headers, rows, right) if rows or not (title or footer) else []
        return "\n".join(title + table + footer)

    def _html(self) -> str:
        """Hook for a report that is not one table: its HTML."""
        headers, rows, right = self._table()
        title = f"<p>{html.escape(self.title)}</p>" if self.title else ""
        footer = "".join(f"<p>{html.escape(line)}</p>" for line in self._footer())
        table = D.html_table(headers, rows, right) if rows or not (title or footer) else ""
        return title + table + footer

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return self.to_string()

    def _repr_html_(self) -> str:
        return self._html()


def _wrapped(lines: List[str], width: int) -> List[str]:
    """Each line wrapped at ``width``, its continuations indented by two spaces."""
    return [part for line in lines
            for part in textwrap.wrap(line, width, subsequent_indent="  ") or [""]]
