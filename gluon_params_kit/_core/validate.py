"""Argument checks shared by every public function: one wording, one error rule.

The argument's concern picks the error class, whatever function receives it:

- a number goes through :func:`check_number`, the one number validator (NaN and booleans
  are never numbers; infinities only where ``finite=False`` says so);
- a context goes through :func:`check_contexts` / :func:`check_context` and is always a
  :class:`~gluon_params_kit.errors.DeviceError`;
- a value of the wrong type raises the ``*TypeError`` of the caller's error family
  (``SelectionTypeError`` for ``SelectionError``...), a wrong value of the right type the
  family's base. Both are the caller's class, so ``except SelectionError`` keeps working,
  and ``except TypeError`` catches what Python itself would call a TypeError.

``where`` prefixes the message with the function's name when the argument name alone
would be ambiguous (``render_tree: indent must be ...``). Every check runs before the
caller changes anything.

>>> from gluon_params_kit.errors import SelectionError
>>> check_number(3, "depth", SelectionError, integer=True, minimum=0)
3
>>> check_number(True, "depth", SelectionError, integer=True, minimum=0)
Traceback (most recent call last):
  ...
gluon_params_kit.errors.SelectionTypeError: depth must be an int >= 0, got True
"""
from __future__ import annotations

import math
import numbers
from typing import Any, List, Literal, Optional, Sequence, Type, overload

import numpy as _onp

from ..errors import DeviceError, DeviceTypeError, listing

__all__ = [
    "check_bool", "check_choice", "check_context", "check_contexts", "check_number", "is_int",
    "shown", "type_error_of",
]


def _prefix(where: Optional[str]) -> str:
    return f"{where}: " if where else ""


def shown(value: Any, limit: int = 80) -> str:
    """``value`` as an error message quotes it: its repr, cut to ``limit`` characters; an
    array (MXNet's or numpy's, where an option was meant) as its type, shape and dtype,
    never its values.

    >>> import numpy
    >>> shown('0'), shown(numpy.zeros((2, 3))), shown('x' * 100)[-5:]
    ("'0'", 'ndarray of shape (2, 3) float64', 'xx...')
    """
    if not isinstance(value, (str, bytes, numbers.Number, _onp.generic)) and hasattr(value, "shape") \
            and hasattr(value, "dtype"):
        try:
            dtype = _onp.dtype(value.dtype).name
        except TypeError:
            dtype = str(value.dtype)
        return f"{type(value).__name__} of shape {tuple(value.shape)} {dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_shown = shown


def type_error_of(error: Type[Exception]) -> Type[Exception]:
    """The class to raise for a value of the wrong type, in ``error``'s family.

    ``error`` itself when it already is a ``TypeError``; else its direct subclass that is
    also a ``TypeError`` (the kit defines one per family); else ``error`` (a class from
    outside the kit, such as the command line's usage error).

    >>> from gluon_params_kit.errors import DeviceError, TieTypeError
    >>> type_error_of(DeviceError).__name__, type_error_of(TieTypeError).__name__
    ('DeviceTypeError', 'TieTypeError')
    """
    if issubclass(error, TypeError):
        return error
    for sub in error.__subclasses__():
        if issubclass(sub, TypeError):
            return sub
    return error


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (``int`` or numpy's) and not a ``bool``.

    >>> import numpy
    >>> is_int(3), is_int(numpy.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, _onp.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, _onp.bool_))


def _as_float(value: Any) -> float:
    """The float a real number is used as (an int too big for one is an infinity)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _bound(integer: bool, minimum: Optional[float], above: Optional[float],
           maximum: Optional[float]) -> str:
    if minimum is not None and maximum is not None:
        return f" in {minimum}..{maximum}" if integer else f" in [{minimum}, {maximum}]"
    parts = [f"{op} {b}" for op, b in ((">=", minimum), (">", above), ("<=", maximum))
             if b is not None]
    return " " + " and ".join(parts) if parts else ""


def check_number(value: Any, name: str, error: Type[Exception], *, integer: bool = False,
                 minimum: Optional[float] = None, above: Optional[float] = None,
                 maximum: Optional[float] = None, finite: bool = True,
                 allow_none: bool = False, unit: str = "", where: Optional[str] = None) -> Any:
    """``value`` if it is a number in range; the one check every numeric argument goes through.

    Args:
        value: the argument.
        name: the argument as the caller's signature spells it (said first in the message).
        error: the caller's error family; a wrong type raises its ``*TypeError``
            (:func:`type_error_of`), a wrong value of the right type ``error`` itself.
        integer: an ``int`` is meant (``3.0`` is refused); else any real number.
        minimum: smallest valid value (``>=``).
        above: the value must be greater than this (``>``).
        maximum: largest valid value (``<=``).
        finite: refuse ``inf`` and ``-inf`` (NaN is refused always; booleans too).
        allow_none: ``None`` is valid (and returned).
        unit: said after the bound (``width must be None or an int >= 40 (characters)``).
        where: the function's name, when the argument name alone would be ambiguous.

    Returns:
        ``value`` unchanged.

    Raises:
        ``type_error_of(error)``: not a number (a str, a bool, ``3.0`` where an int is meant).
        ``error``: NaN, an infinity where a finite number is meant, or out of range.

    Examples:
        >>> from gluon_params_kit.errors import DeviceError
        >>> check_number(0.5, "atol", DeviceError, minimum=0)
        0.5
        >>> check_number(float('nan'), "atol", DeviceError, minimum=0)
        Traceback (most recent call last):
          ...
        gluon_params_kit.errors.DeviceError: atol must be a finite number >= 0, got nan
        >>> check_number(20_000, "bins", DeviceError, integer=True, minimum=1, maximum=10_000)
        Traceback (most recent call last):
          ...
        gluon_params_kit.errors.DeviceError: bins must be an int in 1..10000, got 20000
        >>> check_number("0.1", "lr", DeviceError, above=0, where="fit")
        Traceback (most recent call last):
          ...
        gluon_params_kit.errors.DeviceTypeError: fit: lr must be a finite number > 0, got '0.1'
    """
    if value is None and allow_none:
        return None
    right_type = is_int(value) if integer else _is_real(value)
    if right_type:
        number = value if integer else _as_float(value)  # ints: exact, however big
        valid = not ((not integer and (math.isnan(number) or (finite and math.isinf(number))))
                     or (minimum is not None and number < minimum)
                     or (above is not None and not number > above)
                     or (maximum is not None and number > maximum))
        if valid:
            return value
    kind = "an int" if integer else "a finite number" if finite else "a number"
    bound = _bound(integer, minimum, above, maximum)
    none = "None or " if allow_none else ""
    unit_text = f" ({unit})" if unit else ("" if integer or finite else " (not NaN)")
    message = f"{_prefix(where)}{name} must be {none}{kind}{bound}{unit_text}, got {_shown(value)}"
    raise (error if right_type else type_error_of(error))(message)


def check_bool(value: Any, name: str, error: Type[Exception], *, where: Optional[str] = None,
               allow_none: bool = False) -> Any:
    """``value`` if it is ``True`` or ``False`` (or ``None`` with ``allow_none``); else
    ``error``'s TypeError saying so. numpy's ``bool_`` and arrays are refused: an option
    is a plain bool, and an array's truth value is no answer.

    >>> from gluon_params_kit.errors import CheckpointError
    >>> check_bool(False, "strict", CheckpointError)
    False
    >>> check_bool(1, "strict", CheckpointError)
    Traceback (most recent call last):
      ...
    gluon_params_kit.errors.CheckpointTypeError: strict must be True or False, got 1
    """
    if not (isinstance(value, bool) or (allow_none and value is None)):
        none = "None, " if allow_none else ""
        raise type_error_of(error)(f"{_prefix(where)}{name} must be {none}True or False, got {_shown(value)}")
    return value


def check_choice(value: Any, name: str, choices: Sequence[Any], error: Type[Exception], *,
                 where: Optional[str] = None) -> Any:
    """``value`` if it is one of ``choices``; else ``error`` listing them.

    A value of a type no choice has (``3`` among strings) raises ``error``'s TypeError.

    >>> from gluon_params_kit.errors import SelectionError
    >>> check_choice("glob", "mode", ("search", "match", "glob"), SelectionError)
    'glob'
    >>> check_choice("regex", "mode", ("search", "match", "glob"), SelectionError)
    Traceback (most recent call last):
      ...
    gluon_params_kit.errors.SelectionError: unknown mode 'regex'. Expected one of 'search', 'match', 'glob'.
    """
    if isinstance(value, (str, int, float, type(None))) and value in choices:
        return value
    right_type = any(type(value) is type(c) for c in choices)
    raise (error if right_type else type_error_of(error))(
        f"{_prefix(where)}unknown {name} {_shown(value)}. Expected one of {listing(choices)}.")


def _is_context(value: Any) -> bool:
    from .compat import mx  # only here: the other checks work without mxnet
    return isinstance(value, mx.Context)


def check_context(ctx: Any, name: str, *, allow_none: bool = False) -> Any:
    """``ctx`` if it is one ``mx.Context``; else a :class:`DeviceTypeError` (a context's error).

    >>> check_context("cpu", "source")
    Traceback (most recent call last):
      ...
    gluon_params_kit.errors.DeviceTypeError: source must be an mx.Context like mx.cpu(0), got 'cpu'
    """
    if (ctx is None and allow_none) or _is_context(ctx):
        return ctx
    none = "None or " if allow_none else ""
    raise DeviceTypeError(f"{name} must be {none}an mx.Context like mx.cpu(0), got {_shown(ctx)}")


@overload
def check_contexts(ctx: Any, name: str = ..., *, allow_none: Literal[False] = ...) -> List[Any]: ...
@overload
def check_contexts(ctx: Any, name: str = ..., *, allow_none: bool) -> Optional[List[Any]]: ...


def check_contexts(ctx: Any, name: str = "ctx", *,
                   allow_none: bool = False) -> Optional[List[Any]]:
    """``ctx`` as a list of distinct contexts (one context or a non-empty list/tuple of them).

    Whatever function receives it, a bad context is a :class:`DeviceError`
    (:class:`DeviceTypeError` when it is not a context at all).

    >>> import mxnet as mx
    >>> check_contexts(mx.cpu())
    [cpu(0)]
    >>> check_contexts([mx.cpu(0), mx.cpu(0)])
    Traceback (most recent call last):
      ...
    gluon_params_kit.errors.DeviceError: ctx lists a context twice: [cpu(0), cpu(0)]
    """
    if ctx is None and allow_none:
        return None
    ctxs = [ctx] if _is_context(ctx) else ctx
    wrong_type = not isinstance(ctxs, (list, tuple)) or not all(_is_context(c) for c in ctxs)
    if wrong_type or not ctxs:  # an empty list is of the right type, and still no context
        none = "None, " if allow_none else ""
        raise (DeviceTypeError if wrong_type else DeviceError)(
            f"{name} must be {none}an mx.Context or a non-empty list of distinct ones, "
            f"like mx.cpu() or [mx.cpu(0), mx.cpu(1)]; got {_shown(ctx)}")
    if len(set(ctxs)) != len(ctxs):
        raise DeviceError(f"{name} lists a context twice: {list(ctxs)}")
    return list(ctxs)
