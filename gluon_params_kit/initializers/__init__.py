"""Initializer plans: ordered pattern -> initializer rules that also work with deferred init.

Plain Gluon has three surprises here: ``net.initialize(mx.init.Mixed(...))`` fails, a
layer's own initializer (Dense bias ``'zeros'``) silently beats the global one, and the
values depend on the order blocks were built in. An :class:`InitPlan` states every
choice: the first matching rule wins, then (if ``respect_layer_defaults``) the layer's
own initializer, then the plan's ``default``. :meth:`InitPlan.preview` shows the outcome
per parameter; :meth:`InitPlan.apply` re-initializes (force semantics, no warnings),
lands on deferred parameters at their first forward, records provenance on each
Parameter, and with ``seed=`` makes each value depend only on (seed, path, spec): the
same in every process and in ``mx.nd`` and ``mx.np`` modes (MXNet's own initializers are
run on a legacy array in np mode, since their np-mode draws come from another stream; a
custom initializer gets the mode's own array and its values are its own affair). The path
is Gluon's key, so a recurrent layer's weights are seeded by ``1._unfused.0.i2h_weight``.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple, Union

from .._core import gcpause as _gc
from .._core.compat import gluon, mx
from .._core.display import format_shape, known_shape
from .._core.gluon import check_block, init_state, key_index
from .._core.patterns import Pattern, make_matcher, pattern_label, selection
from .._core.provenance import read as read_provenance
from .._core.report import Report
from .._core.types import Block, Context, Initializer, Parameter
from .._core.validate import check_bool, check_contexts, check_number
from ..errors import InitializerError, InitializerTypeError, SelectionError, listing
from ._run import run_entries
from ._specs import Spec, derive_seed, get_initializer, list_initializers, register_initializer, spec_text

__all__ = [
    "InitPlan",
    "InitPreview",
    "InitReport",
    "PlannedInit",
    "ProvenanceReport",
    "derive_seed",
    "get_initializer",
    "list_initializers",
    "provenance",
    "register_initializer",
    "reinitialize",
]



class PlannedInit(NamedTuple):
    """What a plan does to one parameter (a row of :class:`InitReport` / :class:`InitPreview`)."""

    path: str
    #: The shape, ``None`` for each dimension not known yet (``action`` is then 'deferred')
    shape: Optional[Tuple[Optional[int], ...]]
    rule: Optional[str]  #: the pattern, 'default', 'layer default', 'constant'; None: unmatched
    spec: Optional[str]  #: the initializer's ``dumps()``
    seed: Optional[int]  #: the parameter's own seed (derived from the plan seed)
    action: str  #: 'initialize', 'deferred' (at the first forward), 'keep' or 'unmatched'


class InitReport(Report):
    """Path -> :class:`PlannedInit` for every parameter an init plan looked at, in walk order.

    What :meth:`InitPlan.apply` and :func:`reinitialize` return: what they did. (Before
    applying, :meth:`InitPlan.preview` returns the same table as an :class:`InitPreview`.)
    ``str()`` is a table; :attr:`unmatched` lists the paths no rule covers; rows can be
    looked up by any path form.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(2, in_units=3))
    >>> preview = InitPlan([('weight', 'ones')]).preview(net)
    >>> preview['[0].weight'].rule, preview['0.bias'].rule, preview.to_records()[1]['action']
    ('weight', 'layer default', 'initialize')
    """

    _what = "parameter"
    _kind = "report"

    def __init__(self, rows: Sequence[PlannedInit], title: str,
                 aliases: Optional[Mapping[str, str]] = None):
        super().__init__(((r.path, r) for r in rows), aliases, title=title)

    @property
    def unmatched(self) -> List[str]:
        """Paths of the parameters that no rule, layer default or default covers."""
        return [p for p, r in self.items() if r.action == "unmatched"]

    def _table(self):
        head = ("path", "shape", "rule", "initializer", "seed", "action")
        body = [(r.path, format_shape(r.shape), r.rule or "-",
                 r.spec or "UNMATCHED", "-" if r.seed is None else str(r.seed), r.action)
                for r in self.values()]
        return head, body, (False, False, False, False, True, False)


class InitPreview(InitReport):
    """What :meth:`InitPlan.preview` returns: what a plan *would* do, nothing changed yet."""

    _kind = "preview"


class _Entry(NamedTuple):
    param: Parameter
    row: PlannedInit
    init: Optional[Initializer]


class InitPlan:
    """Ordered ``(pattern, spec)`` rules, a default, and an explicit layer-default choice.

    For each parameter (canonical path; a shared one matches through any of its paths,
    as in :func:`~gluon_params_kit.select.select`) the initializer is: the first rule
    whose pattern matches; else, with ``respect_layer_defaults=True`` (Gluon's own
    behaviour), the layer's initializer when it has one (``param.init``: Dense bias
    ``'zeros'``, BatchNorm gamma ``'ones'``); else ``default``. With
    ``respect_layer_defaults=False`` the default covers those too (``Constant(1)`` then
    reaches Dense biases). ``gluon.Constant`` parameters are never re-initialized.

    An initializer fills every parameter it gets through ``_init_weight``, as Gluon does,
    except that a class defining its own ``_init_bias`` / ``_init_gamma`` / ``_init_beta``
    has that method called for parameters with that role (Gluon never calls them).

    Args:
        rules: ``(pattern, spec)`` pairs (or an ordered mapping pattern -> spec). A pattern
            is what :func:`~gluon_params_kit.select.select` takes (regex, list of them,
            callable ``(path, param) -> bool``, ``None`` for all); a spec is what
            :func:`get_initializer` takes.
        default: the spec for parameters no rule matches, or None (then they are errors).
        respect_layer_defaults: whether a layer's own initializer beats ``default``.
        mode: pattern mode, as in ``select`` (``'search'``, ``'match'``, ``'fullmatch'``,
            ``'glob'``).
        on: match patterns on ``'path'`` or on the auto ``'name'``.
        allow_empty: accept a rule whose pattern selects no parameter of the block the
            plan is previewed on or applied to (by default that is the kit's one
            "selects nothing" :class:`~gluon_params_kit.errors.SelectionError`).

    Raises:
        InitializerError: a bad spec, or rules that are not ``(pattern, spec)`` pairs.
        SelectionError: a bad pattern, ``mode``, ``on`` or ``allow_empty``; at
            :meth:`preview` / :meth:`apply`, a rule that selects nothing.

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(3, in_units=2), nn.Dense(1))
        >>> plan = InitPlan([(r'\\.bias$', 'constant(0.25)'), (r'^1\\.', 'ones')],
        ...                 default='normal(sigma=0.5)')
        >>> print(plan.preview(net))
        InitPlan preview of Sequential: 4 parameters, 0 unmatched (respect_layer_defaults=True)
        path      shape   rule     initializer                    seed  action
        --------------------------------------------------------------------------
        0.weight  (3, 2)  default  ["normal", {"sigma": 0.5}]        -  initialize
        0.bias    (3,)    \\.bias$  ["constant", {"value": 0.25}]     -  initialize
        1.weight  (1, ?)  ^1\\.     ["one", {}]                       -  deferred
        1.bias    (1,)    \\.bias$  ["constant", {"value": 0.25}]     -  initialize
        >>> _ = plan.apply(net, seed=0)
        >>> _ = net(mx.nd.ones((1, 2)))  # deferred parameters get their rule now
        >>> net[1].weight.data().asnumpy().tolist(), net[1].bias.data().asnumpy().tolist()
        ([[1.0, 1.0, 1.0]], [0.25])
    """

    def __init__(self, rules: Union[Sequence[Tuple[Any, Spec]], Mapping[Any, Spec]] = (),
                 default: Optional[Spec] = None, *, respect_layer_defaults: bool = True,
                 mode: str = "search", on: str = "path", allow_empty: bool = False):
        pairs = list(rules.items()) if isinstance(rules, Mapping) else rules
        if isinstance(pairs, (str, bytes)) or not isinstance(pairs, (list, tuple)):
            raise InitializerTypeError(
                f"InitPlan rules must be a list of (pattern, spec) pairs, got "
                f"{type(rules).__name__}: {rules!r}")
        compiled, patterns = [], []
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise (InitializerError if isinstance(pair, (list, tuple)) else InitializerTypeError)(
                    f"InitPlan rule {i} must be a (pattern, spec) pair, got {pair!r}")
            pattern, spec = pair
            compiled.append((pattern_label(pattern), make_matcher(pattern, mode=mode, on=on),
                             get_initializer(spec)))
            patterns.append(pattern)
        make_matcher(None, mode=mode, on=on)  # validates mode and on even without rules
        check_bool(respect_layer_defaults, "respect_layer_defaults", InitializerError)
        check_bool(allow_empty, "allow_empty", SelectionError)
        self.rules: Tuple[Tuple[str, Any, Initializer], ...] = tuple(compiled)
        #: each rule's pattern and the selection options, for the one selection path
        self._patterns, self._mode, self._on = tuple(patterns), mode, on
        self.allow_empty = allow_empty
        self.default: Optional[Initializer] = None if default is None else get_initializer(default)
        self.respect_layer_defaults = respect_layer_defaults

    def __repr__(self) -> str:
        rules = ", ".join(f"({label!r}, {spec_text(init)!r})" for label, _, init in self.rules)
        default = None if self.default is None else spec_text(self.default)
        return (f"InitPlan([{rules}], default={default!r}, "
                f"respect_layer_defaults={self.respect_layer_defaults})")

    # ------------------------------------------------------------------ planning

    def _plan(self, block: Block, seed: Optional[int]) -> "_Plan":
        """Every parameter's entry (path -> entry, in walk order), from one key index.

        One pass over the parameters, with the per-plan work done once: each
        initializer's spec text, each layer default's parse, each distinct shape's
        known form (a net repeats a few shapes over many parameters).
        """
        check_block(block, InitializerTypeError)
        _check_seed(seed)
        index = key_index(block)
        out: "OrderedDict[str, _Entry]" = OrderedDict()
        rows = _Rows(seed)
        constant = gluon.Constant
        rules = [(i, label, matches, init) for i, (label, matches, init) in enumerate(self.rules)]
        respect, default = self.respect_layer_defaults, self.default
        layer_defaults: Dict[Any, Initializer] = {}
        keep_alive: List[Any] = []  # the parsed layer defaults' specs: their ids key the cache
        used: Set[int] = set()
        unmatched = 0
        for group in index.groups:
            path, param = group.path, group.param
            if isinstance(param, constant):
                out[path] = _constant_entry(path, param)
                continue
            # one spelling (the common case) is tested directly; a shared Parameter or an
            # alias matches through any of its spellings, tested in order
            paths = group.paths if not group.aliases else group.spellings
            rule: Optional[str] = None
            init: Optional[Initializer] = None
            for i, label, matches, rule_init in rules:
                if (matches(path, param) if len(paths) == 1 else
                        any(matches(p, param) for p in paths)):
                    used.add(i)
                    rule, init = label, rule_init
                    break
            else:
                if respect and param.init is not None:
                    # one parse per distinct spec ('zeros' for every bias), not one per Parameter
                    own = param.init
                    key = own if isinstance(own, str) else id(own)
                    init = layer_defaults.get(key)
                    if init is None:
                        init = layer_defaults[key] = get_initializer(own)
                        keep_alive.append(own)
                    rule = "layer default"
                elif default is not None:
                    rule, init = "default", default
                else:
                    unmatched += 1
            out[path] = rows.entry(path, param, rule, init)
        if not self.allow_empty and len(used) < len(self.rules):
            # a rule that never won either is shadowed by earlier ones (fine) or selects
            # nothing: the one selection path decides, and raises its one error
            candidates = [g for g in index.groups if not isinstance(g.param, constant)]
            for i, pattern in enumerate(self._patterns):
                if i not in used:
                    selection(block, pattern, mode=self._mode, on=self._on, groups=candidates)
        return _Plan(out, index.canonical, unmatched)

    @_gc.paused
    def preview(self, block: Block, *, seed: Optional[int] = None) -> InitPreview:
        """Which rule and initializer each parameter of ``block`` would get; changes nothing.

        Args:
            block: the network.
            seed: the seed :meth:`apply` would get (fills the ``seed`` column).

        Returns:
            An :class:`InitPreview`; its ``unmatched`` lists what no rule covers.

        Raises:
            InitializerError: ``block`` is not a Block or ``seed`` is not an int.

        Examples:
            >>> from mxnet.gluon import nn
            >>> net = nn.Dense(2, in_units=3)
            >>> InitPlan([('weight', 'zeros')], respect_layer_defaults=False).preview(net).unmatched
            ['bias']
        """
        plan = self._plan(block, seed)
        rows = [e.row for e in plan.entries.values()]
        return InitPreview(rows, _title("preview of", block, rows, plan.unmatched,
                                        self.respect_layer_defaults, seed), plan.aliases)

    @_gc.paused
    def apply(self, block: Block, *, ctx: Union[None, Context, Sequence[Context]] = None,
              seed: Optional[int] = None) -> InitReport:
        """(Re-)initialize every parameter of ``block`` as planned.

        Force semantics without per-parameter warnings. A parameter whose shape is not
        known yet gets its rule, seed and provenance at the first forward. Nothing is
        touched when a parameter matches no rule and there is no default; if an
        initializer fails on a parameter, the ones already done are put back.

        Args:
            block: the network.
            ctx: the context(s) for the values; None keeps each parameter's current
                context(s) (the current context for a parameter that has none).
            seed: None uses MXNet's global random stream, as Gluon does. An int makes each
                value depend only on (seed, structural path, spec); the global stream is
                then advanced deterministically (reseeded from one draw of it), since
                MXNet cannot save and restore its state.

        Returns:
            The :class:`InitReport` of what was done.

        Raises:
            InitializerError: unmatched parameters (listed), a bad seed, a parameter whose
                shape is unknown and cannot be deferred, or an initializer that fails.
            DeviceError: ``ctx`` is empty or repeats a context (``DeviceTypeError`` when it
                is not a Context or a list of them), checked before anything else.

        Examples:
            >>> from mxnet.gluon import nn
            >>> net = nn.Dense(2, in_units=3)
            >>> _ = InitPlan([], default='ones', respect_layer_defaults=False).apply(net)
            >>> net.bias.data().asnumpy().tolist(), provenance(net)['bias']['rule']
            ([1.0, 1.0], 'default')
        """
        ctx_list = _contexts(ctx)
        plan = self._plan(block, seed)
        rows = [e.row for e in plan.entries.values()]
        if plan.unmatched:
            missing = [r.path for r in rows if r.action == "unmatched"]
            raise InitializerError(
                f"InitPlan leaves {len(missing)} of {len(rows)} parameter(s) of "
                f"{type(block).__name__} {block.name!r} without an initializer: "
                f"{listing(missing)}. Nothing was changed. Add a rule for them or a default= "
                f"(respect_layer_defaults={self.respect_layer_defaults}).")
        run_entries(plan.entries, ctx_list, seed)
        return InitReport(rows, _title("applied to", block, rows, 0, self.respect_layer_defaults, seed),
                          plan.aliases)


def reinitialize(block: Block, spec: Spec, pattern: Pattern = None, *, exclude: Pattern = None,
                 mode: str = "search", on: str = "path",
                 ctx: Union[None, Context, Sequence[Context]] = None,
                 seed: Optional[int] = None, allow_empty: bool = False) -> InitReport:
    """Re-initialize only the selected parameters with ``spec``, quietly.

    Args:
        block: the network.
        spec: the initializer (see :func:`get_initializer`).
        pattern: which parameters, as in :func:`~gluon_params_kit.select.select` (None: all).
        exclude: a pattern of parameters to leave out.
        mode: pattern mode, as in ``select``.
        on: ``'path'`` or ``'name'``.
        ctx: as in :meth:`InitPlan.apply` (None keeps each parameter's context).
        seed: as in :meth:`InitPlan.apply`.
        allow_empty: return an empty report instead of raising when nothing is selected.

    Constants (``gluon.Constant``) are never re-initialized, so they are not selectable.

    Returns:
        The :class:`InitReport` of the selected parameters.

    Raises:
        SelectionError: the pattern selects nothing (the kit's one message for it, listing
            the existing paths), or a bad pattern, ``mode``, ``on`` or ``allow_empty``.
        InitializerError: a bad spec or seed, or a failing initializer (nothing changed).
        DeviceError: a bad ``ctx``, as in :meth:`InitPlan.apply`.

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(2, in_units=2), nn.Dense(1, in_units=2))
        >>> net.initialize()
        >>> _ = reinitialize(net, 'constant(3)', r'^1\\.bias')
        >>> net[1].bias.data().asnumpy().tolist(), net[0].bias.data().asnumpy().tolist()
        ([3.0], [0.0, 0.0])
    """
    check_block(block, InitializerTypeError)
    _check_seed(seed)
    ctx_list = _contexts(ctx)
    init = get_initializer(spec)
    label = "all" if pattern is None else pattern_label(pattern)
    index = key_index(block)
    candidates = [g for g in index.groups if not isinstance(g.param, gluon.Constant)]
    chosen = selection(block, pattern, exclude=exclude, mode=mode, on=on,
                       allow_empty=allow_empty, groups=candidates)
    make = _Rows(seed).entry
    entries: "OrderedDict[str, _Entry]" = OrderedDict(
        (g.path, make(g.path, g.param, label, init)) for g in chosen)
    if entries:
        run_entries(entries, ctx_list, seed)
    rows = [e.row for e in entries.values()]
    return InitReport(rows, f"reinitialize {label!r} of {type(block).__name__}: "
                             f"{len(rows)} parameter(s) (seed={seed})", index.canonical)


class ProvenanceReport(Report):
    """What :func:`provenance` returns: path -> provenance record (a dict) or None.

    A Mapping like every report of the kit (any path form looks a record up);
    ``to_records()`` gives ``path``, ``rule``, ``spec``, ``seed`` and ``stale`` (the reason
    a record is stale, else None) per parameter, and ``str()`` a table of them.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(2, in_units=3))
    >>> _ = InitPlan([('weight', 'ones')]).apply(net)
    >>> print(provenance(net))
    provenance of Sequential's 2 parameters: 2 recorded, 0 stale
    path      rule           initializer   seed  record
    ----------------------------------------------------
    0.weight  weight         ["one", {}]      -  current
    0.bias    layer default  ["zero", {}]     -  current
    """

    _what = "parameter"
    _kind = "provenance report"

    def _record(self, key: str, entry: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        made = (entry or {}).get("previous", entry) or {}
        return {"path": key, "rule": made.get("rule"), "spec": made.get("spec"),
                "seed": made.get("seed"), "stale": (entry or {}).get("stale")}

    def _table(self):
        rows = []
        for key, entry in self.items():
            r = self._record(key, entry)
            state = "none" if entry is None else "current" if r["stale"] is None else f"stale: {r['stale']}"
            rows.append((key, r["rule"] or "-", r["spec"] or "-",
                         "-" if r["seed"] is None else str(r["seed"]), state))
        return ("path", "rule", "initializer", "seed", "record"), rows, (False, False, False, True, False)


def provenance(block: Block) -> ProvenanceReport:
    """Path -> provenance record of every parameter: which rule, spec and seed made its values.

    A record is ``{'rule': str, 'spec': str, 'seed': int or None}``, written when the
    values are produced (at apply time, or at the first forward for deferred ones);
    parameters the kit never initialized map to None. When the values were replaced
    since (``initialize(force_reinit=True)``, ``load_parameters``, ``set_data``,
    ``gpk.load``), the record is stale: ``{'stale': reason, 'previous': record}``
    (``summary`` shows ``stale``). Training keeps a record current.

    Args:
        block: the network.

    Returns:
        A :class:`ProvenanceReport`: canonical path (any path form looks one up) ->
        record (a copy) or None, printed as a table.

    Raises:
        InitializerError: ``block`` is not a Block.

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Dense(2, in_units=3)
        >>> _ = InitPlan([('weight', 'normal(sigma=0.5)')]).apply(net, seed=7)
        >>> rec = provenance(net)['weight']
        >>> rec['rule'], rec['spec'], isinstance(rec['seed'], int)
        ('weight', '["normal", {"sigma": 0.5}]', True)
        >>> provenance(net)['bias']['rule']
        'layer default'
        >>> net.initialize(force_reinit=True)   # Gluon's own re-initialization
        >>> provenance(net)['weight']['stale']
        'values replaced after this record was made (re-initialized)'
    """
    check_block(block, InitializerTypeError)
    index = key_index(block)
    records = OrderedDict((g.path, read_provenance(g.param)) for g in index.groups)
    kept = [r for r in records.values() if r is not None]
    title = (f"provenance of {type(block).__name__}'s {len(records)} parameters: "
             f"{len(kept)} recorded, {sum('stale' in r for r in kept)} stale")
    return ProvenanceReport(records, index.canonical, title=title)


# --------------------------------------------------------------------------- planning helpers

#: ``PlannedInit(*fields)`` / ``_Entry(*fields)`` without the Python-level ``__new__``
#: (a plan makes one of each per Parameter, 10^5 in a big net).
_new = tuple.__new__


class _Rows:
    """Makes a plan's entries; what is the same for many Parameters is worked out once.

    The spec text per initializer (the caller keeps the initializers alive: ids key it),
    the known shape and action per distinct shape (read from the stored field where the
    Parameter's class reads ``shape`` as Gluon's Parameter does: ``known_shape`` gives
    the same for its ``0`` and ``-1`` unknown dimensions).
    """

    def __init__(self, seed: Optional[int]):
        self.seed = seed
        self.texts: Dict[int, str] = {}
        self.shapes: Dict[Any, Tuple[Optional[Tuple[Optional[int], ...]], str]] = {}
        self.plain: Dict[type, bool] = {}
        self.gluon_shape = gluon.Parameter.shape

    def _shape(self, param: Parameter) -> Tuple[Optional[Tuple[Optional[int], ...]], str]:
        """(the known shape, 'initialize' or 'deferred')."""
        cls = type(param)
        plain = self.plain.get(cls)
        if plain is None:
            plain = self.plain[cls] = getattr(cls, "shape", None) is self.gluon_shape
        if plain:
            raw = param._shape
            try:
                found = self.shapes.get(raw)
            except TypeError:  # a shape that is not hashable (a list): no cache
                found = _shape_and_action(raw)
            else:
                if found is None:
                    found = self.shapes[raw] = _shape_and_action(raw)
            return found
        return _shape_and_action(param.shape)

    def entry(self, path: str, param: Parameter, rule: Optional[str],
              init: Optional[Initializer]) -> _Entry:
        shape, action = self._shape(param)
        if init is None:
            return _new(_Entry, (param, _new(PlannedInit, (path, shape, None, None, None, "unmatched")),
                                 None))
        spec = self.texts.get(id(init))
        if spec is None:
            spec = self.texts[id(init)] = spec_text(init)
        own_seed = None if self.seed is None else derive_seed(self.seed, path, spec)
        return _new(_Entry, (param, _new(PlannedInit, (path, shape, rule, spec, own_seed, action)), init))


def _shape_and_action(raw: Any) -> Tuple[Optional[Tuple[Optional[int], ...]], str]:
    shape = known_shape(raw)
    return shape, "initialize" if shape is not None and None not in shape else "deferred"


class _Plan(NamedTuple):
    """What :meth:`InitPlan._plan` works out."""

    entries: "OrderedDict[str, _Entry]"
    aliases: Dict[str, str]  # the block's spellings -> canonical path
    unmatched: int  # how many entries no rule, layer default or default covers


def _constant_entry(path: str, param: Parameter) -> _Entry:
    init = mx.init.create(param.init)  # Gluon's private per-constant initializer
    ready = init_state(param) != "uninitialized"
    row = PlannedInit(path, known_shape(param.shape), "constant", f"gluon.Constant {param.name!r}",
                      None, "keep" if ready else "initialize")
    return _Entry(param, row, init)


def _title(verb: str, block: Block, rows: Sequence[PlannedInit], n_missing: int, respect: bool,
           seed: Optional[int]) -> str:
    seeded = "" if seed is None else f", seed={seed}"
    return (f"InitPlan {verb} {type(block).__name__}: {len(rows)} parameters, "
            f"{n_missing} unmatched (respect_layer_defaults={respect}{seeded})")


def _check_seed(seed: Any) -> None:
    check_number(seed, "seed", InitializerError, integer=True, allow_none=True)


def _contexts(ctx: Any) -> Optional[List[Context]]:
    return check_contexts(ctx, "ctx", allow_none=True)
