"""Argument checks for MXNet's own initializers, run when a spec is parsed.

MXNet stores an initializer's arguments unchecked and fails only when the first array is
filled, which for a deferred parameter happens in the middle of a forward pass, after
other parameters already have their values. :func:`check_arguments` checks the
documented ranges up front (``Xavier`` ``rnd_type``/``factor_type``, ``Normal`` sigma
finite and > 0, ``Constant`` value numeric...).
"""
from __future__ import annotations

import numbers
from typing import Any, Dict, NoReturn, Optional, Tuple

from .._core.compat import mx
from .._core.types import Initializer
from .._core.validate import check_bool, check_number
from ..errors import InitializerError, InitializerTypeError, listing

__all__ = ["check_arguments"]


_CHOICES = {  # documented string arguments of MXNet's initializers
    (mx.init.Xavier, "rnd_type"): ("uniform", "gaussian"),
    (mx.init.Xavier, "factor_type"): ("avg", "in", "out"),
    (mx.init.Orthogonal, "rand_type"): ("uniform", "normal"),
    (mx.init.FusedRNN, "_mode"): ("rnn_relu", "rnn_tanh", "lstm", "gru"),
}
#: Numeric arguments, all finite: (class, attribute) -> (minimum, above) for ``check_number``.
_NUMBERS: Dict[Tuple[type, str], Tuple[Optional[float], Optional[float]]] = {
    (mx.init.Normal, "sigma"): (None, 0), (mx.init.Xavier, "magnitude"): (None, 0),
    (mx.init.Uniform, "scale"): (0, None), (mx.init.Orthogonal, "scale"): (None, None),
    (mx.init.LSTMBias, "forget_bias"): (None, None), (mx.init.FusedRNN, "_forget_bias"): (None, None),
}


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

    def fail(message: str, type_error: bool = False) -> NoReturn:
        raise (InitializerTypeError if type_error else InitializerError)(
            f"initializer spec {spec!r}: {kind} {message}")

    for (klass, attr), choices in _CHOICES.items():
        if isinstance(init, klass) and getattr(init, attr, None) not in choices:
            fail(f"{attr.lstrip('_')} must be one of {listing(choices)}, "
                 f"got {getattr(init, attr, None)!r}")
    where = f"initializer spec {spec!r}"
    for (klass, attr), (minimum, above) in _NUMBERS.items():
        if isinstance(init, klass):  # subclasses too
            check_number(getattr(init, attr, None), f"{kind} {attr.lstrip('_')}", InitializerError,
                         minimum=minimum, above=above, where=where)
    if isinstance(init, mx.init.Constant) and not _numeric(init.value):
        fail(f"value must be a number (or an array of numbers), got "
             f"{type(init.value).__name__}: {init.value!r}", type_error=True)
    if isinstance(init, mx.init.FusedRNN):
        for attr in ("_num_hidden", "_num_layers"):
            check_number(getattr(init, attr), f"{kind} {attr.lstrip('_')}", InitializerError,
                         integer=True, minimum=1, where=where)
        check_bool(init._bidirectional, f"{kind} bidirectional", InitializerError, where=where)
        if init._init is not None:
            check_arguments(init._init, spec)


def _numeric(value: Any) -> bool:
    if isinstance(value, (str, bytes)) or value is None:
        return False
    if isinstance(value, numbers.Number):
        return True
    # an NDArray or numpy array (Constant.dumps() cannot write a list)
    return hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "tolist")
