"""Argument checks shared by every public function: one wording, the caller's error class.

Each check takes the argument's name (as the caller's signature spells it) and the error
class of the calling module (``SelectionError`` in ``select``, ``DeviceError`` in
``devices``...), so ``except`` clauses keep working per module while the same bad input
gets the same message everywhere. ``where`` prefixes the message with the function's name
when the argument name alone would be ambiguous (``render_tree: indent must be ...``).

>>> from gluon_params_kit.errors import SelectionError
>>> check_int(3, "depth", SelectionError, minimum=0)
3
>>> check_int(True, "depth", SelectionError, minimum=0)
Traceback (most recent call last):
  ...
gluon_params_kit.errors.SelectionError: depth must be an int >= 0, got True
"""
from __future__ import annotations

import numbers
from typing import Any, List, Optional, Sequence, Type

from ..errors import listing
from .compat import mx

__all__ = ["check_bool", "check_choice", "check_contexts", "check_int", "check_number", "is_int"]


def _prefix(where: Optional[str]) -> str:
    return f"{where}: " if where else ""


def is_int(value: Any) -> bool:
    """Whether ``value`` is an ``int`` and not a ``bool`` (``True`` is an int to Python).

    >>> is_int(3), is_int(True), is_int(3.0)
    (True, False, False)
    """
    return isinstance(value, int) and not isinstance(value, bool)


def check_bool(value: Any, name: str, error: Type[Exception], *, where: Optional[str] = None) -> bool:
    """``value`` if it is ``True`` or ``False``; else ``error`` saying so.

    >>> check_bool(False, "strict", ValueError)
    False
    >>> check_bool(1, "strict", ValueError)
    Traceback (most recent call last):
      ...
    ValueError: strict must be True or False, got 1
    """
    if not isinstance(value, bool):
        raise error(f"{_prefix(where)}{name} must be True or False, got {value!r}")
    return value


def check_int(value: Any, name: str, error: Type[Exception], *, minimum: Optional[int] = None,
              maximum: Optional[int] = None, allow_none: bool = False, unit: str = "",
              where: Optional[str] = None) -> Optional[int]:
    """``value`` if it is an int in ``[minimum, maximum]`` (or ``None`` when allowed).

    ``unit`` is said after the bound (``width must be None or an int >= 40 (characters)``).

    >>> check_int(None, "width", ValueError, minimum=40, allow_none=True) is None
    True
    >>> check_int(20_000, "bins", ValueError, minimum=1, maximum=10_000)
    Traceback (most recent call last):
      ...
    ValueError: bins must be at most 10000, got 20000
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        unit_text = f" ({unit})" if unit else ""
        none = "None or " if allow_none else ""
        raise error(f"{_prefix(where)}{name} must be {none}an int{bound}{unit_text}, got {value!r}")
    if maximum is not None and value > maximum:
        raise error(f"{_prefix(where)}{name} must be at most {maximum}, got {value!r}")
    return value


def check_number(value: Any, name: str, error: Type[Exception], *, minimum: Optional[float] = None,
                 where: Optional[str] = None) -> float:
    """``value`` if it is a real number (not a bool, not NaN) ``>= minimum``.

    >>> check_number(0.5, "atol", ValueError, minimum=0)
    0.5
    >>> check_number(-1, "atol", ValueError, minimum=0, where="diff")
    Traceback (most recent call last):
      ...
    ValueError: diff atol must be a number >= 0, got -1
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and value == value
    if not ok or (minimum is not None and not value >= minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        where_text = f"{where} " if where else ""
        raise error(f"{where_text}{name} must be a number{bound}, got {value!r}")
    return value


def check_choice(value: Any, name: str, choices: Sequence[Any], error: Type[Exception], *,
                 where: Optional[str] = None) -> Any:
    """``value`` if it is one of ``choices``; else ``error`` listing them.

    >>> check_choice("glob", "mode", ("search", "match", "glob"), ValueError)
    'glob'
    >>> check_choice("regex", "mode", ("search", "match", "glob"), ValueError)
    Traceback (most recent call last):
      ...
    ValueError: unknown mode 'regex'. Expected one of 'search', 'match', 'glob'.
    """
    if isinstance(value, (str, int, float, type(None))) and value in choices:
        return value
    raise error(f"{_prefix(where)}unknown {name} {value!r}. Expected one of {listing(choices)}.")


def check_contexts(ctx: Any, name: str, error: Type[Exception], *,
                   allow_none: bool = False) -> Optional[List["mx.Context"]]:
    """``ctx`` as a list of distinct contexts (one context or a non-empty list/tuple of them).

    >>> check_contexts(mx.cpu(), "ctx", ValueError)
    [cpu(0)]
    >>> check_contexts([mx.cpu(0), mx.cpu(0)], "ctx", ValueError)
    Traceback (most recent call last):
      ...
    ValueError: ctx lists a context twice: [cpu(0), cpu(0)]
    """
    if ctx is None and allow_none:
        return None
    ctxs = [ctx] if isinstance(ctx, mx.Context) else ctx
    if not isinstance(ctxs, (list, tuple)) or not ctxs or not all(
            isinstance(c, mx.Context) for c in ctxs):
        none = "None, " if allow_none else ""
        raise error(f"{name} must be {none}an mx.Context or a non-empty list of distinct ones, "
                    f"like mx.cpu() or [mx.cpu(0), mx.cpu(1)]; got {ctx!r}")
    if len(set(ctxs)) != len(ctxs):
        raise error(f"{name} lists a context twice: {list(ctxs)}")
    return list(ctxs)
