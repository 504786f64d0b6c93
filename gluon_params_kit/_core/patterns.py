"""The kit's one selection language: what a pattern means, wherever a pattern is taken.

:func:`make_matcher` compiles a pattern (a regex, a glob, a list of them, a predicate or
``None``) into a ``(path, param) -> bool`` test; :func:`matching_groups` is the one loop
that applies it to a block's Parameters (a shared Parameter is selected when any of its
paths matches). ``select``/``freeze``/``set_multipliers``, ``summary``/``stats``,
``InitPlan``/``reinitialize`` and ``tie`` all go through these two, so a pattern selects
the same Parameters in every one of them. The public names are re-exported by
:mod:`gluon_params_kit.select`.
"""
from __future__ import annotations

import fnmatch
import inspect
import re
from typing import Any, Callable, List, Optional, Sequence, Union

from ..errors import SelectionError, listing
from .gluon import ParamGroup, parameter_groups
from .types import Block, Parameter
from .validate import check_choice

__all__ = ["MATCH_ON", "MODES", "Pattern", "Predicate", "make_matcher", "matching_groups",
           "pattern_label"]


#: The pattern modes: ``re.search`` (default), ``re.match`` (Gluon's), ``re.fullmatch``, shell glob.
MODES = ("search", "match", "fullmatch", "glob")
#: What a pattern is matched against: the structural path, or the Parameter's auto name.
MATCH_ON = ("path", "name")

#: A selection predicate: ``(path) -> bool`` or ``(path, param) -> bool``.
Predicate = Union[Callable[[str], bool], Callable[[str, Parameter], bool]]
#: What selects Parameters, everywhere in the kit (see :func:`make_matcher`).
Pattern = Union[None, str, Sequence[str], Predicate]


# --------------------------------------------------------------------------- matchers

class _Matcher:
    """A compiled pattern: call it with ``(path, param)``; its repr shows what it matches."""

    __slots__ = ("pattern", "mode", "on", "_test")

    def __init__(self, pattern, mode: str, on: str, test: Callable[[str, Parameter], bool]):
        self.pattern, self.mode, self.on, self._test = pattern, mode, on, test

    def __call__(self, path: str, param: Optional[Parameter] = None) -> bool:
        return self._test(path, param)

    def __repr__(self) -> str:
        return f"make_matcher({self.pattern!r}, mode={self.mode!r}, on={self.on!r})"


def _check_options(mode: str, on: str) -> None:
    check_choice(mode, "mode", MODES, SelectionError)
    if on not in MATCH_ON:
        raise SelectionError(f"unknown on={on!r}. Expected one of {listing(MATCH_ON)} "
                             f"(structural path, or the Parameter's auto name).")


def _compile(text: str, mode: str) -> Callable[[str], Any]:
    """The ``str -> match or None`` test of one pattern string in ``mode``."""
    source = fnmatch.translate(text) if mode == "glob" else text
    try:
        rx = re.compile(source)
    except re.error as exc:
        raise SelectionError(f"invalid regular expression {text!r}: {exc}") from exc
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
        raise SelectionError(
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


def _safe_predicate(predicate: Predicate) -> Callable[[str, Parameter], bool]:
    label = getattr(predicate, "__qualname__", repr(predicate))
    path_only = _takes_one_argument(predicate)

    def test(path: str, param: Parameter = None) -> bool:
        try:
            return bool(predicate(path) if path_only else predicate(path, param))
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


def matching_groups(block: Block, keep: Callable, drop: Optional[Callable] = None, *,
                    on: str = "path",
                    groups: Optional[Sequence[ParamGroup]] = None) -> List[ParamGroup]:
    """The Parameter groups of ``block`` that matcher ``keep`` selects and ``drop`` does not.

    ``groups``, if given, are ``block``'s groups as the caller already read them
    (``key_index(block).groups``), so the block is not walked again.

    The one selection loop of the kit: a shared Parameter lives at several paths and is
    selected when any of them matches (freezing layer 2 freezes what layer 2 uses); with
    ``on='name'`` its one auto name is tested once.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(2), nn.Dense(1))
    >>> [g.path for g in matching_groups(net, make_matcher('bias'), make_matcher('^1'))]
    ['0.bias']
    """
    groups = parameter_groups(block) if groups is None else groups
    if drop is None and isinstance(keep, _Matcher) and keep.pattern is None:
        return list(groups)  # no pattern: every Parameter, no test to run
    out = []
    for group in groups:
        tested = group.paths[:1] if on == "name" else group.spellings
        if not any(keep(p, group.param) for p in tested):
            continue
        if drop is not None and any(drop(p, group.param) for p in tested):
            continue
        out.append(group)
    return out


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
