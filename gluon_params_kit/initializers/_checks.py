"""Argument checks for MXNet's own initializers, run when a spec is parsed.

MXNet stores an initializer's arguments unchecked and fails only when the first array is
filled, which for a deferred parameter happens in the middle of a forward pass, after
other parameters already have their values. :func:`check_arguments` checks the
documented ranges up front (``Xavier`` ``rnd_type``/``factor_type``, ``Normal`` sigma
finite and > 0, ``Constant`` value numeric...).
"""
from __future__ import annotations

import math
import numbers
from typing import Any

from .._core.compat import mx
from .._core.types import Initializer
from ..errors import InitializerError, InitializerTypeError, listing

__all__ = ["check_arguments"]


_CHOICES = {  # documented string arguments of MXNet's initializers
    (mx.init.Xavier, "rnd_type"): ("uniform", "gaussian"),
    (mx.init.Xavier, "factor_type"): ("avg", "in", "out"),
    (mx.init.Orthogonal, "rand_type"): ("uniform", "normal"),
    (mx.init.FusedRNN, "_mode"): ("rnn_relu", "rnn_tanh", "lstm", "gru"),
}
_POSITIVE = {mx.init.Normal: ("sigma",), mx.init.Xavier: ("magnitude",)}
_NON_NEGATIVE = {mx.init.Uniform: ("scale",)}
_FINITE = {mx.init.Orthogonal: ("scale",), mx.init.LSTMBias: ("forget_bias",),
           mx.init.FusedRNN: ("_forget_bias",)}


def check_arguments(init: Initializer, spec: str) -> None:
    """Check the documented ranges of MXNet's own initializers' arguments.

    MXNet stores them unchecked and fails only when the first array is filled, which
    for a deferred parameter is in the middle of a forward pass. Subclasses are checked
    against their base's rules; other initializers are taken as constructed.

    >>> check_arguments(mx.init.Xavier(rnd_type='bogus'), 'xavier')
    Traceback (most recent call last):
    ...
    gluon_params_kit.errors.InitializerError: initializer spec 'xavier': Xavier rnd_type must be one of 'uniform', 'gaussian', got 'bogus'
    """
    kind = type(init).__name__

    def fail(message: str, type_error: bool = False) -> None:
        raise (InitializerTypeError if type_error else InitializerError)(
            f"initializer spec {spec!r}: {kind} {message}")

    for (klass, attr), choices in _CHOICES.items():
        if isinstance(init, klass) and getattr(init, attr, None) not in choices:
            fail(f"{attr.lstrip('_')} must be one of {listing(choices)}, "
                 f"got {getattr(init, attr, None)!r}")
    for table, rule in ((_POSITIVE, "> 0"), (_NON_NEGATIVE, ">= 0"), (_FINITE, "")):
        for klass, attrs in table.items():
            if not isinstance(init, klass):
                continue
            for attr in attrs:
                value = getattr(init, attr, None)
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    fail(f"{attr.lstrip('_')} must be a number, got {type(value).__name__}: "
                         f"{value!r}", type_error=True)
                ok = math.isfinite(value) and (value > 0 if rule == "> 0" else
                                               value >= 0 if rule == ">= 0" else True)
                if not ok:
                    fail(f"{attr.lstrip('_')} must be a finite number {rule}".rstrip()
                         + f", got {value!r}")
    if isinstance(init, mx.init.Constant) and not _numeric(init.value):
        fail(f"value must be a number (or an array of numbers), got "
             f"{type(init.value).__name__}: {init.value!r}", type_error=True)
    if isinstance(init, mx.init.FusedRNN):
        for attr in ("_num_hidden", "_num_layers"):
            value = getattr(init, attr)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                fail(f"{attr.lstrip('_')} must be an int >= 1, got {value!r}")
        if not isinstance(init._bidirectional, bool):
            fail(f"bidirectional must be True or False, got {init._bidirectional!r}")
        if init._init is not None:
            check_arguments(init._init, spec)


def _numeric(value: Any) -> bool:
    if isinstance(value, (str, bytes)) or value is None:
        return False
    if isinstance(value, numbers.Number):
        return True
    # an NDArray or numpy array (Constant.dumps() cannot write a list)
    return hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "tolist")
