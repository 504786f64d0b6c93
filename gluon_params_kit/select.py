"""Selecting parameters by path or auto name, and changing them all or not at all.

Gluon's ``collect_params(select)`` matches auto names with ``re.match``: ``'weight'``
silently selects nothing, and ``'dense0.*'`` picks another layer after a notebook re-run.
Here a pattern is matched against structural paths (``0.1.0.weight``) with ``re.search``
by default, other modes and auto names are one keyword away, and a pattern that selects
nothing is an error that lists what exists.

What a pattern selects is decided in one place, the core's ``selection`` (also behind
``summary``, ``stats``, ``InitPlan``, ``tie``, ``diff`` and the command line); every
function here takes the same selection arguments as :func:`select`. The changes made by
:func:`freeze`, :func:`unfreeze` and :func:`set_multipliers` are validated in full before
the first Parameter is touched, and ``dry_run=True`` reports them without making them.
"""
from __future__ import annotations

import numbers
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ._core.compat import gluon
from ._core.gluon import KeyIndex, check_block, key_index
from ._core.paths import key_in
from ._core.patterns import MATCH_ON, MODES, Pattern, make_matcher, matching_groups, pattern_label, selection
from ._core.report import Report
from ._core.types import Block, Parameter, ParameterDict
from ._core.validate import check_bool, check_number, shown
from .errors import PathError, SelectionError, SelectionTypeError, did_you_mean, listing

__all__ = [
    "Changes",
    "MATCH_ON",
    "MODES",
    "Pattern",
    "Selection",
    "accumulate_gradients",
    "freeze",
    "make_matcher",
    "matching_groups",
    "select",
    "set_multipliers",
    "unfreeze",
]


# --------------------------------------------------------------------------- select

class Selection(ParameterDict):
    """A real ``ParameterDict`` keyed by structural path, holding the block's own Parameters.

    ``gluon.Trainer`` takes it as it takes ``collect_params()`` (and orders its Parameters
    by sorted key, so by path, the same in every process). ``setattr``, ``initialize``,
    ``zero_grad``, ``reset_ctx`` and ``save`` work unchanged; ``load``/``load_dict`` read
    files keyed by auto name, as ``save`` writes them. :meth:`by_name` gives the same
    Parameters keyed by auto name, as ``collect_params`` would.
    """

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, key) -> bool:
        try:
            return key in self._params
        except TypeError:  # an unhashable key (a list, an array) is in no selection
            return False

    def __getitem__(self, key) -> Parameter:
        """The selected Parameter at path ``key`` (any path form); :class:`PathError`
        (a ``KeyError``) naming the selected paths when there is none.

        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(4))
        >>> select(net)['[0].weight'] is net[0].weight
        True
        """
        return self.get(key)

    def get(self, name: str, **kwargs) -> Parameter:
        """The selected Parameter at path ``name`` (any path form); never creates one.

        ``ParameterDict.get`` would make a new Parameter named ``prefix + name`` and add it
        to the selection (so a ``Trainer`` built from it would train a stray Parameter);
        a selection only ever holds the block's own Parameters.

        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(4))
        >>> select(net).get('[0].bias') is net[0].bias
        True
        """
        key = key_in(name, self._params, self._aliases)
        if key in self._params and not kwargs:
            return self._params[key]
        if key in self._params:
            raise SelectionError(f"Selection.get({name!r}, ...): a selection does not create "
                                 f"or change Parameters; got keyword arguments "
                                 f"{listing(sorted(kwargs))}. Use the block's own params.get()")
        raise PathError(f"no selected parameter at {key!r}. Selected: {listing(list(self._params))}."
                        + did_you_mean(key, self._params))

    def get_constant(self, name: str, value=None) -> Parameter:
        """The selected Constant at path ``name``; as :meth:`get`, never creates one."""
        if value is not None:
            raise SelectionError(f"Selection.get_constant({name!r}, value): a selection does "
                                 f"not create Parameters; use the block's own params")
        return self.get(name)

    def by_name(self) -> ParameterDict:
        """The same Parameters in a plain ``ParameterDict`` keyed by auto name.

        >>> from mxnet.gluon import nn
        >>> from gluon_params_kit.tree import fresh_names
        >>> with fresh_names():
        ...     net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
        >>> list(select(net, 'bias').by_name().keys())
        ['dense0_bias', 'dense1_bias']
        """
        out = ParameterDict(self.prefix)
        for param in self._params.values():
            out._params[param.name] = param
        return out

    def load(self, filename, *args, **kwargs):
        """``ParameterDict.load`` over :meth:`by_name` (files are keyed by auto name)."""
        return self.by_name().load(filename, *args, **kwargs)

    def load_dict(self, param_dict, *args, **kwargs):
        """``ParameterDict.load_dict`` over :meth:`by_name` (keys are auto names)."""
        return self.by_name().load_dict(param_dict, *args, **kwargs)

    def __repr__(self) -> str:
        width = max((len(k) for k in self._params), default=0)
        rows = "\n".join(f"  {k:<{width}}  {v}" for k, v in self._params.items())
        return f"Selection({len(self)} of {self._owner}){':' if rows else ''}\n{rows}".rstrip()

    _owner = "a block"
    _aliases: Dict[str, str] = {}  # any key or attribute path -> canonical path


def _selected(block: Block, pattern: Pattern, exclude: Pattern, mode: str, on: str,
              allow_empty: bool, index: Optional[KeyIndex] = None) -> "OrderedDict[str, Parameter]":
    """Canonical path -> Parameter for every Parameter the selection keeps (``index``: the
    block's key index when the caller already built it)."""
    check_block(block)
    groups = selection(block, pattern, exclude=exclude, mode=mode, on=on,
                       allow_empty=allow_empty, groups=None if index is None else index.groups)
    return OrderedDict((g.path, g.param) for g in groups)


def _shown(pattern) -> str:
    """A pattern as error messages quote it: ``'weight'``, a predicate by its name."""
    return pattern_label(pattern) if callable(pattern) else repr(pattern)


def select(block: Block, pattern: Pattern = None, *, exclude: Pattern = None,
           mode: str = "search", on: str = "path", allow_empty: bool = False) -> Selection:
    """The Parameters of ``block`` whose path (or auto name) matches, as a real ``ParameterDict``.

    Args:
        block: any ``gluon.Block``.
        pattern: what to keep (see :func:`make_matcher`); ``None`` keeps every Parameter.
            A shared Parameter is kept when any of its spellings matches: its Gluon keys
            (each block that uses it) and its attribute-path aliases.
        exclude: what to drop from that, in the same forms; a shared Parameter is dropped
            when any of its spellings matches.
        mode: ``'search'``, ``'match'``, ``'fullmatch'`` or ``'glob'``.
        on: ``'path'`` or ``'name'``. ``mode='match', on='name'`` selects exactly what
            ``block.collect_params(pattern)`` selects, in the same order, for every
            Parameter set as a block attribute (one only made by ``self.params.get`` and
            never assigned has no structural path, and ``save_parameters`` skips it too).
        allow_empty: return an empty selection instead of raising.

    Returns:
        A :class:`Selection` (a ``gluon.ParameterDict``) mapping canonical path ->
        Parameter, in ``save_parameters`` order, each Parameter once; the values are the
        block's own Parameter objects, so ``gluon.Trainer(select(...), 'sgd')`` trains them.

    Raises:
        SelectionError: a bad pattern, mode or ``on``, a non-bool ``allow_empty``; or a
            selection that is empty while ``allow_empty`` is False: the kit's one message
            for it (``pattern P selects nothing in ...``) lists the existing paths and
            says when a glob was passed as a regex or an auto name as a path.

    Examples:
        >>> from mxnet.gluon import nn
        >>> from gluon_params_kit.tree import fresh_names
        >>> with fresh_names():
        ...     net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
        >>> list(select(net, 'weight'))
        ['0.weight', '1.weight']
        >>> list(select(net, r'^1\\.|bias', exclude='0.bias'))
        ['1.weight', '1.bias']
        >>> list(select(net, '*.b*', mode='glob'))
        ['0.bias', '1.bias']
        >>> list(select(net, 'dense1', on='name'))
        ['1.weight', '1.bias']
        >>> select(net, 'dense1')
        Traceback (most recent call last):
          ...
        gluon_params_kit.errors.SelectionError: pattern 'dense1' selects nothing in Sequential 'sequential0' (mode='search', on='path'): existing paths are '0.weight', '0.bias', '1.weight', '1.bias'. Hint: 'dense1' matches 2 auto names: pass on='name'. Pass allow_empty=True to accept an empty selection.
    """
    check_block(block)
    index = key_index(block)  # built once: for the selection and for the aliases
    found = _selected(block, pattern, exclude, mode, on, allow_empty, index=index)
    out = Selection(block.prefix)
    out._params.update(found)
    out._owner = f"{type(block).__name__} {block.name!r}"
    out._aliases = index.canonical
    return out


# --------------------------------------------------------------------------- changes

class Changes(Report):
    """What a change did (or, after a dry run, would do): path -> {attribute: (old, new)}.

    Only Parameters whose value changes are listed. A Mapping like every report of the
    kit (any path form looks a Parameter up); ``to_records()`` gives ``path`` and each
    changed attribute as ``{'old', 'new'}``; ``str()`` is a table, one row per Parameter
    and one column per attribute.

    >>> from mxnet.gluon import nn
    >>> net = nn.Sequential(); net.add(nn.Dense(4))
    >>> changes = freeze(net, 'bias', dry_run=True)
    >>> changes['[0].bias'], changes.dry_run
    ({'grad_req': ('write', 'null')}, True)
    >>> print(changes)
    would change 1 parameter(s)
    path    grad_req
    -------------------------
    0.bias  'write' -> 'null'
    """

    _what = "parameter"
    _kind = "list of changes"

    def __init__(self, changes: "Mapping[str, Dict[str, Tuple[Any, Any]]]", *, dry_run: bool = False):
        head = "would change" if dry_run else "changed"
        title = (f"{head} {len(changes)} parameter(s)" if changes
                 else "no changes" + (" (dry run)" if dry_run else ""))
        super().__init__(changes, title=title)
        #: True when nothing was changed because ``dry_run=True`` was passed.
        self.dry_run = dry_run

    def _attributes(self) -> List[str]:
        """Every attribute some Parameter changes, in the order they first appear."""
        return list(OrderedDict((a, None) for attrs in self.values() for a in attrs))

    def _record(self, key: str, entry: Dict[str, Tuple[Any, Any]]) -> Dict[str, Any]:
        return dict(path=key, **{a: {"old": o, "new": n} for a, (o, n) in entry.items()})

    def _table(self):
        attrs = self._attributes()
        rows = [[path] + [f"{entry[a][0]!r} -> {entry[a][1]!r}" if a in entry else "-" for a in attrs]
                for path, entry in self.items()]
        return ["path"] + attrs, rows, [False] * (1 + len(attrs))


def _apply(plan: "OrderedDict[str, Tuple[Parameter, Dict[str, Any]]]", dry_run: bool) -> Changes:
    found: "OrderedDict[str, Dict[str, Tuple[Any, Any]]]" = OrderedDict()
    for path, (param, new) in plan.items():
        diff = {a: (getattr(param, a), v) for a, v in new.items() if getattr(param, a) != v}
        if diff:
            found[path] = diff
    if not dry_run:
        for path, diff in found.items():
            param = plan[path][0]
            for attr, (_, value) in diff.items():
                setattr(param, attr, value)
    return Changes(found, dry_run=dry_run)


def freeze(block: Block, pattern: Pattern = None, *, exclude: Pattern = None,
           mode: str = "search", on: str = "path", allow_empty: bool = False,
           dry_run: bool = False) -> Changes:
    """Stop gradients of the selected Parameters (``grad_req = 'null'``).

    Selection arguments as in :func:`select`. A frozen Parameter keeps its value through
    ``Trainer.step`` and gets no gradient buffer.

    Returns:
        :class:`Changes`: path -> ``{'grad_req': (old, 'null')}`` for each Parameter that
        was not frozen yet; nothing is changed when ``dry_run`` is True.

    Raises:
        SelectionError: as :func:`select`, or a non-bool ``dry_run``; then nothing is
            changed.

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
        >>> print(freeze(net, r'^0\\.', dry_run=True))
        would change 2 parameter(s)
        path      grad_req
        ---------------------------
        0.weight  'write' -> 'null'
        0.bias    'write' -> 'null'
        >>> net[0].weight.grad_req
        'write'
        >>> list(freeze(net, r'^0\\.')), net[0].weight.grad_req
        (['0.weight', '0.bias'], 'null')
    """
    check_bool(dry_run, "dry_run", SelectionError)
    found = _selected(block, pattern, exclude, mode, on, allow_empty)
    return _apply(OrderedDict((p, (prm, {"grad_req": "null"})) for p, prm in found.items()),
                  dry_run)


_GRAD_REQS = ("write", "add")


def unfreeze(block: Block, pattern: Pattern = None, *, exclude: Pattern = None,
             mode: str = "search", on: str = "path", allow_empty: bool = False,
             grad_req: str = "write", dry_run: bool = False) -> Changes:
    """Let gradients flow again into the selected Parameters (``grad_req = 'write'``).

    Constants and Parameters created with ``differentiable=False`` cannot take gradients
    and are left as they are (they never appear in the result).

    Args:
        grad_req: ``'write'`` (the default) or ``'add'`` (gradients accumulate).
        Others: as :func:`freeze`.

    Returns:
        :class:`Changes` for each Parameter whose ``grad_req`` changes.

    Raises:
        SelectionError: as :func:`select`, or a ``grad_req`` other than write/add; then
            nothing is changed.

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
        >>> _ = freeze(net)
        >>> list(unfreeze(net, 'bias'))
        ['0.bias', '1.bias']
    """
    if not isinstance(grad_req, str) or grad_req not in _GRAD_REQS:  # an array's `in` is no answer
        raise SelectionError(f"unfreeze: grad_req={shown(grad_req)}; expected one of "
                             f"{listing(_GRAD_REQS)} (use freeze() for 'null')")
    check_bool(dry_run, "dry_run", SelectionError)
    found = _selected(block, pattern, exclude, mode, on, allow_empty)
    plan = OrderedDict((p, (prm, {"grad_req": grad_req})) for p, prm in found.items()
                       if prm._differentiable and not isinstance(prm, gluon.Constant))
    return _apply(plan, dry_run)


def accumulate_gradients(block: Block, pattern: Pattern = None, *, exclude: Pattern = None,
                         mode: str = "search", on: str = "path", allow_empty: bool = False,
                         dry_run: bool = False) -> Changes:
    """Make the selected trainable Parameters accumulate gradients (``grad_req = 'add'``).

    The kit's form of the Gluon idiom for gradient accumulation (``p.grad_req = 'add'``
    over ``collect_params()``), with :func:`freeze`'s semantics: selection arguments as
    in :func:`select`, a dry run, the changes returned, nothing changed on bad input.
    Parameters whose ``grad_req`` is ``'null'`` are left alone: frozen ones stay frozen
    and auxiliary state (BatchNorm's running mean and variance) takes no gradient; use
    ``unfreeze(..., grad_req='add')`` to turn a frozen one on as well. Gradients then add
    up over every ``backward``: zero them yourself after each ``trainer.step`` (for
    example ``for p in net.collect_params().values(): p.zero_grad()``; in np mode on
    MXNet 1.9.1 ``zero_grad`` fails, write ``g[:] = 0`` into each of ``p.list_grad()``).

    Returns:
        :class:`Changes`: path -> ``{'grad_req': (old, 'add')}`` for each Parameter that
        did not accumulate yet.

    Raises:
        SelectionError: as :func:`select`, or a non-bool ``dry_run``; then nothing is
            changed.

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.BatchNorm())
        >>> print(accumulate_gradients(net))
        changed 4 parameter(s)
        path      grad_req
        --------------------------
        0.weight  'write' -> 'add'
        0.bias    'write' -> 'add'
        1.gamma   'write' -> 'add'
        1.beta    'write' -> 'add'
        >>> net[1].running_mean.grad_req
        'null'
    """
    check_bool(dry_run, "dry_run", SelectionError)
    found = _selected(block, pattern, exclude, mode, on, allow_empty)
    plan = OrderedDict((p, (prm, {"grad_req": "add"})) for p, prm in found.items()
                       if prm.grad_req != "null")
    return _apply(plan, dry_run)


Multiplier = Union[None, float, Mapping[Any, float], Sequence[Tuple[Any, float]]]


def set_multipliers(block: Block, lr_mult: Multiplier = None, wd_mult: Multiplier = None, *,
                    pattern: Pattern = None, exclude: Pattern = None, mode: str = "search",
                    on: str = "path", allow_empty: bool = False,
                    dry_run: bool = False) -> Changes:
    """Set ``lr_mult`` and/or ``wd_mult`` of the selected Parameters.

    Each multiplier is either one number for every selected Parameter, or rules: a dict
    (or a list of pairs) pattern -> number, read in order, where the *first* rule that
    matches a Parameter gives its value (as ``mx.init.Mixed``), and Parameters no rule
    matches keep theirs. Rule patterns use ``mode`` and ``on``.

    Args:
        lr_mult: learning-rate multiplier(s), finite numbers >= 0; ``None`` leaves them.
        wd_mult: weight-decay multiplier(s), same forms.
        pattern, exclude, mode, on, allow_empty: restrict the Parameters, as in :func:`select`.
        dry_run: report without changing.

    Returns:
        :class:`Changes`: path -> ``{'lr_mult': (old, new), ...}`` for what changes.

    Raises:
        SelectionError: a bad pattern (also in a rule), a rule that matches none of the
            selected Parameters (unless ``allow_empty``), a value that is not a finite
            number >= 0, or neither multiplier given. Nothing is changed then.

    Examples:
        >>> from mxnet.gluon import nn
        >>> net = nn.Sequential(); net.add(nn.Dense(4), nn.Dense(2))
        >>> print(set_multipliers(net, wd_mult={'bias': 0.0}, lr_mult={r'^0\\.': 0.1}))
        changed 3 parameter(s)
        path      lr_mult     wd_mult
        --------------------------------
        0.weight  1.0 -> 0.1  -
        0.bias    1.0 -> 0.1  1.0 -> 0.0
        1.bias    -           1.0 -> 0.0
    """
    if lr_mult is None and wd_mult is None:
        raise SelectionError("set_multipliers: give lr_mult=..., wd_mult=... or both")
    check_bool(dry_run, "dry_run", SelectionError)
    check_block(block)
    groups = selection(block, pattern, exclude=exclude, mode=mode, on=on, allow_empty=allow_empty)
    plan: "OrderedDict[str, Tuple[Parameter, Dict[str, Any]]]" = OrderedDict(
        (g.path, (g.param, {})) for g in groups)
    restricted = pattern is not None or exclude is not None
    for attr, spec in (("lr_mult", lr_mult), ("wd_mult", wd_mult)):
        if spec is None:
            continue
        if _is_number(spec):
            value = _check_value(attr, spec)
            for _, new in plan.values():
                new[attr] = value
            continue
        owner = (f"the {len(groups)} parameter(s) selected from {type(block).__name__} "
                 f"{block.name!r}") if restricted else None
        for path, value in _rule_values(block, groups, attr, spec, mode, on, allow_empty,
                                        owner).items():
            plan[path][1][attr] = value
    return _apply(plan, dry_run)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_value(attr: str, value, where: str = "") -> float:
    return float(check_number(value, f"{attr}{where}", SelectionError, minimum=0))


def _rule_values(block, groups, attr, spec, mode, on, allow_empty, owner) -> Dict[str, float]:
    """Path -> value from ordered rules; validates every rule before returning."""
    if isinstance(spec, Mapping):
        rules = list(spec.items())
    elif isinstance(spec, (list, tuple)) and all(
            isinstance(r, (list, tuple)) and len(r) == 2 for r in spec):
        rules = [tuple(r) for r in spec]
    else:
        raise SelectionTypeError(f"{attr} must be a number, a dict pattern -> number or a list of "
                                 f"(pattern, number) pairs, got {type(spec).__name__}: {spec!r}")
    checked = [(p, _check_value(attr, v, f" for rule {_shown(p)}")) for p, v in rules]
    values: Dict[str, float] = {}
    shadowed = []
    for p, value in checked:  # each rule through the one selection path, in order
        hits = selection(block, p, mode=mode, on=on, allow_empty=allow_empty, groups=groups,
                         owner=owner)
        new = [g.path for g in hits if g.path not in values]
        if hits and not new:
            shadowed.append(_shown(p))
        values.update((path, value) for path in new)
    if shadowed and not allow_empty:
        raise SelectionError(f"{attr} rule(s) {', '.join(shadowed)} match none of the "
                             f"{len(groups)} selected parameters (mode={mode!r}, on={on!r}): "
                             f"{listing([g.path for g in groups], limit=6)}. A rule shadowed by "
                             f"an earlier one counts as matching none.")
    return values
