"""The backbone: a block read as an ordered map from structural path to Parameter.

A structural path is the key Gluon itself gives a Parameter: the key of
``block._collect_params_with_prefix()``, which is what ``save_parameters`` writes and
``load_parameters`` reads. For most blocks that is child keys joined by ``'.'``, then the
parameter's attribute name (``0.1.0.bias``, ``features.3.weight``). Unlike auto names
(``dense0_weight``), which come from a process-wide counter, paths are the same in every
process.

How a block with its own key scheme is read. Some blocks override
``_collect_params_with_prefix``: MXNet's recurrent layers save the attribute
``l0_i2h_weight`` as ``_unfused.0.i2h_weight`` (``_unfused.0.l_cell.i2h_weight`` when
bidirectional), and ecosystem blocks rename theirs (an attention cell may save its
``query_weight`` as ``proj_query.weight``). The kit never second-guesses them: the
canonical path of a Parameter is the first key Gluon's own method gives it, called on the
block you pass, and the order of :func:`named_parameters` is the order of that method's
answer (so of ``save_parameters``). The *attribute path* (child keys, then the name in the
owning block's ``_reg_params``) stays accepted wherever a path is, as an alias, like the
legacy auto names: ``get(net, '1.l0_i2h_weight')``, ``select(net, 'l0_')`` and
``summary(net)['1.l0_i2h_weight']`` all reach the Parameter whose canonical path is
``1._unfused.0.i2h_weight``. A Parameter that Gluon's keys leave out (a custom scheme
that does not save it) keeps its attribute path as its canonical path, after the others.

Lookups stay O(depth) for blocks that do not override the method: :func:`get` walks
children and ``_reg_params`` and asks Gluon's method only at blocks that define their own
keys, for the rest of the path below them. Auto names stay usable as aliases through the
legacy bridge (:func:`legacy_names`).
"""
from __future__ import annotations

import contextlib
import re
from collections import OrderedDict
from typing import Any, Dict, Iterator, List, Mapping, Sequence, Tuple, Union

from .._core import gcpause as _gc
from .._core.compat import mx
from .._core.gluon import check_block, gluon_keys, key_index, own_keys, parameter_groups, walk
from .._core.paths import LEADING_VAR, ParamPath, format_path, is_index, parse_path
from .._core.types import Block, Parameter
from .._core.validate import check_bool, shown
from ..errors import PathError, PathTypeError, did_you_mean, listing
from ._render import render_tree

__all__ = [
    "LegacyNames",
    "ParamPath",
    "PathIndex",
    "format_path",
    "fresh_names",
    "get",
    "legacy_names",
    "match_legacy_names",
    "named_blocks",
    "named_parameters",
    "parse_path",
    "path_of",
    "render_tree",
    "walk",
]



# --------------------------------------------------------------------------- walking
# walk() lives in the Gluon reader (_core.gluon); parse_path() and format_path() in the path grammar (_core.paths).

def named_blocks(block: Block, *, aliases: bool = False) -> "OrderedDict[str, Block]":
    """Ordered mapping path -> block for the root (``''``) and every descendant.

    A block registered in several places appears once, under its first path in walk
    order, unless ``aliases=True``.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(4))
    >>> {p: type(b).__name__ for p, b in named_blocks(net).items()}
    {'': 'Sequential', '0': 'Dense'}
    """
    check_bool(aliases, "aliases", PathError)
    out: "OrderedDict[str, Block]" = OrderedDict()
    seen = set()
    for path, blk in walk(block):
        if aliases or id(blk) not in seen:
            seen.add(id(blk))
            out[path] = blk
    return out


def named_parameters(block: Block, *, aliases: bool = False) -> "OrderedDict[str, Parameter]":
    """Ordered mapping structural path -> Parameter, in ``save_parameters`` order.

    The paths are Gluon's own keys (``block._collect_params_with_prefix()``), so a
    recurrent layer's weights come out as ``1._unfused.0.i2h_weight``, not as the
    attribute path ``1.l0_i2h_weight`` (still accepted by :func:`get` and the rest as an
    alias). Each Parameter appears once, under its canonical path (the first key Gluon
    gives it); ``aliases=True`` lists it under every key, exactly the keys
    ``block.save_parameters`` writes. (``save_parameters(deduplicate=True)`` keeps a
    shared Parameter under its *last* key instead; the kit's canonical path is the first.)

    >>> from mxnet.gluon import nn, rnn
    >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
    >>> list(named_parameters(net))
    ['0.weight', '0.bias', '1.weight', '1.bias']
    >>> list(named_parameters(rnn.GRU(3)))
    ['_unfused.0.i2h_weight', '_unfused.0.h2h_weight', '_unfused.0.i2h_bias', '_unfused.0.h2h_bias']
    """
    check_block(block)
    check_bool(aliases, "aliases", PathError)
    index = key_index(block)
    if aliases:
        return OrderedDict(index.keys)
    return OrderedDict((group.path, group.param) for group in index.groups)


# --------------------------------------------------------------------------- lookup

def get(block: Block, path: ParamPath) -> Union[Block, Parameter]:
    """The Block or Parameter at ``path`` (any form :func:`parse_path` accepts).

    Gluon's keys (``'1._unfused.0.i2h_weight'``) and attribute paths
    (``'1.l0_i2h_weight'``) both resolve, and so does an auto name of this process
    (``'dense0_weight'``). A path that does not resolve raises :class:`~gluon_params_kit.errors.PathError` (a
    ``KeyError``) naming the failing segment, what exists there and the closest match.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
    >>> get(net, '[1].bias') is net[1].bias
    True
    >>> get(net, 'net[0]') is net[0]
    True
    >>> from mxnet.gluon import rnn
    >>> lstm = rnn.LSTM(4)
    >>> get(lstm, '_unfused.0.i2h_weight') is get(lstm, 'l0_i2h_weight') is lstm.l0_i2h_weight
    True
    """
    check_block(block)
    segs = parse_path(path)
    if isinstance(path, str) and segs:
        var = LEADING_VAR.match(path.strip())
        if var and segs[0] not in block._children and segs[0] not in block._reg_params:
            segs = segs[1:]  # 'rgnet[0][1]': a variable name, not a child
    try:
        return _resolve(block, segs, path)
    except PathError:
        if isinstance(path, str) and len(segs) == 1:
            owner = _by_auto_name(block).get(segs[0])
            if owner is not None:
                return owner
        raise


def _resolve(block: Block, segs: Tuple[str, ...], original: ParamPath):
    node = block
    for i, seg in enumerate(segs):
        if not isinstance(node, Block):
            raise PathError(
                f"path {original!r}: {format_path(segs[:i])!r} is a Parameter, "
                f"it has no {seg!r} inside")
        if own_keys(node):  # Gluon's key scheme of this block decides the rest of the path
            found = gluon_keys(node).get(format_path(segs[i:]))
            if found is not None:
                return found
        if seg in node._children:
            node = node._children[seg]
            continue
        if seg in node._reg_params:
            node = node._reg_params[seg]
            continue
        if is_index(seg) and node._children:
            keys = list(node._children)
            idx = int(seg)
            if -len(keys) <= idx < 0:  # Python-style negative index, as net[-1]
                node = node._children[keys[idx]]
                continue
        here = list(node._children) + list(node._reg_params)
        if own_keys(node):
            here += [k for k in gluon_keys(node) if k not in here]
        where = format_path(segs[:i]) or "<root>"
        raise PathError(
            f"path {original!r}: no {seg!r} at {where} ({type(node).__name__}). "
            f"It has: {listing(here) or 'nothing'}." + did_you_mean(seg, here))
    return node


def path_of(block: Block, target: Union[Block, Parameter], *, all_paths: bool = False,
            attributes: bool = False) -> Union[str, List[str]]:
    """The canonical path of a Parameter or sub-block inside ``block``.

    With ``all_paths=True``, every key it has, canonical first: Gluon's keys (what
    ``save_parameters`` writes, as ``named_parameters(aliases=True)`` and
    ``tied_groups`` list them), several for a tied Parameter or a block added twice.
    An attribute path that is no key (a recurrent layer's ``1.l0_i2h_weight`` for the key
    ``1._unfused.0.l_cell.i2h_weight``, an ecosystem block's renamed Parameter) is an
    alias that every lookup accepts but no file holds: ``attributes=True`` lists those
    too, after the keys (and implies ``all_paths``). Each call walks the whole net; for
    many lookups build a :class:`PathIndex` once.

    >>> from mxnet.gluon import nn, rnn
    >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
    >>> path_of(net, net[1].weight)
    '1.weight'
    >>> net.add(rnn.LSTM(3, input_size=2))
    >>> path_of(net, net[2].l0_i2h_weight, all_paths=True)
    ['2._unfused.0.i2h_weight']
    >>> path_of(net, net[2].l0_i2h_weight, attributes=True)
    ['2._unfused.0.i2h_weight', '2.l0_i2h_weight']
    """
    return PathIndex(block).path_of(target, all_paths=all_paths, attributes=attributes)


class PathIndex:
    """The paths of every Block and Parameter of a net, found in one walk: many ``path_of``.

    A Gluon block does not know its parents, so each :func:`path_of` call walks the whole
    net: calling it for every Parameter of a big net is quadratic. ``PathIndex(net)``
    walks once; each :meth:`path_of` is then a dictionary lookup. It is a snapshot of the
    net's structure: build a new one after adding, replacing or tying blocks/Parameters.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
    >>> paths = PathIndex(net)
    >>> [paths.path_of(p) for p in net.collect_params().values()]
    ['0.weight', '0.bias', '1.weight', '1.bias']
    >>> paths.path_of(net[1]), net[0].weight in paths, len(paths)
    ('1', True, 7)
    """

    @_gc.paused  # 10^5 small tuples and lists: the collector's passes would cost more
    def __init__(self, block: Block):
        check_block(block)
        self._block = block
        # id -> (the object: its id cannot be reused, its keys, its attribute-path aliases)
        self._table: Dict[int, Tuple[Any, List[str], List[str]]] = {}
        index = key_index(block)
        for path, blk in index.blocks.items():
            entry = self._table.setdefault(id(blk), (blk, [], []))
            entry[1].append(path)
        for group in index.groups:
            self._table[id(group.param)] = (group.param, group.paths, group.aliases)

    def path_of(self, target: Union[Block, Parameter], *, all_paths: bool = False,
                attributes: bool = False) -> Union[str, List[str]]:
        """The canonical path of ``target``; with ``all_paths``, its keys (canonical first);
        with ``attributes``, its keys then its attribute-path aliases (see :func:`path_of`).

        Raises :class:`~gluon_params_kit.errors.PathError` when ``target`` is not in the net
        (as it was when the index was built), :class:`~gluon_params_kit.errors.PathTypeError`
        when it is neither a Block nor a Parameter, or an option is not a bool.
        """
        check_bool(all_paths, "all_paths", PathError)
        check_bool(attributes, "attributes", PathError)
        if not isinstance(target, (Block, Parameter)):
            raise PathTypeError(f"target must be a Block or Parameter, got "
                                f"{type(target).__name__}")
        entry = self._table.get(id(target))
        if entry is None or entry[0] is not target:
            kind = type(target).__name__
            raise PathError(f"{kind} {getattr(target, 'name', target)!r} is not inside "
                            f"{type(self._block).__name__} {self._block.name!r}")
        if attributes:
            return entry[1] + entry[2]
        return list(entry[1]) if all_paths else entry[1][0]

    def __contains__(self, target: Any) -> bool:
        entry = self._table.get(id(target))
        return entry is not None and entry[0] is target

    def __len__(self) -> int:
        """How many distinct Blocks (the root included) and Parameters the net holds."""
        return len(self._table)

    def __repr__(self) -> str:
        return f"PathIndex({type(self._block).__name__} {self._block.name!r}: {len(self)} objects)"


# --------------------------------------------------------------------------- legacy names

class LegacyNames(Mapping):
    """The bridge between auto names (``dense0_weight``) and structural paths.

    Behaves as a mapping auto name -> canonical path; :meth:`to_name` goes the other
    way (any alias path accepted). Built by :func:`legacy_names`. An auto name that two
    distinct Parameters share names neither for sure: it is left out of the mapping
    (iteration, ``len``, ``in``), looking it up raises, and :attr:`ambiguous` lists it.
    """

    def __init__(self, name_to_path: "OrderedDict[str, str]", path_to_name: Dict[str, str],
                 ambiguous: Dict[str, List[str]]):
        self._n2p = name_to_path
        self._p2n = path_to_name
        self._ambiguous = ambiguous

    def __getitem__(self, name: str) -> str:
        return self.to_path(name)

    def __iter__(self):
        return (n for n in self._n2p if n not in self._ambiguous)

    def __len__(self) -> int:
        return len(self._n2p) - len(self._ambiguous)

    @property
    def ambiguous(self) -> Dict[str, List[str]]:
        """Auto name -> the canonical paths of the distinct Parameters that share it."""
        return {n: list(paths) for n, paths in self._ambiguous.items()}

    def to_path(self, name: str) -> str:
        """Canonical path of the parameter with this auto name.

        Raises :class:`~gluon_params_kit.errors.PathError` for an unknown name (with the
        closest ones) or a name two distinct Parameters share.

        >>> from mxnet.gluon import nn
        >>> with fresh_names():
        ...     net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
        >>> legacy_names(net).to_path('dense1_weight')
        '1.weight'
        """
        if not isinstance(name, str):  # a PathError too, so `in` and .get() say "not there"
            raise PathTypeError(f"an auto name is a str like 'dense0_weight', got {shown(name)}")
        if name in self._ambiguous:
            raise PathError(f"auto name {name!r} is ambiguous: it names "
                            f"{listing(self._ambiguous[name])}; use a path instead")
        if name not in self._n2p:
            raise PathError(f"no parameter is named {name!r}." + did_you_mean(name, self._n2p))
        return self._n2p[name]

    def to_name(self, path: ParamPath) -> str:
        """Auto name of the parameter at ``path`` (canonical or alias path, any path form).

        >>> from mxnet.gluon import nn
        >>> with fresh_names():
        ...     net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
        >>> legacy_names(net).to_name('[1].bias')
        'dense1_bias'
        """
        key = format_path(parse_path(path))
        if key not in self._p2n:
            raise PathError(f"no parameter at path {key!r}." + did_you_mean(key, self._p2n))
        return self._p2n[key]

    def __repr__(self) -> str:
        return f"LegacyNames({len(self)} names)"


def legacy_names(block: Block) -> LegacyNames:
    """The legacy bridge of ``block``: auto name <-> structural path, both ways.

    >>> from mxnet.gluon import nn
    >>> with fresh_names():
    ...     net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
    >>> bridge = legacy_names(net)
    >>> bridge['dense1_bias'], bridge.to_name('0.weight')
    ('1.bias', 'dense0_weight')
    """
    n2p: "OrderedDict[str, str]" = OrderedDict()
    p2n: Dict[str, str] = {}
    owners: Dict[str, List[int]] = {}
    ambiguous: Dict[str, List[str]] = {}
    for group in parameter_groups(block):
        for spelling in group.spellings:
            p2n[spelling] = group.param.name
    for path, param in named_parameters(block, aliases=True).items():
        if param.name not in n2p:
            n2p[param.name] = path
            owners[param.name] = [id(param)]
        elif id(param) not in owners[param.name]:  # two distinct Parameters, one name
            owners[param.name].append(id(param))
            ambiguous.setdefault(param.name, [n2p[param.name]]).append(path)
    return LegacyNames(n2p, p2n, ambiguous)


_NUMBER = re.compile(r"\d+")


def match_legacy_names(block: Block, names: Sequence[str]) -> "OrderedDict[str, str]":
    """Map auto names numbered by *another* process to this block's canonical paths.

    Counters differ between processes (``dense76_weight`` there is ``dense0_weight``
    here), but the structure does not: names are grouped by their shape with the
    numbers blanked out (``dense#_weight``) and matched by rank within each group.
    A group whose size differs between the two sides cannot be matched and raises
    :class:`~gluon_params_kit.errors.PathError` naming it.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
    >>> dict(match_legacy_names(net, ['dense7_weight', 'dense7_bias', 'dense8_weight', 'dense8_bias']))
    {'dense7_weight': '0.weight', 'dense7_bias': '0.bias', 'dense8_weight': '1.weight', 'dense8_bias': '1.bias'}
    """
    try:
        theirs = None if isinstance(names, (str, bytes)) else list(names)
    except TypeError:  # not iterable
        theirs = None
    if theirs is None or not all(isinstance(n, str) for n in theirs):
        raise PathTypeError(f"names must be a list of auto names (str), got "
                            f"{type(names).__name__}: {names!r}")
    ours = OrderedDict((p.name, path) for path, p in named_parameters(block).items())
    if len(set(theirs)) != len(theirs):
        dup = sorted({n for n in theirs if theirs.count(n) > 1})
        raise PathError(f"names to match repeat: {listing(dup)}")
    groups_ours = _group_by_shape(ours)
    groups_theirs = _group_by_shape(theirs)
    problems = []
    for shape in sorted(set(groups_ours) | set(groups_theirs)):
        a, b = groups_ours.get(shape, []), groups_theirs.get(shape, [])
        if len(a) != len(b):
            problems.append(f"{shape!r}: {len(b)} given, {len(a)} in the block")
    if problems:
        raise PathError("cannot match auto names by structure (ambiguous): "
                        + "; ".join(problems))
    mapping = {}
    for shape, theirs_sorted in groups_theirs.items():
        for mine, other in zip(groups_ours[shape], theirs_sorted):
            mapping[other] = ours[mine]
    return OrderedDict((n, mapping[n]) for n in theirs)


def _group_by_shape(names) -> Dict[str, List[str]]:
    groups: Dict[str, List[str]] = {}
    for n in names:
        groups.setdefault(_NUMBER.sub("#", n), []).append(n)
    return {k: sorted(v, key=lambda n: [int(x) for x in _NUMBER.findall(n)])
            for k, v in groups.items()}


# --------------------------------------------------------------------------- names

@contextlib.contextmanager
def fresh_names() -> Iterator[None]:
    """Blocks created inside get the auto names of a fresh process (``dense0``...).

    Gluon numbers blocks with a process-wide counter, so the book's names
    (``dense0_weight``, ``sequential1_``) only come out in a new process. Inside this
    context the counter starts from zero; outside it, numbering continues as before.

    >>> from mxnet.gluon import nn
    >>> _ = nn.Dense(3)  # advances the process-wide counter
    >>> with fresh_names():
    ...     nn.Dense(3).weight.name
    'dense0_weight'
    """
    with mx.name.NameManager():
        yield


# --------------------------------------------------------------------------- helpers

def _by_auto_name(block: Block) -> Dict[str, Union[Block, Parameter]]:
    """Auto name -> Parameter, and block name (``dense0``) -> Block, first in walk order."""
    found: Dict[str, Union[Block, Parameter]] = {}
    for p in named_parameters(block).values():
        found.setdefault(p.name, p)
    for b in named_blocks(block).values():
        found.setdefault(b.name, b)
    return found


