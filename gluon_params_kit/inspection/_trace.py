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

Each call also records its multiply-adds (:mod:`._cost`) and the bytes of the arrays it
returned that are new: not one of its inputs, nor an array one of the calls inside it
returned (a ``Sequential`` returns its last layer's output: counted once, at that layer).
Summed over the pass, that is every array a block returned, each once: the activation
memory of one forward pass (intermediate results inside a layer that no block returns,
such as a ``Dense``'s output before its ``activation``, are not seen).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as _onp

from .._core.compat import gluon, mx
from .._core.gluon import check_block, is_deferred, parameter_groups, restore_fields, save_fields, zero_deferred
from .._core.validate import shown
from ..errors import InspectionError, InspectionTypeError
from ..tree import named_blocks
from ._cost import mult_adds

__all__ = ["Trace", "array_bytes", "shapes_of", "trace_layers", "trace_outputs"]

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


class Trace(NamedTuple):
    """What one traced forward pass saw: per block path, one record per call (``outputs``:
    shape or list of shapes; ``bytes``: the new arrays it returned; ``mult_adds``: int or
    ``None``), and the bytes of the example inputs."""

    calls: "OrderedDict[str, List[Dict[str, Any]]]"
    input_bytes: int


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
    check_block(block, InspectionTypeError)
    if not isinstance(inputs, (list, tuple)):
        raise InspectionTypeError(f"trace_outputs: inputs must be a list of the net's inputs, like "
                                  f"[mx.nd.ones((2, 5))], got {shown(inputs)}")
    if shapes is not None and not isinstance(shapes, dict):
        raise InspectionTypeError(f"trace_outputs: shapes must be None or a dict to fill, got {shown(shapes)}")
    try:
        calls = trace_layers(block, list(inputs), shapes).calls
    except Exception as exc:  # the user's net or inputs: say so, in the kit's words
        raise InspectionError(f"trace_outputs: the forward pass of {type(block).__name__} {block.name!r} "
                              f"failed ({type(exc).__name__}: {exc}); the net is unchanged") from exc
    return OrderedDict((path, [c["outputs"] for c in records]) for path, records in calls.items())


def trace_layers(block: gluon.Block, inputs: Sequence[Any],
                 shapes: Optional[Dict[int, Tuple[int, ...]]] = None) -> Trace:
    """As :func:`trace_outputs`, with each call's multiply-adds and new output bytes.

    >>> from mxnet.gluon import nn
    >>> net = nn.HybridSequential(); net.add(nn.Dense(4, in_units=5), nn.Dense(2)); net.initialize()
    >>> t = trace_layers(net, [mx.nd.ones((3, 5))])
    >>> [(p, c[0]['mult_adds'], c[0]['bytes']) for p, c in t.calls.items()], t.input_bytes
    ([('0', 60, 48), ('1', 24, 24), ('', None, 0)], 60)
    """
    blocks = named_blocks(block)
    seen: "OrderedDict[str, List[Any]]" = OrderedDict()
    handles = []
    saved_blocks = save_fields(blocks.values(), _HYBRID_STATE, lambda b: isinstance(b, gluon.HybridBlock))
    params = {id(g.param): g.param for g in parameter_groups(block)}
    saved_params = save_fields(params.values(), _PARAM_STATE, lambda p: True)
    frames: List[Tuple[List[Any], List[Any]]] = []  # per open call: (its inputs, what its calls returned)
    try:
        for path, blk in blocks.items():
            handles.append(blk.register_forward_pre_hook(_opener(frames)))
            handles.append(blk.register_forward_hook(_recorder(seen, path, frames)))
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
    return Trace(seen, sum(array_bytes(a) for a in _arrays(list(inputs))))


def array_bytes(a: Any) -> int:
    """Bytes of one array's values."""
    n = 1
    for d in a.shape:
        n *= int(d)
    return n * _onp.dtype(a.dtype).itemsize


def _arrays(value: Any) -> List[Any]:
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _arrays(v)]
    return [value] if hasattr(value, "shape") and hasattr(value, "dtype") else []


def _opener(frames: List[Tuple[List[Any], List[Any]]]):
    def pre_hook(_block, inputs):
        frames.append((_arrays(list(inputs)), []))
    return pre_hook


def _recorder(seen: Dict[str, List[Any]], path: str, frames: List[Tuple[List[Any], List[Any]]]):
    def hook(blk, inputs, out):
        given, inner = frames.pop() if frames else ([], [])
        returned = _arrays(out)
        if frames:  # the enclosing call sees what this one returned (kept alive: compared by identity)
            frames[-1][1].extend(returned)
        if _symbolic(out):  # deferred shape inference calls children on Symbols too
            return
        known = given + inner
        new = sum(array_bytes(a) for a in returned if not any(a is k for k in known))
        try:
            cost = mult_adds(blk, inputs, out)
        except Exception:  # a layer built unlike Gluon's own: no count, never a failed summary
            cost = None
        seen.setdefault(path, []).append({"outputs": shapes_of(out), "bytes": new, "mult_adds": cost})
    return hook


def _symbolic(out: Any) -> bool:
    if isinstance(out, (list, tuple)):
        return any(_symbolic(o) for o in out)
    return isinstance(out, mx.sym.Symbol)
