"""Text rendering of a block tree: one line per block and per Parameter, shared ones marked."""
from __future__ import annotations

import functools
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as _onp

from .._core import display as D
from .._core import gcpause as _gc
from .._core.gluon import DISPLAY_FIELDS, KeyIndex, check_block, keeps_fields, key_index, keys_are_attribute_paths
from .._core.paths import join
from .._core.types import Block, Parameter
from .._core.validate import check_bool, check_number
from ..errors import SelectionError

__all__ = ["render_tree"]


_MAX_INDENT = 64  # spaces per level: past that a picture is no longer one


@_gc.paused
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
        indent: spaces per nesting level, an int in 1..64.

    Returns:
        The rendering, lines joined by ``'\\n'``, no trailing newline.

    Raises:
        PathError: ``block`` is not a Block.
        SelectionError: ``max_depth`` is not an int >= 0, ``indent`` not an int in 1..64,
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
    check_number(max_depth, "max_depth", SelectionError, integer=True, minimum=0, allow_none=True,
                 where="render_tree")
    check_number(indent, "indent", SelectionError, integer=True, minimum=1, maximum=_MAX_INDENT,
                 where="render_tree")
    check_bool(params, "params", SelectionError, where="render_tree")
    lines = _Drawing(block, params, max_depth, indent, None).lines() if params else None
    if lines is None:  # blocks only, or a block with its own keys: Gluon's keys, asked first
        index = key_index(block) if params else None
        lines = _Drawing(block, params, max_depth, indent, index).lines()
        assert lines is not None  # only a plain drawing (no index, with Parameters) gives up
    return "\n".join(lines)


_UNSEEN = object()


class _Drawing:
    """One walk of a block tree that draws its lines.

    With ``index`` (Gluon's keys, :func:`key_index`), or without Parameters, it draws the
    blocks it shows and nothing else. Without ``index`` (the *plain* drawing), it reads the
    keys off its own walk, which is right when they are the attribute paths
    (:func:`keys_are_attribute_paths`, checked at the end: :meth:`lines` then says
    ``None``): it walks the blocks it does not draw too (the places of a block added
    twice, those below ``max_depth``) for the keys of the Parameters there, and draws a
    block's Parameter lines from a cache of their ends (after ``path.``) by the block's
    signature (names, shape, dtype, grad_req and class of its Parameters). A Parameter
    seen again is shared: its later lines say so as they are drawn, and its first block's
    lines are drawn again at the end, with all its keys.
    """

    def __init__(self, block: Block, params: bool, max_depth: Optional[int], indent: int,
                 index: Optional[KeyIndex]):
        self.block, self.params, self.max_depth, self.indent = block, params, max_depth, indent
        self.plain = params and index is None
        self.keys_of = {id(g.param): g.paths for g in index.groups} if index else {}
        self.use_of = index.use_of if index else {}
        self.out: List[str] = []
        self.pads = [" " * (indent * d) for d in range(16)]
        # plain drawing only:
        # id(Parameter) -> where first seen: (its block's first line or -1, block, key prefix, pad)
        self.first: Dict[int, Tuple[int, Block, str, str]] = {}
        self.later: Dict[int, List[str]] = {}  # id(Parameter) -> its keys after the first
        self.ends: Dict[tuple, Optional[str]] = {}  # block signature -> its lines (see _ends)
        self.blocks: List[Block] = []  # every block walked

    def lines(self) -> Optional[List[str]]:
        """The drawing's lines; ``None`` when a plain drawing finds Gluon's keys are not the
        attribute paths (the caller draws again with the key index)."""
        if not self._walk():
            return None
        if self.plain:
            if not keys_are_attribute_paths(self.blocks):
                return None
            for pid in self.later:  # shared: draw its first block again, with all its keys
                start, blk, prefix, pad = self.first[pid]
                if start >= 0:
                    self.out[start] = "\n".join(self._rows(blk, prefix, pad))
        return self.out

    def _walk(self) -> bool:
        out, pads, plain, params, max_depth = self.out, self.pads, self.plain, self.params, self.max_depth
        add = out.append
        first, ends = self.first, self.ends
        note, cached = first.setdefault, ends.get
        drawn: Dict[int, str] = {}
        blocks_add = self.blocks.append
        stack: List[Tuple[str, Block, int, bool]] = [("", self.block, 0, True)]
        pop = stack.pop
        while stack:
            path, blk, depth, draw = pop()
            kids = blk._children
            if plain:
                blocks_add(blk)
            show_kids = draw
            if depth + 1 >= len(pads):
                pads.extend(" " * (self.indent * d) for d in range(len(pads), 2 * depth + 2))
            if draw:
                head = f"{pads[depth]}{path or '<root>'}  {type(blk).__name__}  {blk.name!r}"
                if id(blk) in drawn:
                    add(f"{head}  same block as {drawn[id(blk)] or '<root>'}")
                    draw = show_kids = False
                else:
                    drawn[id(blk)] = path
                    if max_depth is not None and depth >= max_depth and kids:
                        head += _cut_note(blk)  # its own Parameters are still listed
                        show_kids = False
                    add(head)
            rp = blk._reg_params
            if rp and params:
                if not plain:
                    if draw:
                        out.extend(self._rows(blk, path, pads[depth + 1]))
                else:
                    prefix = f"{path}." if path else ""
                    here = (len(out) if draw else -1, blk, prefix, pads[depth + 1])
                    size = len(first)
                    for prm in rp.values():
                        if note(id(prm), here) is not here:
                            break
                    lines: Optional[str] = None
                    if draw and len(first) - size == len(rp):  # all first seen here: cached
                        try:
                            sig = (*rp, *map(DISPLAY_FIELDS, rp.values()))
                            found = cached(sig, _UNSEEN)
                        except (TypeError, AttributeError):  # unhashable (a list shape)
                            found = None
                        if found is _UNSEEN:
                            lines = ends[sig] = _ends(rp)
                        elif isinstance(found, str):  # else None: not plain, drawn row by row
                            lines = found
                        if lines is not None:
                            add(lines.replace("\0", here[3] + prefix))
                    if lines is None:
                        if not self._note_keys(rp, here):
                            return False
                        if draw:
                            add("\n".join(self._rows(blk, prefix, here[3])))
            if kids and (show_kids or plain):
                if plain and not all(type(k) is str and "." not in k for k in kids):
                    return False  # two attribute paths could be one string: ask Gluon
                d1 = depth + 1
                if path:
                    stack.extend(reversed([(f"{path}.{k}", c, d1, show_kids)
                                           for k, c in kids.items()]))
                else:
                    stack.extend(reversed([(str(k), c, d1, show_kids) for k, c in kids.items()]))
        return True

    def _note_keys(self, reg_params, here) -> bool:
        """Note the keys of a block's Parameters (``here``: where it is); False when a name
        could make two keys one string."""
        first, prefix = self.first, here[2]
        taken = set()
        for attr, prm in reg_params.items():
            if type(attr) is not str or "." in attr:
                return False
            if first.setdefault(id(prm), here) is here and id(prm) not in taken:
                taken.add(id(prm))
            else:
                self.later.setdefault(id(prm), []).append(prefix + attr)
        return True

    def _rows(self, blk: Block, path: str, pad: str) -> List[str]:
        """A block's Parameter lines, row by row, with the keys known so far (``path`` is
        the block's path, or in a plain drawing its key prefix ``path.``)."""
        if self.plain:
            rows = [_param_row(path + attr, prm, self._keys(prm), {})
                    for attr, prm in blk._reg_params.items()]
        else:
            rows = [_param_row(join(path, attr), prm, self.keys_of.get(id(prm), ()), self.use_of)
                    for attr, prm in blk._reg_params.items()]  # (): its key hidden by another's
        return [pad + line for line in D.aligned(rows, 3)]

    def _keys(self, prm: Parameter) -> List[str]:
        """A plain drawing's keys of ``prm`` so far: where it was first seen, then later."""
        _, blk, prefix, _ = self.first[id(prm)]
        name = next(attr for attr, other in blk._reg_params.items() if other is prm)
        return [prefix + name] + self.later.get(id(prm), [])


def _ends(reg_params) -> Optional[str]:
    """A block's Parameter lines, each ``'\\0'`` then what follows its ``path.``, if every
    one is plain (no grad_req to say, a class that keeps Gluon's fields, a name that cannot
    make two keys one string); else None."""
    rows = []
    for attr, prm in reg_params.items():
        if (type(attr) is not str or not attr or "." in attr or "\0" in attr
                or prm.grad_req != "write" or not keeps_fields(type(prm))):
            return None
        rows.append([attr, _shape(prm.shape), _dtype_name(prm.dtype)])
    return "\n".join("\0" + line for line in D.aligned(rows, 3))


def _cut_note(blk: Block) -> str:
    """``'  ... (2 children, 4 parameters inside)'``: what a block cut at max_depth holds."""
    below = {id(p) for kid in blk._children.values() for p in _params_below(kid)}
    note = _plural(len(blk._children), "child", "children")
    if below:
        note += ", " + _plural(len(below), "parameter", "parameters") + " inside"
    return f"  ... ({note})"


def _param_row(attribute: str, param: Parameter, paths: Sequence[str],
               use_of: Dict[str, str]) -> List[str]:
    """One Parameter line: Gluon's key for this use; the attribute name where that differs."""
    path = use_of.get(attribute, attribute)
    row = [path, _shape(param.shape), _dtype_name(param.dtype)]
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


@functools.lru_cache(maxsize=64)
def _dtype_name(dtype) -> str:
    """``'float32'`` for a Parameter's dtype (numpy's ``dtype.name`` is slow; nets repeat it)."""
    return _onp.dtype(dtype).name


def _shape(shape) -> str:
    """``(8, 0)`` -> ``'(8, ?)'``: 0 (or -1 in np mode) is a dimension still deferred.

    ``shape`` is a tuple, a list (a Parameter made with ``shape=[2, 3]`` keeps it) or None.
    """
    return _shape_text(shape if shape is None or type(shape) is tuple else tuple(shape))


@functools.lru_cache(maxsize=4096)
def _shape_text(shape) -> str:
    """:func:`_shape` of a tuple or None, cached (a net repeats its shapes)."""
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
