"""The backbone's internals: how a block is read, shared by every module of the kit.

It owns (the path grammar it builds on is :mod:`.paths`, which needs no mxnet)

- **the walk and the keys**: :func:`walk`, :func:`gluon_keys` (Gluon's own
  ``_collect_params_with_prefix()``, checked), :func:`attribute_paths`, :func:`key_index`
  (every Parameter as a :class:`ParamGroup` with its keys and aliases), and the views of
  that index other modules use (:func:`parameter_groups`, :func:`spellings`,
  :func:`alias_table`, :func:`key_in`);
- **a Parameter's state**, read from MXNet's private fields in one place:
  :func:`has_data`, :func:`is_deferred`, :func:`init_state`, :func:`contexts`,
  :func:`arrays`, :func:`grad_arrays`, :func:`save_fields` / :func:`restore_fields`;
- :func:`check_block`, the kit's "is this a Block" check.

The public faces of these live in :mod:`gluon_params_kit.tree`; this module may change
with MXNet's internals, its callers should not have to.
"""
from __future__ import annotations

import operator
from collections import OrderedDict
from itertools import repeat
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
)

from ..errors import PathError, PathTypeError
from .paths import join
from .types import Block, Parameter
from .validate import check_bool

__all__ = [
    "DISPLAY_FIELDS", "KeyIndex", "ParamGroup", "alias_table", "arrays", "attribute_paths",
    "check_block", "contexts", "gluon_keys", "grad_arrays", "has_data", "init_state", "is_deferred",
    "keeps_fields", "key_index", "keys_are_attribute_paths", "own_keys", "parameter_groups",
    "restore_fields", "save_fields", "spellings", "walk", "zero_deferred",
]



# --------------------------------------------------------------------------- key methods

def own_keys(block: Block) -> bool:
    """Whether ``block``'s class defines its own Gluon keys (overrides the key method)."""
    return _own_keys_class(type(block))


_KEY_METHOD = "_collect_params_with_prefix"


def keys_are_attribute_paths(blocks: Sequence[Block]) -> bool:
    """Whether Gluon's keys of a walk's blocks are their attribute paths, in walk order.

    True when no block's class and no block itself defines its own key method: then
    ``gluon_keys(root)`` lists, for every block of the walk (each registration of a block
    added twice), its ``_reg_params`` under ``path.name``, parents before children, and a
    report can read the keys off its own walk instead of asking Gluon (provided no two
    attribute paths are the same string: a child key or name with a ``'.'`` could make two).
    """
    if any(_own_keys_class(cls) for cls in set(map(type, blocks))):
        return False
    return not any(map(operator.contains, map(vars, blocks), repeat(_KEY_METHOD)))


def _own_keys_class(cls: Type[Block]) -> bool:
    """`own_keys` for a block class."""
    return cls._collect_params_with_prefix is not Block._collect_params_with_prefix


#: ``(shape, dtype, grad_req, class)`` of a Parameter as stored, in one C call: what decides
#: how a report shows it, for a cache key. Its shape may say ``0`` for an unknown dimension
#: where ``param.shape`` says ``-1`` (NumPy shape mode); the report still reads the
#: properties to draw, and trusts the key only for a class :func:`keeps_fields` accepts.
DISPLAY_FIELDS = operator.attrgetter("_shape", "_dtype", "_grad_req", "__class__")


def keeps_fields(cls: type) -> bool:
    """Whether Parameters of class ``cls`` show ``shape``, ``dtype`` and ``grad_req`` as
    Gluon's Parameter does (from the fields :data:`DISPLAY_FIELDS` reads). Gluon's own
    ``Constant`` does not: it redefines ``grad_req``.

    >>> from mxnet import gluon
    >>> keeps_fields(gluon.Parameter), keeps_fields(gluon.Constant)
    (True, False)
    """
    return all(getattr(cls, name, None) is getattr(Parameter, name)
               for name in ("shape", "dtype", "grad_req"))


def check_block(block, error: type = PathTypeError, name: str = "block") -> None:
    """Raise ``error`` (the calling module's ``*TypeError``) unless ``block`` is a gluon Block;
    ``name`` is the argument as the caller's signature spells it."""
    if not isinstance(block, Block):
        raise error(f"{name} must be a mxnet.gluon.Block, got {type(block).__name__}")


# --------------------------------------------------------------------------- walk and keys

def walk(block: Block, *, depth_first: bool = True) -> Iterator[Tuple[str, Block]]:
    """Yield ``(path, block)`` for the root (path ``''``) and every descendant.

    Children come in registration order (the order of ``block._children``), so the
    walk is deterministic. A block registered under several paths is yielded under
    each of them. ``depth_first=False`` walks level by level.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
    >>> [p for p, _ in walk(net)]
    ['', '0', '1']
    """
    check_block(block)
    check_bool(depth_first, "depth_first", PathError)
    if depth_first:
        stack: List[Tuple[str, Block]] = [("", block)]
        while stack:
            path, blk = stack.pop()
            yield path, blk
            kids = [(join(path, k), c) for k, c in blk._children.items()]
            stack.extend(reversed(kids))
    else:
        level: List[Tuple[str, Block]] = [("", block)]
        while level:
            nxt: List[Tuple[str, Block]] = []
            for path, blk in level:
                yield path, blk
                nxt.extend((join(path, k), c) for k, c in blk._children.items())
            level = nxt


class ParamGroup(NamedTuple):
    """One distinct Parameter of a block, with every way of addressing it."""

    path: str             # canonical: the first of ``paths``
    param: Parameter
    paths: List[str]      # Gluon's keys for it (its uses, what save_parameters writes)
    aliases: List[str]    # attribute paths that are not among ``paths``
    attribute: str        # its first attribute path (the owning block's path, then its name)

    @property
    def spellings(self) -> List[str]:
        """Every path that reaches the Parameter: its keys, then its aliases."""
        return self.paths + self.aliases


#: ``ParamGroup(*fields)`` without the Python-level ``__new__`` (10^5 groups per index).
_group = tuple.__new__


class KeyIndex(NamedTuple):
    """What :func:`key_index` reads off a block in one walk."""

    keys: "OrderedDict[str, Parameter]"  # every key in Gluon's order (then unsaved Parameters)
    groups: List[ParamGroup]
    canonical: Dict[str, str]   # any key or alias -> canonical path
    use_of: Dict[str, str]      # attribute path -> the Gluon key of that same use
    blocks: "OrderedDict[str, Block]"  # every block path (a block added twice: each) -> block


def gluon_keys(block: Block) -> "OrderedDict[str, Parameter]":
    """Gluon's own answer, checked: ``block._collect_params_with_prefix()`` as key -> Parameter."""
    try:
        keys = block._collect_params_with_prefix()
    except Exception as exc:  # an ecosystem block's own override failed: say whose
        raise PathError(f"{type(block).__name__}._collect_params_with_prefix() raised "
                        f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(keys, Mapping) or not (all(map(isinstance, keys, repeat(str))) and all(
            map(isinstance, keys.values(), repeat(Parameter)))):
        raise PathError(f"{type(block).__name__}._collect_params_with_prefix() must return a "
                        f"dict of str -> Parameter, got {type(keys).__name__}")
    return OrderedDict(keys)


def attribute_paths(block: Block, blocks: Optional[Dict[str, Block]] = None
                    ) -> "OrderedDict[str, Parameter]":
    """Attribute path (child keys, then the ``_reg_params`` name) -> Parameter, walk order.

    ``blocks``, if given, receives every block path -> block of the same walk.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(4))
    >>> list(attribute_paths(net))
    ['0.weight', '0.bias']
    """
    check_block(block)
    return _attribute_walk(block, {} if blocks is None else blocks)[0]


def _attribute_walk(block: Block, blocks: Dict[str, Block]
                    ) -> Tuple["OrderedDict[str, Parameter]", bool]:
    """(:func:`attribute_paths`, whether no block of the walk has its own key method).

    In the second case Gluon's keys are these very paths in this very order: its
    ``Block._collect_params_with_prefix`` puts a block's ``_reg_params`` under its path,
    then recurses into its children in order, as this walk does (an index of a
    10^5-parameter net then takes one walk, not two).
    """
    out: "OrderedDict[str, Parameter]" = OrderedDict()
    stack: List[Tuple[str, Block]] = [("", block)]
    pop, push = stack.pop, stack.extend
    while stack:
        path, blk = pop()
        blocks[path] = blk
        prefix = f"{path}." if path else ""
        for attr, param in blk._reg_params.items():
            out[f"{prefix}{attr}"] = param
        if blk._children:
            push(reversed([(f"{prefix}{k}", c) for k, c in blk._children.items()]))
    # two equal paths (a '.' in a child key) overwrite in place, as Gluon's dict.update does
    return out, keys_are_attribute_paths(list(blocks.values()))


def key_index(block: Block) -> KeyIndex:
    """Every Parameter of ``block`` with its Gluon keys and its attribute aliases.

    Gluon's keys decide the canonical path and the order; attribute paths that are not
    keys become aliases, each paired with the key of the same use (in order, per
    Parameter) so a report drawn by block can show the key Gluon writes.
    """
    check_block(block)
    blocks: "OrderedDict[str, Block]" = OrderedDict()
    attrs, plain = _attribute_walk(block, blocks)
    if plain:  # Gluon's keys are the attribute paths (see _attribute_walk)
        return _plain_key_index(attrs, blocks)
    keys = gluon_keys(block)
    # the same keys, in the same order (OrderedDict equality), to the same objects
    if keys == attrs and all(map(operator.is_, keys.values(), attrs.values())):
        return _plain_key_index(keys, blocks)
    return _full_key_index(keys, attrs, blocks)


def _full_key_index(keys: "OrderedDict[str, Parameter]", attrs: "OrderedDict[str, Parameter]",
                    blocks: "OrderedDict[str, Block]") -> KeyIndex:
    """:func:`key_index` from Gluon's keys and the attribute paths, aliases and all."""
    by_id: Dict[int, Tuple[Parameter, List[str], List[str]]] = {}  # insertion-ordered
    first_attr: Dict[int, str] = {}
    for key, param in keys.items():
        entry = by_id.get(id(param))
        if entry is None:
            by_id[id(param)] = (param, [key], [])
        else:
            entry[1].append(key)
    for path, param in attrs.items():
        i = id(param)
        entry = by_id.get(i)
        if entry is None:
            entry = by_id[i] = (param, [], [])
        if i not in first_attr:
            first_attr[i] = path
        if path not in keys:
            entry[2].append(path)
    groups: List[ParamGroup] = []
    canonical: Dict[str, str] = {}
    use_of: Dict[str, str] = {}
    for param, paths, aliases in by_id.values():
        if not paths:  # Gluon's keys leave it out: its attribute path is all it has
            paths, aliases = aliases[:1], aliases[1:]
            keys[paths[0]] = param
        path = paths[0]
        groups.append(ParamGroup(path, param, paths, aliases, first_attr.get(id(param), path)))
        if not aliases and len(paths) == 1:  # the common case: one key, no alias
            if path not in canonical:
                canonical[path] = path
            continue
        for spelling in paths + aliases:
            canonical.setdefault(spelling, path)
        unpaired = [k for k in paths if k not in attrs]
        for alias, key in zip(aliases, unpaired + [paths[0]] * len(aliases)):
            use_of[alias] = key
    return KeyIndex(keys, groups, canonical, use_of, blocks)


def _plain_key_index(keys: "OrderedDict[str, Parameter]",
                     blocks: "OrderedDict[str, Block]") -> KeyIndex:
    """:func:`key_index` when the attribute paths are exactly Gluon's keys (no block with
    its own key scheme): no aliases, each Parameter's first key is its attribute path."""
    if len(set(map(id, keys.values()))) == len(keys):  # nothing tied: one key each
        groups = [_group(ParamGroup, (k, p, [k], [], k)) for k, p in keys.items()]
        return KeyIndex(keys, groups, dict(zip(keys, keys)), {}, blocks)
    by_id: Dict[int, Tuple[Parameter, List[str]]] = {}
    canonical: Dict[str, str] = {}
    for key, param in keys.items():
        entry = by_id.get(id(param))
        if entry is None:
            by_id[id(param)] = (param, [key])
            canonical[key] = key
        else:
            entry[1].append(key)
            canonical[key] = entry[1][0]
    groups = [ParamGroup(paths[0], param, paths, [], paths[0]) for param, paths in by_id.values()]
    return KeyIndex(keys, groups, canonical, {}, blocks)


def spellings(block: Block) -> Dict[str, str]:
    """Every key and alias of ``block``'s Parameters -> its canonical path (for result objects
    that are looked up by path: pass it to :func:`key_in`)."""
    return key_index(block).canonical


def parameter_groups(block: Block) -> List[ParamGroup]:
    """One :class:`ParamGroup` for each distinct Parameter, in Gluon's key order."""
    return key_index(block).groups


def alias_table(block: Block) -> Dict[int, Tuple[Union[Block, Parameter], List[str]]]:
    """id(Parameter or Block) -> (it, every path it has: Gluon keys first, canonical first).

    Each entry holds its object, so an id in the table cannot be reused by another object.
    """
    index = key_index(block)  # its walk gave every block path too
    table: Dict[int, Tuple[Union[Block, Parameter], List[str]]] = {}
    for path, blk in index.blocks.items():
        entry = table.get(id(blk))
        if entry is None:
            table[id(blk)] = (blk, [path])
        else:
            entry[1].append(path)
    for group in index.groups:
        table[id(group.param)] = (group.param, group.spellings)
    return table


# --------------------------------------------------------------------------- Parameter state
# The only reads of MXNet's private Parameter fields (``_data``, ``_grad``, ``_deferred_init``).

def has_data(param: Parameter) -> bool:
    """Whether ``param`` holds arrays (initialized), as opposed to deferred or never initialized."""
    return param._data is not None


def is_deferred(param: Parameter) -> bool:
    """Whether ``param`` waits for its first forward pass to learn its shape."""
    return bool(param._deferred_init)


def init_state(param: Parameter) -> str:
    """``'initialized'``, ``'deferred'`` or ``'uninitialized'``.

    >>> from mxnet.gluon import nn
    >>> layer = nn.Dense(2); layer.initialize()
    >>> init_state(layer.weight), init_state(nn.Dense(2).weight)
    ('deferred', 'uninitialized')
    """
    if param._data is not None:
        return "initialized"
    return "deferred" if param._deferred_init else "uninitialized"


def contexts(param: Parameter) -> Optional[List[Any]]:
    """The contexts ``param`` lives on, or will at its first forward (deferred); ``None``
    when it was never initialized."""
    if param._data is not None:
        return param.list_ctx()
    if param._deferred_init:
        return list(param._deferred_init[1])
    return None


def arrays(param: Parameter) -> Optional[List[Any]]:
    """Its arrays, one per context, or ``None``; unlike ``list_data()``, also for
    ``row_sparse`` Parameters (which Gluon keeps behind the Trainer)."""
    return param._data


def grad_arrays(param: Parameter) -> Optional[List[Any]]:
    """Its gradient arrays, one per context, or ``None`` (``grad_req='null'``, uninitialized)."""
    return param._grad


def zero_deferred(param: Parameter) -> None:
    """Make a deferred ``param``'s first forward fill zeros instead of its initializer (no
    random draw); used on a Parameter whose fields :func:`save_fields` saved, to put back."""
    _, ctx, _, data = param._deferred_init
    param._deferred_init = ("zeros", ctx, "zeros", data)


_MISSING = object()


def save_fields(objs: Iterable[Any], fields: Sequence[str],
                keep: Callable[[Any], bool] = lambda obj: True) -> List[Tuple[Any, Dict[str, Any]]]:
    """The values of ``fields`` on each object (absent ones remembered as absent), to put
    back with :func:`restore_fields` after an operation that must leave nothing changed."""
    return [(o, {f: o.__dict__.get(f, _MISSING) for f in fields}) for o in objs if keep(o)]


def restore_fields(saved: Iterable[Tuple[Any, Dict[str, Any]]]) -> None:
    """Put back what :func:`save_fields` saved (a field that was absent is removed)."""
    for obj, state in saved:
        for field, value in state.items():
            if value is _MISSING:
                obj.__dict__.pop(field, None)
            else:
                obj.__dict__[field] = value
