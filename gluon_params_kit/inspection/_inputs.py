"""The example inputs of ``summary(net, X)``: arrays as given, shapes and numpy arrays made arrays.

Private. torchinfo's habits: ``summary(net, (2, 20))``, ``summary(net, [(2, 20), (2, 5)])``,
``summary(net, input_size=(2, 20))`` and a numpy array all work. A shape becomes zeros of the
net's dtype on its context, in the array type the net runs with (``mx.np`` after
``npx.set_np()``, else ``mx.nd``); a floating numpy array is cast to the net's dtype (an
integer one, such as token ids, keeps its own).
"""
from __future__ import annotations

import numbers
from typing import Any, Tuple

import numpy as _onp

from .._core.compat import is_np_array, mx
from .._core.gluon import arrays, contexts, parameter_groups
from .._core.types import Block
from .._core.validate import shown
from ..errors import InspectionError, InspectionTypeError

__all__ = ["MAX_ELEMENTS", "WHAT_TO_PASS", "example_inputs"]

WHAT_TO_PASS = ("an NDArray, mx.np.ndarray or numpy array, a shape tuple such as (2, 20) (zeros of the "
                "net's dtype on its context), or a list of those")
#: Most values one input made from a shape may hold (MXNet 1.9.1 indexes with int32).
MAX_ELEMENTS = 2**31 - 1


def _is_dims(value: Any) -> bool:
    return (isinstance(value, (tuple, list)) and len(value) > 0
            and all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in value))


def example_inputs(block: Block, inputs: Tuple[Any, ...], input_size: Any = None) -> Tuple[Any, ...]:
    """The arrays ``net(*arrays)`` is called with, from what ``summary`` was given.

    >>> from mxnet.gluon import nn
    >>> net = nn.Dense(2, in_units=3); net.initialize()
    >>> [x.shape for x in example_inputs(net, ((4, 3),))]
    [(4, 3)]
    >>> [x.shape for x in example_inputs(net, (), input_size=[(4, 3), (1, 3)])]
    [(4, 3), (1, 3)]
    """
    make = _Maker(block)
    if input_size is not None:
        if inputs:
            raise InspectionTypeError(
                "summary(net, *inputs, input_size=...): give example inputs or input_size, not both")
        if _is_dims(input_size):
            return (make.zeros(input_size, "input_size"),)
        if isinstance(input_size, (list, tuple)) and input_size and all(_is_dims(s) for s in input_size):
            return tuple(make.zeros(s, f"input_size[{i}]") for i, s in enumerate(input_size))
        raise InspectionTypeError(
            f"input_size must be a shape tuple such as (2, 20), or a list of them such as "
            f"[(2, 20), (2, 5)], got {shown(input_size)}")
    if len(inputs) == 1 and isinstance(inputs[0], list) and not _is_dims(inputs[0]):
        inputs = tuple(inputs[0])  # torchinfo's habit: one list holds every input
    return tuple(make.convert(x, f"inputs[{i}]") for i, x in enumerate(inputs))


class _Maker:
    """Arrays of one net's dtype, on its context, in its array type."""

    def __init__(self, block: Block):
        self.dtype: Any = "float32"
        self.ctx: Any = None
        self.np = is_np_array()
        for group in parameter_groups(block):
            held = arrays(group.param)
            where = contexts(group.param)
            self.dtype = group.param.dtype
            self.ctx = where[0] if where else None
            if held:
                self.np = isinstance(held[0], mx.np.ndarray)
            break
        if self.ctx is None:
            self.ctx = mx.context.current_context()

    def zeros(self, dims: Any, what: str) -> Any:
        dims = tuple(int(d) for d in dims)
        if any(d < 1 for d in dims):
            raise InspectionError(f"{what} = {dims}: every dimension of a shape must be >= 1")
        size = 1
        for d in dims:
            size *= d
        if size > MAX_ELEMENTS:
            raise InspectionError(f"{what} = {dims} holds {size:,} values, more than one input may "
                                  f"({MAX_ELEMENTS:,}); give a smaller shape (a batch of 1 or 2 is enough)")
        lib = mx.np if self.np else mx.nd
        return lib.zeros(dims, dtype=self.dtype, ctx=self.ctx)

    def convert(self, value: Any, what: str) -> Any:
        if isinstance(value, (mx.nd.NDArray, mx.np.ndarray)):
            return value
        if isinstance(value, _onp.ndarray):
            dtype = self.dtype if value.dtype.kind == "f" else value.dtype
            lib = mx.np if self.np else mx.nd
            return lib.array(value, dtype=dtype, ctx=self.ctx)
        if isinstance(value, tuple) and _is_dims(value):
            return self.zeros(value, what)
        if isinstance(value, (list, tuple)) and value and not _is_dims(value):
            kind = type(value)  # a list of states stays a list
            return kind(self.convert(v, f"{what}[{i}]") for i, v in enumerate(value))
        hint = ""
        if isinstance(value, list) and _is_dims(value):
            hint = f" (a shape is a tuple: {tuple(value)})"
        elif isinstance(value, tuple) and not value:
            hint = " (an empty tuple is no shape)"
        raise InspectionTypeError(f"summary(net, *inputs): {what} is {shown(value)}{hint}; pass {WHAT_TO_PASS}")
