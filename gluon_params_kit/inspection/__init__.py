"""Inspection: a summary table of a network's parameters and statistics of their values.

Unlike Gluon's ``Block.summary(x)``, :func:`summary` needs no forward pass or example
input, works on hybridized nets and before deferred shapes are known (unknown dimensions
show as ``?``, their counts as pending), shows dtype, bytes and devices, and counts a
tied Parameter once. Given example inputs (arrays, or shapes as torchinfo's
``input_size``: ``_inputs``), it also records each block's output shape, multiply-adds
(``_cost``) and activation bytes in one forward pass that leaves the net as it was
(``_trace``). Its text fits a width and a screen (depth 3, runs of identical blocks
folded: ``_fold``) and its HTML is one collapsible tree of the blocks shown (``_view``). :func:`stats`
measures every parameter's values (or gradients) with at most one host transfer per
parameter: on CPU a zero-copy host view read by numpy in cache-sized chunks (MXNet
1.9.1's CPU reductions are many times slower than numpy's); on a GPU, MXNet ops on the
parameter's own device, gathered in one transfer.
"""
from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as _onp

from .._core import display as D
from .._core import gcpause as _gc
from .._core.compat import gluon, mx  # noqa: F401  (mx: used by the examples)
from .._core.gluon import arrays, check_block, contexts, grad_arrays, init_state, key_index, parameter_groups
from .._core.patterns import Pattern, selection
from .._core.provenance import PROVENANCE_ATTR  # noqa: F401 (InitPlan records)
from .._core.provenance import read as read_provenance
from .._core.stats import HIST_SAMPLE as _HIST_SAMPLE
from .._core.stats import ParamStats
from .._core.types import Block, Parameter
from .._core.validate import check_bool, check_number, shown
from ..errors import InspectionError, InspectionTypeError, SelectionError, listing
from ..tree import named_blocks
from . import _fold, _view
from . import _trace as _layer_trace
from ._inputs import example_inputs
from ._stats import StatsReport, params_stats
from ._summary import Summary, check_width
from ._trace import trace_outputs

__all__ = [
    "InspectionError", "ParamStats", "StatsReport", "Summary", "plot_histograms", "stats", "summary",
    "trace_outputs",
]

_Constant = gluon.Constant


# --------------------------------------------------------------------------- statistics

@_gc.paused
def stats(block: Block, pattern: Pattern = None, *, grads: bool = False, bins: int = 16,
          hist_sample: Optional[int] = _HIST_SAMPLE, exclude: Pattern = None,
          mode: str = "search", on: str = "path",
          allow_empty: bool = False) -> StatsReport:
    """Per-parameter statistics of values (or gradients), keyed by structural path.

    Each parameter is read once (its first device's copy): on CPU through a zero-copy
    host view, on a GPU by MXNet ops on that device with one transfer of the results.

    Args:
        block: the network.
        pattern: which parameters, as in :func:`~gluon_params_kit.select.select` (a
            regex, glob, list or ``predicate(path, param)``; a shared Parameter is
            selected through any of its paths); ``None`` for all.
        grads: measure the gradients instead of the values.
        bins: number of histogram bins.
        hist_sample: histogram a parameter larger than this from an even stride of about
            this many values (``None``: always every value).
        exclude, mode, on, allow_empty: as in :func:`~gluon_params_kit.select.select`.

    Returns:
        A :class:`StatsReport`: path -> :class:`ParamStats` (any path form looks one up),
        printed as a table; deferred or uninitialized parameters have ``state`` saying so
        and no numbers.

    Raises:
        InspectionError: ``grads`` is not a bool, ``bins`` or ``hist_sample`` not an int >= 1.
        SelectionError: a bad pattern or option, or a pattern that selects nothing (the
            kit's one message for it; ``allow_empty=True`` returns an empty report).

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Dense(2, in_units=3); net.initialize(mx.init.One())
        >>> s = stats(net)
        >>> s['weight'].mean, s['weight'].l2, s['bias'].zero_fraction
        (1.0, 2.449489742783178, 1.0)
        >>> stats(nn.Dense(2))['weight'].state
        'uninitialized'
        >>> list(stats(net, '*', mode='glob', exclude='b*'))
        ['weight']
    """
    check_bool(grads, "grads", InspectionError)
    check_number(bins, "bins", InspectionError, integer=True, minimum=1, maximum=MAX_BINS)
    if hist_sample is not None:  # None: every value goes into the histogram
        check_number(hist_sample, "hist_sample", InspectionError, integer=True, minimum=1)
        if hist_sample >= 2**62:  # more values than any array holds: every value, as with None
            hist_sample = None
    check_block(block)
    index = key_index(block)  # once: the selection and the report's path lookups share it
    chosen = _selected_groups(block, pattern, exclude, mode, on, allow_empty, index.groups)
    rows = OrderedDict(zip([g.path for g in chosen],
                           params_stats([g.param for g in chosen], grads, bins, hist_sample)))
    kind = "gradient" if grads else "value"
    return StatsReport(rows, index.canonical, grads=grads,
                       title=f"{kind} statistics of {type(block).__name__} {block.name!r}: "
                             f"{D.plural(len(rows), 'parameter')}")


# --------------------------------------------------------------------------- summary

@_gc.paused
def summary(block: Block, *inputs: Any, input_size: Any = None, stats: bool = False, grads: bool = False,
            pattern: Pattern = None, depth: Union[int, None, str] = "auto", fold: bool = True,
            provenance: Optional[bool] = None, bins: int = 16, width: Optional[int] = None,
            exclude: Pattern = None, mode: str = "search", on: str = "path",
            allow_empty: bool = False) -> Summary:
    """A table of every parameter: path, auto name, shape, dtype, size, bytes, devices...

    Without ``inputs`` no forward pass runs: hybridized nets, deferred shapes (unknown
    dimensions shown as ``?``, their counts pending) and both ``mx.nd`` and ``mx.np``
    modes work. A tied Parameter is one row (under its first path, the others in
    ``shared_with``) and is counted once, so the total equals the "Unique parameters in
    model" of Gluon's ``block.summary(x)``.

    With example ``inputs`` (as for ``net(*inputs)``), one forward pass in predict mode
    also records each block's output shape, multiply-adds and activation memory
    (``layers``, a layer table in the text, ``totals['mult_adds']`` and
    ``totals['activation_bytes']``), as Gluon's ``block.summary(x)`` and torchinfo do, but
    on hybridized nets too and without changing the net: hybridization and cached graphs,
    parameter values, gradients and deferred initialization (completed with zeros for the
    pass, then put back; no random number is drawn) are as before.

    Multiply-adds ("Mult-Adds", as torchinfo) are counted where they are well defined:
    ``Dense`` (output size x in_units), ``Conv1D/2D/3D`` (output positions x out channels x
    kernel volume x in channels / groups), their ``Transpose`` (the same over *input*
    positions), ``RNN``/``LSTM``/``GRU`` layers and cells (per step and sequence, each layer
    and direction: gates x (input + hidden) x hidden, gates 1/4/3) and ``Embedding`` (0);
    bias adds and other layers are not counted (a ``-`` in the table). Activation memory is
    the bytes of every array a block returned in the pass, each once (a container's output
    is its last layer's), without the input.

    The text and HTML fit a screen: blocks down to ``depth`` 3 (torchinfo's default), a line
    saying how many rows are below, and each run of identical consecutive blocks (same
    class, parameters and output shapes) as one row ``3 x BottleneckV1`` with its subtotals.

    Args:
        block: the network.
        *inputs: optional example inputs for one forward pass: arrays (``NDArray``,
            ``mx.np.ndarray``, numpy), shape tuples such as ``(2, 20)`` (zeros of the net's
            dtype on its context, in the array type it runs with), or one list of those.
        input_size: torchinfo's spelling: a shape tuple, or a list of them, one per input.
        stats: add value statistics (mean, std, min, max, L2, zero fraction, NaN/Inf,
            a sparkline histogram), see :func:`stats`.
        grads: add gradient statistics.
        pattern: only the parameters it selects, as in
            :func:`~gluon_params_kit.select.select` (a shared Parameter through any of its
            paths).
        exclude, mode, on, allow_empty: as in :func:`~gluon_params_kit.select.select`.
        depth: how deep the text and HTML go (the root is 0): a block at this depth with
            blocks below it is one subtotal row, which also counts its own parameters
            (``0``: one row for the whole net); a layer without sub-blocks keeps its
            parameter rows. ``'auto'`` (default): 3, for the display only (the rows,
            ``to_records()`` and lookups keep every parameter); an int also folds the rows
            themselves (``to_records()`` gives the subtotal rows); ``None`` shows all. The
            HTML holds only what is shown: blocks with children open, layers closed.
        fold: show each run of identical consecutive sibling blocks as one row (display
            only; with their aggregate statistics when ``stats``); ``False`` shows each.
            Nothing folds when a ``pattern`` or ``exclude`` picks the rows.
        provenance: show the ``init`` column (spec and rule of an ``InitPlan``); by
            default shown when any parameter carries provenance.
        bins: histogram bins when ``stats`` or ``grads``.
        width: the text's width in characters (default: the terminal's, else 120).

    Returns:
        A :class:`Summary`.

    Raises:
        InspectionError: a bad ``depth``, ``bins``, ``width`` or flag; ``inputs`` given for
            a net with uninitialized parameters, or the forward pass failed; a shape with a
            dimension < 1.
        InspectionTypeError: an input that is neither an array, a shape tuple nor a list of
            those (the message says what to pass); both ``inputs`` and ``input_size``.
        SelectionError: a bad pattern or option, or a pattern that selects nothing (the
            kit's one message for it; ``allow_empty=True`` gives an empty table).

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(4, in_units=3), nn.Dense(2))
        >>> net.initialize()
        >>> s = summary(net)
        >>> s.totals['parameters'], s.totals['pending'], s['1.weight']['shape']
        (18, 1, (2, None))
        >>> print(str(s).splitlines()[4])  # doctest: +NORMALIZE_WHITESPACE
        0.bias ... (4,) float32 4 16 B cpu(0) write initialized
        >>> print("\\n".join(summary(net, (5, 3)).to_string().splitlines()[1:7]))
        ... # doctest: +NORMALIZE_WHITESPACE, +ELLIPSIS
        Layers (one forward pass of the example input)
        layer   type        output shape  params  mult-adds  activations  name
        ---...
        <root>  Sequential  (5, 2)            26        100        120 B  sequential...
          0     Dense       (5, 4)            16         60         80 B  dense...
          1     Dense       (5, 2)            10         40         40 B  dense...
        >>> summary(net, input_size=(5, 3)).totals['mult_adds']  # 5 x 4 x 3 + 5 x 2 x 4
        100
        >>> list(summary(net, pattern='weight', exclude=r'^1\\.'))
        ['0.weight']
    """
    check_bool(stats, "stats", InspectionError)
    check_bool(grads, "grads", InspectionError)
    if not (provenance is None or isinstance(provenance, bool)):  # 1 == True: no `in` test
        raise InspectionTypeError(f"provenance must be None, True or False, got {provenance!r}")
    auto = isinstance(depth, str) and depth == "auto"
    shown_depth: Optional[int] = check_number(_fold.DEFAULT_DEPTH if auto else depth, "depth", InspectionError,
                                              integer=True, minimum=0, allow_none=True,
                                              unit="0 folds the whole net into one row")
    check_bool(fold, "fold", InspectionError)
    check_number(bins, "bins", InspectionError, integer=True, minimum=1, maximum=MAX_BINS)
    check_width(width)
    index = key_index(block)  # once: the rows, the blocks and the alias lookups share it
    blocks = index.blocks
    selected = _selected_groups(block, pattern, exclude, mode, on, allow_empty, index.groups)
    inferred: Dict[int, Tuple[int, ...]] = {}
    if inputs or input_size is not None:
        inputs = example_inputs(block, inputs, input_size)
    traced = _trace(block, inputs, inferred) if inputs else None
    rows = []
    make = _Rows()
    owners = []  # the path of the block holding each row's Parameter (in the tree)
    chosen = [g.param for g in selected]  # measured together: small CPU arrays in batches
    values = params_stats(chosen, False, bins, _HIST_SAMPLE) if stats else None
    grad_values = params_stats(chosen, True, bins, _HIST_SAMPLE) if grads else None
    for n, group in enumerate(selected):
        owner_path = group.attribute.rpartition(".")[0]
        owners.append(owner_path if owner_path in blocks else "")
        param = group.param
        row = make.row(param, group.paths, blocks[owners[-1]], inferred.get(id(param)))
        row["block_path"] = owner_path
        row["stats"] = values[n].as_dict() if values else None
        row["grad_stats"] = grad_values[n].as_dict() if grad_values else None
        rows.append(row)
    totals = _totals(rows)
    show_init = provenance if provenance is not None else any(r["provenance"] for r in rows)
    flat = rows

    def layers() -> List[Dict[str, Any]]:  # built when the Summary first needs them
        return _view.layers(blocks, flat, owners, None if traced is None else traced.calls,
                            keep_all=pattern is None and exclude is None)
    info = {path: (blk.name, type(blk).__name__) for path, blk in blocks.items()}
    if not auto and shown_depth is not None:  # an int given: the rows themselves are folded
        rows = _fold.fold(rows, shown_depth, info)
    count = D.plural(totals["tensors"], "parameter tensor")
    title = f"{type(block).__name__} {block.name!r}: {count}"
    if pattern is not None or exclude is not None:
        title += f" matching {pattern!r}" if isinstance(pattern, str) else " selected"
    cost_types: List[str] = []
    if traced is not None:
        totals.update(_cost_totals(traced, blocks, cost_types))
    return Summary(title, rows, totals, show_init=bool(show_init), stats=stats, grads=grads,
                   aliases=index.canonical, registered_twice=_registered_twice(block, blocks),
                   flat=flat, layers=layers, traced=traced is not None, depth=shown_depth,
                   fold=fold and pattern is None and exclude is None,  # picked rows all show
                   blocks=info, cost_types=cost_types, width=width)


def _cost_totals(traced: _layer_trace.Trace, blocks: Mapping[str, Block], types: List[str]) -> Dict[str, Any]:
    """Multiply-adds and activation bytes of the whole pass; ``types`` receives the type
    names of the layers whose multiply-adds were counted."""
    counted = [(path, c["mult_adds"]) for path, calls in traced.calls.items() for c in calls
               if c["mult_adds"] is not None]
    for path, _ in counted:
        name = type(blocks[path]).__name__ if path in blocks else "?"
        if name not in types:
            types.append(name)
    return {"mult_adds": sum(n for _, n in counted) if counted else None,
            "activation_bytes": sum(c["bytes"] for calls in traced.calls.values() for c in calls),
            "input_bytes": traced.input_bytes}



def _registered_twice(block: Block, blocks: Optional[Mapping[str, Block]] = None
                      ) -> Dict[str, List[str]]:
    """Block name -> paths, for each block holding Parameters that sits at several paths.

    ``blocks``: ``named_blocks(block, aliases=True)`` when the caller has it already.
    """
    places: "OrderedDict[int, Tuple[Block, List[str]]]" = OrderedDict()
    if blocks is None:
        blocks = named_blocks(block, aliases=True)
    for path, blk in blocks.items():
        places.setdefault(id(blk), (blk, []))[1].append(path or "<root>")
    return OrderedDict((blk.name, paths) for blk, paths in places.values()
                       if len(paths) > 1 and blk.collect_params())


def _trace(block: Block, inputs: Tuple[Any, ...], inferred: Dict[int, Tuple[int, ...]]
           ) -> _layer_trace.Trace:
    missing = [g.path for g in parameter_groups(block) if init_state(g.param) == "uninitialized"]
    if missing:
        raise InspectionError(
            f"summary(net, *inputs) runs one forward pass, but {type(block).__name__} "
            f"{block.name!r} has uninitialized parameters ({listing(missing)}): call "
            f"net.initialize() first, or leave out the inputs for a forward-free summary")
    try:
        return _layer_trace.trace_layers(block, inputs, inferred)
    except Exception as exc:  # the user's net or inputs: say which call failed
        raise InspectionError(
            f"summary(net, *inputs): the forward pass of {type(block).__name__} "
            f"{block.name!r} on inputs of shape {_layer_trace.shapes_of(list(inputs))} "
            f"failed ({type(exc).__name__}: {exc}); the net is unchanged") from exc


class _Rows:
    """The row records of one :func:`summary` call.

    A net repeats a few contexts over thousands of Parameters, and MXNet builds
    ``str(ctx)`` anew each time, so each context's name is worked out once per call (by
    identity: the contexts live through the call). Shapes and dtypes go through the
    module's cached ``_shape_size`` and ``_dtype``.
    """

    def __init__(self) -> None:
        self._contexts: Dict[int, Tuple[Any, str]] = {}

    def _context_names(self, ctxs: Sequence[Any]) -> List[str]:
        out = []
        for c in ctxs:
            known = self._contexts.get(id(c))
            if known is None:  # MXNet builds str(ctx) anew each time; the entry keeps c
                known = self._contexts[id(c)] = (c, str(c))  # alive, so its id stays its own
            out.append(known[1])
        return out

    def row(self, param: Parameter, paths: List[str], parent: Block,
            inferred: Optional[Tuple[int, ...]] = None) -> Dict[str, Any]:
        raw = inferred or param._shape  # inferred: a deferred shape as a forward saw it
        shape, size = _shape_size(None if raw is None else tuple(raw))  # a list shape too
        dtype = _dtype(param.dtype)
        prov = read_provenance(param)
        return {
            "kind": "parameter", "path": paths[0], "name": param.name,
            "block_type": type(parent).__name__, "shape": shape, "dtype": dtype[0],
            "size": size, "bytes": None if size is None else size * dtype[1],
            "contexts": self._context_names(contexts(param) or ()),
            "grad_req": param.grad_req, "lr_mult": float(param.lr_mult),
            "wd_mult": float(param.wd_mult), "state": init_state(param),
            "shared_with": paths[1:], "provenance": dict(prov) if prov else None,
            "count": 1,
            # state by design (BatchNorm's running mean/var, Constants): never trained
            "auxiliary": isinstance(param, _Constant) or not param._differentiable,
        }


def _totals(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    known = [r for r in rows if r["size"] is not None]
    by_dtype: Dict[str, int] = OrderedDict()
    for r in known:
        by_dtype[r["dtype"]] = by_dtype.get(r["dtype"], 0) + r["bytes"]
    total = sum(r["size"] for r in known)
    state = sum(r["size"] for r in known if r["grad_req"] == "null" and r["auxiliary"])
    frozen = sum(r["size"] for r in known if r["grad_req"] == "null" and not r["auxiliary"])
    out = {
        "tensors": len(rows), "parameters": total, "trainable": total - frozen - state,
        "frozen": frozen, "state": state, "shared": sum(r["size"] for r in known if r["shared_with"]),
        "shared_tensors": sum(1 for r in rows if r["shared_with"]),
        "pending": len(rows) - len(known), "bytes": sum(by_dtype.values()),
        "bytes_by_dtype": dict(by_dtype),
    }
    for key in ("nan", "inf"):
        out[key] = sum((r["stats"] or {}).get(key, 0) for r in rows)
    out.update(mult_adds=None, activation_bytes=None, input_bytes=None)  # known with example inputs
    return out


@functools.lru_cache(maxsize=4096)
def _shape_size(raw: Optional[Tuple[int, ...]]) -> Tuple[Optional[tuple], Optional[int]]:
    """(shape with unknown dimensions as None, size or None), cached: nets repeat shapes."""
    if raw is None:
        return None, None
    shape = tuple(int(d) if d > 0 else None for d in raw)
    return shape, D.known_size(shape)


@functools.lru_cache(maxsize=64)
def _dtype(dtype: Any) -> Tuple[str, int]:
    """(name, itemsize) of a Parameter's dtype (a numpy type, class or string)."""
    dt = _onp.dtype(dtype)
    return dt.name, dt.itemsize


#: Most histogram bins a call may ask for (each costs memory and a column of output).
MAX_BINS = 10_000


def _selected_groups(block: Block, pattern: Pattern, exclude: Pattern, mode: str, on: str,
                     allow_empty: bool, groups: Optional[List[Any]] = None) -> List[Any]:
    """The tree's group (canonical path, Parameter, keys, aliases) of each selected Parameter,
    through the kit's one selection path. Without a pattern and ``exclude`` every Parameter
    is shown, none at all included (an empty net has an empty table). ``groups``: the
    block's parameter groups when the caller has them already.
    """
    check_block(block)  # a list or dict is not read as plain keys here
    check_bool(allow_empty, "allow_empty", SelectionError)  # before it is used as a truth value
    everything = pattern is None and exclude is None
    return selection(block, pattern, exclude=exclude, mode=mode, on=on,
                     allow_empty=allow_empty or everything, groups=groups)


# --------------------------------------------------------------------------- plots

def plot_histograms(block: Block, pattern: Pattern = None, *, grads: bool = False, bins: int = 50,
                    cols: int = 4, figsize: Optional[Tuple[float, float]] = None,
                    exclude: Pattern = None, mode: str = "search", on: str = "path",
                    allow_empty: bool = False):
    """One histogram per parameter in a matplotlib Figure (matplotlib is imported lazily).

    Args:
        block: the network.
        pattern: which parameters, as in :func:`~gluon_params_kit.select.select`;
            ``None`` for all.
        grads: plot gradients instead of values.
        bins: bins per histogram.
        cols: subplots per row.
        figsize: figure size in inches; by default 3 x 2.2 per subplot.
        exclude, mode, on, allow_empty: as in :func:`~gluon_params_kit.select.select`
            (with ``allow_empty=True`` an empty selection gives a figure without axes).

    Returns:
        A ``matplotlib.figure.Figure`` (not attached to pyplot: display or save it).

    Raises:
        ImportError: matplotlib is not installed (``pip install 'matplotlib<3.9'``, the
            kit's ``plot`` extra).
        InspectionError: ``grads`` is not a bool, ``bins`` or ``cols`` is not a positive
            int, or the block has no parameter at all.
        SelectionError: a bad pattern or option, or a pattern that selects nothing (the
            kit's one message for it).

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Dense(4, in_units=3); net.initialize()
        >>> fig = plot_histograms(net)
        >>> [ax.get_title() for ax in fig.axes]
        ['weight (4 x 3)', 'bias (4)']
    """
    check_bool(grads, "grads", InspectionError)
    check_number(bins, "bins", InspectionError, integer=True, minimum=1, maximum=MAX_BINS)
    check_number(cols, "cols", InspectionError, integer=True, minimum=1)
    if figsize is not None:
        if not (isinstance(figsize, (tuple, list)) and len(figsize) == 2):
            raise InspectionTypeError(f"plot_histograms: figsize must be None or (width, height) in inches, "
                                      f"got {shown(figsize)}")
        for side in figsize:
            check_number(side, "plot_histograms: figsize", InspectionError, above=0, maximum=1000, unit="inches")
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot_histograms needs matplotlib (the kit's optional 'plot' extra): "
                          "pip install 'matplotlib<3.9'") from exc
    chosen = _selected_groups(block, pattern, exclude, mode, on, allow_empty)
    if not chosen and allow_empty:
        return Figure(figsize=figsize or (3.0, 2.2), layout="constrained")
    if not chosen:
        raise InspectionError(f"{type(block).__name__} {block.name!r} has no parameter to plot")
    rows = -(-len(chosen) // cols)
    ncols = min(cols, len(chosen))
    fig = Figure(figsize=figsize or (3.0 * ncols, 2.2 * rows), layout="constrained")
    for i, (path, param) in enumerate((g.path, g.param) for g in chosen):
        ax = fig.add_subplot(rows, ncols, i + 1)
        state = init_state(param)
        shape = param._shape or ()
        ax.set_title(f"{path} ({' x '.join(str(d) if d > 0 else '?' for d in shape)})",
                     fontsize=9)
        held = grad_arrays(param) if grads else arrays(param)
        if state == "initialized" and held is not None:
            values = held[0].asnumpy().reshape(-1)
            ax.hist(values[_onp.isfinite(values)], bins=bins)
        else:
            ax.text(0.5, 0.5, "no grad" if state == "initialized" else state,
                    ha="center", va="center", transform=ax.transAxes)
        ax.tick_params(labelsize=7)
    return fig
