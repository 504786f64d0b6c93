"""The one base of the kit's result objects: a read-only Mapping from path to entry.

Every report (``Summary``, ``InitPreview``, ``TiedGroups``, ``LoadReport``, ``Header``,
``DiffReport``, ``ReplicaReport``...) behaves the same way:

- iteration yields keys (paths, or array names for a file), in the report's order;
  ``values()`` / ``items()`` give the entries;
- ``report[key]`` accepts any path form the kit accepts (``'0.bias'``, ``'[0].bias'``,
  ``'net[0].bias'``, ``(0, 'bias')``) and the aliases the report knows (an attribute path,
  a tied Parameter's other paths); a key that is not there raises
  :class:`~gluon_params_kit.errors.PathError` (a ``KeyError``) listing the keys, with the
  closest ones;
- ``to_records()`` gives plain dicts (for pandas, JSON, tests);
- ``str()`` and ``_repr_html_()`` draw the same table through :mod:`._display`.

A subclass passes its entries and aliases to ``__init__`` and says how a table row looks
(:meth:`Report._table`); it overrides :meth:`Report._record` where an entry is not a
NamedTuple or dict.
"""
from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from ..errors import PathError, did_you_mean, listing
from . import display as D
from .paths import ParamPath, key_in

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
    >>> sizes['0.wieght']
    Traceback (most recent call last):
      ...
    gluon_params_kit.errors.PathError: no size '0.wieght' in this report. Rows: '0.weight', '0.bias'. Did you mean '0.weight'?
    """

    #: What an entry is called in a lookup error (``no row '1.bias' in this summary``).
    _what = "entry"
    #: What the report is called there.
    _kind = "report"

    def __init__(self, entries: Mapping, aliases: Optional[Mapping[str, str]] = None, *,
                 title: str = ""):
        self._entries: "OrderedDict[str, Any]" = OrderedDict(entries)
        self._aliases: Dict[str, str] = dict(aliases or {})  # other spelling -> key
        self.title = title

    # ------------------------------------------------------------------ mapping
    def key_of(self, key: ParamPath) -> str:
        """The report's own key for ``key`` (any path form or alias), or :class:`PathError`."""
        if isinstance(key, str) and key in self._entries:
            return key
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
        return [self._record(key, self._entries[key]) for key in self._entries]

    def _record(self, key: str, entry: Any) -> Dict[str, Any]:
        if hasattr(entry, "_asdict"):
            return dict(entry._asdict())
        if isinstance(entry, dict):
            return dict(entry)
        return {"key": key, "value": entry}

    # ------------------------------------------------------------------ display
    def _table(self) -> Table:
        """Headers, rows and right-alignment of the report's table."""
        return ("key", "value"), [(k, str(v)) for k, v in self._entries.items()], (False, False)

    def _footer(self) -> List[str]:
        """Lines under the table (totals, warnings)."""
        return []

    def __str__(self) -> str:
        headers, rows, right = self._table()
        lines = [self.title] if self.title else []
        return "\n".join(lines + D.text_table(headers, rows, right) + self._footer())

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        headers, rows, right = self._table()
        title = f"<p>{html.escape(self.title)}</p>" if self.title else ""
        footer = "".join(f"<p>{html.escape(line)}</p>" for line in self._footer())
        return title + D.html_table(headers, rows, right) + footer
