"""How a :class:`~gluon_params_kit.inspection.Summary` looks: text that fits a width, HTML tree.

Private. Text: one aligned table that never wraps. When it is wider than the width
(the terminal's, else 120 characters), statistics move to a second (and third) table
keyed by path, then columns are left out (first those holding one value in every row,
which are then stated once), then long cells are shortened in the middle; a last line
says what was left out. HTML: one nested, collapsible table of the blocks the summary shows
(``<details>`` rows, no JavaScript needed; two optional buttons expand or collapse all):
only those rows are in the page, so its size follows what is shown, not the net. Subtotals
(and aggregate statistics) per block, a sticky header, a path column that stays at the left
while the rest scrolls, fixed-width aligned columns, and columns holding one value in every
row said once under the table.
"""
from __future__ import annotations

import functools
import html
import shutil
import sys
import textwrap
from collections import OrderedDict
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .._core import display as D

__all__ = [
    "DEFAULT_WIDTH", "MIN_WIDTH", "NEVER", "STYLE", "Col", "default_width", "fit", "format_outputs",
    "html_tree", "layer_columns", "layers", "param_columns", "provenance_text", "stat_cells", "text",
]

NEVER = 99
#: Width used when stdout is not a terminal (notebooks, pipes, doctests, CI logs).
DEFAULT_WIDTH = 120
MIN_WIDTH = 40
_STAT_KEYS = [("mean", "mean", NEVER), ("std", "std", NEVER), ("min", "min", 5), ("max", "max", 6),
              ("l2", "l2", 2), ("zeros", "zero_fraction", 1)]
_DROP = {"name": 1, "ctx": 2, "grad_req": 3, "state": 4, "init": 5, "lr/wd": 6,
         "shared with": 7, "dtype": 8, "bytes": 9}


class Col(NamedTuple):
    head: str
    right: bool
    group: str  # 'base', 'stats' or 'grads'
    drop: int  # lower is left out first; NEVER stays
    cells: List[str]


def default_width() -> int:
    """The terminal's width when stdout is one, else :data:`DEFAULT_WIDTH`."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        tty = False
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns if tty else DEFAULT_WIDTH


# --------------------------------------------------------------------------- columns

def _memo_text(fn):
    """``fn`` with its answers kept for one table (a net repeats a few shapes and sizes)."""
    return functools.lru_cache(maxsize=None)(fn)


def param_columns(rows: List[Dict[str, Any]], *, show_init: bool, stats: bool,
                  grads: bool) -> List[Col]:
    """Every column of the parameter table, in display order."""
    def col(head, cells, right=False, group="base", drop=None):
        return Col(head, right, group, _DROP.get(head, NEVER) if drop is None else drop, cells)

    folded = [r["kind"] != "parameter" for r in rows]
    shape_text = _memo_text(D.format_shape)  # a net repeats a few shapes and sizes
    cols = [
        col("path", [r["path"] or "<root>" for r in rows]),
        col("name", [r["name"] for r in rows]),
        col("shape", [f"[{r['count']} tensors]" if f else shape_text(r["shape"])
                      for r, f in zip(rows, folded)]),
        col("dtype", [r["dtype"] for r in rows]),
        col("size", list(map(_memo_text(D.format_count), [r["size"] for r in rows])), True),
        col("bytes", list(map(_memo_text(D.format_bytes), [r["bytes"] for r in rows])), True),
        col("ctx", [",".join(r["contexts"]) or "-" for r in rows]),
        col("grad_req", [r["grad_req"] for r in rows]),
        col("state", [r["state"] for r in rows]),
    ]
    if any(r["lr_mult"] not in (None, 1.0) or r["wd_mult"] not in (None, 1.0) for r in rows):
        cols.append(col("lr/wd", ["-" if f else f"{r['lr_mult']:g}/{r['wd_mult']:g}"
                                  for r, f in zip(rows, folded)]))
    if any(r["shared_with"] for r in rows):
        cols.append(col("shared with", [",".join(r["shared_with"]) or "-" for r in rows]))
    if show_init:
        cols.append(col("init", [provenance_text(r["provenance"]) for r in rows]))
    if stats:
        cells = [stat_cells(r["stats"], [k for _, k, _ in _STAT_KEYS], with_counts=True)
                 for r in rows]
        heads = [(h, d) for h, _, d in _STAT_KEYS] + [("nan", 4), ("inf", 3), ("hist", NEVER)]
        for i, (head, drop) in enumerate(heads):
            cols.append(col(head, [c[i] for c in cells], head != "hist", "stats", drop))
    if grads:
        cells = [stat_cells(r["grad_stats"], ["mean", "std", "l2"], with_counts=False)
                 for r in rows]
        for i, (head, drop) in enumerate([("grad mean", NEVER), ("grad std", NEVER),
                                          ("grad l2", 1), ("grad hist", NEVER)]):
            cols.append(col(head, [c[i] for c in cells], head != "grad hist", "grads", drop))
    return cols


def stat_cells(record: Optional[Dict[str, Any]], keys: List[str], with_counts: bool) -> List[str]:
    n = len(keys) + (2 if with_counts else 0) + 1
    if record is None:
        return ["-"] * n
    if record["state"] != "ok":
        return [record["state"]] + ["-"] * (n - 1)
    cells = [D.format_float(record[k]) for k in keys]
    if with_counts:
        cells += [str(record["nan"]), str(record["inf"])]
    return cells + [D.sparkline(record["hist"])]


def provenance_text(prov: Optional[Dict[str, Any]]) -> str:
    if not prov:
        return "-"
    if "stale" in prov:
        return "stale"
    return f"{prov.get('spec', '?')} (rule {prov.get('rule', '?')})"


# --------------------------------------------------------------------------- rows

def layers(blocks, rows: List[Dict[str, Any]], owners: List[str], calls, *, keep_all: bool):
    """One record per block with its subtotals, rows (indices of its own rows) and, when
    ``calls`` (path -> the trace's records of each call) is given, outputs, mult-adds and
    activation bytes (the block's own calls and everything below it); ``owners[i]`` is the
    path of the block that holds row i's Parameter."""
    first: Dict[int, str] = {}
    recs: "OrderedDict[str, Dict[str, Any]]" = OrderedDict()
    for path, blk in blocks.items():
        depth = 0 if not path else path.count(".") + 1
        rec = recs[path] = {"path": path, "parent": path.rpartition(".")[0] if path else None,
                            "depth": depth, "type": type(blk).__name__, "name": blk.name,
                            "parameters": 0, "bytes": 0, "tensors": 0, "own": 0, "rows": [],
                            "outputs": None, "same_as": first.get(id(blk)), "mult_adds": None,
                            "activation_bytes": None}
        first.setdefault(id(blk), path)
        if calls is not None and rec["same_as"] is None:
            mine = calls.get(path) or []
            rec["outputs"] = [c["outputs"] for c in mine] or None
            known = [c["mult_adds"] for c in mine if c["mult_adds"] is not None]
            rec["mult_adds"] = sum(known) if known else None
            rec["activation_bytes"] = sum(c["bytes"] for c in mine)
    if calls is not None:  # subtotals: children before parents (the walk is preorder)
        for rec in reversed(list(recs.values())):
            parent = recs.get(rec["parent"]) if rec["parent"] is not None else None
            if parent is None or rec["same_as"] is not None:
                continue
            if rec["mult_adds"] is not None:
                parent["mult_adds"] = (parent["mult_adds"] or 0) + rec["mult_adds"]
            parent["activation_bytes"] = (parent["activation_bytes"] or 0) + (rec["activation_bytes"] or 0)
    for i, r in enumerate(rows):
        size, nbytes = r["size"] or 0, r["bytes"] or 0
        rec = recs[owners[i]]
        rec["rows"].append(i)
        rec["own"] += size
        while True:  # up to the root: a block's parent path is always a block of the walk
            rec["parameters"] += size
            rec["bytes"] += nbytes
            rec["tensors"] += 1
            if rec["parent"] is None:
                break
            rec = recs[rec["parent"]]
    out = list(recs.values())
    if not keep_all:  # a pattern: only the blocks on the way to a selected row
        out = [l for l in out if l["tensors"] or not l["path"]]
    return out


# --------------------------------------------------------------------------- text

def _width_of(cols: Sequence[Col], known: Optional[Dict[int, Tuple[Col, int]]] = None) -> int:
    """The table's width; ``known`` keeps each column's width by ``id`` while the caller
    holds the columns (``fit`` asks again after each column it leaves out)."""
    if not cols:
        return 0
    total = 2 * (len(cols) - 1)
    for c in cols:
        entry = None if known is None else known.get(id(c))
        if entry is None:  # the entry holds the column: its id stays its own
            entry = (c, max(len(c.head), max(map(len, c.cells))) if c.cells else len(c.head))
            if known is not None:
                known[id(c)] = entry
        total += entry[1]
    return total


def _constant(c: Col) -> Optional[str]:
    values = set(c.cells)
    return values.pop() if len(values) == 1 and len(c.cells) > 1 else None


def fit(cols: List[Col], width: int) -> Tuple[List[Col], List[str], List[str]]:
    """Leave out columns (constant ones first, then by ``drop``) and shorten cells until
    the table is at most ``width`` wide. Returns (columns, left-out heads, constants)."""
    cols = list(cols)
    known: Dict[int, Tuple[Col, int]] = {}  # each column's width, asked after every change
    constants: Dict[int, Tuple[Col, Optional[str]]] = {}

    def constant(c: Col) -> Optional[str]:
        if id(c) not in constants:
            constants[id(c)] = (c, _constant(c))
        return constants[id(c)][1]
    dropped: List[str] = []
    same: List[str] = []
    while _width_of(cols, known) > width:
        candidates = [c for c in cols if c.drop < NEVER]
        if not candidates:
            break
        worst = min(candidates, key=lambda c: (constant(c) is None, c.drop))
        cols.remove(worst)
        value = constant(worst)
        if value is not None:
            same.append(f"{worst.head} {value}")
        else:
            dropped.append(worst.head)
    while _width_of(cols, known) > width:  # shorten the widest left-aligned column, in the middle
        lefts = [c for c in cols if not c.right and c.cells]
        widest = max(lefts, key=lambda c: max(map(len, c.cells)), default=None)
        if widest is None:
            break
        longest = max(map(len, widest.cells))
        if longest <= max(len(widest.head), 8):
            break
        keep = max(longest - (_width_of(cols, known) - width), max(len(widest.head), 8))
        i = cols.index(widest)
        cols[i] = widest._replace(cells=[_middle(x, keep) for x in widest.cells])
    return cols, dropped, same


def _middle(text: str, n: int) -> str:
    if len(text) <= n:
        return text
    head = (n - 1) // 2
    return text[:head] + "…" + text[len(text) - (n - 1 - head):]


def _lines(cols: List[Col]) -> List[str]:
    return D.text_table([c.head for c in cols], [list(r) for r in zip(*(c.cells for c in cols))]
                        if cols and cols[0].cells else [], [c.right for c in cols])


def text(title: str, rows: List[Dict[str, Any]], totals_lines: List[str], layers: Optional[list],
         width: int, *, notes: Sequence[str] = (), layer_notes: Sequence[str] = (), **flags) -> str:
    """The text: the title, the layer table (``layers``, when traced), the parameter table
    (statistics in tables of their own when too wide), each with its ``notes`` lines under
    it (what depth and folding left out), then the totals."""
    cols = param_columns(rows, **flags)
    base = [c for c in cols if c.group == "base"]
    path = cols[0]
    groups = [[c for c in cols if c.group == g] for g in ("stats", "grads")]
    groups = [g for g in groups if g]
    if _width_of(cols) <= width:
        tables = [("", cols)]
    elif groups and _width_of([path] + sum(groups, [])) <= width:
        tables = [("", base), ("Statistics", [path] + sum(groups, []))]
    else:
        tables = [("", base)] + [("Statistics" if g[0].group == "stats" else "Gradients",
                                  [path] + g) for g in groups]
    out = _wrap([title], width)
    if layers is not None:
        layer_cols, dropped, same = fit(layer_columns(layers), width)
        out += ["Layers (one forward pass of the example input)"] + _lines(layer_cols)
        out += _left_out(dropped, same, width) + _wrap(list(layer_notes), width)
        out += ["", "Parameters"]
    for i, (name, tcols) in enumerate(tables):
        fitted, dropped, same = fit(tcols, width)
        if i:
            out += ["", f"{name} (by path)"]
        out += _lines(fitted) + _left_out(dropped, same, width)
    out += _wrap(list(notes), width)
    return "\n".join(out + [""] + _wrap(totals_lines, width))


def _wrap(lines: List[str], width: int) -> List[str]:
    """Sentences (not table rows) broken at spaces to fit ``width``."""
    out: List[str] = []
    for line in lines:
        out += textwrap.wrap(line, width, subsequent_indent="  ", break_on_hyphens=False) or [""]
    return out


def _left_out(dropped: List[str], same: List[str], width: int) -> List[str]:
    lines = []
    if same:
        lines.append("Same in every row: " + ", ".join(same))
    if dropped:
        lines.append(f"Left out to fit {width} characters: {', '.join(dropped)} "
                     f"(to_string(width=...) or to_records() show them)")
    return _wrap(lines, width)


def layer_columns(layers: List[Dict[str, Any]]) -> List[Col]:
    cols = [
        Col("layer", False, "base", NEVER,
            ["  " * l["depth"] + (l["path"] or "<root>") for l in layers]),
        Col("type", False, "base", 2, [l["type"] for l in layers]),
        Col("output shape", False, "base", NEVER, [format_outputs(l) for l in layers]),
        Col("params", True, "base", NEVER, [D.format_count(l["parameters"]) for l in layers]),
    ]
    if any(l.get("activation_bytes") is not None for l in layers):  # traced
        cols += [Col("mult-adds", True, "base", 4, [_count_or_dash(l.get("mult_adds")) for l in layers]),
                 Col("activations", True, "base", 3,
                     [_bytes_or_dash(l.get("activation_bytes")) for l in layers])]
    return cols + [Col("name", False, "base", 1, [l["name"] for l in layers])]


def _count_or_dash(n: Optional[int]) -> str:
    return "-" if n is None else D.format_count(n)


def _bytes_or_dash(n: Optional[int]) -> str:
    return "-" if n is None else D.format_bytes(n)


def format_outputs(layer: Dict[str, Any]) -> str:
    if layer.get("same_as") is not None:
        return f"same block as {layer['same_as'] or '<root>'}"
    outs = layer.get("outputs")
    if not outs:
        return "-"
    first = _fmt_shapes(outs[0])
    if all(o == outs[0] for o in outs):
        return first + (f" x{len(outs)}" if len(outs) > 1 else "")
    return " | ".join(_fmt_shapes(o) for o in outs)


def _fmt_shapes(shapes: Any) -> str:
    if isinstance(shapes, list):
        return "[" + ", ".join(_fmt_shapes(s) for s in shapes) + "]"
    if isinstance(shapes, tuple):
        return D.format_shape(shapes)
    return str(shapes)


# --------------------------------------------------------------------------- HTML

STYLE = """<style>
.gpk-summary{font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,Consolas,monospace);
 font-size:12px;line-height:1.45;color:inherit;max-width:100%;
 --gpk-bg:var(--jp-layout-color1,var(--vscode-editor-background,Canvas))}
.gpk-summary .gpk-bar{display:flex;gap:1ch;align-items:baseline;flex-wrap:wrap;margin:2px 0 4px}
.gpk-summary .gpk-bar b{font-weight:600}
.gpk-summary button{font:inherit;font-size:11px;color:inherit;background:transparent;cursor:pointer;
 border:1px solid rgba(128,128,128,.45);border-radius:3px;padding:0 .6ch}
.gpk-summary .gpk-scroll{overflow:auto;max-width:100%;max-height:36em;
 border:1px solid rgba(128,128,128,.3);border-radius:3px}
.gpk-summary .gpk-grid{display:inline-block;min-width:100%}
.gpk-summary .gpk-row{display:grid;grid-template-columns:var(--gpk-cols);column-gap:1.6ch;
 padding:0 .8ch 0 0;white-space:nowrap;border-bottom:1px solid rgba(128,128,128,.12)}
.gpk-summary .gpk-row>span{overflow:hidden;text-overflow:ellipsis}
.gpk-summary .gpk-row>.r{text-align:right;font-variant-numeric:tabular-nums}
.gpk-summary .gpk-row>.p{position:sticky;left:0;z-index:1;padding-right:.8ch;margin-left:0;
 background:var(--gpk-bg);box-shadow:1px 0 0 rgba(128,128,128,.3)}
.gpk-summary .gpk-th{position:sticky;top:0;z-index:2;font-weight:600;background:var(--gpk-bg);
 border-bottom:1px solid rgba(128,128,128,.5)}
.gpk-summary summary{list-style:none;cursor:pointer;background:rgba(128,128,128,.07)}
.gpk-summary summary>.p{background-image:linear-gradient(rgba(128,128,128,.07),rgba(128,128,128,.07))}
.gpk-summary summary::-webkit-details-marker{display:none}
.gpk-summary summary:hover{background:rgba(128,128,128,.18)}
.gpk-summary .sub{font-weight:600}
.gpk-summary .tw::before{content:"\\25B8\\00A0";opacity:.7}
.gpk-summary details[open]>summary>.tw::before{content:"\\25BE\\00A0"}
.gpk-summary .leaf::before{content:"\\00A0\\00A0"}
.gpk-summary .spark{white-space:pre;letter-spacing:0}
.gpk-summary ul{margin:4px 0 0;padding-left:2.2ch}
</style>"""

_CAPS = {"type / name": 30, "shape": 22, "output": 26, "shared with": 26, "init": 32}
_TIPS = {"block / parameter", "type / name", "shape", "output", "shared with", "init"}
_MAYBE_SAME = ("dtype", "ctx", "grad_req", "state")
_TOGGLE = ("this.closest('.gpk-summary').querySelectorAll('details')"
           ".forEach(function(d){d.open=%s})")


def html_tree(title: str, flat_rows: List[Dict[str, Any]], shown: List[Dict[str, Any]],
              totals_lines: List[str], *, cut: Sequence[str] = (), traced: bool, **flags) -> str:
    """One nested table of the blocks in ``shown`` (what the depth and folding show, in walk
    order): a ``<details>`` per block with rows to show (its subtotals in its summary row,
    open where its children follow, closed for a layer whose only rows are its parameters),
    its parameter rows, then its children. ``cut``: paths of blocks whose inside is left out
    (at the depth limit). A block record's ``value_stats``/``grad_stats`` (aggregates of its
    parameters' statistics) fill its statistics cells."""
    pcols = param_columns(flat_rows, **flags)
    by_head = {c.head: c for c in pcols}
    stat_cols = [c for c in pcols if c.group in ("stats", "grads")]
    tail = [c for c in pcols[9:] if c.group == "base"]  # lr/wd, shared with, init
    same = [(h, _constant(by_head[h])) for h in _MAYBE_SAME]
    same = [(h, v) for h, v in same if v is not None]
    kept = [h for h in _MAYBE_SAME if h not in dict(same)]
    # asked-for statistics come right after the size, so they are in view at a notebook's width
    outputs = ["output"] * traced
    heads = (["block / parameter", "type / name", "shape"] + (outputs if not stat_cols else []) + ["size"]
             + [c.head for c in stat_cols] + (outputs if stat_cols else [])
             + ["mult-adds", "activations"] * traced + ["bytes"] + kept + [c.head for c in tail])
    caps = dict(_CAPS, **({"type / name": 24} if stat_cols else {}))
    right = {"size", "bytes", "mult-adds", "activations"} | {c.head for c in stat_cols if c.right}
    spark = {c.head for c in stat_cols if c.head.endswith("hist")}
    n_stats = len([c for c in stat_cols if c.group == "stats"])
    cut_set = set(cut)

    def param_cells(i: int, owner_path: str) -> Dict[str, str]:
        r = flat_rows[i]
        cells = {h: by_head[h].cells[i] for h in ["shape", "size", "bytes"] + kept}
        cells.update({c.head: c.cells[i] for c in stat_cols + tail})
        prefix = owner_path + "." if owner_path else ""
        cells["block / parameter"] = (r["path"][len(prefix):] if r["path"].startswith(prefix)
                                      else r["path"])  # a key through a private child
        cells["type / name"] = r["name"]
        return cells

    def block_cells(layer: Dict[str, Any]) -> Dict[str, str]:
        path = layer["path"]
        seg = path.rpartition(".")[2] if path else layer["type"]
        if layer.get("members"):  # a run: 'features.4.1-2'
            parent = layer["members"][0].rpartition(".")[0]
            seg = path[len(parent) + 1:] if parent else path
        cells = {"block / parameter": seg,
                 "type / name": f"{layer['type']} {layer['name']}" if path else layer["name"],
                 "size": D.format_count(layer["parameters"]),
                 "bytes": D.format_bytes(layer["bytes"])}
        if layer.get("same_as") is not None:
            cells["shape"] = f"same block as {layer['same_as'] or '<root>'}"
        elif layer.get("members") or path in cut_set:
            cells["shape"] = f"[{layer['tensors']} tensors]" if layer["tensors"] else ""
        if traced:
            cells["output"] = format_outputs(layer) if layer.get("same_as") is None else ""
            cells["mult-adds"] = _count_or_dash(layer.get("mult_adds"))
            cells["activations"] = _bytes_or_dash(layer.get("activation_bytes"))
        if stat_cols:  # the aggregates of the block's parameters, put on it by the Summary
            cells.update(zip([c.head for c in stat_cols],
                             (stat_cells(layer.get("value_stats"), [k for _, k, _ in _STAT_KEYS],
                                         with_counts=True) if n_stats else [])
                             + (stat_cells(layer.get("grad_stats"), ["mean", "std", "l2"], with_counts=False)
                                if len(stat_cols) > n_stats else [])))
        return cells

    # what is emitted, in order: (kind, depth, cells, tip); kind: head/block/leaf/param/close
    items: List[Tuple[str, int, Dict[str, str], str, bool]] = []
    stack: List[int] = []
    for k, layer in enumerate(shown):
        depth = layer["depth"]
        while stack and stack[-1] >= depth:
            stack.pop()
            items.append(("close", 0, {}, "", False))
        kids_follow = k + 1 < len(shown) and shown[k + 1]["depth"] > depth
        own = ([] if layer.get("members") or layer["path"] in cut_set or layer.get("same_as") is not None
               else layer["rows"])
        tip = layer["path"] or "<root>"
        if not own and not kids_follow:
            items.append(("leaf", depth, block_cells(layer), tip, False))
            continue
        items.append(("block", depth, block_cells(layer), tip, kids_follow))
        stack.append(depth)
        for i in own:
            items.append(("param", depth + 1, param_cells(i, layer["path"]), flat_rows[i]["path"], False))
    items += [("close", 0, {}, "", False)] * len(stack)

    # column widths in ch, from the longest cell shown (the tree column includes its indentation)
    widths = {h: len(h) for h in heads}
    for kind, depth, cells, _, _ in items:
        for h, v in cells.items():
            if h in widths:
                indent = 2 * depth + 2 if h == "block / parameter" else 0
                widths[h] = max(widths[h], len(v) + indent)
    widths["block / parameter"] += 2  # the sticky cell's own padding on both sides
    template = " ".join(f"{min(widths[h], caps.get(h, 10**6))}ch" for h in heads)

    def row(cells: Dict[str, str], depth: int, kind: str, tag: str = "div", tip_path: str = "") -> str:
        parts = []
        for h in heads:
            v = cells.get(h, "")
            cls = []
            if h in right:
                cls.append("r")
            if h in spark:
                cls.append("spark")
            if kind in ("block", "leaf") and h in ("size", "bytes", "mult-adds"):
                cls.append("sub")
            style = tip = ""
            if h == "block / parameter":
                cls.append("p")
                if kind != "head":
                    cls.append("tw" if kind == "block" else "leaf")
                    if kind == "leaf":
                        cls.append("blk")  # a block's row, not a parameter's
                    style = f' style="padding-left:{2 * depth + 0.8:g}ch"'
                    tip = tip_path or v
            elif h in _TIPS and v and kind != "head":
                tip = v
            attr = f' class="{" ".join(cls)}"' if cls else ""
            title_attr = f' title="{html.escape(tip, quote=True)}"' if tip else ""
            parts.append(f"<span{attr}{style}{title_attr}>{html.escape(v)}</span>")
        row_cls = "gpk-row gpk-th" if kind == "head" else "gpk-row"
        return f'<{tag} class="{row_cls}">' + "".join(parts) + f"</{tag}>"

    out: List[str] = []
    for kind, depth, cells, tip, is_open in items:
        if kind == "close":
            out.append("</details>")
        elif kind == "block":
            out.append(f"<details{' open' if is_open else ''}>" + row(cells, depth, kind, "summary", tip))
        else:
            out.append(row(cells, depth, kind, tip_path=tip))
    head_row = row({h: h for h in heads}, 0, "head")
    buttons = "".join(f'<button type="button" onclick="{_TOGGLE % v}">{label}</button>'
                      for v, label in (("true", "expand all"), ("false", "collapse all")))
    lines = list(totals_lines)
    if same:
        lines.insert(0, "Same in every row: " + ", ".join(f"{h} {v}" for h, v in same))
    return ("<div class='gpk-summary'>" + STYLE
            + f"<div class='gpk-bar'><b>{html.escape(title)}</b>{buttons}</div>"
            + f"<div class='gpk-scroll'><div class='gpk-grid' style='--gpk-cols:{template}'>"
            + head_row + "".join(out) + "</div></div>"
            + "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in lines)
            + "</ul></div>")
