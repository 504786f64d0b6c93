"""What :func:`gluon_params_kit.inspection.summary` returns: the :class:`Summary` report.

Its rows and totals are computed by :mod:`gluon_params_kit.inspection`; its text and HTML
are drawn by :mod:`._summary_view`. Re-exported by :mod:`gluon_params_kit.inspection`;
import the name from there.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Dict, List, Optional, Union

from .._core import display as D
from .._core import gcpause as _gc
from .._core.report import Report
from .._core.validate import check_number
from ..errors import InspectionError
from . import _view

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
    ``bytes_by_dtype`` (one copy; each device in ``ctx`` holds one), ``nan``/``inf``.

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
                 open_depth: int = 1, width: Optional[int] = None):
        self.totals = totals
        #: Block name -> its paths, for blocks with Parameters registered in several places.
        self.registered_twice = dict(registered_twice or {})
        spellings = dict(aliases or {})  # any key or attribute path -> canonical path
        spellings.update((p, r["path"]) for r in rows for p in r["shared_with"])
        super().__init__({r["path"]: r for r in rows}, spellings, title=title)
        self._rows, self._show_init, self._stats, self._grads = rows, show_init, stats, grads
        self._flat = rows if flat is None else flat
        # the per-block records, or how to make them: only HTML, ``layers`` and a traced
        # text need them, so a plain str(summary) of a big net never builds them
        self._layer_source = layers
        self._layer_records: Optional[List[Dict[str, Any]]] = None
        self._traced, self._open_depth, self._width = traced, open_depth, width

    @property
    def layers(self) -> List[Dict[str, Any]]:
        """One dict per block, in walk order: path, type, name, depth, parameters and
        bytes (its subtotal: every Parameter below it whose first path is there, so tied
        ones count once), tensors, own (its own Parameters' values), outputs (one output
        shape, or list of shapes, per call when :func:`summary` got example inputs; else
        ``None``) and same_as (the first path of a block registered twice, else ``None``).

        >>> import mxnet as mx
        >>> from mxnet.gluon import nn
        >>> from gluon_params_kit import summary
        >>> net = nn.HybridSequential(); net.add(nn.Dense(4, in_units=3), nn.Dense(2))
        >>> net.initialize(); net.hybridize()
        >>> [(l['path'], l['outputs'], l['parameters']) for l in summary(net, mx.nd.ones((5, 3))).layers]
        [('', [(5, 2)], 26), ('0', [(5, 4)], 16), ('1', [(5, 2)], 10)]
        """
        keys = ("path", "type", "name", "depth", "parameters", "bytes", "tensors", "own",
                "outputs", "same_as")
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
        return _view.text(self.title, self._rows, self._total_lines(),
                          self._layers if self._traced else None,
                          width if width is not None else _view.default_width(), **self._flags())

    @_gc.paused
    def _html(self) -> str:
        return _view.html_tree(self.title, self._flat, self._layers, self._total_lines(),
                               open_depth=self._open_depth, traced=self._traced,
                               **self._flags())


def check_width(width: Any) -> Optional[int]:
    """``width`` if it is None or an int >= the narrowest table, else :class:`InspectionError`."""
    return check_number(width, "width", InspectionError, integer=True, minimum=_view.MIN_WIDTH,
                        allow_none=True, unit="characters")
