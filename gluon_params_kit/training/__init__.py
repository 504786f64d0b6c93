"""Training checkpoints: parameters, Trainer states and metadata, one file, no pickle.

:func:`save_training` writes one ``.params`` file (MXNet's ``nd.save`` format, written
atomically like :func:`~gluon_params_kit.checkpoint.save`): the parameters under
``param:<path>``, every optimizer state array (momentum, Adam's moments, the float32
master weights of ``multi_precision``) under ``state:<path>:<i>``, and one uint8 array
``__gpk_training__`` holding JSON: the optimizer's class and hyperparameters, its update
counts, learning rate and scheduler position, the Trainer's parameter order, and a small
user ``metadata`` dict (epoch, step). :func:`load_training` checks all of it against the
block *and* the Trainer before changing anything (every field of the JSON, ``_schema``;
each optimizer state against what the Trainer's optimizer makes), reads the state arrays
once, then loads the parameters with :func:`~gluon_params_kit.checkpoint.load` (so a live
Trainer's kvstore keeps working) and only then gives the Trainer its states, all or
nothing; :func:`read_training` reads and checks the JSON alone. A tampered or damaged
field is a ``CheckpointError`` naming it, never a raw ``KeyError`` or ``RecursionError``.

What ``Trainer.save_states`` writes is a **pickle**: ``Updater.get_states(dump_optimizer=
True)`` is ``pickle.dumps((states, optimizer))`` (the kvstore's updater when the store
updates, else the Trainer's), and ``load_states`` calls ``pickle.loads`` on the file, so
loading a states file runs whatever code its author put in it: never load one from an
untrusted source. A training checkpoint of the kit holds arrays and JSON only; loading
one runs no code from the file: JSON decodes to numbers, strings, lists and dicts, only
a fixed set of optimizer fields (update counts, ``lr``, ``rescale_grad``) and the
scheduler's existing number fields are set, and arrays must have the parameters' shapes.
A hostile file can still hold bad values, and MXNet's C++ reader parses its bytes.

Not saved: the random generator's state (MXNet has no API to read it; seed each run),
the data pipeline's position (put it in ``metadata``), and states kept on the servers
of a dist store that updates on the kvstore (``Trainer(..., update_on_kvstore=False)``
keeps them on the workers, where they are saved).
"""
from __future__ import annotations

import json
import math
import os
import warnings
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as onp

from .. import checkpoint as _checkpoint
from .._core.compat import cpu_buffer, gluon, mx
from .._core.gluon import check_block, has_data
from .._core.types import PathLike
from .._core.validate import check_bool, check_contexts
from .._io.files import atomic_write
from .._io.formats import open_values, read_host
from .._io.header import BFLOAT16, DataFile, bfloat16_to_float32, numpy_dtype
from ..errors import CheckpointError, CheckpointTypeError, listing
from ..tree import named_parameters
from ._schema import FORMAT, MAX_INT, META_KEY, VERSION, Fail, check_document, check_metadata, json_kind, parse
from ._state import (
    decode_value,
    describe,
    encode_value,
    flatten_state,
    signature,
    state_keys,
    tree_signature,
    unflatten_state,
)

__all__ = ["TrainingReport", "load_training", "read_training", "save_training"]
#: Optimizer fields that move during training (restored); the rest must match.
_RUN_FIELDS = ("num_update", "lr", "rescale_grad")
#: Optimizer fields that belong to this process or the Trainer, never compared.
_OWN_FIELDS = ("param_dict", "idx2name", "sym_info", "_all_index_update_counts",
               "_index_update_count", "lr_scheduler", "allow_np_array", "aggregate_num")


# --------------------------------------------------------------------------- the Trainer

def _trainer_paths(block, trainer) -> List[str]:
    """The block's canonical path of each of the Trainer's parameters, in index order."""
    if not isinstance(trainer, gluon.Trainer):
        raise CheckpointTypeError(f"trainer must be a gluon.Trainer, got "
                                  f"{type(trainer).__name__}: {trainer!r}")
    canon = {id(p): path for path, p in named_parameters(block).items()}
    foreign = [p.name for p in trainer._params if id(p) not in canon]
    if foreign:
        raise CheckpointError(f"the Trainer updates parameters that are not in "
                              f"{type(block).__name__}: {listing(foreign)}")
    return [canon[id(p)] for p in trainer._params]


def _ensure_store(trainer) -> None:
    """Make the Trainer's kvstore and updaters now, as ``save_states`` does."""
    if not trainer._kv_initialized:
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()


def _updaters(trainer, action: str) -> List[Any]:
    if trainer._update_on_kvstore:
        if "dist" in trainer._kvstore.type:
            raise CheckpointError(
                f"cannot {action} the Trainer's states: its dist kvstore runs the optimizer on "
                f"the servers, which MXNet gives workers no way to read or set "
                f"(Trainer.save_states refuses too). Make the Trainer with "
                f"update_on_kvstore=False to keep the states on the workers.")
        return [trainer._kvstore._updater]
    return list(trainer._updaters)


def _will_update_on_servers(trainer) -> bool:
    """Whether a Trainer whose kvstore is not made yet will update on a dist store's servers."""
    config = trainer._kvstore_params
    kv = config["kvstore"]
    name = kv.type if isinstance(kv, mx.kv.KVStore) else kv
    return isinstance(name, str) and "dist" in name and config["update_on_kvstore"] is not False


def _optimizer_fields(opt) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    config: Dict[str, Any] = {}
    run: Dict[str, Any] = {}
    for name, value in sorted(vars(opt).items()):
        if name in _OWN_FIELDS:
            continue
        where = f"optimizer field {type(opt).__name__}.{name}"
        (run if name in _RUN_FIELDS else config)[name] = encode_value(value, where)
    return config, run


def _class_name(obj) -> Optional[str]:
    return None if obj is None else f"{type(obj).__module__}.{type(obj).__qualname__}"


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _short(name: Optional[str]) -> str:
    return "None" if name is None else name.rsplit(".", 1)[-1]


# --------------------------------------------------------------------------- saving

def save_training(block: gluon.Block, trainer: "gluon.Trainer", path: PathLike, *,
                  metadata: Optional[Mapping[str, Any]] = None,
                  fsync: bool = True) -> Dict[str, Any]:
    """Save parameters, Trainer states and ``metadata`` to one file, atomically.

    The file replaces ``path`` only once complete and flushed (an error or a crash
    leaves the previous checkpoint whole). It holds no pickle (module docstring).

    Args:
        block: The network the Trainer trains (every parameter initialized).
        trainer: Its ``gluon.Trainer``; its kvstore is made now if it was not yet, as
            ``Trainer.save_states`` does.
        path: The file to write (``.params`` by convention).
        metadata: A small dict of plain JSON (``{'epoch': 3, 'step': 1200}``) that reads
            back equal: str keys; str, int, float, bool, None, lists and dicts as values;
            at most 64 levels deep. Anything else is refused before anything is written.
        fsync: Flush to disk before returning.

    Returns:
        The JSON description written (what :func:`read_training` returns).

    Raises:
        CheckpointError: Uninitialized parameters, a Trainer over parameters outside
            ``block``, states on a dist store's servers, or a write failure (the old
            file is untouched).
        CheckpointTypeError: ``metadata`` (a non-str key, a tuple, an object; the error
            names where inside it), an optimizer field that JSON cannot hold, or ``fsync``
            not a bool.
        CheckpointError: ``metadata`` nested too deep, or holding NaN or an infinity.

    Examples:
        >>> import os, tempfile, mxnet as mx
        >>> from mxnet import autograd, gluon
        >>> net = gluon.nn.Dense(2, in_units=3); net.initialize()
        >>> trainer = gluon.Trainer(net.collect_params(), 'sgd', {'momentum': 0.9})
        >>> with autograd.record():
        ...     loss = net(mx.nd.ones((4, 3))).sum()
        >>> loss.backward(); trainer.step(4)
        >>> f = os.path.join(tempfile.mkdtemp(), 'run.params')
        >>> info = save_training(net, trainer, f, metadata={'epoch': 1})
        >>> info['optimizer']['class'], info['optimizer']['counts'], info['metadata']
        ('mxnet.optimizer.optimizer.SGD', {'weight': 1, 'bias': 1}, {'epoch': 1})
    """
    check_block(block, CheckpointTypeError)
    check_bool(fsync, "fsync", CheckpointError, where="save_training")
    paths = _trainer_paths(block, trainer)
    params = named_parameters(block)
    pending = [k for k, p in params.items() if not has_data(p)]
    if pending:
        raise CheckpointError(f"cannot save a training checkpoint of {type(block).__name__}: "
                              f"{listing(pending)} not initialized yet (run a forward pass)")
    user = check_metadata(metadata)
    _ensure_store(trainer)
    updater = _updaters(trainer, "save")[0]
    opt = trainer._optimizer
    config, run = _optimizer_fields(opt)
    arrays: "OrderedDict[str, Any]" = OrderedDict(
        (f"param:{k}", p.list_data()[0].as_nd_ndarray()) for k, p in params.items())
    states = OrderedDict()
    order = {k: i for i, k in enumerate(params)}  # shown in the block's order
    index = {key: i for i, key in enumerate(paths)}
    for key in sorted(paths, key=order.__getitem__):
        if index[key] in updater.states:
            states[key] = flatten_state(updater.states[index[key]], f"state:{key}", arrays)
    counts = {dev: dict(sorted(((paths[i], n) for i, n in c.items() if isinstance(i, int)),
                               key=lambda kv: order[kv[0]]))
              for dev, c in opt._all_index_update_counts.items()}
    current = next((d for d, c in opt._all_index_update_counts.items()
                    if c is opt._index_update_count), 0)
    sched = opt.lr_scheduler
    meta = {
        "format": FORMAT, "version": VERSION, "parameters": list(params),
        "trainer": {"paths": paths, "kvstore": getattr(trainer._kvstore, "type", None),
                    "update_on_kvstore": bool(trainer._update_on_kvstore)},
        "optimizer": {"class": _class_name(opt), "config": config, "run": run,
                      "counts": counts.get(current, {}),
                      "all_counts": [[d, c] for d, c in counts.items()], "current": current},
        "lr_scheduler": None if sched is None else {
            "class": _class_name(sched),
            "state": {k: encode_value(v, f"lr_scheduler field {k}")
                      for k, v in vars(sched).items()}},
        "states": states, "metadata": user,
    }
    text = json.dumps(meta).encode()
    _check_own(meta, text, arrays, path)
    arrays[META_KEY] = mx.nd.array(onp.frombuffer(text, dtype=onp.uint8), dtype="uint8")
    keys = list(arrays)

    def write(tmp: str) -> None:
        with mx.util.np_array(False), mx.util.np_shape(False):
            mx.nd.save(tmp, dict(arrays))

    def verify(tmp: str) -> None:
        if _checkpoint.read_header(tmp).names != keys:
            raise CheckpointError("the file MXNet wrote does not hold every array it was given")

    atomic_write(path, write, fsync=fsync, verify=verify)
    return meta


class _Written(NamedTuple):
    shape: Tuple[int, ...]
    dtype: str
    stype: str


def _check_own(meta: Dict[str, Any], text: bytes, arrays: Mapping[str, Any], path: PathLike) -> None:
    """Refuse to write what :func:`load_training` would refuse (a NaN learning rate, an
    update count past int64...), before anything is written."""
    infos = {k: _Written(tuple(a.shape), str(a.dtype), a.stype) for k, a in arrays.items()}
    try:
        check_document(parse(text, Fail(str(path))), list(arrays) + [META_KEY], infos,
                       Fail(str(path)))
    except CheckpointError as exc:
        raise CheckpointError(f"save_training refuses to write a file load_training would "
                              f"refuse: {exc}. Nothing was written.") from None


# --------------------------------------------------------------------------- reading

def read_training(path: PathLike) -> Dict[str, Any]:
    """The JSON description of a training checkpoint (no parameter is read or loaded).

    Args:
        path: A file written by :func:`save_training`.

    Returns:
        A dict: ``metadata`` (the user's dict), ``parameters`` (paths), ``trainer``
        (its parameter order, kvstore type), ``optimizer`` (class, hyperparameters
        under ``config``, ``lr`` and ``num_update`` under ``run``, update ``counts``),
        ``lr_scheduler`` and ``states`` (how each parameter's states are stored).

    Raises:
        CheckpointError: The file is not a training checkpoint of the kit, or its
            description is damaged or edited (a missing section, a field of the wrong
            type, a path the file does not hold, a non-finite learning rate, nesting past
            65 levels...): the message names the field.

    Examples:
        >>> import os, tempfile
        >>> from mxnet import gluon
        >>> net = gluon.nn.Dense(2, in_units=3); net.initialize()
        >>> trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.01})
        >>> f = os.path.join(tempfile.mkdtemp(), 'run.params')
        >>> _ = save_training(net, trainer, f, metadata={'epoch': 0, 'note': 'warm-up'})
        >>> info = read_training(f)
        >>> info['metadata'], info['optimizer']['run']['lr'], info['parameters']
        ({'epoch': 0, 'note': 'warm-up'}, 0.01, ['weight', 'bias'])
    """
    header = _checkpoint.read_header(path)
    with open_values(header) as src:  # the version the header describes, or "changed"
        meta = _meta_of(header, _read_meta_bytes(header, src))
        src.check()
    return meta


def _read_meta_bytes(header, src: DataFile) -> bytes:
    if META_KEY not in header.names:
        raise CheckpointError(
            f"{header.path!r} is not a training checkpoint (no {META_KEY!r} entry; it holds "
            f"{len(header)} arrays): write one with gpk.save_training, or load plain "
            f"parameter files with gpk.load")
    info = header[META_KEY]
    if info.dtype != "uint8" or info.shape is None or len(info.shape) != 1 \
            or info.stype != "default" or info.offset < 0:
        raise CheckpointError(
            f"training file {header.path!r}: its {META_KEY!r} array is {info.dtype} "
            f"{info.shape} ({info.stype}), not the uint8 bytes of a JSON text")
    return src.read(info.offset, info.nbytes, f"reading {META_KEY!r}")


def _meta_of(header, raw: bytes) -> Dict[str, Any]:
    """The JSON description, checked whole against the file's arrays (field by field)."""
    fail = Fail(header.path)
    return check_document(parse(raw, fail), header.names, dict(header.items()), fail)


# --------------------------------------------------------------------------- loading

class TrainingReport(_checkpoint.LoadReport):
    """A :class:`~gluon_params_kit.checkpoint.LoadReport` of the parameters, plus what was
    restored in the Trainer: ``metadata`` (the user's dict), ``optimizer`` (its class
    name), ``states`` (paths whose optimizer states were restored), ``num_update``, ``lr``.
    Its text ends with a line on the Trainer (when one was restored) and the metadata.
    """

    FIELDS = _checkpoint.LoadReport.FIELDS + ("metadata", "optimizer", "states", "num_update", "lr")

    def __init__(self, path: str, block_name: str, *, metadata: Optional[Dict[str, Any]] = None,
                 optimizer: Optional[str] = None, states: Sequence[str] = (),
                 num_update: Optional[int] = None, lr: Optional[float] = None, **findings: Any):
        self.metadata: Dict[str, Any] = dict(metadata or {})
        self.optimizer = optimizer
        self.states: List[str] = list(states)
        self.num_update = num_update
        self.lr = lr
        super().__init__(path, block_name, **findings)

    def _footer(self) -> List[str]:
        lines = super()._footer()
        if self.optimizer is not None:
            lines.append(f"trainer: {_short(self.optimizer)}, states of "
                         f"{len(self.states)} parameter(s), update {self.num_update}, "
                         f"lr {self.lr}")
        lines.append(f"metadata: {json.dumps(self.metadata)}")
        return lines


def load_training(block: gluon.Block, trainer: Optional["gluon.Trainer"], path: PathLike, *,
                  ctx: Optional[Any] = None) -> TrainingReport:
    """Load a training checkpoint into ``block`` and ``trainer``, all or nothing.

    First everything is checked, before anything changes: the whole JSON description
    (every field's type, the required sections, parameter paths it may name, finite
    learning rate, update counts that are ints in ``[0, 2**63)``, nesting depth; a
    tampered field is a ``CheckpointError`` naming it), the parameters (missing,
    unexpected, shapes, dtypes, as :func:`~gluon_params_kit.checkpoint.load` does), the
    Trainer's parameter set, its optimizer class and hyperparameters (``momentum``,
    ``wd``, ``beta1``...), its learning-rate scheduler class and field types, and each
    state's structure, shapes and dtypes against what the Trainer's optimizer makes for
    the parameter; the state arrays are read (once) before the net changes. A mismatch
    raises with what differs. Then the parameters are loaded (through a live
    Trainer's kvstore when it has one) and the Trainer gets the optimizer states, update
    counts, learning rate and scheduler position, so the next ``trainer.step`` does what
    it would have done in the run that saved the file. No pickle is read.

    Args:
        block: The network (initialized, deferred or not initialized at all).
        trainer: Its ``gluon.Trainer`` (made like the saving run's, over the same
            parameters; any kvstore), or None to load the parameters and metadata only.
        path: A file written by :func:`save_training`.
        ctx: Context(s) for parameters that are not initialized yet.

    Returns:
        A :class:`TrainingReport` (``report.metadata`` is the saved dict).

    Raises:
        CheckpointError: Any mismatch (``exc.report`` for the parameters' problems), a
            file that is not a training checkpoint, or Trainer states a dist store's
            servers hold. Nothing was changed.
        DeviceError: A bad ``ctx``, as in :func:`~gluon_params_kit.checkpoint.load`.

    Examples:
        >>> import os, tempfile, mxnet as mx
        >>> from mxnet import autograd, gluon
        >>> def make():
        ...     net = gluon.nn.Dense(2, in_units=3); net.initialize(mx.init.One())
        ...     return net, gluon.Trainer(net.collect_params(), 'sgd', {'momentum': 0.9})
        >>> net, trainer = make()
        >>> with autograd.record():
        ...     loss = net(mx.nd.ones((4, 3))).sum()
        >>> loss.backward(); trainer.step(4)
        >>> f = os.path.join(tempfile.mkdtemp(), 'run.params')
        >>> _ = save_training(net, trainer, f, metadata={'epoch': 1})
        >>> net2, trainer2 = make()
        >>> report = load_training(net2, trainer2, f)
        >>> report.metadata, report.states, report.num_update
        ({'epoch': 1}, ['weight', 'bias'], 1)
        >>> adam = gluon.Trainer(net2.collect_params(), 'adam')
        >>> try:
        ...     load_training(net2, adam, f)
        ... except CheckpointError as e:
        ...     print(str(e).split('. ')[0])
        cannot load 'run.params' into this Trainer: optimizer Adam, not the checkpoint's SGD
    """
    check_block(block, CheckpointTypeError)
    check_contexts(ctx, "ctx", allow_none=True)  # before the file is read: a DeviceError
    header = _checkpoint.read_header(path)
    staged = None
    with open_values(header) as src:  # every byte below from this version, or "changed"
        meta = _meta_of(header, _read_meta_bytes(header, src))
        name = os.path.basename(header.path)
        if trainer is not None:
            paths = _check_trainer(block, trainer, meta, header, name)
            staged = _stage(trainer, meta, paths, header, src)
        src.check()
    prefix = "param:"
    report = _checkpoint.load(  # the header: the values of this very version, or "changed"
        block, header, ctx=ctx,
        remap=lambda key: key[len(prefix):] if key.startswith(prefix) else None)
    findings = {name: getattr(report, name) for name in _checkpoint.LoadReport.FIELDS}
    # the 'param:' prefix and the state arrays are the file's own layout, not a remap the
    # caller asked for: no renamed or dropped keys to report
    findings.update(dropped=[], renamed=OrderedDict())
    restored: Dict[str, Any] = {}
    if trainer is not None and staged is not None:
        _apply(trainer, staged)
        restored = dict(optimizer=meta["optimizer"]["class"], states=list(meta["states"]),
                        num_update=trainer._optimizer.num_update, lr=_current_lr(trainer._optimizer))
    return TrainingReport(report.path, report.block_name, metadata=meta["metadata"], **restored,
                          **findings)


def _current_lr(opt) -> Any:
    """The learning rate of the last update, without calling the scheduler (a call moves it,
    and a scheduler stepping one update at a time to a hostile ``num_update`` never ends)."""
    sched = opt.lr_scheduler
    return opt.lr if sched is None else getattr(sched, "base_lr", opt.lr)


def _changed(path: str, outcome: str) -> CheckpointError:
    return CheckpointError(f"training file {path!r} was replaced or changed while "
                           f"load_training read it. {outcome}")


def _same(a: Any, b: Any) -> bool:
    """Equal JSON values, NaN equal to NaN (a hyperparameter may be NaN on both sides)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _check_trainer(block, trainer, meta, header, name) -> List[str]:
    """Every difference between the Trainer and the checkpoint, or the Trainer's paths."""
    paths = _trainer_paths(block, trainer)
    saved = meta["trainer"]["paths"]
    problems = []
    if set(paths) != set(saved):
        mine, theirs = set(paths), set(saved)
        only_t = [p for p in named_parameters(block) if p in mine and p not in theirs]
        only_c = [p for p in meta["parameters"] if p in theirs and p not in mine]
        problems.append("parameter set differs (field 'trainer.paths': " + "; ".join(
            part for part in (only_t and f"only the Trainer updates {listing(only_t)}",
                              only_c and f"only the checkpoint has {listing(only_c)}") if part)
            + ")")
    opt, want = trainer._optimizer, meta["optimizer"]
    same_class = _class_name(opt) == want["class"]
    if not same_class:
        problems.append(f"optimizer {_short(_class_name(opt))}, not the checkpoint's "
                        f"{_short(want['class'])}")
    else:
        config, _ = _optimizer_fields(opt)
        for key in sorted(set(config) | set(want["config"])):
            mine, theirs = config.get(key, "<absent>"), want["config"].get(key, "<absent>")
            if not _same(mine, theirs):
                problems.append(f"optimizer {key}: Trainer {_shown(decode_value(mine))}, "
                                f"checkpoint {_shown(decode_value(theirs))}")
    sched = meta["lr_scheduler"]
    if _class_name(opt.lr_scheduler) != (sched and sched["class"]):
        problems.append(f"lr_scheduler {_short(_class_name(opt.lr_scheduler))}, not the "
                        f"checkpoint's {_short(sched and sched['class'])}")
    elif sched is not None:
        problems += _scheduler_fields(opt.lr_scheduler, sched["state"])[1]
    if same_class and not problems:  # the states' structure: what this optimizer makes
        problems += _state_problems(trainer, meta, paths, header)
    if not problems and trainer._kv_initialized:
        _updaters(trainer, "load")  # a dist store that updates on its servers: refuse now
    elif not problems and _will_update_on_servers(trainer):
        problems.append("the Trainer's dist kvstore will run the optimizer on the servers, "
                        "whose states MXNet gives workers no way to set (make the Trainer with "
                        "update_on_kvstore=False)")
    if problems:
        raise CheckpointError(f"cannot load {name!r} into this Trainer: "
                              + "; ".join(problems) + ". Nothing was changed.")
    return paths


def _scheduler_fields(live, state: Mapping[str, Any]) -> Tuple[Dict[str, Any], List[str]]:
    """The scheduler fields to restore (a live scalar field of the same kind), and problems."""
    mine = vars(live)
    restore: Dict[str, Any] = {}
    lacking = [k for k, v in mine.items() if isinstance(v, (int, float, str, type(None)))
               and k not in state]
    problems = [f"field 'lr_scheduler.state' lacks {listing(lacking)}, which "
                f"{type(live).__name__} keeps"] if lacking else []
    for key, encoded in state.items():
        if key not in mine or not isinstance(mine[key], (int, float, str, type(None))):
            continue  # the same class keeps its other fields itself (lists of steps...)
        value, current = decode_value(encoded), mine[key]
        if not isinstance(value, (int, float, str, type(None))):
            continue
        if isinstance(current, bool) or isinstance(value, bool):
            fits = isinstance(current, bool) and isinstance(value, bool) or current is None
        elif isinstance(current, int):
            fits = isinstance(value, int) and -MAX_INT <= value <= MAX_INT
        elif isinstance(current, float):
            fits = isinstance(value, (int, float)) and -MAX_INT <= value <= MAX_INT and (
                math.isfinite(value) or _same(float(value), current))
        elif isinstance(current, str):
            fits = isinstance(value, str)
        else:  # None now: any finite scalar
            fits = not isinstance(value, float) or math.isfinite(value)
        if fits:
            restore[key] = value
        else:
            problems.append(f"field 'lr_scheduler.state.{key}': the Trainer's scheduler holds "
                            f"{json_kind(current)} ({current!r}), the checkpoint "
                            f"{json_kind(value)} ({str(value)[:40]})")
    return restore, problems


def _state_problems(trainer, meta, paths: List[str], header) -> List[str]:
    """Each saved state against the one this Trainer's optimizer makes for its parameter
    (a fresh state of a stand-in weight of the file's shape, dtype and storage type)."""
    opt, index = trainer._optimizer, {p: i for i, p in enumerate(paths)}
    infos = dict(header.items())
    problems: List[str] = []
    made: Dict[Any, Any] = {}
    for path, tree in meta["states"].items():
        info = infos[f"param:{path}"]
        param = trainer._params[index[path]]
        live = tuple(param.shape or ())
        if live and all(d > 0 for d in live) and live != info.shape:
            continue  # gpk.load refuses the parameter itself, with its report
        key = (info.shape, info.dtype, getattr(param, "_stype", "default"))
        theirs = tree_signature(tree, infos)
        if key not in made:
            made[key] = _fresh_signature(opt, index[path], *key)
        if made[key] is not None and theirs != made[key]:  # sure: a weight of the full shape
            made[key] = _fresh_signature(opt, index[path], *key, full=True)
        if made[key] is None:  # the optimizer cannot make one here: shapes at least
            wrong = [k for k in state_keys(tree) if infos[k].shape != info.shape]
            if wrong:
                problems.append(f"state {wrong[0]!r} has shape {infos[wrong[0]].shape}, its "
                                f"parameter {info.shape}")
        elif theirs != made[key]:
            problems.append(f"the state of {path!r} is {describe(theirs)} in the file; "
                            f"{_short(_class_name(opt))} keeps {describe(made[key])} for a "
                            f"{info.dtype} {info.shape} parameter")
    return problems


#: Dimensions of the small stand-in weight: a state of this shape is the weight's shape.
_PROBE_DIMS = (2, 3, 5, 7, 11, 13, 17, 19)


def _fresh_signature(opt, index: int, shape, dtype, stype, *, full: bool = False) -> Any:
    """The signature of the state ``opt`` makes for a zero weight like the parameter, or
    None when it cannot make one (an empty or unusual array: then shapes are checked).

    A small stand-in of the same rank is used first (a state of its shape stands for the
    parameter's shape); ``full=True`` uses the parameter's own shape, for a sure answer
    where the small one disagrees with the file.
    """
    if shape is None or dtype is None:
        return None
    probe = tuple(shape) if full else tuple(_PROBE_DIMS[i % len(_PROBE_DIMS)] for i in range(len(shape)))
    try:
        with mx.util.np_array(False), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # float16 without multi_precision: not our concern
            weight = mx.nd.zeros(probe, ctx=mx.cpu(), dtype=numpy_dtype(dtype), stype=stype)
            made = signature(opt.create_state_multi_precision(index, weight))
    except Exception:  # a third-party optimizer that needs more than a stand-in weight
        return None if full else _fresh_signature(opt, index, shape, dtype, stype, full=True)
    return made if full else _scaled(made, probe, tuple(shape))


def _scaled(sig: Any, probe: Tuple[int, ...], shape: Tuple[int, ...]) -> Any:
    if sig is None or sig[0] == "object":
        return sig
    if sig[0] == "array":
        return ("array", shape if sig[1] == probe else sig[1]) + tuple(sig[2:])
    return (sig[0], [_scaled(s, probe, shape) for s in sig[1]])


class _Staged(NamedTuple):
    """Everything the Trainer gets, decoded and checked before the net changes."""

    arrays: Dict[str, Any]
    states: Dict[int, Any]
    run: Dict[str, Any]
    counts: Dict[int, Dict[int, int]]
    current: int
    scheduler: Dict[str, Any]


def _stage(trainer, meta, paths: List[str], header, src: DataFile) -> _Staged:
    """Read the state arrays from ``src`` (the open file the header describes) and decode
    what the Trainer will get; nothing is changed."""
    keys = [k for tree in meta["states"].values() for k in state_keys(tree)]
    try:
        arrays = {key: _state_array(header, src, key) for key in keys}
    except (MemoryError, mx.base.MXNetError) as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"training file {header.path!r}: cannot hold its optimizer states "
                              f"in memory ({last[:200]}). Nothing was changed.") from None
    index = {p: i for i, p in enumerate(paths)}
    opt, want = trainer._optimizer, meta["optimizer"]
    sched = meta["lr_scheduler"]
    return _Staged(
        arrays=arrays,
        states={index[p]: t for p, t in meta["states"].items()},
        run={k: decode_value(want["run"][k]) for k in _RUN_FIELDS},
        counts={d: {index[p]: n for p, n in c.items()} for d, c in want["all_counts"]},
        current=want["current"],
        scheduler={} if sched is None else _scheduler_fields(opt.lr_scheduler, sched["state"])[0])


def _state_array(header, src: DataFile, key: str):
    """One state array as an ``mx.nd.NDArray``, read from the open file: a dense
    ``.params`` array straight into the array's memory, anything else through the kit's
    reader of its format (sparse storage restored, bfloat16 from exact float32)."""
    info = header[key]
    with mx.util.np_array(False):
        if header.format == "params" and info.stype == "default" and info.size and info.shape:
            out = mx.nd.empty(info.shape, dtype=numpy_dtype(info.dtype))
            view = cpu_buffer(out)
            if view is not None and len(view) == info.nbytes:
                src.readinto(info.offset, view, repr(key))
                return out
        value = read_host(header, [key], src=src)[key]
        if info.dtype == "bfloat16":  # numpy has no bfloat16
            out = mx.nd.array(bfloat16_to_float32(value), dtype="float32").astype(BFLOAT16)
        else:
            out = mx.nd.array(value, dtype=value.dtype)
        return out if info.stype == "default" else out.tostype(info.stype)


def _apply(trainer, staged: _Staged) -> None:
    """Give the Trainer the checkpoint's states, counts, lr and scheduler position: plain
    assignments of what :func:`_stage` checked and decoded."""
    _ensure_store(trainer)
    updaters = _updaters(trainer, "load")
    for updater in updaters:  # each its own copies (MXNet moves them to its device)
        updater.states = {i: unflatten_state(t, staged.arrays) for i, t in staged.states.items()}
        updater.states_synced = dict.fromkeys(updater.states, False)
    opt = trainer._optimizer
    for key, value in staged.run.items():
        setattr(opt, key, value)
    opt._all_index_update_counts = {d: dict(c) for d, c in staged.counts.items()}
    opt._all_index_update_counts.setdefault(staged.current, {})
    opt._index_update_count = opt._all_index_update_counts[staged.current]
    if opt.lr_scheduler is not None:
        vars(opt.lr_scheduler).update(staged.scheduler)
