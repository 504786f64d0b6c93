"""The pickle-free pieces of a training checkpoint: typed JSON values and state trees.

Optimizer fields and scheduler attributes are written as JSON that keeps tuples and
non-string dict keys apart (``{"tuple": [...]}``, ``{"dict": [[key, value], ...]}``);
anything else (an object, a function) is refused rather than pickled. An optimizer
state (None, an array, or tuples and lists of them, as MXNet's optimizers make) becomes a
JSON tree whose leaves name arrays stored beside it.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, List, Mapping, NoReturn

import numpy as onp

from .._core.compat import mx
from ..errors import CheckpointError, CheckpointTypeError

__all__ = ["check_encoded", "decode_value", "describe", "encode_value", "flatten_state", "signature",
           "state_keys", "tree_signature", "unflatten_state"]


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


def check_encoded(value: Any, field: str, fail: Callable[[str, str], NoReturn]) -> None:
    """Refuse (``fail(field, what)``) anything :func:`decode_value` cannot decode: an
    object other than ``{"tuple": [...]}`` or ``{"dict": [[key, value], ...]}`` with
    hashable keys. ``value`` comes from JSON whose depth was bounded (recursion is safe)."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            check_encoded(item, f"{field}[{i}]", fail)
        return
    if not isinstance(value, dict):
        return
    if set(value) == {"tuple"} and isinstance(value["tuple"], list):
        check_encoded(value["tuple"], f"{field}.tuple", fail)
        return
    if set(value) == {"dict"} and isinstance(value["dict"], list):
        for i, pair in enumerate(value["dict"]):
            where = f"{field}.dict[{i}]"
            if not isinstance(pair, list) or len(pair) != 2:
                fail(where, f"is {pair!r:.60}, not a [key, value] pair")
            check_encoded(pair[0], f"{where}[0]", fail)
            check_encoded(pair[1], f"{where}[1]", fail)
            try:
                hash(_key(decode_value(pair[0])))
            except TypeError:
                fail(f"{where}[0]", f"is {pair[0]!r:.60}, which cannot be a dict key")
        return
    fail(field, f"is the object {value!r:.60}, which the kit does not write (values are "
                f"JSON, {{'tuple': [...]}} or {{'dict': [[key, value], ...]}})")


def signature(state: Any) -> Any:
    """The structure of an optimizer state with each array as (shape, dtype, stype)."""
    if state is None:
        return None
    if isinstance(state, mx.nd.NDArray):
        dtype = onp.dtype(state.dtype)
        name = "bfloat16" if dtype.names else dtype.name
        return ("array", tuple(state.shape), name, state.stype)
    if isinstance(state, (tuple, list)):
        return ("tuple" if isinstance(state, tuple) else "list", [signature(s) for s in state])
    return ("object", type(state).__name__)


def tree_signature(tree: Any, infos: Mapping[str, Any]) -> Any:
    """:func:`signature` of a stored state tree, from the header's ``infos`` of its arrays."""
    if tree is None:
        return None
    if "array" in tree:
        info = infos[tree["array"]]
        return ("array", tuple(info.shape), info.dtype, info.stype)
    kind = "tuple" if "tuple" in tree else "list"
    return (kind, [tree_signature(s, infos) for s in tree[kind]])


def describe(sig: Any) -> str:
    """A :func:`signature` in words: ``(float32 (4, 3), float32 (4, 3))``."""
    if sig is None:
        return "none"
    if sig[0] == "array":
        _, shape, dtype, stype = sig
        return f"{dtype} {shape}" + ("" if stype == "default" else f" {stype}")
    if sig[0] == "object":
        return f"a {sig[1]}"
    inner = ", ".join(describe(s) for s in sig[1])
    return f"({inner})" if sig[0] == "tuple" else f"[{inner}]"
