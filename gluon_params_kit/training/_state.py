"""The pickle-free pieces of a training checkpoint: typed JSON values and state trees.

Optimizer fields and scheduler attributes are written as JSON that keeps tuples and
non-string dict keys apart (``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}``);
anything else (an object, a function) is refused rather than pickled. An optimizer
state (None, an array, or tuples and lists of them, as MXNet's optimizers make) becomes a
JSON tree whose leaves name arrays stored beside it.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, List, Mapping

import numpy as onp

from .._core.compat import mx
from ..errors import CheckpointError, CheckpointTypeError

__all__ = ["decode_value", "encode_value", "flatten_state", "state_keys", "unflatten_state"]


def encode_value(value: Any, where: str) -> Any:
    """Plain JSON with tuples and non-string dict keys kept apart, or an error."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, onp.integer, onp.floating)):
        return value.item() if isinstance(value, onp.generic) else value
    if isinstance(value, tuple):
        return {"tuple": [encode_value(v, where) for v in value]}
    if isinstance(value, list):
        return [encode_value(v, where) for v in value]
    if isinstance(value, dict):
        return {"dict": [[encode_value(k, where), encode_value(v, where)]
                         for k, v in value.items()]}
    raise CheckpointTypeError(f"{where} is a {type(value).__name__} ({value!r}), which a "
                              f"training checkpoint cannot hold without pickle")


def decode_value(value: Any) -> Any:
    """The value :func:`encode_value` encoded."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"tuple"}:
            return tuple(decode_value(v) for v in value["tuple"])
        if set(value) == {"dict"}:
            return {_key(decode_value(k)): decode_value(v) for k, v in value["dict"]}
        raise CheckpointError(f"unexpected JSON object in a training checkpoint: {value!r}")
    return value


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def flatten_state(state: Any, prefix: str, arrays: "OrderedDict[str, Any]") -> Any:
    if state is None:
        return None
    if isinstance(state, mx.nd.NDArray):
        key = f"{prefix}:{len(arrays)}"
        arrays[key] = state.as_nd_ndarray()
        return {"array": key}
    if isinstance(state, (tuple, list)):
        kind = "tuple" if isinstance(state, tuple) else "list"
        return {kind: [flatten_state(s, prefix, arrays) for s in state]}
    raise CheckpointTypeError(f"optimizer state {prefix!r} is a {type(state).__name__}; a "
                              f"training checkpoint holds arrays (or tuples of them) only")


def unflatten_state(tree: Any, arrays: Mapping[str, Any]) -> Any:
    if tree is None:
        return None
    if "array" in tree:
        return arrays[tree["array"]].copy()
    items = [unflatten_state(s, arrays) for s in tree.get("tuple", tree.get("list", []))]
    return tuple(items) if "tuple" in tree else items


def state_keys(tree: Any) -> List[str]:
    if tree is None:
        return []
    if "array" in tree:
        return [tree["array"]]
    return [k for s in tree.get("tuple", tree.get("list", [])) for k in state_keys(s)]
