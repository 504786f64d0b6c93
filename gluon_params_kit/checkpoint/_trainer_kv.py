"""Loaded values into Parameters whose ``gluon.Trainer`` keeps a copy in its kvstore.

Gluon's ``set_data`` (what ``load_parameters`` uses) resets such a Trainer's kvstore: a
store the user passed in then fails the next step ("duplicate init of key 0"), a store
Gluon made is rebuilt without the optimizer's states (momentum and Adam moments restart
from zero), and a dist store refuses ("Cannot reset distributed KVStore"). Here the store
keeps living:

- ``local`` / ``device`` stores: the kit's assigning push (``_kvstore.write_everywhere``,
  what ``set_data_everywhere`` and ``sync_replicas`` use) overwrites the store's copy and
  pulls it to every replica; the optimizer and its states are kept.
- ``dist_sync`` stores that run the optimizer on the servers (``update_on_kvstore``, the
  default there): rank 0 sends the servers an optimizer that assigns the next push of
  each loaded key and then delegates to a copy of the Trainer's optimizer. Rank 0 pushes
  the values, the other workers push ``-0.0`` (adding it changes no bit), every worker
  pulls. Every worker must load the same parameters at the same point (a collective
  call, as ``broadcast``). The servers' optimizer restarts (states and update counts),
  as a new Trainer's would: MXNet gives workers no way to read or keep the servers' own.
  Servers unpickle that optimizer, so they must be able to import ``gluon_params_kit``
  (start them with ``python -c "import gluon_params_kit"``, as docs/devices.md shows).
- Stores that hold no copy of the weights (``update_on_kvstore=False``, one device):
  the replicas are written, as Gluon does.
"""
from __future__ import annotations

import pickle
from collections import OrderedDict
from typing import Any, List, Set, Tuple

import numpy as onp

from .._core.compat import mx
from .._core.kvstore import take_keys, write_everywhere
from .._core.provenance import mark_stale
from .._core.types import Parameter
from ..errors import CheckpointError

__all__ = ["before_assign", "holds_copy", "write_loaded"]



def holds_copy(param: Parameter) -> bool:
    """Whether ``param``'s Trainer keeps (and updates) a copy of it in a live kvstore."""
    trainer = getattr(param, "_trainer", None)
    return (trainer is not None and trainer._kv_initialized and trainer._kvstore is not None
            and bool(trainer._update_on_kvstore) and param not in trainer._params_to_init)


def write_loaded(pairs: List[Tuple[Parameter, Any]], *, dtype: str = "check",
                 what: str = "the checkpoint") -> Set[int]:
    """Write ``(Parameter, value)`` pairs whose Trainer holds a kvstore copy; return their ids.

    Everything is checked first (dtype changes, gradient compression): on a problem
    nothing is written. The other pairs are left to the caller (Gluon's own assignment).
    """
    live = [(p, mx.nd.array(v, dtype=v.dtype) if isinstance(v, onp.ndarray) else v)
            for p, v in pairs if holds_copy(p)]  # values: MXNet arrays (nd or np) or numpy
    if not live:
        return set()
    by_trainer: "OrderedDict[int, Tuple[Any, List[Tuple[Parameter, Any]]]]" = OrderedDict()
    problems = []
    for p, v in live:
        if onp.dtype(p.dtype) != onp.dtype(v.dtype) and dtype != "cast":
            problems.append(f"{p.name!r} is {onp.dtype(p.dtype).name} in its Trainer's kvstore "
                            f"but {onp.dtype(v.dtype).name} in {what} (use dtype='cast')")
        trainer = p._trainer
        if trainer._compression_params and id(trainer) not in by_trainer:
            problems.append(f"the Trainer of {p.name!r} compresses kvstore pushes "
                            f"({trainer._compression_params}), which would quantize the values")
        by_trainer.setdefault(id(trainer), (trainer, []))[1].append((p, v))
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(f"cannot load {what} into Parameters held by a live Trainer: "
                              f"{'; '.join(problems[:3])}{more}. Nothing was changed.")
    for trainer, items in by_trainer.values():
        values = [(p, v.astype(p.dtype, copy=False) if dtype == "cast" else v)
                  for p, v in items]
        if "dist" in trainer._kvstore.type:
            _write_on_servers(trainer, values)
        else:
            for p, v in values:
                write_everywhere(p, v.as_nd_ndarray())
    return {id(p) for p, _ in live}


# --------------------------------------------------------------------------- dist stores

def _write_on_servers(trainer, values: List[Tuple[Parameter, Any]]) -> None:
    kv = trainer._kvstore
    keys = [trainer._param2idx[p.name] for p, _ in values]
    probe = take_keys(kv, 1)[0]  # the kit's reserved range: never a Trainer's key
    kv.init(probe, mx.nd.zeros((1,)))
    if kv.rank == 0:
        from .._server_assign import AssignOnce  # here: it imports mxnet, which files need not
        inner = pickle.loads(pickle.dumps(trainer._optimizer))  # param_dict is left out
        body = pickle.dumps(AssignOnce(inner, keys + [probe]), 0).decode("utf-8")
        kv._send_command_to_servers(0, body)  # 0: kController, the servers' set_optimizer
    # The probe first: a server that could not unpickle AssignOnce only logs it, and would
    # apply its old optimizer to the values. Then every worker sees it and nothing moved.
    kv.push(probe, _share(mx.nd.ones((1,)), kv.rank))
    seen = mx.nd.zeros((1,))
    kv.pull(probe, out=seen)
    if seen.asscalar() != 1.0:
        raise CheckpointError(
            "cannot load into a Trainer whose dist kvstore updates on the servers: the servers "
            "did not take the kit's loading optimizer (see the servers' log; they must be "
            "able to import gluon_params_kit: start them with python -c \"import "
            "gluon_params_kit\"). Nothing was changed.")
    for key, (p, v) in zip(keys, values):
        kv.push(key, _share(v.as_nd_ndarray().as_in_context(p.list_data()[0].context), kv.rank))
    for key, (p, _) in zip(keys, values):
        kv.pull(key, out=[d.as_nd_ndarray() for d in p.list_data()])
    mx.nd.waitall()


def _share(value, rank: int):
    """Rank 0's value; -0.0 from the others, so the servers' sum is rank 0's value bit for bit."""
    if rank == 0:
        return value
    return -mx.nd.zeros(value.shape, ctx=value.context, dtype=value.dtype)  # full() gives +0.0


def before_assign(pairs: List[Tuple[Parameter, Any]], *, dtype: str = "check",
                  what: str = "the checkpoint") -> Set[int]:
    """The hook ``gpk.load`` runs right before it assigns loaded values (every format).

    Writes the Parameters a live Trainer holds in its kvstore through that store
    (:func:`write_loaded`) and marks every loaded Parameter's provenance record stale.
    Returns the ids of the Parameters already written; the caller assigns the others.
    """
    written = write_loaded(pairs, dtype=dtype, what=what)
    for param, _ in pairs:
        mark_stale(param, f"loaded from {what}")
    return written
