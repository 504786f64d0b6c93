"""Tied parameters: build tied layers, tie existing ones, tie an output layer to an embedding.

Gluon 1.9 shares parameters only through ``params=other.params`` at construction, so
the user has to repeat every constructor argument. :func:`tied_copy` recovers them
from the layer; :func:`tie` rebinds the Parameters of a block that already exists
(validated first, nothing changed on a mismatch); :class:`TransposedDense` is the
language-model output layer that computes with an Embedding's weight. The report
side (:func:`tied_groups`, :func:`check_tied_gradients`) lives in ``_tying_report``.
"""
from __future__ import annotations

import numbers
import warnings
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as _onp

from .._core.compat import gluon
from .._core.gluon import check_block, has_data
from .._core.patterns import Pattern, selection
from .._core.types import Block, HybridBlock, Parameter
from .._core.validate import check_number, is_int, shown
from ..errors import TieError, TieTypeError, did_you_mean, listing
from ..tree import format_path, fresh_names, get, named_blocks, named_parameters, parse_path
from ._groups import TiedGradientCheck, TiedGroup, TiedGroups, TieReport, check_tied_gradients, tied_groups
from ._layers import TransposedDense, constructor_args

__all__ = [
    "TieReport",
    "TiedGradientCheck",
    "TiedGroup",
    "TiedGroups",
    "TransposedDense",
    "check_tied_gradients",
    "repeat_tied",
    "tie",
    "tied_copy",
    "tied_groups",
]

nn = gluon.nn


def tied_copy(layer: Block, **overrides: Any) -> Block:
    """A new layer of the same kind and configuration that shares all of ``layer``'s Parameters.

    The constructor arguments are read back from the layer (Dense, Conv*/Conv*Transpose,
    BatchNorm, LayerNorm, InstanceNorm, GroupNorm, Embedding, Activation, PReLU,
    RNN/LSTM/GRU, :class:`TransposedDense`, Sequential/HybridSequential recursively; any
    other block whose constructor takes ``params=`` when each argument ``x`` is kept as
    attribute ``_x`` or ``x``, or for ``p_initializer`` as Parameter ``p``'s init), and the
    copy is built with ``params=layer.collect_params()``, the Gluon way. Parameters the
    constructor did not pick up (children built outside ``name_scope``) are then tied
    with :func:`tie`. The copy gets its own block name; its Parameters keep the source's
    names, as Gluon's ``params=`` does. Like any new block it is not hybridized until
    its network's ``hybridize()`` is called.

    Args:
        layer: The block to copy.
        **overrides: Constructor arguments to set explicitly (those that cannot be
            recovered, or that should differ, such as ``activation``).

    Returns:
        The new block; every structural path of ``layer`` holds the same Parameter in it.

    Raises:
        TieTypeError: ``layer`` is not a Block.
        TieError: An argument cannot be recovered, an override is unknown, the constructor
            takes no ``params=``, or the rebuilt structure does not match ``layer``.

    Examples:
        >>> from mxnet.gluon import nn
        >>> dense = nn.Dense(8, activation='relu', in_units=4)
        >>> twin = tied_copy(dense)
        >>> twin.weight is dense.weight, twin.bias is dense.bias, twin.act._act_type
        (True, True, 'relu')
    """
    check_block(layer, TieTypeError, "layer")
    if isinstance(layer, (nn.Sequential, nn.HybridSequential)):
        if overrides:
            raise TieError(f"{type(layer).__name__} takes no overrides, got {listing(sorted(overrides))}")
        copy = type(layer)()
        for child in layer._children.values():
            copy.add(tied_copy(child))
        return copy
    arrays = sorted(k for k, v in overrides.items() if hasattr(v, "shape") and hasattr(v, "dtype")
                    and not isinstance(v, (numbers.Number, _onp.generic)))
    if arrays:  # a layer's constructor takes numbers and names; an array's truth value is no answer
        raise TieTypeError(f"tied_copy: overrides are constructor arguments, not arrays: "
                           f"{', '.join(f'{k}={shown(overrides[k])}' for k in arrays)}")
    args = constructor_args(layer, overrides)
    if overrides:
        _check_shapes_kept(layer, args)
    try:
        copy = type(layer)(params=layer.collect_params(), **args)
    except Exception as exc:  # Gluon asserts on attribute conflicts; say what we were doing
        raise TieError(f"while building a tied copy of {type(layer).__name__} {layer.name!r} "
                       f"with {args}: {exc}") from exc
    theirs = named_parameters(layer, aliases=True)
    ours = named_parameters(copy, aliases=True)
    if list(theirs) != list(ours):
        raise TieError(f"the rebuilt {type(layer).__name__} has parameter paths "
                       f"{listing(list(ours))}, the layer has {listing(list(theirs))}")
    left = {p for p in theirs if ours[p] is not theirs[p]}
    if left:
        tie(copy, layer, pattern=lambda path: path in left)
    return copy


def _check_shapes_kept(layer: Block, args: Dict[str, Any]) -> None:
    """Refuse overrides that change a shared Parameter's shape (``units=-1``, ``units=nan``):
    Gluon's ``params=`` counts a dimension <= 0 as unknown, accepts them, and the copy fails
    at its first forward. A stand-alone layer built from ``args`` shows the shapes they mean."""
    try:
        with fresh_names():  # the stand-in takes no auto name from the caller's numbering
            alone = type(layer)(**args)
    except Exception as exc:  # the layer's own constructor refuses the arguments
        raise TieError(f"while building a tied copy of {type(layer).__name__} {layer.name!r} "
                       f"with {args}: {type(exc).__name__}: {exc}") from exc
    meant = named_parameters(alone)
    for path, param in named_parameters(layer).items():
        have, want = tuple(param.shape or ()), tuple(getattr(meant.get(path), "shape", None) or ())
        # a known dimension that differs Gluon refuses itself (below); it takes these
        if path in meant and any(not is_int(w) or w < 0 < h for h, w in zip(have, want)):
            raise TieError(f"tied_copy({type(layer).__name__} {layer.name!r}, ...): the overrides give "
                           f"{path!r} the shape {want}, but the shared Parameter has {have}")


#: The most positions :func:`repeat_tied` builds: each is a Block object, and Gluon's
#: Sequential takes about 5 s for 10,000 of them.
_MAX_REPEAT = 10_000


def repeat_tied(layer: Block, times: int) -> Block:
    """A Sequential holding ``layer`` followed by ``times - 1`` tied copies of it.

    Every position uses the same Parameters (``net[i].weight is layer.weight``); a
    HybridSequential when ``layer`` is a HybridBlock, so the result can be hybridized.

    Args:
        layer: The block to repeat (it becomes position 0).
        times: How many positions, 1 to 10,000.

    Returns:
        An ``nn.Sequential`` or ``nn.HybridSequential`` of length ``times``.

    Raises:
        TieTypeError: ``times`` is not an int.
        TieError: ``times`` is < 1 or > 10,000, or ``layer`` cannot be copied (see
            :func:`tied_copy`).

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = repeat_tied(nn.Dense(4, in_units=4), 3)
        >>> type(net).__name__, len(net), net[2].weight is net[0].weight
        ('HybridSequential', 3, True)
    """
    check_number(times, "times", TieError, integer=True, minimum=1, maximum=_MAX_REPEAT,
                 unit="positions; for a deeper stack, call one layer in a loop", where="repeat_tied")
    net = nn.HybridSequential() if isinstance(layer, HybridBlock) else nn.Sequential()
    net.add(layer)
    for _ in range(times - 1):
        net.add(tied_copy(layer))
    return net


# --------------------------------------------------------------------------- tie

def _shape_merge(a: Tuple[int, ...], b: Tuple[int, ...]) -> Optional[Tuple[int, ...]]:
    """Both shapes with unknown (0 / -1) dimensions filled from the other; None if they conflict."""
    if a is None or b is None:
        return a or b
    if len(a) != len(b):
        return None
    out = []
    for x, y in zip(a, b):
        if x > 0 and y > 0 and x != y:
            return None
        out.append(x if x > 0 else y)
    return tuple(out)


def _compatibility(path: str, t: Parameter, s: Parameter) -> List[str]:
    problems = []
    if _shape_merge(t.shape, s.shape) is None:
        problems.append(f"{path!r}: shape {t.shape} vs source {s.shape}")
    if _onp.dtype(t.dtype) != _onp.dtype(s.dtype):
        problems.append(f"{path!r}: dtype {_onp.dtype(t.dtype).name} vs source "
                        f"{_onp.dtype(s.dtype).name}")
    if t.grad_req != s.grad_req:
        problems.append(f"{path!r}: grad_req {t.grad_req!r} vs source {s.grad_req!r}")
    if (t._stype, t._grad_stype) != (s._stype, s._grad_stype):
        problems.append(f"{path!r}: storage {t._stype}/{t._grad_stype} vs source "
                        f"{s._stype}/{s._grad_stype}")
    if has_data(t) and has_data(s) and set(t.list_ctx()) != set(s.list_ctx()):
        problems.append(f"{path!r}: contexts {t.list_ctx()} vs source {s.list_ctx()}")
    return problems


def _resolve_block(which: str, value, root: Optional[Block]) -> Block:
    if isinstance(value, Block):
        return value
    if root is not None and isinstance(value, (str, tuple, list)):
        found = get(root, value)
        if isinstance(found, Block):
            return found
        raise TieError(f"{which} {value!r} names a Parameter in root, not a block")
    raise TieTypeError(f"{which} must be a mxnet.gluon.Block (or a path when root= is given), "
                       f"got {type(value).__name__}: {value!r}")


def _rebind(blocks, mapping: Dict[int, Parameter]) -> None:
    """Point every holder of a Parameter in ``mapping`` (by id) at its replacement."""
    for blk in blocks:
        for attr, param in list(blk._reg_params.items()):
            new = mapping.get(id(param))
            if new is None:
                continue
            blk._reg_params[attr] = new
            if blk.__dict__.get(attr) is param:
                object.__setattr__(blk, attr, new)  # Block.__setattr__ forbids re-registering
        pdict = blk._params._params
        if any(id(p) in mapping for p in pdict.values()):
            rebuilt: "OrderedDict[str, Parameter]" = OrderedDict()
            for name, param in pdict.items():
                new = mapping.get(id(param), param)
                rebuilt.setdefault(new.name, new)
            pdict.clear()
            pdict.update(rebuilt)
        if isinstance(blk, HybridBlock):
            blk._clear_cached_op()


def tie(target: Union[Block, str, tuple], source: Union[Block, str, tuple], *,
        pattern: Pattern = None, root: Optional[Block] = None, exclude: Pattern = None,
        mode: str = "search", on: str = "path",
        allow_empty: bool = False) -> TieReport:
    """Make an existing block use another block's Parameters.

    Parameters are matched by structural path inside each block (``target``'s
    ``'0.weight'`` takes ``source``'s ``'0.weight'``); ``pattern`` restricts the tie to
    the target's Parameters it selects, through the kit's one selection path (as
    :func:`~gluon_params_kit.select.select`: a Parameter the target holds under several
    paths is selected when any of them matches). Such a Parameter is paired by its
    canonical (first) path, so the target's own ties are kept. Every
    pair is validated first (shape, where deferred
    ``0`` dimensions are compatible with anything; dtype; grad_req; storage type;
    contexts; no two distinct Parameters left with one name); on any mismatch nothing is
    changed and the error lists every mismatch. Then each holder inside ``target`` is
    rebound (attribute, ``_reg_params`` and the block's ``ParameterDict``), so
    ``collect_params``, ``save_parameters`` and a ``gluon.Trainer`` created afterwards
    see the tie, and cached graphs of hybridized blocks are cleared (they rebuild on
    the next call, still hybridized). Blocks outside ``target`` keep their Parameters;
    a Trainer created before the tie keeps updating the old ones (a warning says so).

    Args:
        target: The block to rebind (or a path inside ``root``).
        source: The block whose Parameters it takes (or a path inside ``root``).
        pattern: which of the target's Parameters to tie, as in
            :func:`~gluon_params_kit.select.select` (a regex searched in each path, a glob,
            a list of them, a callable ``path -> bool``); ``None`` ties every one.
        root: The network ``target`` sits in: a hybridized ``root`` caches a graph that
            holds ``target``'s old Parameters, so its caches are cleared too. Needed
            whenever ``target`` is inside a hybridized parent.
        exclude, mode, on: as in :func:`~gluon_params_kit.select.select`.
        allow_empty: when nothing is selected, tie nothing and return an empty mapping
            instead of raising.

    Returns:
        A :class:`TieReport`: target path -> source path of every tied pair (a Mapping:
        ``dict(report)`` is the plain pairs), printed as a table.

    Raises:
        TieError: ``target`` is ``source``, a path is missing in ``source``, or any pair
            is incompatible (all listed at once).
        SelectionError: a bad pattern or option, or a pattern that selects nothing in
            ``target`` (the kit's one message for it).

    Examples:
        >>> from mxnet.gluon import nn
        >>> a, b = nn.Dense(4, in_units=3), nn.Dense(4)
        >>> dict(tie(b, a))
        {'weight': 'weight', 'bias': 'bias'}
        >>> b.weight is a.weight, list(b.params.keys()) == list(a.params.keys())
        (True, True)
        >>> net = nn.Sequential(); d = nn.Dense(4, in_units=4)
        >>> net.add(d, nn.Dense(4, in_units=4, params=d.params))  # 1 shares 0's Parameters
        >>> src = nn.Sequential(); src.add(nn.Dense(4, in_units=4), nn.Dense(4, in_units=4))
        >>> dict(tie(net, src, pattern=r'^1\\.', exclude='bias'))  # '1.weight' is '0.weight'
        {'0.weight': '0.weight'}
    """
    if root is not None and not isinstance(root, Block):
        raise TieTypeError(f"root must be a mxnet.gluon.Block, got {type(root).__name__}")
    target = _resolve_block("target", target, root)
    source = _resolve_block("source", source, root)
    if root is not None and not any(b is target for b in named_blocks(root, aliases=True).values()):
        # root's caches and names are what the tie keeps consistent: it must hold the target
        raise TieError(f"target {type(target).__name__} {target.name!r} is not inside root "
                       f"{type(root).__name__} {root.name!r}: root must be the network that "
                       f"holds the target (or leave root=None); nothing was changed")
    if target is source:
        raise TieError(f"cannot tie block {target.name!r} to itself: target and source are "
                       f"the same {type(target).__name__}")
    chosen = [g.path for g in selection(target, pattern, exclude=exclude, mode=mode, on=on,
                                        allow_empty=allow_empty)]
    if not chosen:  # allow_empty: nothing to tie, nothing changed (caches kept too)
        return _tie_report(target, source, OrderedDict())
    ours = named_parameters(target)
    theirs = named_parameters(source, aliases=True)
    pairs: "OrderedDict[str, str]" = OrderedDict()
    mapping: Dict[int, Parameter] = {}
    problems: List[str] = []
    for path in chosen:
        key = format_path(parse_path(path))
        if key not in theirs:
            problems.append(f"{path!r}: missing in source {source.name!r}."
                            + did_you_mean(key, theirs))
            continue
        t, s = ours[path], theirs[key]
        pairs[path] = key
        if t is not s:
            problems.extend(_compatibility(path, t, s))
            mapping[id(t)] = s
    holders = list(named_blocks(target).values())
    problems.extend(_name_clashes(target, holders, mapping))
    if root is not None:
        problems.extend(_name_clashes(root, holders, mapping))
    if problems:
        raise TieError(f"cannot tie {type(target).__name__} {target.name!r} to "
                       f"{type(source).__name__} {source.name!r}; nothing was changed. "
                       f"{len(problems)} mismatch(es):\n  " + "\n  ".join(problems))
    old = {id(p): p for p in ours.values()}
    for t_id, s in mapping.items():
        merged = _shape_merge(old[t_id].shape, s.shape)
        if merged != s.shape and not has_data(s):
            s.shape = merged  # a deferred dimension the target already knows
        if old[t_id]._trainer is not None:
            warnings.warn(f"Parameter {old[t_id].name!r} belongs to a gluon.Trainer created before "
                          f"this tie; that Trainer still updates it instead of {s.name!r}: "
                          f"create the Trainer after tying", stacklevel=2)
    if root is None and getattr(target, "_active", False) and not target._cached_graph:
        # hybridized but never called on its own: a parent's cached graph runs it
        warnings.warn(f"{target.name!r} is hybridized inside a parent whose cached graph still "
                      f"holds the old Parameters: pass root=<the network> to tie() (or call "
                      f"hybridize() on the network again)", stacklevel=2)
    report = _tie_report(target, source, pairs)  # before the rebind: the target's own paths
    _rebind(holders, mapping)
    if root is not None:
        for blk in named_blocks(root).values():
            if isinstance(blk, HybridBlock):
                blk._clear_cached_op()
    return report


def _tie_report(target: Block, source: Block, pairs: "OrderedDict[str, str]") -> TieReport:
    """The pairs as a report; every other path of a target Parameter leads to its pair."""
    canonical = {id(p): path for path, p in named_parameters(target).items()}
    aliases = {k: canonical[id(p)] for k, p in named_parameters(target, aliases=True).items()
               if canonical.get(id(p), k) != k}
    return TieReport(pairs, aliases, title=f"tied {len(pairs)} parameter(s) of {type(target).__name__} "
                                           f"{target.name!r} to {type(source).__name__} {source.name!r}")


def _name_clashes(scope: Block, holders, mapping: Dict[int, Parameter]) -> List[str]:
    """Distinct Parameters of ``scope`` that would share one name once ``holders`` are rebound.

    Hybridized graphs and ``collect_params`` key Parameters by name, so a clash breaks them.
    """
    rebound = {id(b) for b in holders}
    by_name: Dict[str, Parameter] = {}
    problems = []
    for path, blk in named_blocks(scope).items():
        for attr, param in blk._reg_params.items():
            if id(blk) in rebound:
                param = mapping.get(id(param), param)
            other = by_name.setdefault(param.name, param)
            if other is not param:
                problems.append(f"{format_path((path, attr)) if path else attr!r}: after the tie "
                                f"two different Parameters in {scope.name!r} would be named "
                                f"{param.name!r}")
    return problems
