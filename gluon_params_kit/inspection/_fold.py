"""What a summary shows: rows down to a depth, identical consecutive blocks folded, block statistics.

Private. The rows and layer records of a :class:`~gluon_params_kit.inspection.Summary` keep
everything; the text and HTML show

- blocks down to ``depth`` (root 0): a deeper block is counted in its ancestor's subtotal
  row at ``depth``, and one line says how many rows that left out;
- a run of identical consecutive sibling blocks (same class, same parameters: relative path,
  shape, dtype, devices, grad_req, multipliers, state, initializer provenance; same output
  shapes when traced; the same inside) as one row ``3 x BottleneckV1`` with the run's subtotals (``fold=False`` shows
  each).

Block and run rows carry the aggregate statistics of their parameters' values
(:func:`aggregate`: exact mean, std, min, max, L2, zero fraction and NaN/Inf counts over all
of their values; the histogram re-binned from the parameters' own histograms).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ["DEFAULT_DEPTH", "aggregate", "fold", "group_row", "repeat_runs", "run_label", "shown_layers",
           "shown_rows"]

#: How deep the text and HTML go by default (torchinfo's default depth).
DEFAULT_DEPTH = 3


# --------------------------------------------------------------------------- depth

def fold(rows: List[Dict[str, Any]], depth: int, blocks: Mapping[str, Tuple[str, str]]) -> List[Dict[str, Any]]:
    """Replace the rows of blocks deeper than ``depth`` by one subtotal row per block.

    ``blocks``: path -> (name, type name) of every block. A block at ``depth`` that holds
    deeper Parameters becomes one row that also counts its own Parameters (a leaf layer
    there keeps its rows), so a subtotal row is always the whole block.
    """
    out: List[Dict[str, Any]] = []
    folded: Dict[str, Dict[str, Any]] = {}

    # Fold by the owning block's path (a recurrent layer's key '1._unfused.0.i2h_weight'
    # belongs to block '1'), with the attribute name as the last segment.
    def segments(r):
        return (r["block_path"].split(".") if r["block_path"] else []) + ["<param>"]
    deep = {".".join(segments(r)[:depth]) for r in rows if len(segments(r)) - 1 > depth}
    for r in rows:
        segs = segments(r)
        key = ".".join(segs[:depth])
        if len(segs) - 1 < depth or (len(segs) - 1 == depth and key not in deep):
            out.append(r)
            continue
        if key not in folded:
            name, kind = blocks[key]
            folded[key] = {"kind": "block", "path": key, "name": name, "block_type": kind, "members": []}
            out.append(folded[key])
        folded[key]["members"].append(r)
    for row in folded.values():
        row.update(_merged(row.pop("members"), row["path"]))
    return out


def _merged(members: List[Dict[str, Any]], block_path: str) -> Dict[str, Any]:
    """The fields of one row standing for ``members`` (parameter or subtotal rows)."""
    def same(field):
        values = {str(m[field]) for m in members}
        return values.pop() if len(values) == 1 else "mixed"
    sizes = [m["size"] for m in members]
    ctxs: List[str] = []
    for m in members:
        ctxs += [c for c in m["contexts"] if c not in ctxs]
    return dict(shape=None, dtype=same("dtype"), size=None if None in sizes else sum(sizes),
                bytes=None if None in sizes else sum(m["bytes"] for m in members),
                contexts=ctxs, grad_req=same("grad_req"), lr_mult=None, wd_mult=None,
                state=same("state"), shared_with=[], provenance=None,
                stats=aggregate([m["stats"] for m in members]),
                grad_stats=aggregate([m["grad_stats"] for m in members]),
                count=sum(m["count"] for m in members), block_path=block_path,
                auxiliary=all(m["auxiliary"] for m in members))


# --------------------------------------------------------------------------- repeats

def _row_signature(row: Dict[str, Any], prefix: str) -> tuple:
    path = row["path"][len(prefix):] if row["path"].startswith(prefix) else row["path"]
    prov = tuple(sorted((k, str(v)) for k, v in (row["provenance"] or {}).items()))  # InitPlan's record
    return (path, row["shape"], row["dtype"], tuple(row["contexts"]), row["grad_req"], row["lr_mult"],
            row["wd_mult"], row["state"], bool(row["shared_with"]), prov, row["auxiliary"])


def repeat_runs(layers: List[Dict[str, Any]], rows: List[Dict[str, Any]]) -> "OrderedDict[str, List[str]]":
    """First path -> the paths of a run of identical consecutive siblings (two or more), in
    walk order; a run inside another run is not listed."""
    children: Dict[Optional[str], List[Dict[str, Any]]] = {}
    for layer in layers[1:]:
        children.setdefault(layer["parent"], []).append(layer)
    ids: Dict[tuple, int] = {}
    sig: Dict[str, int] = {}
    for layer in reversed(layers):  # children before parents: the walk is preorder
        if layer.get("same_as") is not None:
            sig[layer["path"]] = -1 - len(sig)  # a block registered twice never folds
            continue
        prefix = layer["path"] + "." if layer["path"] else ""
        key = (layer["type"], tuple(_row_signature(rows[i], prefix) for i in layer["rows"]),
               tuple((k["path"][len(prefix):], sig[k["path"]]) for k in children.get(layer["path"], [])),
               repr(layer["outputs"]))
        sig[layer["path"]] = ids.setdefault(key, len(ids))
    runs: "OrderedDict[str, List[str]]" = OrderedDict()

    def visit(path: str) -> None:
        kids = children.get(path, [])
        i = 0
        while i < len(kids):
            j = i + 1
            while j < len(kids) and sig[kids[j]["path"]] == sig[kids[i]["path"]] >= 0:
                j += 1
            if j - i > 1:
                runs[kids[i]["path"]] = [k["path"] for k in kids[i:j]]
            else:
                visit(kids[i]["path"])
            i = j
    if layers:
        visit(layers[0]["path"])
    return runs


def run_label(paths: Sequence[str]) -> str:
    """``features.4.1-2`` for a run of ``features.4.1`` and ``features.4.2``."""
    parent, _, first = paths[0].rpartition(".")
    last = paths[-1].rpartition(".")[2]
    prefix = parent + "." if parent else ""
    if first.isdigit() and last.isdigit():
        return f"{prefix}{first}-{last}"
    return f"{prefix}{first}..{last}"


def group_row(members: List[Dict[str, Any]], paths: List[str], kind: str) -> Dict[str, Any]:
    """One table row for a run of identical blocks whose rows are ``members``."""
    row = {"kind": "group", "path": run_label(paths), "name": f"{len(paths)} x {kind}",
           "block_type": kind, "runs": len(paths)}
    row.update(_merged(members, paths[0]))
    return row


# --------------------------------------------------------------------------- what is shown

def _under(path: str, paths: Any) -> bool:
    """Whether ``path`` is one of ``paths`` (a set) or below one: its ancestors are looked up."""
    while True:
        if path in paths:
            return True
        if not path:
            return False
        path = path.rpartition(".")[0]


def shown_rows(rows: List[Dict[str, Any]], depth: Optional[int], blocks: Mapping[str, Tuple[str, str]],
               runs: Mapping[str, List[str]]) -> List[Dict[str, Any]]:
    """The parameter table's rows: folded below ``depth`` (``None``: not), then each run of
    identical blocks at or above ``depth`` as one row (where its rows are consecutive)."""
    if depth is not None:
        rows = fold(rows, depth, blocks)
    # runs never nest (repeat_runs): each row is in at most one, found by one walk up its path
    run_of = {p: first for first, paths in runs.items() if depth is None or first.count(".") + 1 <= depth
              for p in paths}
    if not run_of:
        return rows
    at: Dict[str, List[int]] = {}
    for i, r in enumerate(rows):
        path = r["block_path"]
        while True:
            first = run_of.get(path)
            if first is not None:
                at.setdefault(first, []).append(i)
                break
            if not path:
                break
            path = path.rpartition(".")[0]
    grouped: Dict[int, Tuple[int, str]] = {}  # first row of a run -> (its last row, the run)
    for first, where in at.items():
        if len(where) >= 2 and where[-1] - where[0] == len(where) - 1:  # consecutive rows
            grouped[where[0]] = (where[-1], first)
    out: List[Dict[str, Any]] = []
    i = 0
    while i < len(rows):
        if i in grouped:
            last, first = grouped[i]
            out.append(group_row(rows[i:last + 1], runs[first], blocks[first][1]))
            i = last + 1
        else:
            out.append(rows[i])
            i += 1
    return out


def shown_layers(layers: List[Dict[str, Any]], depth: Optional[int],
                 runs: Mapping[str, List[str]]) -> Tuple[List[Dict[str, Any]], int]:
    """The layer table's records down to ``depth``, each run as one record; and how many
    records ``depth`` left out (those inside a folded run aside)."""
    by_path = {layer["path"]: layer for layer in layers}
    out: List[Dict[str, Any]] = []
    hidden = 0
    skip: set = set()  # the members of the run just folded: their subtrees are left out
    for layer in layers:
        path = layer["path"]
        if skip and path and _under(path, skip):
            continue
        skip = set()
        if depth is not None and layer["depth"] > depth:
            hidden += 1
            continue
        if path in runs:
            group = [by_path[p] for p in runs[path]]
            out.append(dict(layer, path=run_label(runs[path]), type=f"{len(group)} x {layer['type']}",
                            name=_names(group), parameters=sum(g["parameters"] for g in group),
                            bytes=sum(g["bytes"] for g in group), tensors=sum(g["tensors"] for g in group),
                            mult_adds=_sum_known(g.get("mult_adds") for g in group),
                            activation_bytes=_sum_known(g.get("activation_bytes") for g in group),
                            runs=len(group), members=runs[path]))
            skip = set(runs[path])
            continue
        out.append(layer)
    return out, hidden


def _names(group: List[Dict[str, Any]]) -> str:
    first, last = group[0]["name"], group[-1]["name"]
    return first if first == last else f"{first}..{last}"


def _sum_known(values) -> Optional[int]:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


# --------------------------------------------------------------------------- statistics

def aggregate(records: Sequence[Optional[Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
    """The statistics of all the values of several parameters, from each one's statistics.

    ``None`` when none was measured; a state other than ``'ok'`` when none has numbers.

    >>> a = dict(state='ok', size=2, mean=1.0, std=1.0, min=0.0, max=2.0, l2=2.0,  # values 0, 2
    ...          zero_fraction=0.5, nan=0, inf=0, hist=[1, 1], edges=[0.0, 1.0, 2.0], hist_values=2)
    >>> b = dict(a, mean=5.0, min=4.0, max=6.0, l2=52 ** .5, zero_fraction=0.0,  # values 4, 6
    ...          edges=[4.0, 5.0, 6.0])
    >>> m = aggregate([a, b])  # of 0, 2, 4, 6
    >>> m['mean'], round(m['std'] ** 2, 9), round(m['l2'] ** 2, 9), m['zero_fraction'], m['hist']
    (3.0, 5.0, 56.0, 0.25, [2, 2])
    """
    measured = [r for r in records if r is not None]
    if not measured:
        return None
    ok = [r for r in measured if r["state"] == "ok"]
    if len(ok) < len(measured):
        first = next(r for r in measured if r["state"] != "ok")
        return dict(first)
    size = sum(r["size"] for r in ok)
    finite = [(r["size"] - r["nan"] - r["inf"], r) for r in ok]
    n = sum(k for k, _ in finite)
    out: Dict[str, Any] = {"state": "ok", "size": size, "nan": sum(r["nan"] for r in ok),
                           "inf": sum(r["inf"] for r in ok),
                           "zero_fraction": sum(r["zero_fraction"] * r["size"] for r in ok) / size if size else 0.0}
    if n == 0:
        out.update(mean=None, std=None, min=None, max=None, l2=None, hist=[], edges=[], hist_values=0)
        return out
    mean = sum(k * r["mean"] for k, r in finite if k) / n
    var = sum(k * (r["std"] ** 2 + (r["mean"] - mean) ** 2) for k, r in finite if k) / n
    lo, hi = min(r["min"] for k, r in finite if k), max(r["max"] for k, r in finite if k)
    bins = max((len(r["hist"]) for _, r in finite), default=0)
    hist = [0.0] * bins
    for k, r in finite:
        counts, edges = r["hist"], r["edges"]
        if not k or not counts or not r["hist_values"]:
            continue
        scale = k / r["hist_values"]  # a sampled histogram stands for all finite values
        for i, c in enumerate(counts):
            centre = (edges[i] + edges[i + 1]) / 2 if len(edges) > i + 1 else edges[0]
            # clamped: a constant parameter's histogram spans min +- 0.5 (numpy's habit)
            at = 0 if hi == lo else max(0, min(bins - 1, int((centre - lo) / (hi - lo) * bins)))
            hist[at] += c * scale
    out.update(mean=mean, std=math.sqrt(max(var, 0.0)), min=lo, max=hi,
               l2=math.sqrt(sum(r["l2"] ** 2 for _, r in finite if r["l2"] is not None)),
               hist=[int(round(h)) for h in hist],
               edges=[lo + (hi - lo) * i / bins for i in range(bins + 1)] if bins else [],
               hist_values=n)
    return out
