"""What a training checkpoint's JSON must be, checked whole before anything is loaded.

:func:`parse` turns the bytes of the ``__gpk_training__`` array into a dict, refusing text
nested deeper than :data:`MAX_DEPTH` (Python's own reader raises ``RecursionError`` near a
thousand levels; that is caught and reported too). :func:`check_document` checks every
field against the file's header: types, required sections, known parameter paths, state
trees that name arrays the file holds (each once, each for its own parameter), finite
learning rate, update counts that are ints in ``[0, 2**63)``. Every refusal is a
:class:`~gluon_params_kit.errors.CheckpointError` naming the field, e.g. ``training file
'run.params': field 'optimizer.all_counts[0][1]' names unknown path 'foo'; known paths:
...``. :func:`check_metadata` is the save side: it refuses a ``metadata`` dict that would
not read back equal (too deep, a non-str key, a tuple, NaN, an object), naming where.
Nothing here changes a net, a Trainer or a file.
"""
from __future__ import annotations

import json
import math
import sys
from typing import AbstractSet, Any, Dict, List, Mapping, NoReturn, Optional, Sequence

from ..errors import CheckpointError, CheckpointTypeError, listing
from ._state import check_encoded

__all__ = ["FORMAT", "MAX_DEPTH", "MAX_INT", "META_KEY", "VERSION", "Fail", "check_document",
           "check_metadata", "json_kind", "parse"]

META_KEY = "__gpk_training__"
FORMAT, VERSION = "gluon_params_kit.training", 1
#: Levels of nesting ``metadata`` may have (the dict itself is level 1); the whole
#: document may have one more.
MAX_DEPTH = 64
#: Update counts, device ids and scheduler ints fit an int64 (Python's optimizers turn
#: them into floats: ``beta1 ** t`` overflows for a larger ``t``).
MAX_INT = 2 ** 63 - 1

_TOP = ("format", "version", "parameters", "trainer", "optimizer", "lr_scheduler", "states",
        "metadata")
_TRAINER = ("paths", "kvstore", "update_on_kvstore")
_OPTIMIZER = ("class", "config", "run", "counts", "all_counts", "current")
_RUN = ("num_update", "lr", "rescale_grad")
_SCHEDULER = ("class", "state")


class Fail:
    """Raises the :class:`CheckpointError` of one file: ``fail(field, what)``."""

    def __init__(self, path: str):
        self.path = path

    def __call__(self, field: str, what: str) -> NoReturn:
        raise CheckpointError(f"training file {self.path!r}: field {field!r} {what}")

    def file(self, what: str) -> NoReturn:
        raise CheckpointError(f"training file {self.path!r}: {what}")


def json_kind(value: Any) -> str:
    """What JSON calls the type of a decoded value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _shown(value: Any, limit: int = 60) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit
        text = f"<an int of {value.bit_length()} bits>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------- reading

def parse(raw: bytes, fail: Fail) -> Any:
    """The JSON value of ``raw``, nested at most ``MAX_DEPTH + 1`` levels."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail.file(f"the training description is not UTF-8 text ({exc})")
    try:
        doc = json.loads(text)
    except RecursionError:
        fail.file(f"the training description is nested deeper than Python's JSON reader "
                  f"follows (a training file has at most {MAX_DEPTH + 1} levels)")
    except ValueError as exc:
        fail.file(f"the training description is not valid JSON ({exc})")
    if depth(doc, MAX_DEPTH + 1) > MAX_DEPTH + 1:
        fail.file(f"the training description is nested more than {MAX_DEPTH + 1} levels "
                  f"deep; a training file has at most {MAX_DEPTH + 1}")
    return doc


def depth(value: Any, limit: int) -> int:
    """Levels of lists, tuples and dicts in ``value`` (0 for a scalar), without recursion;
    counting stops past ``limit`` (so a list that holds itself ends too)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, tuple)):
            children = list(item)
        elif isinstance(item, Mapping):
            children = list(item.values())
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _section(value: Any, field: str, keys: Sequence[str], fail: Fail,
             optional: Sequence[str] = ()) -> Dict[str, Any]:
    if not isinstance(value, dict):
        fail(field, f"is {json_kind(value)}, not an object with {listing(keys)}")
    for key in keys:
        if key not in value and key not in optional:
            fail(_join(field, key), f"is missing (a training file has {listing(keys)} "
                                    f"{'here' if field else 'at the top'})")
    unknown = [k for k in value if k not in keys]
    if unknown:
        fail(field or "<top>", f"has unknown entries {listing(unknown)}; known: {listing(keys)}")
    return value


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _str(value: Any, field: str, fail: Fail, *, null: bool = False) -> Optional[str]:
    if value is None and null:
        return None
    if not isinstance(value, str):
        fail(field, f"is {json_kind(value)} ({_shown(value)}), not a string"
                    + (" or null" if null else ""))
    return value


def _count(value: Any, field: str, fail: Fail, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(field, f"is {json_kind(value)} ({_shown(value)}), not an integer")
    if not minimum <= value <= MAX_INT:
        fail(field, f"is {_shown(value)}, outside [{minimum}, 2**63)")
    return value


def _finite(value: Any, field: str, fail: Fail) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(field, f"is {json_kind(value)} ({_shown(value)}), not a number")
    if isinstance(value, int) and abs(value) > MAX_INT:
        fail(field, f"is {_shown(value)}, too large for a float")
    if not math.isfinite(value):
        fail(field, f"is {value!r}; it must be a finite number")
    return value


def _path_list(value: Any, field: str, fail: Fail, known: Optional[Sequence[str]]) -> List[str]:
    if not isinstance(value, list):
        fail(field, f"is {json_kind(value)}, not a list of parameter paths")
    allowed = None if known is None else set(known)
    seen = set()
    for i, path in enumerate(value):
        _str(path, f"{field}[{i}]", fail)
        if path in seen:
            fail(f"{field}[{i}]", f"repeats the path {path!r}")
        seen.add(path)
        if allowed is not None and path not in allowed:
            _unknown(path, f"{field}[{i}]", fail, known or ())
    return value


def _unknown(path: Any, field: str, fail: Fail, known: Sequence[str]) -> NoReturn:
    fail(field, f"names unknown path {path!r}; known paths: {listing(known)}")


def _counts(value: Any, field: str, fail: Fail, known: Sequence[str],
            allowed: AbstractSet[str]) -> Dict[str, int]:
    if not isinstance(value, dict):
        fail(field, f"is {json_kind(value)}, not an object of parameter path -> update count")
    for path, n in value.items():
        if path not in allowed:
            _unknown(path, field, fail, known)
        _count(n, f"{field}[{path!r}]", fail)
    return value


def check_document(doc: Any, names: Sequence[str], infos: Mapping[str, Any], fail: Fail) -> Dict[str, Any]:
    """``doc`` if it is a whole, consistent training description of a file whose arrays
    are ``names`` (``infos[name]`` has ``shape``, ``dtype``); else the error naming the field.
    """
    if not isinstance(doc, dict):
        fail.file(f"the training description is {json_kind(doc)}, not an object")
    if "format" not in doc or doc["format"] != FORMAT:
        fail("format", f"is {_shown(doc.get('format', '<missing>'))}, not {FORMAT!r}: this is "
                       f"not a training checkpoint of the kit")
    _section(doc, "", _TOP, fail)
    if doc["version"] != VERSION or isinstance(doc["version"], bool):
        fail("version", f"is {_shown(doc['version'])}; this kit reads version {VERSION} "
                        f"training checkpoints")

    _check_arrays(names, fail)
    stored = [n[len("param:"):] for n in names if n.startswith("param:")]
    params = _path_list(doc["parameters"], "parameters", fail, None)
    for i, path in enumerate(params):
        if f"param:{path}" not in infos:
            fail(f"parameters[{i}]", f"lists {path!r}, but the file holds no array "
                                     f"'param:{path}' (it holds {listing(stored)})")
    listed = set(params)
    extra = [p for p in stored if p not in listed]
    if extra:
        fail("parameters", f"does not list {listing(extra)}, which the file holds as 'param:' "
                           f"arrays")

    trainer = _section(doc["trainer"], "trainer", _TRAINER, fail)
    paths = _path_list(trainer["paths"], "trainer.paths", fail, params)
    known = set(paths)
    _str(trainer["kvstore"], "trainer.kvstore", fail, null=True)
    if not isinstance(trainer["update_on_kvstore"], bool):
        fail("trainer.update_on_kvstore", f"is {json_kind(trainer['update_on_kvstore'])}, "
                                          f"not true or false")

    opt = _section(doc["optimizer"], "optimizer", _OPTIMIZER, fail)
    if not _str(opt["class"], "optimizer.class", fail):
        fail("optimizer.class", "is empty")
    config = opt["config"]
    if not isinstance(config, dict):
        fail("optimizer.config", f"is {json_kind(config)}, not an object of hyperparameters")
    for key, value in config.items():
        check_encoded(value, f"optimizer.config.{key}", fail)
    run = _section(opt["run"], "optimizer.run", _RUN, fail)
    _count(run["num_update"], "optimizer.run.num_update", fail)
    _finite(run["lr"], "optimizer.run.lr", fail)
    _finite(run["rescale_grad"], "optimizer.run.rescale_grad", fail)
    known_list = [p for p in params if p in known]  # shown in the block's order
    counts = _counts(opt["counts"], "optimizer.counts", fail, known_list, known)
    table = opt["all_counts"]
    if not isinstance(table, list):
        fail("optimizer.all_counts", f"is {json_kind(table)}, not a list of [device, counts] pairs")
    devices: Dict[int, Dict[str, int]] = {}
    for i, pair in enumerate(table):
        field = f"optimizer.all_counts[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            fail(field, f"is {json_kind(pair)} ({_shown(pair)}), not a [device, counts] pair")
        device = _count(pair[0], f"{field}[0]", fail, minimum=-MAX_INT)
        if device in devices:
            fail(f"{field}[0]", f"repeats device {device}")
        devices[device] = _counts(pair[1], f"{field}[1]", fail, known_list, known)
    current = _count(opt["current"], "optimizer.current", fail, minimum=-MAX_INT)
    if counts != devices.get(current, {}):
        fail("optimizer.counts", f"differs from the counts of the current device {current} "
                                 f"in optimizer.all_counts")

    sched = doc["lr_scheduler"]
    if sched is not None:
        _section(sched, "lr_scheduler", _SCHEDULER, fail)
        if not _str(sched["class"], "lr_scheduler.class", fail):
            fail("lr_scheduler.class", "is empty")
        if not isinstance(sched["state"], dict):
            fail("lr_scheduler.state", f"is {json_kind(sched['state'])}, not an object")
        for key, value in sched["state"].items():
            check_encoded(value, f"lr_scheduler.state.{key}", fail)

    _check_states(doc["states"], names, infos, known_list, known, fail)
    metadata = doc["metadata"]
    if not isinstance(metadata, dict):
        fail("metadata", f"is {json_kind(metadata)}, not an object")
    bad = _first_problem(metadata, "metadata")
    if bad is not None:
        fail(bad[0], bad[1])
    return doc


def _check_arrays(names: Sequence[str], fail: Fail) -> None:
    seen = set()
    for name in names:
        if name in seen:
            fail.file(f"the file holds two arrays named {name!r}")
        seen.add(name)
    alien = [n for n in names if n != META_KEY and not n.startswith(("param:", "state:"))]
    if alien:
        fail.file(f"the file holds arrays a training checkpoint does not have: {listing(alien)} "
                  f"(only 'param:<path>', 'state:<path>:<i>' and {META_KEY!r})")


def _check_states(states: Any, names: Sequence[str], infos: Mapping[str, Any],
                  known: Sequence[str], allowed: AbstractSet[str], fail: Fail) -> None:
    if not isinstance(states, dict):
        fail("states", f"is {json_kind(states)}, not an object of parameter path -> state")
    used: Dict[str, str] = {}
    for path, tree in states.items():
        if path not in allowed:
            _unknown(path, "states", fail, known)
        stack = [(tree, f"states[{path!r}]")]
        while stack:
            node, field = stack.pop()
            if node is None:
                continue
            if not isinstance(node, dict) or len(node) != 1 or \
                    next(iter(node)) not in ("array", "tuple", "list"):
                fail(field, f"is {json_kind(node)} ({_shown(node)}), not null, "
                            f"{{'array': name}}, {{'tuple': [...]}} or {{'list': [...]}}")
            (kind, value), = node.items()
            if kind != "array":
                if not isinstance(value, list):
                    fail(f"{field}.{kind}", f"is {json_kind(value)}, not a list of states")
                stack.extend((child, f"{field}.{kind}[{i}]") for i, child in enumerate(value))
                continue
            _str(value, f"{field}.array", fail)
            if not value.startswith(f"state:{path}:"):
                fail(f"{field}.array", f"names {value!r}; a state of {path!r} is stored as "
                                       f"'state:{path}:<i>'")
            if value not in infos:
                fail(f"{field}.array", f"names {value!r}, which the file does not hold")
            if value in used:
                fail(f"{field}.array", f"names {value!r}, already used by {used[value]}")
            info = infos[value]
            if info.shape is None or info.dtype is None:
                fail(f"{field}.array", f"names {value!r}, an array stored without a shape")
            used[value] = field
    orphans = [n for n in names if n.startswith("state:") and n not in used]
    if orphans:
        fail("states", f"names no state stored in {listing(orphans)} (the file holds state "
                       f"arrays its description does not use)")


def _first_problem(value: Any, where: str):
    """(where, what, error class) of the first part of ``value`` that JSON would not give back equal
    (a non-str key, a tuple, NaN or an infinity, an int past Python's digit limit, an
    object), or None. Iterative: ``value`` is known to be at most ``MAX_DEPTH`` deep."""
    stack = [(value, where)]
    while stack:
        item, field = stack.pop()
        if item is None or isinstance(item, (bool, str)):
            continue
        if isinstance(item, int):
            try:
                str(item)
            except ValueError:
                return field, (f"is an int of {item.bit_length()} bits, more digits than "
                               f"Python's JSON reader accepts ({sys.get_int_max_str_digits()})"
                               ), CheckpointError
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return field, f"is {item!r}, which JSON cannot hold (use a string or null)", \
                    CheckpointError
            continue
        if isinstance(item, list):
            stack.extend((child, f"{field}[{i}]") for i, child in reversed(list(enumerate(item))))
            continue
        if isinstance(item, tuple):
            return field, (f"is a tuple, which JSON stores as a list (read back as "
                           f"{_shown(list(item))}); pass a list"), CheckpointTypeError
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    return field, (f"has the key {_shown(key)} ({type(key).__name__}); JSON keys "
                                   f"are strings (it would read back as {json.dumps(str(key))})"
                                   ), CheckpointTypeError
            stack.extend((child, f"{field}[{key!r}]") for key, child in reversed(list(item.items())))
            continue
        return field, (f"is a {type(item).__name__} ({_shown(item)}); metadata holds plain JSON "
                       f"(numbers, strings, booleans, None, lists, dicts)"), CheckpointTypeError
    return None


# --------------------------------------------------------------------------- saving

def check_metadata(metadata: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """A copy of ``metadata`` if it reads back from the file equal, else the error
    naming ``metadata`` and where inside it the problem is."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise CheckpointTypeError(f"metadata must be a dict, got {type(metadata).__name__}")
    if depth(metadata, MAX_DEPTH) > MAX_DEPTH:
        raise CheckpointError(f"metadata is nested more than {MAX_DEPTH} levels deep (or holds "
                              f"itself); a training file holds at most {MAX_DEPTH} (the dict "
                              f"itself is level 1)")
    bad = _first_problem(dict(metadata), "metadata")
    if bad is not None:
        field, what, cls = bad
        raise cls(f"metadata must be plain JSON that reads back equal: {field} {what}")
    return json.loads(json.dumps(dict(metadata)))
