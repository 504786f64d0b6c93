"""The kit's one selection language and its one selection path.

:func:`selection` is the one function that decides what a pattern selects, wherever a
pattern is taken: ``select``/``freeze``/``unfreeze``/``set_multipliers``,
``summary``/``stats``/``plot_histograms``, ``InitPlan``/``reinitialize``, ``tie``, ``diff``
and the command line all call it, with the same ``exclude``/``mode``/``on``/``allow_empty``
keywords, and all raise its one :class:`~gluon_params_kit.errors.SelectionError` when
nothing is selected. It selects among a block's Parameters (every spelling of a shared
Parameter counts: its Gluon keys and its attribute-path aliases) or among plain keys (a
file's). :func:`make_matcher` compiles a pattern (a regex, a glob, a list of them, a
predicate or ``None``) into a ``(path, param) -> bool`` test; :func:`matching_groups` is
:func:`selection` for compiled matchers that never raises on an empty result.

Importing this module needs no mxnet (the command line selects a file's keys with it):
the Gluon reader is imported when a Block is given.
"""
from __future__ import annotations

import fnmatch
import inspect
import re
import sys
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Union

from ..errors import SelectionError, SelectionTypeError, closest, listing
from .validate import check_bool, check_choice, shown

if TYPE_CHECKING:
    from .gluon import ParamGroup
    from .types import Block, Parameter

__all__ = ["MATCH_ON", "MODES", "Pattern", "Predicate", "make_matcher", "matching_groups",
           "pattern_label", "selection"]


#: The pattern modes: ``re.search`` (default), ``re.match`` (Gluon's), ``re.fullmatch``, shell glob.
MODES = ("search", "match", "fullmatch", "glob")
#: What a pattern is matched against: the structural path, or the Parameter's auto name.
MATCH_ON = ("path", "name")

#: A selection predicate: ``(path) -> bool`` or ``(path, param) -> bool``.
Predicate = Union[Callable[[str], bool], Callable[[str, "Parameter"], bool]]
#: What selects Parameters, everywhere in the kit (see :func:`make_matcher`).
Pattern = Union[None, str, Sequence[str], Predicate]


# --------------------------------------------------------------------------- matchers

class _Matcher:
    """A compiled pattern: call it with ``(path, param)``; its repr shows what it matches."""

    __slots__ = ("pattern", "mode", "on", "_test")

    def __init__(self, pattern, mode: str, on: str, test: Callable[..., bool]):
        self.pattern, self.mode, self.on, self._test = pattern, mode, on, test

    def __call__(self, path: str, param: Optional[Parameter] = None) -> bool:
        return self._test(path, param)

    def __repr__(self) -> str:
        return f"make_matcher({self.pattern!r}, mode={self.mode!r}, on={self.on!r})"


def _check_options(mode: str, on: str) -> None:
    check_choice(mode, "mode", MODES, SelectionError)
    if not isinstance(on, str) or on not in MATCH_ON:  # an array's == is no answer
        raise (SelectionError if isinstance(on, str) else SelectionTypeError)(
            f"unknown on={shown(on)}. Expected one of {listing(MATCH_ON)} "
            f"(structural path, or the Parameter's auto name).")


_GLOB_HINT = "for a glob, pass mode='glob'"


def _compile(text: str, mode: str) -> Callable[[str], Any]:
    """The ``str -> match or None`` test of one pattern string in ``mode``."""
    source = fnmatch.translate(text) if mode == "glob" else text
    try:
        rx = re.compile(source)
    except re.error as exc:
        hint = f" ({_GLOB_HINT})" if mode != "glob" and ("*" in text or "?" in text) else ""
        raise SelectionError(f"invalid regular expression {text!r}: {exc}{hint}") from exc
    return {"search": rx.search, "match": rx.match, "fullmatch": rx.fullmatch,
            "glob": rx.match}[mode]


def make_matcher(pattern: Pattern, *, mode: str = "search",
                 on: str = "path") -> Callable[[str, Parameter], bool]:
    """Compile a selection pattern into a predicate ``(path, param) -> bool``.

    The one place where patterns get their meaning, shared by :func:`select` and by
    anything that takes rules (such as init plans), so a pattern means the same everywhere.

    Args:
        pattern: a regular expression (a ``glob`` in glob mode); a list or tuple of them,
            which matches when any does (an empty list matches nothing); a callable
            ``(path, param) -> bool`` or ``(path) -> bool``, used as it is; or ``None``,
            which matches everything.
        mode: ``'search'`` (anywhere in the text, the default), ``'match'`` (at the start,
            as Gluon's ``collect_params``), ``'fullmatch'`` (the whole text) or ``'glob'``
            (shell wildcards over the whole text; ``*`` also crosses dots).
        on: ``'path'`` matches the structural path given to the matcher, ``'name'`` the
            Parameter's auto name ``param.name`` (``dense0_weight``).

    Returns:
        A callable ``matcher(path, param) -> bool``. With ``on='path'`` and a string
        pattern, ``param`` may be omitted.

    Raises:
        SelectionError: an unknown ``mode`` or ``on`` (the choices are listed), an invalid
            regular expression (the pattern and the ``re.error`` are named), or a pattern of
            another type.

    Examples:
        >>> m = make_matcher(r'weight')
        >>> m('0.1.weight'), m('0.1.bias')
        (True, False)
        >>> make_matcher(['*.bias', '2.*'], mode='glob')('2.weight')
        True
        >>> make_matcher('weight', mode='match')('0.weight')  # Gluon's re.match
        False
        >>> make_matcher(lambda path: path.endswith('bias'))('1.bias')
        True
    """
    _check_options(mode, on)
    if pattern is None:
        return _Matcher(None, mode, on, lambda path, param: True)
    if callable(pattern) and not isinstance(pattern, str):
        return _Matcher(pattern, mode, on, _safe_predicate(pattern))
    if isinstance(pattern, str):
        tests = [_compile(pattern, mode)]
    elif isinstance(pattern, (list, tuple)) and all(isinstance(p, str) for p in pattern):
        tests = [_compile(p, mode) for p in pattern]
    else:
        raise SelectionTypeError(
            f"pattern must be a str, a list or tuple of str, a callable (path, param) -> bool "
            f"or None, got {type(pattern).__name__}: {pattern!r}")
    if on == "path":
        if len(tests) == 1:
            one = tests[0]
            return _Matcher(pattern, mode, on, lambda path, param=None: one(path) is not None)
        return _Matcher(pattern, mode, on,
                        lambda path, param=None: any(t(path) is not None for t in tests))
    if len(tests) == 1:
        one = tests[0]
        return _Matcher(pattern, mode, on, lambda path, param: one(param.name) is not None)
    return _Matcher(pattern, mode, on,
                    lambda path, param: any(t(param.name) is not None for t in tests))


def _safe_predicate(predicate: Predicate) -> Callable[..., bool]:
    label = getattr(predicate, "__qualname__", repr(predicate))
    path_only = _takes_one_argument(predicate)

    def test(path: str, param: Optional[Parameter] = None) -> bool:
        call: Callable[..., Any] = predicate  # one argument or two: _takes_one_argument decided
        try:
            return bool(call(path) if path_only else call(path, param))
        except Exception as exc:  # the user's code: say where it failed, keep the cause
            raise SelectionError(f"predicate {label} raised {type(exc).__name__} on path "
                                 f"{path!r}: {exc}") from exc
    return test


def _takes_one_argument(predicate: Callable) -> bool:
    """Whether ``predicate`` takes only a path (``(path) -> bool``), not ``(path, param)``."""
    try:
        signature = inspect.signature(predicate)
    except (TypeError, ValueError):  # a builtin without a signature: give it both
        return False
    try:
        signature.bind("path", None)
    except TypeError:
        return True
    return False


# --------------------------------------------------------------------------- the one selection path

class _Entry(NamedTuple):
    """One thing a selection can return, as the selection loop sees it."""

    item: Any                      # what is returned: a block's ParamGroup, or a plain key
    spellings: Sequence[str]       # every path that reaches it, its canonical one first
    param: Optional[Parameter]     # its Parameter (auto name, predicates); None for a plain key


class _Space:
    """What a :func:`selection` selects among, and how its error names it."""

    def __init__(self, entries: Callable[[], Iterable[Any]], everything: Sequence[Any],
                 owner: str, kind: str, named: bool):
        #: ``entries()`` yields each item as an :class:`_Entry` (or a tuple of its shape),
        #: anew on each pass (a block's are not kept in a list)
        self.entries, self.everything = entries, everything
        self.owner, self.kind, self.named = owner, kind, named

    def pick(self, keep: Callable, drop: Optional[Callable], on: str) -> List[Any]:
        if drop is None and isinstance(keep, _Matcher) and keep.pattern is None:
            return list(self.everything)  # no pattern: every item, no test to run
        out = []
        for item, spellings, param in self.entries():
            if on == "name":
                if param is None:  # a plain key has no auto name
                    continue
                spellings = spellings[:1]  # one Parameter, one auto name: tested once
            if not any(keep(p, param) for p in spellings):
                continue
            if drop is not None and any(drop(p, param) for p in spellings):
                continue
            out.append(item)
        return out


def _is_block(obj: Any) -> bool:
    """Whether ``obj`` is a gluon Block, without importing mxnet (no mxnet, no Block)."""
    gluon = getattr(sys.modules.get("mxnet"), "gluon", None)
    return gluon is not None and isinstance(obj, gluon.Block)


def _space(source: Any, groups: Optional[Sequence[ParamGroup]], aliases: Optional[Mapping[str, str]],
           params: Optional[Mapping[str, Parameter]], owner: Optional[str]) -> _Space:
    if _is_block(source):
        if groups is None:
            from .gluon import parameter_groups
            groups = parameter_groups(source)
        found = groups
        return _Space(lambda: ((g, g.spellings, g.param) for g in found), found,  # _Entry-shaped
                      owner or f"{type(source).__name__} {source.name!r}", "parameters", True)
    if isinstance(source, (str, bytes)) or not isinstance(source, Iterable):
        # neither a Block nor keys: the kit's "not a Block" error
        from .gluon import check_block
        check_block(source)
    keys = list(source)
    bad = [k for k in keys if not isinstance(k, str)]
    if bad:
        raise SelectionError(f"selection: keys must be str, got {type(bad[0]).__name__}: "
                             f"{bad[0]!r}")
    others: dict = {}
    for alias, key in (aliases or {}).items():
        others.setdefault(key, []).append(alias)
    params = params or {}
    entries = [_Entry(k, [k] + others.get(k, []), params.get(k)) for k in keys]
    return _Space(lambda: entries, keys, owner or f"the {len(keys)} keys", "keys", bool(params))


def selection(source: Union[Block, Iterable[str]], pattern: Pattern = None, *,
              exclude: Pattern = None, mode: str = "search", on: str = "path",
              allow_empty: bool = False, groups: Optional[Sequence[ParamGroup]] = None,
              aliases: Optional[Mapping[str, str]] = None,
              params: Optional[Mapping[str, Parameter]] = None,
              owner: Optional[str] = None) -> List[Any]:
    r"""What ``pattern`` selects in ``source``: the kit's one selection path.

    Every function of the kit that takes a pattern calls this one, so a pattern selects
    the same things everywhere and an empty selection is the same error everywhere.

    Args:
        source: a gluon Block, to select among its Parameters; or an iterable of str, to
            select among plain keys (a file's, a mapping's).
        pattern: what to keep (see :func:`make_matcher`); ``None`` keeps everything.
        exclude: what to drop from that, in the same forms.
        mode: ``'search'``, ``'match'``, ``'fullmatch'`` or ``'glob'``.
        on: ``'path'`` or ``'name'`` (a Parameter's auto name; a plain key has none and
            is then never selected, unless ``params`` gives it a Parameter).
        allow_empty: return an empty list instead of raising when nothing is selected.
        groups: with a Block, its groups as the caller already read them
            (``key_index(block).groups``), or a subset of them to select among.
        aliases: with plain keys, other spellings of a key (alias -> key, as a file's
            tied paths); a key is selected when any of its spellings matches.
        params: with plain keys, the Parameter behind a key (key -> Parameter), for
            ``on='name'`` and predicates; a predicate gets ``None`` for the others.
        owner: how the error names what was selected from (default: the block's class
            and name, or ``'the <n> keys'``).

    Returns:
        With a Block, the selected :class:`~gluon_params_kit._core.gluon.ParamGroup` s in
        Gluon's key order, each distinct Parameter once: one is selected when any of its
        spellings (its Gluon keys and its attribute-path aliases) matches ``pattern``, and
        dropped when any matches ``exclude``; with ``on='name'`` its one auto name is
        tested. With plain keys, the selected keys in their order.

    Raises:
        SelectionError: a bad pattern, ``mode``, ``on`` or ``allow_empty``; ``on='name'``
            over plain keys without ``params``; or nothing selected while ``allow_empty``
            is False. That message always reads ``pattern P selects nothing in OWNER
            (mode=..., on=...[, exclude=...]): REASON.`` then hints (a glob passed as a
            regex, an auto name passed as a path, a near match) and ``Pass
            allow_empty=True to accept an empty selection.``

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); d = nn.Dense(4, in_units=4)
        >>> net.add(d, nn.Dense(4, in_units=4, params=d.params))  # block 1 shares block 0's
        >>> [g.path for g in selection(net, r'^1\.')]  # '1.weight' spells '0.weight' too
        ['0.weight', '0.bias']
        >>> selection(['0.weight', '0.bias', '1.bias'], '*.bias', mode='glob', exclude='0*')
        ['1.bias']
        >>> selection(['0.weight'], 'bias', owner="file 'a.params'")
        Traceback (most recent call last):
          ...
        gluon_params_kit.errors.SelectionError: pattern 'bias' selects nothing in file 'a.params' (mode='search', on='path'): existing keys are '0.weight'. Pass allow_empty=True to accept an empty selection.
    """
    _check_options(mode, on)
    check_bool(allow_empty, "allow_empty", SelectionError)
    keep = make_matcher(pattern, mode=mode, on=on)
    drop = None if exclude is None else make_matcher(exclude, mode=mode, on=on)
    space = _space(source, groups, aliases, params, owner)
    if on == "name" and not space.named:
        raise SelectionError(f"on='name' selects by a Parameter's auto name, and {space.owner} "
                             f"are plain keys: their patterns match the keys themselves "
                             f"(leave on='path')")
    chosen = space.pick(keep, drop, on)
    if not chosen and not allow_empty:
        raise SelectionError(_nothing_selected(space, pattern, exclude, mode, on))
    return chosen


def _nothing_selected(space: _Space, pattern: Pattern, exclude: Pattern, mode: str,
                      on: str) -> str:
    """The one message for an empty selection: what, where, why, and what would work."""
    options = f"mode={mode!r}, on={on!r}" + ("" if exclude is None else
                                             f", exclude={_shown(exclude)}")
    head = f"pattern {_shown(pattern)} selects nothing in {space.owner} ({options})"
    tail = " Pass allow_empty=True to accept an empty selection."
    entries = [_Entry(*e) for e in space.entries()]
    if not entries:
        empty = "it has no parameters" if space.kind == "parameters" else "there are no keys"
        return f"{head}: {empty}.{tail}"
    kept = 0 if exclude is None else _count(space, pattern, None, mode, on)
    if kept:
        which = f"the {space.kind[:-1]}" if kept == 1 else f"all {kept} {space.kind}"
        return f"{head}: exclude removes {which} it matches.{tail}"
    if on == "name":
        shown, what = [e.param.name for e in entries if e.param is not None], "auto names"
    else:  # every spelling: each of them would be selected by a pattern that matches it
        shown = [s for e in entries for s in e.spellings]
        what = "paths" if space.kind == "parameters" else "keys"
    hints = _hints(space, pattern, exclude, mode, on)
    text = f"{head}: existing {what} are {listing(shown, limit=6)}."
    if hints:
        text += " Hint: " + "; ".join(hints) + "."
    if isinstance(pattern, str) and not hints:  # a hint says more than a near spelling
        near = closest(pattern, shown)
        if near:
            text += f" Did you mean {listing(near)}?"
    return text + tail


def _count(space: _Space, pattern: Pattern, exclude: Pattern, mode: str, on: str) -> int:
    """How many items ``pattern`` would select with these options (0 if they are invalid)."""
    try:
        keep = make_matcher(pattern, mode=mode, on=on)
        drop = None if exclude is None else make_matcher(exclude, mode=mode, on=on)
        return len(space.pick(keep, drop, on))
    except SelectionError:
        return 0


def _hints(space: _Space, pattern: Pattern, exclude: Pattern, mode: str, on: str) -> List[str]:
    """Where the mistake likely is, when another mode or ``on`` would select something."""
    texts = [pattern] if isinstance(pattern, str) else (
        list(pattern) if isinstance(pattern, (list, tuple)) else [])
    if not texts:  # a predicate: nothing to reinterpret
        return []
    hints = []
    if mode != "glob" and any("*" in t or "?" in t for t in texts) \
            and _count(space, pattern, exclude, "glob", on):
        hints.append(_GLOB_HINT)
    if mode in ("match", "fullmatch") and _count(space, pattern, exclude, "search", on):
        hints.append("it matches inside some of them: mode='search' finds those")
    if space.named:
        other = "name" if on == "path" else "path"
        n = _count(space, pattern, exclude, mode, other)
        if n:
            what = "auto name" if other == "name" else "path"
            hints.append(f"{_shown(pattern)} matches {n} {what}{'s' if n > 1 else ''}: "
                         f"pass on={other!r}")
    return hints


def _shown(pattern: Any) -> str:
    """A pattern as error messages quote it: ``'weight'``, a predicate by its name."""
    return pattern_label(pattern) if callable(pattern) else repr(pattern)


def matching_groups(block: Block, keep: Callable, drop: Optional[Callable] = None, *,
                    on: str = "path",
                    groups: Optional[Sequence[ParamGroup]] = None) -> List[ParamGroup]:
    """The Parameter groups of ``block`` that matcher ``keep`` selects and ``drop`` does not.

    :func:`selection` for compiled matchers (from :func:`make_matcher`), with an empty
    result allowed. ``groups``, if given, are ``block``'s groups as the caller already
    read them (``key_index(block).groups``), so the block is not walked again.

    A shared Parameter lives at several paths and is selected when any of them matches
    (freezing layer 2 freezes what layer 2 uses); with ``on='name'`` its one auto name
    is tested once.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(2), nn.Dense(1))
    >>> [g.path for g in matching_groups(net, make_matcher('bias'), make_matcher('^1'))]
    ['0.bias']
    """
    from .gluon import ParamGroup, check_block
    check_block(block, SelectionTypeError)
    for name, test, none in (("keep", keep, ""), ("drop", drop, "None or ")):
        if not (callable(test) or (none and test is None)):
            raise SelectionTypeError(f"matching_groups: {name} must be {none}a matcher (a callable like "
                                     f"make_matcher('bias')), got {shown(test)}")
    _check_options("search", on)
    if groups is not None and not (isinstance(groups, (list, tuple))
                                   and all(isinstance(g, ParamGroup) for g in groups)):
        raise SelectionTypeError(f"matching_groups: groups must be None or the block's ParamGroups "
                                 f"(key_index(block).groups), got {shown(groups)}")
    return _space(block, groups, None, None, None).pick(keep, drop, on)


def pattern_label(pattern: Any) -> str:
    """A pattern as a rule's label: the regex itself, a predicate's name, ``'all'`` for None.

    >>> pattern_label(r'weight$'), pattern_label(None), pattern_label(['a', 'b'])
    ('weight$', 'all', "['a', 'b']")
    """
    if pattern is None:
        return "all"
    if isinstance(pattern, str):
        return pattern
    if callable(pattern):
        return getattr(pattern, "__qualname__", repr(pattern))
    return repr(pattern)
