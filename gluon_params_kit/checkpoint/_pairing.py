"""Pairing a file's unexpected keys with a block's missing Parameters by layer and role.

Keys are grouped by layer (``arg:``/``aux:`` prefixes and the role suffix stripped, so a
symbol checkpoint's ``arg:bn0_gamma`` and ``aux:bn0_moving_mean`` are one layer again);
roles map by a fixed table (a norm layer's gamma <-> weight, beta <-> bias, moving_* <->
running_*; weight <-> weight, bias <-> bias). A file layer pairs with a missing layer of
the same signature (roles, shapes, dtypes): by name when the names agree, when it is the
only one of its signature, or by order when the file order is the writer's (see
:attr:`~gluon_params_kit._io.header.Header.ordered`) and its layers follow the block's.
Where two candidates fit equally and nothing decides, nothing is paired and the keys are
reported as ambiguous: a value in the wrong role is worse than no suggestion.

Private: used by :mod:`gluon_params_kit.checkpoint._load_report`.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .._core.validate import shown
from .._io.header import Header
from ..errors import CheckpointTypeError

__all__ = ["Pairing", "crosses_roles", "pair_by_roles", "split_key"]

#: Role suffix -> the role it plays; longer suffixes are tried first.
ROLES = OrderedDict([
    ("running_mean", "mean"), ("moving_mean", "mean"),
    ("running_var", "var"), ("moving_var", "var"),
    ("weight", "weight"), ("gamma", "weight"),
    ("bias", "bias"), ("beta", "bias"),
])
PREFIXES = ("arg:", "aux:")


def split_key(key: str) -> Tuple[str, str, Optional[str]]:
    """``key -> (layer, role suffix, table role or None)``.

    >>> split_key('aux:bn0_moving_mean'), split_key('1.weight'), split_key('param0')
    (('bn0', 'moving_mean', 'mean'), ('1', 'weight', 'weight'), ('', 'param0', None))
    """
    if not isinstance(key, str):
        raise CheckpointTypeError(f"split_key: key must be a str like '1.weight', got {shown(key)}")
    for prefix in PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix):]
            break
    for suffix, role in ROLES.items():
        for sep in (".", "_"):
            if key.endswith(sep + suffix):
                return key[:-len(suffix) - 1], suffix, role
    layer, _, last = key.rpartition(".")
    return layer, last, None


def crosses_roles(old: str, new: str) -> bool:
    """True when both keys name a table role and the roles differ (gamma -> beta)."""
    a, b = split_key(old)[2], split_key(new)[2]
    return a is not None and b is not None and a != b


class Pairing:
    """What :func:`pair_by_roles` found: ``pairs`` (file key -> path, file order) and
    ``ambiguous`` (file keys that fit more than one layer equally)."""

    def __init__(self, pairs: Mapping[str, str], ambiguous: Sequence[str]):
        self.pairs: Dict[str, str] = OrderedDict(pairs)
        self.ambiguous: List[str] = list(ambiguous)


class _Unit:
    """A layer's unpaired keys: role -> (key, shape, dtype), and where it comes in order."""

    def __init__(self, name: str):
        self.name = name
        self.members: "OrderedDict[str, Tuple[str, Any]]" = OrderedDict()  # role -> (key, (shape, dtype))
        self.first_arg: Optional[int] = None
        self.first_aux: Optional[int] = None
        self.positions: List[Tuple[str, int]] = []  # (section, position in the file)

    def keys(self) -> List[str]:
        return [m[0] for m in self.members.values()]


def pair_by_roles(unexpected: Sequence[str], missing: Sequence[str], header: Header,
                  header_key: Mapping[str, str], params: Mapping[str, Any],
                  fits: Callable[[Any, Any], bool]) -> Pairing:
    """Pair ``unexpected`` file keys (after the remap) with ``missing`` paths.

    ``header_key`` maps an unexpected key to its name in ``header``; ``fits(param, info)``
    says whether a file array may load into a Parameter (shape and dtype).
    """
    if not unexpected or not missing:
        return Pairing({}, [])
    position = {k: i for i, k in enumerate(header.names)}
    by_role = any(split_key(k)[2] is not None for k in unexpected)
    files = _units(unexpected, by_role,
                   lambda k: (header[header_key[k]], position.get(header_key[k], 0)))
    blocks = _units(missing, by_role, lambda k: (params[k], None), order=True)
    if files is None or blocks is None:
        return Pairing({}, [])

    def same(f: _Unit, b: _Unit) -> bool:
        if list(sorted(f.members)) != list(sorted(b.members)):
            return False
        return all(fits(b.members[r][1], f.members[r][1]) for r in f.members)

    pairs: "OrderedDict[str, str]" = OrderedDict()
    ambiguous: List[str] = []
    done_f, done_b = set(), set()

    def take(f: _Unit, b: _Unit) -> None:
        done_f.add(id(f))
        done_b.add(id(b))
        for role, (key, _) in f.members.items():
            pairs[key] = b.members[role][0]

    # 1. names that agree (PyTorch's `1.weight` for Gluon's `1.gamma`; `arg:a_b_gamma`, `a.b.gamma`)
    by_name = {_norm(b.name): b for b in blocks}
    for f in files:
        b = by_name.get(_norm(f.name))
        if b is not None and id(b) not in done_b and same(f, b):
            take(f, b)
    rest_f = [f for f in files if id(f) not in done_f]
    rest_b = [b for b in blocks if id(b) not in done_b]
    # 2. order: the file's layers in its order against the block's, when the file keeps
    #    the writer's order, every layer's keys lie together and the signatures follow
    ordered = header.ordered and _in_order(rest_f) and len(rest_f) == len(rest_b) and all(
        same(f, b) for f, b in zip(sorted(rest_f, key=_order_key), rest_b))
    if ordered:
        rest_f = sorted(rest_f, key=_order_key)
    # Layers of one signature (roles, shapes, dtypes) fit the same blocks: work out which
    # once per signature, so that a net of thousands of layers stays linear in them.
    fits_of: Dict[Any, List[_Unit]] = {}
    sig_of = {id(f): _signature(f) for f in rest_f}
    left_of: Counter = Counter(sig_of.values())  # file layers of each signature not yet paired
    for f in rest_f:
        if sig_of[id(f)] not in fits_of:
            fits_of[sig_of[id(f)]] = [b for b in rest_b if same(f, b)]
    fit_ids = {sig: {id(b) for b in bs} for sig, bs in fits_of.items()}
    for f in rest_f:
        sig = sig_of[id(f)]
        fitting = [b for b in fits_of[sig] if id(b) not in done_b]
        wanted = {id(b) for b in fitting}
        rivals = sum(n for other, n in left_of.items() if n and not wanted.isdisjoint(fit_ids[other]))
        if fitting and (ordered or (len(fitting) == 1 and rivals == 1)):
            take(f, fitting[0])
            left_of[sig] -= 1
        elif fitting:
            ambiguous.extend(f.keys())
    ordered_pairs = OrderedDict((k, pairs[k]) for k in unexpected if k in pairs)
    unsure = set(ambiguous)
    return Pairing(ordered_pairs, [k for k in unexpected if k in unsure])


def _signature(unit: _Unit) -> Tuple[Any, ...]:
    """What decides which blocks a file layer fits: its roles with their shapes and dtypes."""
    return tuple((role, tuple(info.shape), str(info.dtype))
                 for role, (_, info) in sorted(unit.members.items()))


def _norm(name: str) -> str:
    return name.replace(".", "_")


def _order_key(unit: _Unit) -> Tuple[int, int]:
    if unit.first_arg is not None:
        return (0, unit.first_arg)
    return (1, unit.first_aux if unit.first_aux is not None else 0)


def _in_order(units: List[_Unit]) -> bool:
    """Each layer's keys lie together (an ``arg:`` run and an ``aux:`` run each), and the
    layers' ``aux:`` keys come in the order of their ``arg:`` keys."""
    spans: Dict[str, List[Tuple[int, int]]] = {"arg": [], "aux": []}
    for u in units:
        for section in ("arg", "aux"):
            at = sorted(p for p in u.positions if p[0] == section)
            if at:
                spans[section].append((at[0][1], at[-1][1]))
    for section, ranges in spans.items():
        ranges.sort()
        if any(a[1] >= b[0] for a, b in zip(ranges, ranges[1:])):
            return False
    with_both = [u for u in units if u.first_arg is not None and u.first_aux is not None]
    by_arg = sorted(with_both, key=lambda u: u.first_arg or 0)  # not None: filtered above
    by_aux = sorted(with_both, key=lambda u: u.first_aux or 0)
    return [id(u) for u in by_arg] == [id(u) for u in by_aux]


def _units(keys: Sequence[str], by_role: bool, info_of, order: bool = False
           ) -> Optional[List[_Unit]]:
    """Keys grouped by layer (``by_role``), else one unit per key; ``None`` when a layer
    holds one role twice (nothing can be said then)."""
    units: "OrderedDict[str, _Unit]" = OrderedDict()
    rank = 0
    for key in keys:
        layer, suffix, role = split_key(key)
        name = layer if by_role else key
        what = (role or suffix) if by_role else "?"
        unit = units.setdefault(name, _Unit(name))
        if what in unit.members:
            return None
        thing, pos = info_of(key)
        if pos is None:
            pos, rank = rank, rank + 1
        section = "aux" if key.startswith("aux:") else "arg"
        unit.positions.append((section, pos))
        if section == "aux":
            unit.first_aux = pos if unit.first_aux is None else min(unit.first_aux, pos)
        else:
            unit.first_arg = pos if unit.first_arg is None else min(unit.first_arg, pos)
        unit.members[what] = (key, thing)
    return list(units.values())

