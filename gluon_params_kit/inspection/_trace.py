"""One forward pass that records every block's output shape and leaves the net as it was.

Private: ``summary(net, *inputs)`` uses it. Gluon's own ``Block.summary(x)`` refuses a
hybridized net and finishes deferred initialization for good (drawing random numbers from
MXNet's global generator). Here, for the duration of one forward pass in predict mode
under ``autograd.pause()``:

- every HybridBlock runs imperatively (``_active`` off), so forward hooks fire in each
  child; its cached graph and cached op are put back afterwards, so a hybridized net
  does not even recompile;
- a deferred Parameter is completed with zeros (no random draw), and is put back to its
  deferred state afterwards (shape with unknown dimensions, no data, no gradient);
- hooks are detached in every case, also when the forward pass raises.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .._core.compat import gluon, mx
from .._core.gluon import is_deferred, parameter_groups, restore_fields, save_fields, zero_deferred
from ..tree import named_blocks

__all__ = ["shapes_of", "trace_outputs"]

_HYBRID_STATE = ("_active", "_cached_graph", "_cached_op", "_cached_op_args", "_in_format",
                 "_out_format")
_PARAM_STATE = ("_data", "_grad", "_deferred_init", "_shape", "_ctx_list", "_ctx_map")


def shapes_of(out: Any) -> Any:
    """The shape of an output, or a list of shapes for a tuple/list output (nested).

    >>> shapes_of((mx.nd.zeros((2, 3)), [mx.nd.zeros((4,))]))
    [(2, 3), [(4,)]]
    """
    if isinstance(out, (list, tuple)):
        return [shapes_of(o) for o in out]
    shape = getattr(out, "shape", None)
    return tuple(int(d) for d in shape) if shape is not None else type(out).__name__


def trace_outputs(block: gluon.Block, inputs: Sequence[Any],
                  shapes: Optional[Dict[int, Tuple[int, ...]]] = None
                  ) -> "OrderedDict[str, List[Any]]":
    """Path -> output shapes of each call of each block, in call order, for one forward pass.

    A block called several times (or registered at several paths) lists one shape per
    call under its first path. Nothing in ``block`` changes: see the module docstring.
    ``shapes``, if given, receives ``id(param) -> shape`` of each Parameter whose shape
    was still deferred, as the pass inferred it.

    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential(); net.add(nn.Dense(4), nn.Dense(2)); net.initialize()
    >>> net.hybridize()
    >>> dict(trace_outputs(net, [mx.nd.ones((3, 5))]))
    {'0': [(3, 4)], '1': [(3, 2)], '': [(3, 2)]}
    >>> net[0].weight.shape  # still deferred
    (4, 0)
    """
    blocks = named_blocks(block)
    seen: "OrderedDict[str, List[Any]]" = OrderedDict()
    handles = []
    saved_blocks = save_fields(blocks.values(), _HYBRID_STATE, lambda b: isinstance(b, gluon.HybridBlock))
    params = {id(g.param): g.param for g in parameter_groups(block)}
    saved_params = save_fields(params.values(), _PARAM_STATE, lambda p: True)
    try:
        for path, blk in blocks.items():
            handles.append(blk.register_forward_hook(_recorder(seen, path)))
            if isinstance(blk, gluon.HybridBlock):
                blk._active = False
        for p in params.values():
            if is_deferred(p):  # zeros instead of the real initializer: no random draw
                zero_deferred(p)
        with mx.autograd.pause(train_mode=False):
            block(*inputs)
        if shapes is not None:
            for p, state in saved_params:
                if state["_deferred_init"]:  # it was deferred before the pass
                    shapes[id(p)] = tuple(int(d) for d in p.shape)
    finally:
        for h in handles:
            h.detach()
        restore_fields(saved_blocks)
        restore_fields(saved_params)
    return seen


def _recorder(seen: Dict[str, List[Any]], path: str):
    def hook(_block, _inputs, out):
        if not _symbolic(out):  # deferred shape inference calls children on Symbols too
            seen.setdefault(path, []).append(shapes_of(out))
    return hook


def _symbolic(out: Any) -> bool:
    if isinstance(out, (list, tuple)):
        return any(_symbolic(o) for o in out)
    return isinstance(out, mx.sym.Symbol)
