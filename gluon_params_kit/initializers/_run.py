"""Running an init plan: the private Initializer Gluon calls per Parameter, now or at the first forward.

:mod:`gluon_params_kit.initializers` builds a plan's entries; :func:`run_entries` gives each
parameter a private ``Initializer`` that Gluon's own ``_finish_deferred_init`` calls; it
seeds, fills by role and records provenance, and puts every parameter back as it was when
one of them fails (all or nothing, also for deferred parameters at the first forward).

What is the same for many Parameters is worked out once per plan (:class:`_How`). Where
Gluon's own ``Parameter`` code runs (it fills a fresh zeros array, then copies it into the
Parameter's arrays), the same bits cost less: a constant is written by the one op that
``arr[:] = value`` runs, zeros are not written again, and the array MXNet's own initializer
filled becomes the Parameter's array on its context instead of a copy of it.
"""
from __future__ import annotations

import contextlib
import math
from typing import Any, Dict, Iterator, List, Optional, Tuple

from .._core.compat import load_mxnet, mx
from .._core.display import format_shape
from .._core.gluon import contexts, has_data, is_deferred, restore_fields, save_fields
from .._core.provenance import MARK_ATTR, PROVENANCE_ATTR, record
from .._core.types import Context, Initializer, Parameter
from ..errors import InitializerError

__all__ = ["run_entries"]


_ROLES = ("bias", "gamma", "beta")  # roles an initializer class may handle with its own method


# --------------------------------------------------------------------------- running a plan

class _How:
    """How one initializer fills a parameter: worked out once per plan, not per Parameter."""

    __slots__ = ("inner", "dispatches", "roles", "legacy", "constant", "full", "zero")

    def __init__(self, inner: Initializer):
        kind = type(inner)
        self.inner = inner
        #: it dispatches itself (Gluon lets it): called as it is, whatever the role
        self.dispatches = _defines(kind, "__call__")
        #: the roles it fills with its own ``_init_<role>`` method
        self.roles = () if self.dispatches else tuple(r for r in _ROLES if _defines(kind, f"_init_{r}"))
        #: MXNet's own: on an np array it fills a legacy one (same values in both modes), and
        #: it keeps no reference to the array it fills
        self.legacy = kind.__module__.startswith("mxnet.")
        #: the one value MXNet's constant initializers write (exactly Zero, One, Constant),
        #: which ``_init_weight`` assigns as ``arr[:] = value``
        self.constant = _constant_fill(inner)
        m = _mx()
        self.full = None if self.constant is None or not hasattr(m.nd.NDArray, "_full") else (
            0 if kind is m.init.Zero else 1 if kind is m.init.One else inner.value)
        #: it writes zeros (not -0.0): on Gluon's fresh zeros array it has nothing to do
        self.zero = self.full is not None and self.full == 0 and math.copysign(1.0, self.full) > 0

    def fill(self, path: str) -> Tuple[Any, bool]:
        """(what fills the parameter at ``path``, whether that is ``_init_weight``)."""
        if self.dispatches:
            return self.inner, False
        for role in self.roles:  # a path ends with at most one of them
            if path.endswith(role):
                return getattr(self.inner, f"_init_{role}"), False
        return self.inner._init_weight, True


class _PlannedInitializer(Initializer):
    """What a parameter's ``_finish_deferred_init`` calls: seeds, fills by role, records."""

    def __init__(self, how: _How, param: Parameter, path: str, rule: str,
                 spec: str, seed: Optional[int], fresh: bool = False):
        super().__init__()
        self.how, self.inner, self.param, self.path = how, how.inner, param, path
        self.rule, self.spec, self.seed = rule, spec, seed
        #: Gluon's own code runs the parameter: it calls this with a fresh zeros array,
        #: then copies that array into the parameter's arrays (``_init_impl``)
        self.fresh = fresh
        #: The deferred parameters of the same apply() (set once it has returned).
        self.batch: Optional[_DeferredBatch] = None

    def dumps(self) -> str:
        return self.spec

    def __repr__(self) -> str:
        return f"<planned {self.spec} for {self.path!r} (rule {self.rule!r}, seed {self.seed})>"

    def __call__(self, desc, arr) -> None:
        how, m = self.how, _mx()
        fill, by_weight = how.fill(self.path)
        name = m.init.InitDesc(self.param.name, global_init=self.inner)
        try:
            if self.seed is None:
                self._fill(fill, by_weight, name, arr)
            else:
                with _seeded(self.seed):
                    self._fill(fill, by_weight, name, arr)
        except Exception as exc:
            if self.batch is None:  # apply() itself is running: it puts things back
                raise
            undone = self.batch.roll_back(self.param)
            raise InitializerError(
                f"deferred initialization of {self.path!r} (shape {tuple(arr.shape)}) with "
                f"{self.spec} (rule {self.rule!r}) failed at the first forward: "
                f"{type(exc).__name__}: {exc}. Every parameter of that plan is back as "
                f"it was before apply() ({undone} had values already): nothing was "
                f"changed. Fix the rule and apply the plan again.") from exc
        # Gluon's temporary array, filled by MXNet's own code (which keeps no reference to
        # it), becomes the parameter's array on its context instead of a copy of it
        dense = type(arr) is m.nd.NDArray
        record(self.param, arr, self.rule, self.spec, self.seed,
               how.constant if by_weight and how.constant is not None and str(arr.dtype) in _FLOATS
               else None, handed=self.fresh and dense and how.legacy and not how.dispatches)
        if self.batch is not None:
            self.batch.done(self.param)

    def _fill(self, fill: Any, by_weight: bool, name: Any, arr: Any) -> None:
        how, m = self.how, _mx()
        if type(arr) is m.nd.NDArray:
            if by_weight and how.full is not None:
                # what ``arr[:] = value`` runs on a legacy array (the same one op, the same
                # bits), without its indexing code: most of a BatchNorm's cost otherwise
                if 0 not in arr.shape and not (how.zero and self.fresh):  # else nothing to write
                    arr._full(how.full)
            else:
                fill(name, arr)
        elif (isinstance(arr, m.np.ndarray) and how.legacy
              and not isinstance(self.param, m.gluon.Constant)):
            # MXNet's own initializers draw from another stream on np arrays; filling a
            # legacy array gives the same values for (seed, path, spec) in both modes.
            # (A gluon.Constant's initializer copies its value into the array as it is.)
            with m.util.np_array(False):
                legacy = m.nd.zeros(arr.shape, dtype=arr.dtype, ctx=arr.ctx)
                fill(name, legacy)
            arr[...] = legacy.as_np_ndarray()
        else:
            fill(name, arr)


class _DeferredBatch:
    """One apply() whose deferred parameters are not all initialized yet.

    Gluon finishes deferred parameters one by one during the first forward. If one of
    the planned initializers fails there, every parameter of the plan is put back as it
    was before apply() (all or nothing, as when apply() itself fails). Once the last
    deferred one has its values, the saved states are dropped.
    """

    def __init__(self, saved: List[Tuple[Parameter, Dict[str, Any]]], pending: List[Parameter]):
        self.members = saved
        self.pending = {id(p) for p in pending}
        for param, _ in saved:
            param.__dict__[_BATCH_ATTR] = self

    def done(self, param: Parameter) -> None:
        self.pending.discard(id(param))
        if not self.pending:
            self._release()

    def roll_back(self, failed: Parameter) -> int:
        undone = 0
        for param, state in self.members:
            if param.__dict__.get(_BATCH_ATTR) is not self:
                continue  # planned again by a later apply(): not ours any more
            undone += param is not failed and has_data(param)
            restore_fields([(param, state)])
        self._release()
        return undone

    def _release(self) -> None:
        for param, _ in self.members:
            if param.__dict__.get(_BATCH_ATTR) is self:
                del param.__dict__[_BATCH_ATTR]
        self.members, self.pending = [], set()


_BATCH_ATTR = "_params_kit_deferred_batch"


_FLOATS = ("float16", "float32", "float64", "<class 'numpy.float16'>", "<class 'numpy.float32'>",
           "<class 'numpy.float64'>")


def _constant_fill(init: Initializer) -> Optional[float]:
    """The one value MXNet's constant initializers write (their provenance fingerprint needs
    no engine op), else None."""
    kind = type(init)
    if kind is mx.init.Zero:
        return 0.0
    if kind is mx.init.One:
        return 1.0
    if kind is mx.init.Constant and isinstance(init.value, (int, float)) and not isinstance(init.value, bool):
        return float(init.value)
    return None


def _mx() -> Any:
    """The mxnet module itself (imported: a Parameter exists), without the lazy stand-in's
    lookup on every attribute."""
    return load_mxnet()


def _gluon_runs(klass: type) -> bool:
    """Whether Gluon's own ``Parameter`` code initializes parameters of class ``klass``: it
    fills a fresh zeros array with the initializer, then copies it with ``_init_impl``."""
    gluon_parameter = _mx().gluon.Parameter
    return all(getattr(klass, method, None) is getattr(gluon_parameter, method)
               for method in ("initialize", "_finish_deferred_init", "_init_impl"))


def _defines(klass: type, method: str) -> bool:
    # mx.init.Initializer itself, not the typing stand-in (whose own __call__ would differ)
    return getattr(klass, method) is not getattr(mx.init.Initializer, method)


_BATCH_SEEDING = [False]  # True while apply() holds the global stream for a whole batch


@contextlib.contextmanager
def _seeded(seed: Optional[int]) -> Iterator[None]:
    if seed is None:
        yield
    elif _BATCH_SEEDING[0]:
        mx.random.seed(seed, ctx=mx.cpu())
        yield
    else:
        with _global_stream_advanced(True):
            mx.random.seed(seed, ctx=mx.cpu())
            yield


@contextlib.contextmanager
def _global_stream_advanced(active: bool) -> Iterator[None]:
    """Reseed MXNet's CPU stream afterwards from one draw of it taken before.

    MXNet offers no way to save and restore its generator state; this keeps the user's
    stream a deterministic function of its state before (seeded runs stay reproducible).
    """
    if not active or _BATCH_SEEDING[0]:
        yield
        return
    resume = int(mx.nd.random.randint(0, 2 ** 31 - 1, shape=(1,), ctx=mx.cpu()).asscalar())
    _BATCH_SEEDING[0] = True
    try:
        yield
    finally:
        _BATCH_SEEDING[0] = False
        mx.random.seed(resume, ctx=mx.cpu())


def run_entries(entries: "Dict[str, Any]", ctx: Optional[List[Context]],
         seed: Optional[int]) -> None:
    """Initialize every ``(param, row, init)`` entry of a plan; on an error undo all, raise."""
    for path, e in entries.items():  # validate all before touching any
        if e.row.action == "deferred" and not e.param._allow_deferred_init:
            raise InitializerError(
                f"parameter {path!r} has an unknown shape {e.param.shape} and does not allow "
                f"deferred initialization; give the layer its input size. Nothing was changed.")
    saved, kept, deferred = [], [], []
    hows: Dict[int, _How] = {}  # id(initializer) -> how it fills (the entries keep it alive)
    gluon_run: Dict[type, bool] = {}  # Parameter class -> whether Gluon's own code runs it
    with _global_stream_advanced(seed is not None):
        for path, e in entries.items():
            if e.row.action == "keep":
                kept.append(e.param)
                continue
            p = e.param
            saved += save_fields([p], _STATE)
            if hasattr(p, PROVENANCE_ATTR):
                delattr(p, PROVENANCE_ATTR)  # a deferred one gets its record at the forward
            how = hows.get(id(e.init))
            if how is None:
                how = hows[id(e.init)] = _How(e.init)
            fresh = gluon_run.get(type(p))
            if fresh is None:
                fresh = gluon_run[type(p)] = _gluon_runs(type(p))
            planned = _PlannedInitializer(how, p, path, e.row.rule, e.row.spec, e.row.seed, fresh)
            try:
                p.initialize(init=planned, ctx=ctx or contexts(p),
                             default_init=planned, force_reinit=True)
            except Exception as exc:
                restore_fields(reversed(saved))
                raise InitializerError(
                    f"initializing {path!r} (shape {format_shape(e.row.shape)}) with {e.row.spec} (rule "
                    f"{e.row.rule!r}) failed: {type(exc).__name__}: {exc}. Nothing was "
                    f"changed.") from exc
            p.__dict__.pop(_BATCH_ATTR, None)
            if is_deferred(p):
                deferred.append(planned)
    if deferred:  # the plan completes at the first forward: keep what to put back till then
        batch = _DeferredBatch(saved, [d.param for d in deferred])
        for planned in deferred:
            planned.batch = batch
    for param in kept:  # constants keep their values but follow an explicit ctx
        if ctx and param.list_ctx() != ctx:
            param.reset_ctx(ctx)


#: What initialize() replaces on a Parameter, to put it back after a failure.
_STATE = ("_data", "_grad", "_deferred_init", "_ctx_list", "_ctx_map", PROVENANCE_ATTR,
          MARK_ATTR)
