"""Text rendering of a block tree: one line per block and per Parameter, shared ones marked."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as _onp

from . import _display as D
from ._compat import gluon
from ._validate import check_bool, check_int
from .errors import SelectionError
from ._backbone import check_block, join, key_index

Block = gluon.Block
Parameter = gluon.Parameter


def render_tree(block: Block, *, params: bool = True, max_depth: Optional[int] = None,
                indent: int = 2) -> str:
    """A text picture of ``block``: nesting by indentation, class, path, shapes, sharing.

    Each block is one line, ``path  Class  'auto_name'`` (the root's path shows as
    ``<root>``); under it, each of its own Parameters: ``path  shape  dtype``, with ``?``
    for a dimension still deferred, the ``grad_req`` when it is not ``write``, and for a
    Parameter that several blocks hold ``shared: <other paths>`` (at its canonical path)
    or ``shared -> <canonical path>`` (at every other path). A Parameter is shown under
    Gluon's key; a block with its own key scheme (a recurrent layer) adds ``attribute
    <name>`` where the key differs from the attribute. A block registered twice is drawn
    once; its later places say ``same block as <path>``.

    Args:
        block: any ``gluon.Block``, of any depth.
        params: also list Parameters (default True).
        max_depth: draw blocks down to this nesting depth only (root = 0); a block at
            that depth still lists its own Parameters, and says how many children (and
            Parameters inside them) are not drawn.
        indent: spaces per nesting level, an int >= 1.

    Returns:
        The rendering, lines joined by ``'\\n'``, no trailing newline.

    Raises:
        PathError: ``block`` is not a Block.
        SelectionError: ``max_depth`` is not an int >= 0, ``indent`` not an int >= 1,
            or ``params`` not a bool.

    Examples:
        >>> from mxnet.gluon import nn
        >>> from gluon_params_kit.tree import fresh_names
        >>> with fresh_names():
        ...     net = nn.Sequential(); shared = nn.Dense(4, in_units=3)
        ...     net.add(shared, nn.Dense(4, in_units=3, params=shared.params))
        >>> print(render_tree(net))
        <root>  Sequential  'sequential0'
          0  Dense  'dense0'
            0.weight  (4, 3)  float32  shared: 1.weight
            0.bias    (4,)    float32  shared: 1.bias
          1  Dense  'dense1'
            1.weight  (4, 3)  float32  shared -> 0.weight
            1.bias    (4,)    float32  shared -> 0.bias
    """
    check_block(block)
    check_int(max_depth, "max_depth", SelectionError, minimum=0, allow_none=True, where="render_tree")
    check_int(indent, "indent", SelectionError, minimum=1, where="render_tree")
    check_bool(params, "params", SelectionError, where="render_tree")
    index = key_index(block)
    keys_of = {id(g.param): g.paths for g in index.groups}
    lines: List[str] = []
    drawn: Dict[int, str] = {}

    def visit(path: str, blk: Block, depth: int) -> None:
        pad = " " * (indent * depth)
        head = f"{pad}{path or '<root>'}  {type(blk).__name__}  {blk.name!r}"
        if id(blk) in drawn:
            lines.append(f"{head}  same block as {drawn[id(blk)] or '<root>'}")
            return
        drawn[id(blk)] = path
        cut = max_depth is not None and depth >= max_depth and bool(blk._children)
        if cut:  # its own Parameters are still listed; only its children are summed up
            below = {id(p) for kid in blk._children.values() for p in _params_below(kid)}
            note = _plural(len(blk._children), "child", "children")
            if below:
                note += ", " + _plural(len(below), "parameter", "parameters") + " inside"
            head += f"  ... ({note})"
        lines.append(head)
        if params and blk._reg_params:
            rows = [_param_row(join(path, attr), prm, keys_of[id(prm)], index.use_of)
                    for attr, prm in blk._reg_params.items()]
            lines.extend(pad + " " * indent + line for line in D.aligned(rows, 3))
        if cut:
            return
        for key, child in blk._children.items():
            visit(join(path, key), child, depth + 1)

    visit("", block, 0)
    return "\n".join(lines)


def _param_row(attribute: str, param: Parameter, paths: List[str],
               use_of: Dict[str, str]) -> List[str]:
    """One Parameter line: Gluon's key for this use; the attribute name where that differs."""
    path = use_of.get(attribute, attribute)
    row = [path, _shape(param.shape), _onp.dtype(param.dtype).name]
    if path != attribute:
        row.append(f"attribute {attribute.rpartition('.')[2]}")
    if param.grad_req != "write":
        row.append(f"grad_req={param.grad_req}")
    if len(paths) > 1:
        if path == paths[0]:
            row.append("shared: " + ", ".join(paths[1:]))
        else:
            row.append(f"shared -> {paths[0]}")
    return row


def _shape(shape) -> str:
    """``(8, 0)`` -> ``'(8, ?)'``: 0 (or -1 in np mode) is a dimension still deferred."""
    if shape is None:
        return "?"
    dims = ["?" if d in (0, -1) else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _params_below(blk: Block):
    stack = [blk]
    while stack:
        b = stack.pop()
        yield from b._reg_params.values()
        stack.extend(b._children.values())
