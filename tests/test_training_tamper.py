"""Tampered training checkpoints: every edited field is refused and nothing changes (issue 32, item 4).

A valid training file is saved from a small net after two steps of an Adam Trainer (with a
FactorScheduler) and of an SGD-momentum Trainer. From each, a systematic set of tampered
files is made: every field of the JSON deleted, set to null and given another type; paths
pointed at unknown paths; state arrays of another shape, dtype, storage or structure; NaN and
infinite learning rates, negative and huge counts; deep nesting; truncated files and bad bytes.
Each goes to ``load_training`` (into a live net and Trainer that hold other values) and to
``read_training``: a ``CheckpointError`` naming the field (never a raw exception), and the net
and the Trainer (parameters, optimizer states, update counts, ``num_update``, learning rate,
scheduler) bit-identical to before. The totals are printed.
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import copy
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Tuple

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn

import gluon_params_kit as gpk
from gluon_params_kit.errors import CheckpointError, CheckpointTypeError

META = "__gpk_training__"
OPTIMIZERS = {
    "adam": ("adam", lambda: {"learning_rate": 0.01, "wd": 1e-4,
                              "lr_scheduler": mx.lr_scheduler.FactorScheduler(step=1, factor=0.9)}),
    "sgd": ("sgd", lambda: {"learning_rate": 0.1, "momentum": 0.9}),
}


# --------------------------------------------------------------------------- nets and snapshots

TWO = [mx.cpu(0), mx.cpu(1)]


def _net(seed: int, ctx=None):
    mx.random.seed(seed)
    net = nn.HybridSequential()
    net.add(nn.Dense(4, activation="relu", in_units=3), nn.Dense(2, in_units=4))
    net.initialize(mx.init.Normal(0.5), ctx=ctx)
    return net


def _trainer(net, opt: str, kvstore: str = "device"):
    name, params = OPTIMIZERS[opt]
    return gluon.Trainer(net.collect_params(), name, params(), kvstore=kvstore)


def _step(net, trainer, i: int) -> None:
    r = np.random.RandomState(i)
    array = mx.np.array if mx.util.is_np_array() else mx.nd.array
    x, y = array(r.randn(6, 3), dtype="float32"), array(r.randn(6, 2), dtype="float32")
    ctx = net[0].weight.list_ctx()
    xs, ys = gluon.utils.split_and_load(x, ctx), gluon.utils.split_and_load(y, ctx)
    with autograd.record():
        losses = [((net(a) - b) ** 2).sum() for a, b in zip(xs, ys)]
    autograd.backward(losses)
    trainer.step(6)


def _state_bits(state: Any) -> Any:
    if state is None:
        return None
    if isinstance(state, mx.nd.NDArray):
        a = state.asnumpy()
        return a.shape, a.dtype.str, state.stype, a.tobytes()
    return type(state).__name__, [_state_bits(s) for s in state]


def _snapshot(net, trainer) -> Dict[str, Any]:
    """Everything a load could change, as bytes and plain values."""
    opt = trainer._optimizer
    updaters = list(trainer._updaters)
    if trainer._kvstore is not None and trainer._update_on_kvstore:
        updaters.append(trainer._kvstore._updater)
    sched = opt.lr_scheduler
    return {
        "params": {k: [d.asnumpy().tobytes() for d in p.list_data()]
                   for k, p in gpk.named_parameters(net).items()},
        "states": [{i: _state_bits(s) for i, s in u.states.items()} for u in updaters],
        "synced": [dict(u.states_synced) for u in updaters],
        "num_update": opt.num_update, "lr": opt.lr, "rescale_grad": opt.rescale_grad,
        "counts": copy.deepcopy(opt._all_index_update_counts),
        "current": [d for d, c in opt._all_index_update_counts.items() if c is opt._index_update_count],
        "scheduler": None if sched is None else dict(vars(sched)),
        "kv": (trainer._kv_initialized, trainer._kvstore, trainer._update_on_kvstore),
        "store": _store_bits(trainer),
    }


def _store_bits(trainer) -> List[bytes]:
    """What the Trainer's kvstore holds for each parameter (none without a store)."""
    if trainer._kvstore is None:
        return []
    out = []
    for i, p in enumerate(trainer._params):
        value = mx.nd.zeros(p.shape, dtype=p.dtype)
        trainer._kvstore.pull(i, out=value)
        out.append(value.asnumpy().tobytes())
    return out


def _target(opt: str, ctx=None):
    """A live net and Trainer holding other values than the file: one step from seed 7
    (on two contexts: a 'device' kvstore that runs the optimizer and keeps the states)."""
    net = _net(7, ctx)
    trainer = _trainer(net, opt)
    _step(net, trainer, 11)
    return net, trainer


# --------------------------------------------------------------------------- files

def _load_arrays(path) -> Dict[str, Any]:
    with mx.util.np_array(False), mx.util.np_shape(False):
        return mx.nd.load(str(path))


def _save_arrays(path, arrays: Dict[str, Any]) -> None:
    with mx.util.np_array(False), mx.util.np_shape(False):
        mx.nd.save(str(path), arrays)


def _json_array(text: bytes):
    return mx.nd.array(np.frombuffer(text, dtype=np.uint8), dtype="uint8")


class Base(NamedTuple):
    path: Path
    arrays: Dict[str, Any]
    doc: Dict[str, Any]
    raw: bytes


def _base(folder: Path, opt: str) -> Base:
    net = _net(0)
    trainer = _trainer(net, opt)
    for i in range(2):
        _step(net, trainer, i)
    path = folder / f"{opt}.params"
    gpk.save_training(net, trainer, path, metadata={"epoch": 2, "note": "base", "seen": [1, 2]})
    arrays = _load_arrays(path)
    doc = json.loads(arrays[META].asnumpy().tobytes())
    return Base(path, arrays, doc, path.read_bytes())


class Case(NamedTuple):
    """One tampered file: ``write(base, dest)`` makes it; the error must contain one of
    ``words`` (case-insensitive; none: any CheckpointError); ``read``: read_training must
    refuse it too (a fault of the file alone, not of the file against a Trainer)."""

    name: str
    write: Callable[[Base, Path], None]
    words: Tuple[str, ...] = ()
    read: bool = True


def _doc_case(name: str, change: Callable[[Dict[str, Any]], Any], words=(), read=True) -> Case:
    def write(base: Base, dest: Path) -> None:
        doc = copy.deepcopy(base.doc)
        change(doc)
        arrays = dict(base.arrays)
        arrays[META] = _json_array(json.dumps(doc).encode())
        _save_arrays(dest, arrays)
    return Case(name, write, tuple(words), read)


def _text_case(name: str, change: Callable[[str], Any], words=()) -> Case:
    def write(base: Base, dest: Path) -> None:
        text = change(json.dumps(base.doc))
        arrays = dict(base.arrays)
        arrays[META] = _json_array(text if isinstance(text, bytes) else text.encode())
        _save_arrays(dest, arrays)
    return Case(name, write, tuple(words))


def _arrays_case(name: str, change: Callable[[Dict[str, Any], Dict[str, Any]], None], words=(),
                 read=True) -> Case:
    """``change(arrays, doc)`` edits both; the doc is written back as the JSON array."""
    def write(base: Base, dest: Path) -> None:
        arrays, doc = dict(base.arrays), copy.deepcopy(base.doc)
        if change(arrays, doc) is not False and META in arrays:  # False: the JSON array as it is
            arrays[META] = _json_array(json.dumps(doc).encode())
        _save_arrays(dest, arrays)
    return Case(name, write, tuple(words), read)


def _bytes_case(name: str, change: Callable[[Base, bytearray], bytes]) -> Case:
    def write(base: Base, dest: Path) -> None:
        dest.write_bytes(bytes(change(base, bytearray(base.raw))))
    return Case(name, write)


# --------------------------------------------------------------------------- the cases

def _fields(value: Any, path: Tuple = ()):
    """Every (path, value) under ``value`` (dict keys and list positions), parents first."""
    if path:
        yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _fields(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _fields(v, path + (i,))


def _at(doc: Any, path: Tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _other_type(value: Any) -> Any:
    if value is None:
        return 7
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return 12345
    if isinstance(value, list):
        return {"k": 1}
    return [1, 2]


def _field_name(path: Tuple) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def _trainer_level(path: Tuple) -> bool:
    """Fields whose edited value only a Trainer can refuse (its hyperparameters, class,
    scheduler fields)."""
    return path[:2] in (("optimizer", "config"), ("optimizer", "class"), ("lr_scheduler", "class")) \
        or path[:2] == ("lr_scheduler", "state")


def field_cases(doc: Dict[str, Any]) -> List[Case]:
    """Every field of the JSON (user metadata's inside left alone: any JSON is valid there):
    deleted, set to null, given another type."""
    cases = []
    for path, value in list(_fields(doc)):
        if path[0] == "metadata" and len(path) > 1:
            continue
        words = tuple(str(k) for k in path if isinstance(k, str))
        read = not _trainer_level(path)
        name = _field_name(path)

        def delete(d, path=path):
            parent = _at(d, path[:-1])
            del parent[path[-1]]

        def null(d, path=path):
            _at(d, path[:-1])[path[-1]] = None

        def retype(d, path=path, value=value):
            _at(d, path[:-1])[path[-1]] = _other_type(value)
        cases.append(_doc_case(f"delete {name}", delete, words, read))
        if value is not None:  # no scheduler is a valid file: only the Trainer's differs
            cases.append(_doc_case(f"null {name}", null, words, read and path != ("lr_scheduler",)))
        cases.append(_doc_case(f"retype {name}", retype, words, read))
    return cases


def _set(path: Tuple, value: Any):
    def change(d):
        _at(d, path[:-1])[path[-1]] = value
    return change


def _first_state(doc) -> Tuple[str, List[str]]:
    """The first parameter with a state, and the array names of its state tree."""
    path, tree = next(iter(doc["states"].items()))
    names: List[str] = []
    stack = [tree]
    while stack:
        t = stack.pop()
        if t is None:
            continue
        if "array" in t:
            names.append(t["array"])
        else:
            stack.extend(next(iter(t.values())))
    return path, sorted(names, key=lambda n: int(n.rsplit(":", 1)[1]))


def _counts_set(value: Any):
    def change(d):
        first = next(iter(d["optimizer"]["counts"]))
        d["optimizer"]["counts"][first] = value
        d["optimizer"]["all_counts"][0][1][first] = value
    return change


def _nested(levels: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(levels):
        value = [value]
    return value


def special_cases(base: Base, opt: str) -> List[Case]:
    doc = base.doc
    p0, state_names = _first_state(doc)
    params = doc["parameters"]
    p1 = next(p for p in doc["states"] if p != p0)
    _, other_names = p1, [t for t in json.dumps(doc["states"][p1]).split('"') if t.startswith("state:")]
    cases = [
        # paths pointed at unknown paths
        _doc_case("states names unknown path", lambda d: d["states"].__setitem__(
            "foo", d["states"].pop(p0)), ("states", "foo")),
        _doc_case("all_counts names unknown path", lambda d: d["optimizer"]["all_counts"][0][1].update(
            foo=1), ("all_counts", "foo")),
        _doc_case("counts and all_counts name unknown path", lambda d: (
            d["optimizer"]["counts"].update(foo=1), d["optimizer"]["all_counts"][0][1].update(foo=1)),
            ("counts", "foo")),
        _doc_case("trainer.paths names unknown path", lambda d: d["trainer"]["paths"].append("foo"),
                  ("paths", "foo")),
        _doc_case("trainer.paths repeats a path", lambda d: d["trainer"]["paths"].append(
            d["trainer"]["paths"][0]), ("paths",)),
        _doc_case("parameters names unknown path", lambda d: d["parameters"].append("foo"),
                  ("parameters", "foo")),
        _doc_case("parameters renames a path", _set(("parameters", 0), "foo"), ("parameters",)),
        _doc_case("state array is a parameter", _set(("states", p0) + _array_path(doc, p0),
                                                     f"param:{p0}"), ("array",)),
        _doc_case("state array of another path", _set(("states", p0) + _array_path(doc, p0),
                                                      other_names[0]), ("array",)),
        _doc_case("state array the file lacks", _set(("states", p0) + _array_path(doc, p0),
                                                     f"state:{p0}:999"), ("array",)),
        _doc_case("state tree with two keys", _set(("states", p0), {
            "array": state_names[0], "tuple": []}), ("states",)),
        _doc_case("state tree of unknown kind", _set(("states", p0), {"set": []}), ("states",)),
        _doc_case("state tuple not a list", _set(("states", p0), {"tuple": "x"}), ("states",)),
        _doc_case("state array not a string", _set(("states", p0), {"array": 5}), ("states",)),
        _doc_case("state tree empty object", _set(("states", p0), {}), ("states",)),
        _doc_case("state tree a list", _set(("states", p0), [state_names[0]]), ("states",)),
        _doc_case("states a list", _set(("states",), []), ("states",)),
        # learning rate and counters
        *[_doc_case(f"lr {v!r}", _set(("optimizer", "run", "lr"), v), ("lr",))
          for v in (float("nan"), float("inf"), -float("inf"), "0.1", True, None, [0.1])],
        _text_case("lr 1e400 (inf in JSON)", lambda t: t.replace('"lr": ', '"lr": 1e400, "x_lr": ', 1),
                   ("lr", "x_lr")),
        _doc_case("rescale_grad NaN", _set(("optimizer", "run", "rescale_grad"), float("nan")),
                  ("rescale_grad",)),
        *[_doc_case(f"num_update {v!r}", _set(("optimizer", "run", "num_update"), v), ("num_update",))
          for v in (-1, 2 ** 63, 10 ** 30, 1.5, True, "2")],
        _text_case("num_update 10**5000 (past Python's digit limit)", lambda t: t.replace(
            '"num_update": ', '"num_update": 1' + "0" * 5000 + ', "y": ', 1), ("json", "digit", "limit")),
        *[_doc_case(f"update count {v!r}", _counts_set(v), ("counts",)) for v in (-1, 10 ** 20, 2.5, "2")],
        _doc_case("current device absent", _set(("optimizer", "current"), 5), ("counts", "current")),
        _doc_case("current device huge", _set(("optimizer", "current"), 2 ** 64), ("current",)),
        _doc_case("all_counts repeats a device", lambda d: d["optimizer"]["all_counts"].append(
            copy.deepcopy(d["optimizer"]["all_counts"][0])), ("all_counts",)),
        _doc_case("all_counts triple", lambda d: d["optimizer"]["all_counts"][0].append(1), ("all_counts",)),
        _doc_case("all_counts an object", _set(("optimizer", "all_counts"), {"0": {}}), ("all_counts",)),
        # hyperparameters and other fields the kit does not write
        _doc_case("config value an odd object", _set(("optimizer", "config", "wd"), {"x": 1}), ("wd",)),
        _doc_case("config dict not a list", _set(("optimizer", "config", "lr_mult"), {"dict": 5}),
                  ("lr_mult",)),
        _doc_case("config dict item not a pair", _set(("optimizer", "config", "lr_mult"),
                                                      {"dict": [[1]]}), ("lr_mult",)),
        _doc_case("config dict key unhashable", _set(("optimizer", "config", "lr_mult"),
                                                     {"dict": [[[1, [2]], 3]]}), ("lr_mult",)),
        _doc_case("config value a 400-digit int", _set(("optimizer", "config", "wd"), 10 ** 400),
                  ("wd: Trainer",), read=False),
        _doc_case("config value deeply nested", _set(("optimizer", "config", "wd"), _nested(80)),
                  ("nested",)),
        _doc_case("optimizer class of another optimizer", _set(
            ("optimizer", "class"), "mxnet.optimizer.optimizer.NAG"), ("optimizer",), read=False),
        _doc_case("optimizer class empty", _set(("optimizer", "class"), ""), ("class",)),
        _doc_case("version 2", _set(("version",), 2), ("version",)),
        _doc_case("format of another tool", _set(("format",), "other"), ("format",)),
        *[_doc_case(f"unknown entry in {where or 'top'}", lambda d, where=where: _at(
            d, tuple(where.split(".")) if where else ()).__setitem__("extra", 1), ("extra",))
          for where in ("", "trainer", "optimizer", "optimizer.run")],
        # metadata that JSON carries but save_training refuses
        _doc_case("metadata NaN", _set(("metadata", "epoch"), float("nan")), ("metadata",)),
        _doc_case("metadata deep", _set(("metadata", "deep"), _nested(80)), ("nested",)),
        _text_case("metadata 100000 levels (RecursionError in json)", lambda t: t.replace(
            '"metadata": {', '"metadata": {"deep": ' + "[" * 100000 + "]" * 100000 + ", ", 1),
            ("nested",)),
        _text_case("document 100000 levels", lambda t: "[" * 100000 + "]" * 100000, ("nested",)),
        # the JSON text itself
        *[_text_case(f"JSON text {t!r}", lambda _, t=t: t) for t in
          ("", "null", "[]", "1", '"x"', "{", "{}", "[1, 2")],
        _text_case("JSON text not UTF-8", lambda t: t.encode()[:40] + b"\xff\xfe" + t.encode()[40:],
                   ("utf-8",)),
        _text_case("JSON text cut short", lambda t: t[:len(t) // 2], ("json",)),
        _text_case("JSON text with a NUL", lambda t: t.replace('"format"', '"for\x00mat"', 1)),
        # the arrays
        _arrays_case("state array of another shape", lambda a, d: a.__setitem__(
            state_names[0], mx.nd.zeros(a[state_names[0]].shape[::-1] + (1,))), ("state",), read=False),
        _arrays_case("state array float64", lambda a, d: a.__setitem__(
            state_names[0], a[state_names[0]].astype("float64")), ("state",), read=False),
        _arrays_case("state array float16", lambda a, d: a.__setitem__(
            state_names[0], a[state_names[0]].astype("float16")), ("state",), read=False),
        _arrays_case("state array int32", lambda a, d: a.__setitem__(
            state_names[0], a[state_names[0]].astype("int32")), ("state",), read=False),
        _arrays_case("state array row_sparse", lambda a, d: a.__setitem__(
            state_names[0], a[state_names[0]].tostype("row_sparse")), ("state",), read=False),
        _arrays_case("state array deleted", lambda a, d: a.pop(state_names[0]), ("array",)),
        _arrays_case("state array without a state", lambda a, d: a.__setitem__(
            f"state:{p0}:99", a[state_names[0]]), ("states",)),
        _arrays_case("alien array", lambda a, d: a.__setitem__("foo", mx.nd.ones(3)), ("foo",)),
        _arrays_case("parameter array deleted", lambda a, d: a.pop(f"param:{params[0]}"),
                     ("parameters",)),
        _arrays_case("parameter array of another shape", lambda a, d: a.__setitem__(
            f"param:{params[0]}", mx.nd.zeros((7, 7))), ("shape",), read=False),
        _arrays_case("description float32", lambda a, d: a.__setitem__(
            META, a[META].astype("float32")) or False, (META,)),
        _arrays_case("description deleted", lambda a, d: a.pop(META), ("not a training checkpoint",)),
        _arrays_case("state structure: one array fewer", _fewer(p0, state_names), ("state",),
                     read=False),
        _arrays_case("state structure: a tuple around it", _wrapped(p0), ("state",), read=False),
        _arrays_case("state structure: none", _no_state(p0, state_names), ("state",), read=False),
        # bytes
        *[_bytes_case(f"truncated at {where}", lambda b, raw, where=where: raw[:_cut(b, where)])
          for where in ("0", "8", "30", "first-param", "first-state", "description", "last-byte")],
        _bytes_case("magic number", lambda b, raw: b"\x00" * 8 + raw[8:]),
        _bytes_case("dtype flag 99 in a state record", lambda b, raw: _flag(b, raw, 99)),
        _bytes_case("dtype flag float64 in a state record", lambda b, raw: _flag(b, raw, 1)),
        _bytes_case("description byte 0xff", lambda b, raw: _poke(b, raw, 3, 0xFF)),
        _bytes_case("description brace to bracket", lambda b, raw: _poke(b, raw, 0, ord("["))),
    ]
    if opt == "adam":  # the scheduler's fields
        cases += [
            _doc_case("scheduler base_lr NaN", _set(("lr_scheduler", "state", "base_lr"), float("nan")),
                      ("base_lr",), read=False),
            _doc_case("scheduler count huge", _set(("lr_scheduler", "state", "count"), 2 ** 70),
                      ("count",), read=False),
            _doc_case("scheduler count a float", _set(("lr_scheduler", "state", "count"), 1.5),
                      ("count",), read=False),
            _doc_case("scheduler warmup_mode an int", _set(("lr_scheduler", "state", "warmup_mode"), 5),
                      ("warmup_mode",), read=False),
            _doc_case("scheduler class renamed", _set(("lr_scheduler", "class"), "x.Other"),
                      ("lr_scheduler",), read=False),
            _doc_case("scheduler null", _set(("lr_scheduler",), None), ("lr_scheduler",), read=False),
        ]
    return cases


def _array_path(doc, path: str) -> Tuple:
    """Where the first array name sits in a state tree."""
    tree, where = doc["states"][path], ()
    while "array" not in tree:
        kind = next(iter(tree))
        tree, where = tree[kind][0], where + (kind, 0)
    return where + ("array",)


def _fewer(path: str, names: List[str]):
    def change(a, d):
        if len(names) > 1:  # Adam: (mean, var) -> mean alone
            d["states"][path] = {"array": names[0]}
            for n in names[1:]:
                a.pop(n)
        else:  # SGD: momentum -> (momentum,) and a second array too many
            d["states"][path] = {"tuple": [{"array": names[0]}, {"array": f"state:{path}:99"}]}
            a[f"state:{path}:99"] = a[names[0]]
    return change


def _wrapped(path: str):
    def change(a, d):
        d["states"][path] = {"tuple": [d["states"][path]]}
    return change


def _no_state(path: str, names: List[str]):
    def change(a, d):
        d["states"][path] = None
        for n in names:
            a.pop(n)
    return change


def _header(base: Base):
    return gpk.read_header(base.path)


def _cut(base: Base, where: str) -> int:
    h = _header(base)
    first_state = next(n for n in h.names if n.startswith("state:"))
    return {"0": 0, "8": 8, "30": 30, "first-param": h[0].offset + h[0].nbytes // 2,
            "first-state": h[first_state].offset + 2, "description": h[META].offset + h[META].nbytes // 2,
            "last-byte": len(base.raw) - 1}[where]


def _flag(base: Base, raw: bytearray, flag: int) -> bytearray:
    info = _header(base)[next(n for n in _header(base).names if n.startswith("state:"))]
    raw[info.offset - 4:info.offset] = int(flag).to_bytes(4, "little")
    return raw


def _poke(base: Base, raw: bytearray, at: int, byte: int) -> bytearray:
    raw[_header(base)[META].offset + at] = byte
    return raw


# --------------------------------------------------------------------------- the run

RUNS = [("adam", "nd", "cpu"), ("sgd", "nd", "cpu"), ("adam", "np", "cpu"), ("sgd", "nd", "two")]


@pytest.mark.parametrize("opt, array_mode, where", RUNS, ids=["-".join(r) for r in RUNS])
def test_every_tampered_field_is_refused_and_nothing_changes(opt, array_mode, where, tmp_path, capsys):
    if array_mode == "np":  # the kit writes nd files; an np-mode net and Trainer load them
        mx.npx.set_np()  # (conftest resets the mode after the test)
    base = _base(tmp_path, opt)
    cases = field_cases(base.doc) + special_cases(base, opt)
    ctx = TWO if where == "two" else None
    net, trainer = _target(opt, ctx)
    if ctx:  # the optimizer runs in the kvstore, which holds the states
        assert trainer._update_on_kvstore and trainer._kvstore._updater.states
    before = _snapshot(net, trainer)
    raw, changed, accepted, unnamed, read_raw, read_accepted = [], [], [], [], [], []
    for i, case in enumerate(cases):
        dest = tmp_path / f"case{i}.params"
        case.write(base, dest)
        try:
            gpk.load_training(net, trainer, dest)
            accepted.append(case.name)
        except CheckpointError as exc:
            if case.words and not any(w.lower() in str(exc).lower() for w in case.words):
                unnamed.append(f"{case.name}: {exc}")
            if len(str(exc)) > 2000:  # a message, not a dump of the file
                unnamed.append(f"{case.name}: a message of {len(str(exc))} characters")
        except BaseException as exc:  # noqa: B036 (counted, never raised: RecursionError too)
            raw.append(f"{case.name}: {type(exc).__name__}: {exc}"[:300])
        if _snapshot(net, trainer) != before:
            changed.append(case.name)
            net, trainer = _target(opt, ctx)  # the next case starts from the known state again
        try:
            gpk.read_training(dest)
            if case.read:
                read_accepted.append(case.name)
        except CheckpointError:
            pass
        except BaseException as exc:  # noqa: B036
            read_raw.append(f"{case.name}: {type(exc).__name__}: {exc}"[:300])
        os.remove(dest)
    with capsys.disabled():
        print(f"\n[{opt}, {array_mode} mode, {where}] {len(cases)} tampered files: {len(cases) - len(accepted) - len(raw)} "
              f"CheckpointError, {len(raw)} raw exceptions, {len(changed)} with net or Trainer "
              f"changed, {len(accepted)} accepted, {len(unnamed)} not naming the field; "
              f"read_training: {len(read_raw)} raw, {len(read_accepted)} accepted")
    assert len(cases) >= 120
    assert raw == [] and read_raw == []
    assert changed == []
    assert accepted == [] and read_accepted == []
    assert unnamed == []


def test_messages_name_the_field_and_the_choices(tmp_path):
    base = _base(tmp_path, "adam")
    net, trainer = _target("adam")
    before = _snapshot(net, trainer)
    expected = [
        ("all_counts names unknown path",
         r"training file '.*': field 'optimizer\.all_counts\[0\]\[1\]' names unknown path 'foo'; "
         r"known paths: '0\.weight', '0\.bias', '1\.weight', '1\.bias'"),
        ("states names unknown path", r"field 'states' names unknown path 'foo'; known paths: '0\.weight'"),
        ("delete optimizer.current", r"field 'optimizer\.current' is missing"),
        ("delete metadata", r"field 'metadata' is missing"),
        ("lr nan", r"field 'optimizer\.run\.lr' is nan; it must be a finite number"),
        ("num_update -1", r"field 'optimizer\.run\.num_update' is -1, outside \[0, 2\*\*63\)"),
        ("document 100000 levels", r"nested deeper than Python's JSON reader follows"),
        ("metadata deep", r"nested more than 65 levels deep"),
        ("state structure: one array fewer",
         r"cannot load 'case\.params' into this Trainer: the state of '0\.weight' is float32 \(4, 3\) in "
         r"the file; Adam keeps \(float32 \(4, 3\), float32 \(4, 3\)\) for a float32 \(4, 3\) parameter"
         r".*Nothing was changed"),
        ("scheduler count a float",
         r"field 'lr_scheduler\.state\.count': the Trainer's scheduler holds an integer \(\d+\), the "
         r"checkpoint a number \(1\.5\)"),
    ]
    by_name = {c.name: c for c in field_cases(base.doc) + special_cases(base, "adam")}
    for name, pattern in expected:
        dest = tmp_path / "case.params"
        by_name[name].write(base, dest)
        with pytest.raises(CheckpointError, match=pattern):
            gpk.load_training(net, trainer, dest)
        assert _snapshot(net, trainer) == before


# --------------------------------------------------------------------------- valid files

@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_a_valid_file_still_loads_and_resumes_bit_identically(opt, tmp_path):
    net = _net(0)
    trainer = _trainer(net, opt)
    for i in range(2):
        _step(net, trainer, i)
    gpk.save_training(net, trainer, tmp_path / "run.params", metadata={"epoch": 2})
    for i in range(2, 4):
        _step(net, trainer, i)
    other, other_trainer = _target(opt)  # a net that trained elsewhere: all of it replaced
    report = gpk.load_training(other, other_trainer, tmp_path / "run.params")
    assert report.metadata == {"epoch": 2} and report.num_update == 2
    for i in range(2, 4):
        _step(other, other_trainer, i)
    assert _snapshot(other, other_trainer)["params"] == _snapshot(net, trainer)["params"]
    assert _snapshot(other, other_trainer)["states"] == _snapshot(net, trainer)["states"]


def test_edits_a_user_may_make_still_load(tmp_path):
    """Metadata is the user's: any JSON there loads; counts may be partial when consistent."""
    base = _base(tmp_path, "sgd")
    net, trainer = _target("sgd")

    def edit(d):
        d["metadata"] = {"epoch": "three", "nested": {"a": [None, True, 1.5]}}
        first = next(iter(d["optimizer"]["counts"]))
        del d["optimizer"]["counts"][first], d["optimizer"]["all_counts"][0][1][first]
    _doc_case("edit", edit).write(base, tmp_path / "edited.params")
    report = gpk.load_training(net, trainer, tmp_path / "edited.params")
    assert report.metadata == {"epoch": "three", "nested": {"a": [None, True, 1.5]}}
    assert sorted(trainer._optimizer._index_update_count.values()) == [2, 2, 2]


# --------------------------------------------------------------------------- save_training(metadata=...)

def _deep_list(levels: int) -> List[Any]:
    value: List[Any] = []
    for _ in range(levels):
        value = [value]
    return value


def _loop() -> List[Any]:
    loop: List[Any] = []
    loop.append(loop)
    return loop


METADATA = [
    ({"a": _deep_list(10000)}, CheckpointError, r"metadata is nested more than 64 levels"),
    ({"a": _deep_list(70)}, CheckpointError, r"metadata is nested more than 64 levels"),
    ({"a": _loop()}, CheckpointError, r"metadata is nested more than 64 levels deep \(or holds itself\)"),
    ({"a": {1: "x"}}, CheckpointTypeError, r"metadata\['a'\] has the key 1 \(int\); JSON keys are strings"),
    ({("t", 1): 2}, CheckpointTypeError, r"metadata has the key \('t', 1\) \(tuple\)"),
    ({"a": [1, (2, 3)]}, CheckpointTypeError, r"metadata\['a'\]\[1\] is a tuple.*\[2, 3\]"),
    ({"a": {"b": float("nan")}}, CheckpointError, r"metadata\['a'\]\['b'\] is nan, which JSON cannot hold"),
    ({"a": float("inf")}, CheckpointError, r"metadata\['a'\] is inf"),
    ({"a": {1, 2}}, CheckpointTypeError, r"metadata\['a'\] is a set"),
    ({"a": np.int64(3)}, CheckpointTypeError, r"metadata\['a'\] is a int64"),
    ({"a": np.ones(2)}, CheckpointTypeError, r"metadata must be plain JSON.*metadata\['a'\] is a ndarray"),
    ({"a": b"bytes"}, CheckpointTypeError, r"metadata\['a'\] is a bytes"),
    ({"a": 10 ** 5000}, CheckpointError, r"metadata\['a'\] is an int of \d+ bits, more digits"),
    ([("a", 1)], CheckpointTypeError, r"metadata must be a dict, got list"),
]


@pytest.mark.parametrize("metadata, error, message", METADATA, ids=[m for _, _, m in METADATA])
def test_save_refuses_metadata_it_cannot_write_back(metadata, error, message, tmp_path):
    net = _net(0)
    trainer = _trainer(net, "sgd")
    _step(net, trainer, 0)
    gpk.save_training(net, trainer, tmp_path / "run.params", metadata={"epoch": 1})
    old = (tmp_path / "run.params").read_bytes()
    with pytest.raises(error, match=message) as info:
        gpk.save_training(net, trainer, tmp_path / "run.params", metadata=metadata)
    assert type(info.value) is error
    assert (tmp_path / "run.params").read_bytes() == old
    assert os.listdir(tmp_path) == ["run.params"]


def test_metadata_at_the_depth_limit_round_trips(tmp_path):
    net = _net(0)
    trainer = _trainer(net, "sgd")
    metadata = {"a": _deep_list(62), "b": {"c": [1, 2.5, None, True, "x"]}, "": "empty key"}
    gpk.save_training(net, trainer, tmp_path / "run.params", metadata=metadata)  # 64 levels
    assert gpk.read_training(tmp_path / "run.params")["metadata"] == metadata
    assert gpk.load_training(_net(1), None, tmp_path / "run.params").metadata == metadata


# --------------------------------------------------------------------------- hostile but well-typed values, files replaced

def test_load_never_calls_the_scheduler(tmp_path, monkeypatch):
    """A scheduler steps one update at a time: called with a hostile num_update (2**62 here,
    a valid int64) it would not return. load_training reports the lr without calling it."""
    base = _base(tmp_path, "adam")
    _doc_case("far", _set(("optimizer", "run", "num_update"), 2 ** 62)).write(base, tmp_path / "far.params")
    net, trainer = _target("adam")

    def called(self, num_update):
        raise AssertionError(f"the scheduler was called with {num_update}")
    monkeypatch.setattr(mx.lr_scheduler.FactorScheduler, "__call__", called)
    report = gpk.load_training(net, trainer, tmp_path / "far.params")
    assert report.num_update == 2 ** 62 == trainer._optimizer.num_update
    assert report.lr == base.doc["lr_scheduler"]["state"]["base_lr"] == trainer._optimizer.lr_scheduler.base_lr


def _replace_after(monkeypatch, module, name: str, source: Path, dest: Path) -> None:
    """The first call of ``module.name`` is followed by ``source`` renamed over ``dest``."""
    original = getattr(module, name)
    done = []

    def wrapper(*args, **kwargs):
        out = original(*args, **kwargs)
        if not done:
            done.append(True)
            os.replace(source, dest)
        return out
    monkeypatch.setattr(module, name, wrapper)


def _other_run(tmp_path, opt: str) -> Path:
    """A file of the same layout and JSON as ``_base``'s, other values (another seed)."""
    net = _net(3)
    trainer = _trainer(net, opt)
    for i in range(2):
        _step(net, trainer, i)
    path = tmp_path / "other.params"
    gpk.save_training(net, trainer, path, metadata={"epoch": 2, "note": "base", "seen": [1, 2]})
    return path


def test_a_file_replaced_before_the_net_changes_is_refused_and_nothing_changes(tmp_path, monkeypatch):
    base = _base(tmp_path, "adam")
    other = _other_run(tmp_path, "adam")
    assert gpk.read_training(other) == gpk.read_training(base.path)  # only the arrays differ
    net, trainer = _target("adam")
    before = _snapshot(net, trainer)
    _replace_after(monkeypatch, gpk.checkpoint, "read_header", other, base.path)
    with pytest.raises(CheckpointError, match=r"changed while reading \(replaced, rewritten or cut short "
                                              r"since its header was read\)"):
        gpk.load_training(net, trainer, base.path)
    assert _snapshot(net, trainer) == before


def _replace_before(monkeypatch, module, name: str, source: Path, dest: Path) -> None:
    """``source`` renamed over ``dest`` just before the first call of ``module.name``."""
    original = getattr(module, name)
    done = []

    def wrapper(*args, **kwargs):
        if not done:
            done.append(True)
            os.replace(source, dest)
        return original(*args, **kwargs)
    monkeypatch.setattr(module, name, wrapper)


def test_a_file_replaced_while_gpk_load_reads_it_changes_nothing(tmp_path, monkeypatch):
    """gpk.load is handed load_training's header: its values come from that very version
    or it refuses, so net and Trainer stay as they were."""
    base = _base(tmp_path, "sgd")
    other = _other_run(tmp_path, "sgd")
    net, trainer = _target("sgd")
    before = _snapshot(net, trainer)
    _replace_before(monkeypatch, gpk.checkpoint, "read_for_load", other, base.path)
    with pytest.raises(CheckpointError, match=r"changed while reading"):
        gpk.load_training(net, trainer, base.path)
    assert _snapshot(net, trainer) == before


def test_a_file_replaced_after_its_values_are_read_loads_the_old_version_whole(tmp_path, monkeypatch):
    base = _base(tmp_path, "sgd")
    expected_net, expected_trainer = _target("sgd")
    gpk.load_training(expected_net, expected_trainer, base.path)  # what the old version gives
    other = _other_run(tmp_path, "sgd")
    net, trainer = _target("sgd")
    _replace_after(monkeypatch, gpk.checkpoint, "read_for_load", other, base.path)
    gpk.load_training(net, trainer, base.path)
    assert _snapshot(net, trainer) == _snapshot(expected_net, expected_trainer)


def test_save_refuses_what_load_would_refuse(tmp_path):
    net = _net(0)
    trainer = _trainer(net, "sgd")
    _step(net, trainer, 0)
    trainer._optimizer.lr = float("nan")  # a diverged schedule
    with pytest.raises(CheckpointError, match=r"save_training refuses to write a file load_training would "
                                              r"refuse: .*field 'optimizer\.run\.lr' is nan.*Nothing was "
                                              r"written"):
        gpk.save_training(net, trainer, tmp_path / "run.params")
    assert os.listdir(tmp_path) == []


def test_a_deferred_net_and_a_fresh_trainer_stay_untouched(tmp_path):
    """Nothing initialized yet (shapes come from the file): a refusal leaves the net
    deferred and the Trainer without a kvstore; the valid file then loads and trains."""
    base = _base(tmp_path, "adam")
    by_name = {c.name: c for c in special_cases(base, "adam")}
    net = nn.HybridSequential()
    net.add(nn.Dense(4, activation="relu"), nn.Dense(2))
    net.initialize()
    trainer = _trainer(net, "adam")
    for name in ("states names unknown path", "state structure: one array fewer", "lr nan",
                 "truncated at description", "metadata 100000 levels (RecursionError in json)"):
        by_name[name].write(base, tmp_path / "case.params")
        with pytest.raises(CheckpointError):
            gpk.load_training(net, trainer, tmp_path / "case.params")
        assert [p.shape for p in gpk.named_parameters(net).values()] == [(4, 0), (4,), (2, 0), (2,)]
        assert not trainer._kv_initialized and trainer._optimizer.num_update == 0
    report = gpk.load_training(net, trainer, base.path)
    assert report.num_update == 2 and report.states == ["0.weight", "0.bias", "1.weight", "1.bias"]
    _step(net, trainer, 2)
    assert trainer._optimizer.num_update == 3
