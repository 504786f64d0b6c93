"""Key remapping for checkpoints: the :class:`Remap` rules and key collapsing for reports.

Private: :mod:`gluon_params_kit.checkpoint` re-exports :class:`Remap` and
:func:`collapse_keys`.
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Callable, List, Mapping, Optional, Sequence, Tuple, Union

from .._core.gluon import check_block, key_index
from .._core.types import Block
from .._core.validate import shown
from ..errors import CheckpointError, CheckpointTypeError, PathError, listing
from ..tree import legacy_names, match_legacy_names

__all__ = ["Remap", "as_remap", "collapse_keys"]


#: A rule: its repr, and a function from the live keys (and the target block) to their new
#: keys, ``None`` for a key it drops.
Step = Tuple[str, Callable[[List[str], Optional[Block]], Sequence[Optional[str]]]]


class Remap:
    """Rules that rename a checkpoint's keys, applied in order.

    Build one with the constructors and chain them with ``+``:
    ``Remap.strip_prefix('0.') + Remap.rename(r'^body\\.', 'features.')``. A rule that
    returns ``None`` for a key drops it. ``to_structural`` / ``to_legacy`` convert
    between auto names and paths through the target block's legacy bridge.

    Examples:
        >>> r = Remap.strip_prefix('0.') + Remap.add_prefix('net.')
        >>> r
        Remap.strip_prefix('0.') + Remap.add_prefix('net.')
        >>> dict(r(['0.weight', 'x']))
        {'0.weight': 'net.weight', 'x': 'net.x'}
    """

    def __init__(self, steps: Sequence[Step] = ()):
        if not (isinstance(steps, (list, tuple)) and all(
                isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], str) and callable(s[1])
                for s in steps)):
            raise CheckpointTypeError(
                f"Remap(steps): steps must be a list of (label, function) rules as the constructors "
                f"make them (Remap.rename(...), Remap.strip_prefix(...), ...), got {shown(steps)}")
        self._steps = tuple(steps)

    @classmethod
    def strip_prefix(cls, prefix: str) -> "Remap":
        """Remove ``prefix`` from keys that start with it."""
        _check_str(prefix, "Remap.strip_prefix: prefix")
        return cls([(f"Remap.strip_prefix({prefix!r})", lambda keys, _: [
            k[len(prefix):] if k.startswith(prefix) else k for k in keys])])

    @classmethod
    def add_prefix(cls, prefix: str) -> "Remap":
        """Put ``prefix`` in front of every key."""
        _check_str(prefix, "Remap.add_prefix: prefix")
        return cls([(f"Remap.add_prefix({prefix!r})", lambda keys, _: [prefix + k for k in keys])])

    @classmethod
    def rename(cls, pattern: str, repl: str) -> "Remap":
        """``re.sub(pattern, repl, key)`` on every key (``repl`` a str, or a function of
        the match as ``re.sub`` takes)."""
        _check_str(pattern, "Remap.rename: pattern")
        if not callable(repl):
            _check_str(repl, "Remap.rename: repl", " or a function of the match")
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise CheckpointError(f"remap pattern {pattern!r} is not a valid regex: {exc}") from None
        try:
            rx.sub(repl, "")  # parses the replacement (group references, escapes) up front
        except (re.error, TypeError) as exc:
            raise CheckpointError(f"remap replacement {repl!r} is not valid for pattern "
                                  f"{pattern!r}: {exc}") from None
        return cls([(f"Remap.rename({pattern!r}, {repl!r})",
                     lambda keys, _: [rx.sub(repl, k) for k in keys])])

    @classmethod
    def keys(cls, mapping: Union[Mapping[str, Optional[str]], Callable[[str], Optional[str]]]
             ) -> "Remap":
        """Exact renames from a mapping (others kept) or a function (``None`` drops)."""
        if not (callable(mapping) or (isinstance(mapping, Mapping) and all(
                isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in mapping.items()))):
            raise CheckpointTypeError(f"Remap.keys: mapping must be a mapping of str keys to str or None "
                                      f"(None drops the key), or a function of a key; got {shown(mapping)}")
        if callable(mapping):
            return cls([(f"Remap.keys({getattr(mapping, '__name__', 'fn')})",
                         lambda keys, _: [mapping(k) for k in keys])])
        table = dict(mapping)
        return cls([(f"Remap.keys({table!r})", lambda keys, _: [table.get(k, k) for k in keys])])

    @classmethod
    def to_structural(cls) -> "Remap":
        """Auto names (``dense3_weight``, also ``arg:``/``aux:`` prefixed) -> paths.

        Names of this process go through the bridge; names numbered by another process
        are matched by structure (:func:`~gluon_params_kit.tree.match_legacy_names`).
        Keys that already contain a ``'.'`` are kept.
        """
        return cls([("Remap.to_structural()", _to_structural)])

    @classmethod
    def to_gluon_keys(cls) -> "Remap":
        """Attribute paths -> the target block's Gluon keys; other keys are kept.

        Files written under attribute paths (a recurrent layer's ``1.l0_i2h_weight``
        for Gluon's ``1._unfused.0.i2h_weight``, an attention cell's ``query_weight``
        for its ``proj_query.weight``, fused names of other MXNet versions) load with
        this rule. Each alias goes to the key of its own use, through the block.

        >>> from mxnet.gluon import rnn
        >>> dict(Remap.to_gluon_keys()(['l0_i2h_bias', '_unfused.0.h2h_bias'], rnn.GRU(3)))
        {'l0_i2h_bias': '_unfused.0.i2h_bias', '_unfused.0.h2h_bias': '_unfused.0.h2h_bias'}
        """
        return cls([("Remap.to_gluon_keys()", _to_gluon_keys)])

    @classmethod
    def to_legacy(cls) -> "Remap":
        """Paths -> the target block's auto names; extra aliases of a shared Parameter drop."""
        return cls([("Remap.to_legacy()", _to_legacy)])

    def __add__(self, other: "Remap") -> "Remap":
        if not isinstance(other, Remap):
            return NotImplemented
        return Remap(self._steps + other._steps)

    def __call__(self, keys: Sequence[str], block: Optional[Block] = None
                 ) -> "OrderedDict[str, Optional[str]]":
        """Map each key to its new key (``None``: dropped), in order."""
        keys = _checked_keys(keys, "Remap(...)(keys)")
        if block is not None:
            check_block(block, CheckpointTypeError, "Remap(...)(keys, block): block")
        current: List[Optional[str]] = list(keys)
        for _, fn in self._steps:
            alive = [(i, k) for i, k in enumerate(current) if k is not None]
            renamed = fn([k for _, k in alive], block)
            for (i, _), new in zip(alive, renamed):
                current[i] = new
        return OrderedDict(zip(keys, current))

    def __len__(self) -> int:
        """The number of rules (``Remap()`` has none and changes nothing)."""
        return len(self._steps)

    def __repr__(self) -> str:
        return " + ".join(name for name, _ in self._steps) or "Remap()"


def _check_str(value: object, name: str, more: str = "") -> None:
    if not isinstance(value, str):
        raise CheckpointTypeError(f"{name} must be a str{more}, got {shown(value)}")


def _checked_keys(keys: object, name: str) -> List[str]:
    """``keys`` as a list, if it is a list or tuple of str (a str alone is one key, not a list)."""
    if not (isinstance(keys, (list, tuple)) and all(isinstance(k, str) for k in keys)):
        raise CheckpointTypeError(f"{name} must be a list of str keys like ['0.weight', '0.bias'], "
                                  f"got {shown(keys)}")
    return list(keys)


def _need_block(block: Optional[Block], rule: str) -> Block:
    if block is None:
        raise CheckpointError(f"{rule} needs the target block (its structure gives the names)")
    return block


def _to_structural(keys: List[str], block: Optional[Block]) -> List[str]:
    block = _need_block(block, "Remap.to_structural()")
    bare = [k[4:] if k[:4] in ("arg:", "aux:") else k for k in keys]
    legacy = [k for k in bare if "." not in k]
    if not legacy:
        return bare
    bridge = legacy_names(block)
    errors = []
    for names in (legacy, [block.prefix + k for k in legacy]):
        if all(n in bridge for n in names):
            found = {old: bridge[n] for old, n in zip(legacy, names)}
            break
        try:
            matched = match_legacy_names(block, names)
        except PathError as exc:
            errors.append(str(exc))
            continue
        found = {old: matched[n] for old, n in zip(legacy, names)}
        break
    else:
        raise CheckpointError(
            f"cannot convert {len(legacy)} auto names to paths of {type(block).__name__}: "
            f"{errors[0]}")
    return [found.get(k, k) for k in bare]


def _to_gluon_keys(keys: List[str], block: Optional[Block]) -> List[str]:
    index = key_index(_need_block(block, "Remap.to_gluon_keys()"))
    return [k if k in index.keys else index.use_of.get(k, k) for k in keys]


def _to_legacy(keys: List[str], block: Optional[Block]) -> List[Optional[str]]:
    bridge = legacy_names(_need_block(block, "Remap.to_legacy()"))
    out: List[Optional[str]] = []
    seen = set()
    for k in keys:
        try:
            name = bridge.to_name(k)
        except PathError as exc:
            raise CheckpointError(f"Remap.to_legacy(): {exc}") from None
        out.append(None if name in seen else name)
        seen.add(name)
    return out


def as_remap(remap) -> Remap:
    if remap is None:
        return Remap()
    if isinstance(remap, Remap):
        return remap
    if isinstance(remap, str):
        choices = {"structural": Remap.to_structural, "legacy": Remap.to_legacy,
                   "gluon": Remap.to_gluon_keys}
        if remap not in choices:
            raise CheckpointError(f"unknown remap {remap!r}; expected one of "
                                  f"{listing(sorted(choices))}, a Remap, a mapping or a function")
        return choices[remap]()
    if isinstance(remap, Mapping) or callable(remap):
        return Remap.keys(remap)
    raise CheckpointTypeError(f"remap must be a Remap, a mapping, a function, 'structural', "
                              f"'gluon' or 'legacy'; got {type(remap).__name__}")


# --------------------------------------------------------------------------- key collapsing

def collapse_keys(keys: Sequence[str]) -> List[str]:
    """Collapse keys that differ in one numeric segment: ``0.{0..3}.1.weight``.

    Examples:
        >>> collapse_keys(['0.0.1.weight', '0.1.1.weight', '0.2.1.weight', '0.3.1.weight', '1.bias'])
        ['0.{0..3}.1.weight', '1.bias']
        >>> collapse_keys(['a.0.w', 'a.2.w', 'a.0.b'])
        ['a.{0,2}.w', 'a.0.b']
    """
    items = [tuple(k.split(".")) for k in _checked_keys(keys, "collapse_keys: keys")]
    width = max((len(i) for i in items), default=0)
    for pos in reversed(range(width)):
        groups: "OrderedDict[tuple, List[int]]" = OrderedDict()
        for item in items:
            if pos < len(item) and item[pos].isdigit():
                key = item[:pos] + ("*",) + item[pos + 1:]
                groups.setdefault(key, []).append(int(item[pos]))
            else:
                groups.setdefault(item, [])
        items = []
        for key, nums in groups.items():
            if not nums:
                items.append(key)
            elif len(nums) == 1:
                items.append(key[:pos] + (str(nums[0]),) + key[pos + 1:])
            else:
                items.append(key[:pos] + (_span(sorted(set(nums))),) + key[pos + 1:])
    return [".".join(i) for i in items]


def _span(nums: List[int]) -> str:
    if nums == list(range(nums[0], nums[-1] + 1)):
        return f"{{{nums[0]}..{nums[-1]}}}"
    return "{" + ",".join(str(n) for n in nums) + "}"


