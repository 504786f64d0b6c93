"""Text and HTML rendering for the kit's result objects: aligned tables, sizes, sparklines.

Private: the public objects (``Summary``...) call these; nothing here knows about MXNet.
"""
from __future__ import annotations

import html
import itertools
import math
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = [
    "HTML_STYLE", "fit_rows", "format_bytes", "format_count", "format_float", "format_shape",
    "html_table", "known_shape", "known_size", "plural", "printable", "printable_rows", "progress",
    "shorten", "sparkline", "text_table",
]

#: What a terminal may act on rather than show: C0 controls (ESC, BEL, even newline and
#: tab), DEL, C1 controls (0x9b is a one-character CSI), the line and paragraph
#: separators, bidirectional overrides and isolates (which reorder what is shown), and
#: lone surrogates (a non-UTF-8 file name's bytes, which no UTF-8 output can encode).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                          "\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: "re.Match[str]") -> str:
    c = m.group()
    code = ord(c)
    return _SHORT.get(c) or (f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}")


def printable(text: object) -> str:
    r"""``text`` safe to print on a terminal: every character it could act on is shown as
    an escape (``\x1b``, ``\n``, ``\u009b``...), everything else as it is.

    Names and values that come from a file go through it before the command line prints
    them, so a file cannot move the cursor, retitle the window or hide text. Ordinary
    Unicode (accents, CJK, emoji) is left intact; a backslash is not doubled, so the
    escapes are for reading, not for parsing back.

    >>> print(printable('\x1b[31mRED\x07 and\ttab'))
    \x1b[31mRED\x07 and\ttab
    >>> print(printable('lớp_0.trọng_số \x9b \udcff'))
    lớp_0.trọng_số \u009b \udcff
    """
    text = text if isinstance(text, str) else str(text)
    return _UNPRINTABLE.sub(_escape, text) if _UNPRINTABLE.search(text) else text


def printable_rows(rows: Sequence[Sequence[str]]) -> List[Sequence[str]]:
    r"""``rows`` of table cells with :func:`printable` applied to every cell; one scan of
    all the cells first, so a table with nothing to escape costs one regex search.

    >>> printable_rows([['a\x1b', 'b'], ['c', 'd']])
    [['a\\x1b', 'b'], ['c', 'd']]
    """
    if not _UNPRINTABLE.search("".join(itertools.chain.from_iterable(rows))):
        return list(rows)
    search = _UNPRINTABLE.search
    return [[printable(c) for c in r] if search("".join(r)) else r for r in rows]


#: Eight heights of Unicode block elements; an empty bin is a space so gaps stay visible.
SPARK_LEVELS = "▁▂▃▄▅▆▇█"


def sparkline(counts: Sequence[int]) -> str:
    """One character per histogram bin, its height proportional to the bin's count.

    >>> sparkline([0, 1, 4, 8, 4, 1, 0])
    ' ▁▄█▄▁ '
    >>> sparkline([])
    ''
    """
    counts = [int(c) for c in counts]
    top = max(counts, default=0)
    if top <= 0:
        return " " * len(counts)
    chars = []
    for c in counts:
        if c <= 0:
            chars.append(" ")
        else:
            level = max(1, math.ceil(c * len(SPARK_LEVELS) / top)) - 1
            chars.append(SPARK_LEVELS[level])
    return "".join(chars)


def plural(n: int, word: str) -> str:
    """``'1 tensor'``, ``'2 tensors'``.

    >>> plural(1, 'tensor'), plural(2, 'tensor')
    ('1 tensor', '2 tensors')
    """
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def format_count(n: Optional[int]) -> str:
    """An integer with thousands separators; ``None`` (unknown yet) as ``?``.

    >>> format_count(1234567), format_count(None)
    ('1,234,567', '?')
    """
    return "?" if n is None else f"{n:,}"


def format_bytes(n: Optional[int]) -> str:
    """A byte count in B / KiB / MiB / GiB with one decimal; ``None`` as ``?``.

    >>> format_bytes(40), format_bytes(10280), format_bytes(3 * 2**30)
    ('40 B', '10.0 KiB', '3.0 GiB')
    """
    if n is None:
        return "?"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024.0
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def format_float(x: Optional[float], digits: int = 4) -> str:
    """A float in ``digits`` significant digits; ``None`` as ``-``.

    >>> format_float(0.0123456), format_float(None), format_float(float('nan'))
    ('0.01235', '-', 'nan')
    """
    if x is None:
        return "-"
    return f"{x:.{digits}g}"


def known_shape(shape: Optional[Sequence[Optional[int]]]) -> Optional[Tuple[Optional[int], ...]]:
    """A Parameter's shape with each dimension not known yet (``0`` in nd mode, ``-1`` in
    np mode) as ``None``, the form records use.

    >>> known_shape((256, 0)), known_shape((3, -1)), known_shape(None)
    ((256, None), (3, None), None)
    """
    return None if shape is None else tuple(None if d is None or d <= 0 else int(d) for d in shape)


def known_size(shape: Optional[Sequence[Optional[int]]]) -> Optional[int]:
    """The number of values of a shape whose dimensions are all known, else ``None``.

    >>> known_size((256, 20)), known_size((256, 0)), known_size(()), known_size(None)
    (5120, None, 1, None)
    """
    known = known_shape(shape)
    if known is None:
        return None
    dims = [d for d in known if d is not None]
    return math.prod(dims) if len(dims) == len(known) else None


def format_shape(shape: Optional[Sequence[Optional[int]]]) -> str:
    """A shape as ``(256, ?)``: unknown dimensions (``None``) as ``?``.

    >>> format_shape((256, None)), format_shape((10,)), format_shape(None)
    ('(256, ?)', '(10,)', '?')
    """
    if shape is None:
        return "?"
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]],
               right: Sequence[bool], gap: int = 2) -> List[str]:
    """Lines of an aligned table: header, a rule, then rows (``right[i]`` right-aligns column i).

    >>> print("\\n".join(text_table(["a", "n"], [["x", "1"], ["yy", "10"]], [False, True])))
    a    n
    ------
    x    1
    yy  10
    """
    columns = list(zip(headers, *rows))
    widths = [max(map(len, column)) for column in columns]
    # column by column (C loops), then row by row: 10^5-row tables stay cheap
    padded = [list(map(str.rjust if r else str.ljust, column, itertools.repeat(w)))
              for column, w, r in zip(columns, widths, right)]
    sep = " " * gap
    lines = [sep.join(parts).rstrip() for parts in zip(*padded)] or [""] * (1 + len(rows))
    return lines[:1] + ["-" * (sum(widths) + gap * (len(widths) - 1))] + lines[1:]


def shorten(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters in the middle, where ``…`` stands for the cut.

    >>> shorten('0.features.3.weight', 12), shorten('short', 12)
    ('0.feat…eight', 'short')
    """
    if len(text) <= n:
        return text
    tail = (n - 1) // 2
    return text[:n - 1 - tail] + "…" + (text[len(text) - tail:] if tail else "")


def fit_rows(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int,
             gap: int = 2, floor: int = 8) -> List[Sequence[str]]:
    """``rows`` whose widest cells are shortened (:func:`shorten`) until the table of
    :func:`text_table` is at most ``width`` characters wide; a column keeps at least its
    header's width and ``floor`` characters, so a very narrow width can stay exceeded.

    >>> fit_rows(["path", "n"], [["0.features.3.weight", "12"]], 16)
    [['0.feat…eight', '12']]
    """
    if not rows:
        return list(rows)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lows = [max(len(h), floor) for h in headers]
    excess = sum(widths) + gap * (len(widths) - 1) - width
    while excess > 0:
        i = max(range(len(widths)), key=lambda j: widths[j] - lows[j])
        room = widths[i] - lows[i]
        if room <= 0:
            break
        others = sorted((w for j, w in enumerate(widths) if j != i), reverse=True)
        step = min(room, excess, max(1, widths[i] - max(others[:1] or [0])))
        widths[i] -= step
        excess -= step
    return [[shorten(c, w) for c, w in zip(r, widths)] for r in rows]


def aligned(rows: Sequence[Sequence[str]], columns: int, gap: int = 2) -> List[str]:
    """Rows whose first ``columns`` cells are padded into columns, the rest as they are;
    empty cells take no room and trailing blanks are cut (a tree's parameter lines).

    >>> aligned([["0.weight", "(3, 2)", "shared: 1.weight"], ["0.bias", "(3,)", ""]], 2)
    ['0.weight  (3, 2)  shared: 1.weight', '0.bias    (3,)']
    """
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(columns)]
    out = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:columns], widths)] + list(r[columns:])
        out.append((" " * gap).join(c for c in cells if c).rstrip())
    return out


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool],
               classes: Optional[Dict[int, str]] = None) -> str:
    """An HTML ``<table>`` with escaped cells; right-aligned columns get the class ``r``,
    and ``classes`` maps a column index to a further CSS class (see :data:`HTML_STYLE`).

    >>> html_table(["n"], [["<b>"]], [True]).split("<tbody>")[1]
    '<tr><td class="r">&lt;b&gt;</td></tr></tbody></table>'
    """
    classes = classes or {}
    attrs = []
    for i, r in enumerate(right):
        names = " ".join(n for n in ("r" if r else "", classes.get(i, "")) if n)
        attrs.append(f' class="{names}"' if names else "")
    head = "".join(f"<th{attrs[i]}>{html.escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{attrs[i]}>{html.escape(c)}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f'<table class="gpk"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


#: CSS for :func:`html_table` output: left-aligned cells, ``r`` right, ``spark`` monospace.
HTML_STYLE = ("<style>table.gpk td,table.gpk th{text-align:left}"
              "table.gpk td.r,table.gpk th.r{text-align:right}"
              "table.gpk .spark{font-family:monospace;white-space:pre}</style>")


#: Reads larger than this show a progress bar (tqdm), or once say how to get one.
PROGRESS_BYTES = 100 * 2**20
#: Seconds a read runs before its bar appears: a read that ends sooner (gigabytes from the
#: page cache take a fraction of a second) shows none and never imports tqdm (20-50 ms).
PROGRESS_DELAY = 0.5
_hinted = False


class Progress:
    """A progress bar that appears (tqdm's, on stderr) once its read has run for
    :data:`PROGRESS_DELAY` seconds, counting what was read before; :func:`progress` makes one.

    ``update(n)`` counts ``n`` more bytes read, ``close()`` removes the bar. ``total``,
    ``desc`` and ``n`` are the bar's total, label and bytes counted so far.

    >>> bar = Progress(2**30, "big.params")
    >>> bar.update(4096); bar.update(4096); bar.n, bar.total
    (8192, 1073741824)
    >>> bar.close()
    """

    def __init__(self, total: int, desc: str):
        import time
        self.total, self.desc, self.n = total, desc, 0
        self._clock = time.monotonic
        self._start: Optional[float] = self._clock()  # None: no bar will appear
        self._bar: Any = None

    def update(self, n: int) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)
        elif self._start is not None and self._clock() - self._start >= PROGRESS_DELAY:
            try:
                from tqdm import tqdm
            except ImportError:  # found but broken: the read goes on without a bar
                self._start = None
                return
            self._bar = tqdm(total=self.total, initial=self.n, unit="B", unit_scale=True, desc=self.desc,
                             leave=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def progress(total: int, label: str, *, stream=None) -> Optional[Progress]:
    """A :class:`Progress` bar naming ``label`` for reads over :data:`PROGRESS_BYTES`, else ``None``.

    Without tqdm, the first long read of the process says once (on ``stream``, stderr by
    default) how to get a bar, and returns ``None``; the caller then reads without one.

    >>> progress(10, "small.params") is None
    True
    """
    if total <= PROGRESS_BYTES:
        return None
    import importlib.util
    try:
        have = importlib.util.find_spec("tqdm") is not None
    except (ImportError, ValueError):
        have = False
    if not have:
        global _hinted
        if not _hinted:
            _hinted = True
            import sys
            print(f"reading {format_bytes(total)} from {printable(label)}; for a progress bar: "
                  f"pip install tqdm  (or the kit's extra: gluon_params_kit[progress])",
                  file=stream or sys.stderr)
        return None
    import os
    return Progress(total, printable(os.path.basename(label)))
