"""What :func:`gluon_params_kit.inspection.summary` returns: the :class:`Summary` report.

Its rows and totals are computed by :mod:`gluon_params_kit.inspection`; its text and HTML
are drawn by :mod:`._summary_view`. Re-exported by :mod:`gluon_params_kit.inspection`;
import the name from there.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .._core import display as D
from .._core import gcpause as _gc
from .._core.report import Report
from .._core.validate import check_number
from ..errors import InspectionError
from . import _fold, _view

__all__ = ["Summary", "check_width"]



class Summary(Report):
    """What :func:`summary` returns: rows (one per parameter, or per folded block) and totals.

    A Mapping like every report of the kit: iteration yields the rows' paths,
    ``summary[path]`` (any path form, or a tied Parameter's other path) one row's record.

    ``str()`` is an aligned text table that fits the terminal (else 120 characters; see
    :meth:`to_string`), ``_repr_html_`` one nested table of the block hierarchy for Jupyter,
    ``to_records()`` plain dicts, ``layers`` one dict per block. ``summary[path]`` is one
    row's record and ``totals`` a dict: ``tensors``, ``parameters`` (values, a tied
    Parameter once), ``trainable``, ``frozen`` (``grad_req='null'`` set on a trainable
    Parameter), ``state`` (non-trainable by design: auxiliary state such as BatchNorm's
    running mean/var, and Constants), ``shared``/``shared_tensors`` (tied Parameters),
    ``pending`` (tensors whose shape is not known yet, not counted), ``bytes`` and
    ``bytes_by_dtype`` (one copy; each device in ``ctx`` holds one), ``nan``/``inf``, and
    with example inputs ``mult_adds`` (multiply-adds of the layers where defined, else
    ``None``), ``activation_bytes`` (the arrays the layers returned in the pass, each once)
    and ``input_bytes`` (all three ``None`` without inputs).

    What the text and HTML show is screen-sized (``depth``, ``fold`` of :func:`summary`);
    the rows, ``to_records()`` and ``layers`` keep everything.

    Examples:
        >>> import mxnet as mx
        >>> from mxnet.gluon import nn
        >>> from gluon_params_kit import summary
        >>> net = nn.Sequential(); net.add(nn.Dense(4, in_units=3)); net.initialize()
        >>> s = summary(net)
        >>> len(s), s['[0].bias']['size'], s.totals['bytes']
        (2, 4, 64)
        >>> print(str(s).splitlines()[-1])
        Memory: 64 B per device
    """

    def __init__(self, title: str, rows: List[Dict[str, Any]], totals: Dict[str, Any],
                 *, show_init: bool, stats: bool, grads: bool,
                 aliases: Optional[Dict[str, str]] = None,
                 registered_twice: Optional[Dict[str, List[str]]] = None,
                 flat: Optional[List[Dict[str, Any]]] = None,
                 layers: Union[None, List[Dict[str, Any]],
                               Callable[[], List[Dict[str, Any]]]] = None, traced: bool = False,
                 depth: Optional[int] = None, fold: bool = False,
                 blocks: Optional[Mapping[str, Tuple[str, str]]] = None,
                 cost_types: Sequence[str] = (), width: Optional[int] = None):
        self.totals = totals
        #: Block name -> its paths, for blocks with Parameters registered in several places.
        self.registered_twice = dict(registered_twice or {})
        spellings = dict(aliases or {})  # any key or attribute path -> canonical path
        spellings.update((p, r["path"]) for r in rows for p in r["shared_with"])
        super().__init__({r["path"]: r for r in rows}, spellings, title=title)
        self._rows, self._show_init, self._stats, self._grads = rows, show_init, stats, grads
        self._flat = rows if flat is None else flat
        # the per-block records, or how to make them: only HTML, ``layers``, folding and a
        # traced text need them
        self._layer_source = layers
        self._layer_records: Optional[List[Dict[str, Any]]] = None
        self._traced, self._width = traced, width
        #: what the text and HTML show: blocks down to this depth (None: all), runs folded
        self._depth, self._fold = depth, fold
        self._blocks = dict(blocks) if blocks is not None else None
        self._cost_types = list(cost_types)
        self._runs_made: Optional[Dict[str, List[str]]] = None

    @property
    def layers(self) -> List[Dict[str, Any]]:
        """One dict per block, in walk order: path, type, name, depth, parameters and
        bytes (its subtotal: every Parameter below it whose first path is there, so tied
        ones count once), tensors, own (its own Parameters' values), outputs (one output
        shape, or list of shapes, per call when :func:`summary` got example inputs; else
        ``None``), same_as (the first path of a block registered twice, else ``None``),
        mult_adds (multiply-adds of its calls and of everything below it, where defined:
        Dense, Conv*, RNN/LSTM/GRU layers and cells, Embedding 0; else ``None``) and
        activation_bytes (the bytes of the new arrays it and the blocks below it returned in
        the pass); those two are ``None`` without example inputs.

        >>> import mxnet as mx
        >>> from mxnet.gluon import nn
        >>> from gluon_params_kit import summary
        >>> net = nn.HybridSequential(); net.add(nn.Dense(4, in_units=3), nn.Dense(2))
        >>> net.initialize(); net.hybridize()
        >>> [(l['path'], l['outputs'], l['parameters']) for l in summary(net, mx.nd.ones((5, 3))).layers]
        [('', [(5, 2)], 26), ('0', [(5, 4)], 16), ('1', [(5, 2)], 10)]
        """
        keys = ("path", "type", "name", "depth", "parameters", "bytes", "tensors", "own",
                "outputs", "same_as", "mult_adds", "activation_bytes")
        return [copy.deepcopy({k: layer[k] for k in keys}) for layer in self._layers]

    @property
    def _layers(self) -> List[Dict[str, Any]]:
        if self._layer_records is None:
            source = self._layer_source
            self._layer_records = list((source() if callable(source) else source) or [])
            self._layer_source = None
        return self._layer_records

    _what = "row"
    _kind = "summary"

    def _entry(self, key: str) -> Dict[str, Any]:
        return self._record(key, self._entries[key])

    def _record(self, key: str, row: Dict[str, Any]) -> Dict[str, Any]:
        """One plain dict per row (a copy): path, name, shape (``None`` for an unknown
        dimension), dtype, size, bytes, contexts, grad_req, lr_mult, wd_mult, state,
        shared_with, provenance, stats, grad_stats, kind (``'parameter'`` or ``'block'``),
        count (parameters in the row), block_path (the path of the block that holds the
        Parameter: ``'1'`` for a recurrent layer's ``'1._unfused.0.i2h_weight'``) and
        auxiliary (state by design, never trained: BatchNorm's running mean/var,
        Constants).

        >>> import mxnet as mx
        >>> from mxnet.gluon import nn
        >>> from gluon_params_kit import summary
        >>> net = nn.Dense(2, in_units=3)
        >>> [(r['path'], r['shape'], r['state']) for r in summary(net).to_records()]
        [('weight', (2, 3), 'uninitialized'), ('bias', (2,), 'uninitialized')]
        """
        out = dict(row, contexts=list(row["contexts"]), shared_with=list(row["shared_with"]))
        for field in ("stats", "grad_stats", "provenance"):  # deep: hist/edges are lists
            out[field] = copy.deepcopy(row[field])
        return out

    def _flags(self) -> Dict[str, bool]:
        return dict(show_init=self._show_init, stats=self._stats, grads=self._grads)

    def _total_lines(self) -> List[str]:
        t, c, b = self.totals, D.format_count, D.format_bytes
        state = f", non-trainable (state) {c(t['state'])}" if t["state"] else ""
        lines = [f"Parameters: {c(t['parameters'])} in {D.plural(t['tensors'], 'tensor')} "
                 f"(trainable {c(t['trainable'])}, frozen {c(t['frozen'])}{state})"]
        if t["shared_tensors"]:
            lines.append(f"Shared: {c(t['shared'])} values in "
                         f"{D.plural(t['shared_tensors'], 'tied tensor')}, counted once")
        if self.registered_twice:
            where = "; ".join(f"{name!r} at {', '.join(paths)}"
                              for name, paths in list(self.registered_twice.items())[:3])
            lines.append(f"Gluon's summary() counts more shared params: it hooks a block once "
                         f"per place it is registered ({where}), so each call is counted "
                         f"that many times; here each Parameter is counted once")
        if t["pending"]:
            lines.append(f"Pending: {D.plural(t['pending'], 'tensor')} of unknown shape, "
                         f"not counted until the first forward")
        memory = f"Memory: {b(t['bytes'])} per device"
        if len(t["bytes_by_dtype"]) > 1:
            memory += " (" + ", ".join(f"{k} {b(v)}" for k, v in t["bytes_by_dtype"].items()) + ")"
        lines.append(memory)
        if t["nan"] or t["inf"]:
            lines.append(f"Non-finite values: {c(t['nan'])} NaN, {c(t['inf'])} Inf")
        if self._traced:
            if t["mult_adds"] is None:
                lines.append("Mult-Adds: none counted (no Dense, Conv, RNN/LSTM/GRU or Embedding layer ran)")
            else:
                count = c(t["mult_adds"]) if t["mult_adds"] < 10**6 else f"{_si(t['mult_adds'])} ({c(t['mult_adds'])})"
                lines.append(f"Mult-Adds: {count} in {', '.join(self._cost_types)} layers; "
                             f"other layers not counted")
            lines.append(f"Activations: {b(t['activation_bytes'])} returned by the layers in one forward "
                         f"pass (each array once; training keeps them and as much again in gradients); "
                         f"input {b(t['input_bytes'])}")
        return lines

    @_gc.paused
    def _text(self, width: Optional[int]) -> str:
        """The text table, at most ``width`` characters wide (never wraps).

        By default the width given to :func:`summary`, else the terminal's, else 120
        (notebooks, pipes). Too wide a table first moves statistics to a second table
        keyed by path, then leaves out columns (one holding the same value in every row
        first, then name, ctx, grad_req, state, ...; path, shape and size stay), then
        shortens long cells in the middle with ``…``; a line under the table says what
        was left out. A bad ``width`` (not an int >= 40) is an :class:`InspectionError`.

        >>> import mxnet as mx
        >>> from mxnet.gluon import nn
        >>> from gluon_params_kit import summary
        >>> from gluon_params_kit import fresh_names
        >>> with fresh_names():
        ...     net = nn.Sequential(); net.add(nn.Dense(4, in_units=3)); net.initialize()
        >>> print(summary(net).to_string(width=60))
        Sequential 'sequential0': 2 parameter tensors
        path      name           shape   dtype    size  bytes
        -----------------------------------------------------
        0.weight  dense0_weight  (4, 3)  float32    12   48 B
        0.bias    dense0_bias    (4,)    float32     4   16 B
        Same in every row: ctx cpu(0), grad_req write, state
          initialized
        <BLANKLINE>
        Parameters: 16 in 2 tensors (trainable 16, frozen 0)
        Memory: 64 B per device
        """
        width = check_width(self._width if width is None else width)
        rows, notes = self._shown_rows()
        layers, layer_notes = self._shown_layers() if self._traced else (None, [])
        return _view.text(self.title, rows, self._total_lines(), layers,
                          width if width is not None else _view.default_width(),
                          notes=notes, layer_notes=layer_notes, **self._flags())

    @_gc.paused
    def _html(self) -> str:
        shown, hidden = self._html_layers()
        notes = self._notes(hidden, sum(1 for layer in shown if layer.get("members")),
                            next((layer for layer in shown if layer.get("members")), None))
        cut = [layer["path"] for layer in shown if self._is_cut(layer)]
        return _view.html_tree(self.title, self._flat, shown, notes + self._total_lines(),
                               cut=cut, traced=self._traced, **self._flags())

    # ------------------------------------------------------------------ what is shown

    def _runs(self) -> Dict[str, List[str]]:
        if not self._fold:
            return {}
        if self._runs_made is None:
            self._runs_made = _fold.repeat_runs(self._layers, self._flat)
        return self._runs_made

    def _block_info(self) -> Mapping[str, Tuple[str, str]]:
        if self._blocks is None:
            self._blocks = {layer["path"]: (layer["name"], layer["type"]) for layer in self._layers}
        return self._blocks

    def _is_cut(self, layer: Dict[str, Any], depth: Any = "shown") -> bool:
        """Whether ``layer`` is one subtotal row at the depth limit: some of its parameters
        are in blocks below it (a layer holding all of its own keeps its rows)."""
        depth = self._depth if depth == "shown" else depth
        return depth is not None and layer["depth"] == depth and layer["tensors"] > len(layer["rows"])

    def _notes(self, hidden: int, runs: int, example: Optional[Dict[str, Any]]) -> List[str]:
        parts = []
        if hidden:
            parts.append(f"{D.plural(hidden, 'more row')} below depth {self._depth} (depth=None shows all)")
        if runs and example is not None:
            what = f"{example['path']} = {example['name'] if example.get('kind') else example['type']}"
            parts.append(f"identical blocks folded: {what} (fold=False shows each)" if runs == 1 else
                         f"{runs} runs of identical blocks folded, such as {what} (fold=False shows each)")
        return ["; ".join(parts)] if parts else []

    def _shown_rows(self) -> Tuple[List[Dict[str, Any]], List[str]]:
        if self._depth is None and not self._fold:
            return self._rows, []
        runs, blocks = self._runs(), self._block_info()
        rows = _fold.shown_rows(self._flat, self._depth, blocks, runs)
        every = _fold.shown_rows(self._flat, None, blocks, runs) if self._depth is not None else rows
        groups = [r for r in rows if r["kind"] == "group"]
        return rows, self._notes(len(every) - len(rows), len(groups), groups[0] if groups else None)

    def _shown_layers(self) -> Tuple[List[Dict[str, Any]], List[str]]:
        shown, hidden = _fold.shown_layers(self._layers, self._depth, self._runs())
        groups = [layer for layer in shown if layer.get("members")]
        return shown, self._notes(hidden, len(groups), groups[0] if groups else None)

    def _html_layers(self) -> Tuple[List[Dict[str, Any]], int]:
        """The blocks the HTML shows (with their statistics' aggregates when asked), and how
        many rows (blocks and parameters) the depth left out."""
        layers, runs = self._layers, self._runs()
        shown, _ = _fold.shown_layers(layers, self._depth, runs)
        if self._stats or self._grads:
            value, grad = self._block_stats()
            shown = [dict(layer, value_stats=_fold.aggregate([value.get(p) for p in layer["members"]]),
                          grad_stats=_fold.aggregate([grad.get(p) for p in layer["members"]]))
                     if layer.get("members") else
                     dict(layer, value_stats=value.get(layer["path"]), grad_stats=grad.get(layer["path"]))
                     for layer in shown]
        every, _ = _fold.shown_layers(layers, None, runs) if self._depth is not None else (shown, 0)
        return shown, self._row_count(every, None) - self._row_count(shown, self._depth)

    def _row_count(self, shown: List[Dict[str, Any]], depth: Optional[int]) -> int:
        return len(shown) + sum(len(layer["rows"]) for layer in shown
                                if not layer.get("members") and not self._is_cut(layer, depth))

    def _block_stats(self) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """Path -> the aggregate statistics of each block's parameters (values, gradients)."""
        value: Dict[str, Any] = {}
        grad: Dict[str, Any] = {}
        kids: Dict[str, List[str]] = {}
        for layer in self._layers[1:]:
            kids.setdefault(layer["parent"], []).append(layer["path"])
        for layer in reversed(self._layers):  # children first
            path, rows = layer["path"], [self._flat[i] for i in layer["rows"]]
            below = kids.get(path, [])
            value[path] = _fold.aggregate([r["stats"] for r in rows] + [value.get(k) for k in below])
            grad[path] = _fold.aggregate([r["grad_stats"] for r in rows] + [grad.get(k) for k in below])
        return value, grad


def _si(n: int) -> str:
    """4.09 G for 4,089,184,256 (n >= 1,000,000)."""
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def check_width(width: Any) -> Optional[int]:
    """``width`` if it is None or an int >= the narrowest table, else :class:`InspectionError`."""
    return check_number(width, "width", InspectionError, integer=True, minimum=_view.MIN_WIDTH,
                        allow_none=True, unit="characters")
