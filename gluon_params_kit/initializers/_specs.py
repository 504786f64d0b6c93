"""Initializer specs on top of MXNet's own registry.

MXNet keeps one registry of ``Initializer`` classes (``mx.init.register`` / ``alias`` /
``create``); this module reads and extends that registry, never a parallel one, so a
name registered here is usable by ``mx.init.create`` and the other way round.
A spec is an ``Initializer``, a registered name (``'xavier'``), a call string
(``"normal(sigma=0.01)"``, parsed with :mod:`ast`, literals only) or the JSON that
``Initializer.dumps()`` writes.

Running a plan lives in :mod:`._init_run`.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import json
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

from .._core.compat import mx
from .._core.types import Initializer
from .._core.validate import check_bool, check_number, shown
from ..errors import InitializerError, InitializerTypeError, did_you_mean, listing
from ._checks import check_arguments

__all__ = ["Spec", "derive_seed", "get_initializer", "list_initializers", "register_initializer", "spec_text"]

Spec = Union[Initializer, str]

_SPEC_FORMS = ("an Initializer, a registered name ('xavier'), a call string "
               "(\"normal(sigma=0.01)\") or the JSON of Initializer.dumps()")


def _registry() -> Dict[str, Type[Initializer]]:
    """MXNet's own name -> class table for initializers (a copy)."""
    return mx.registry.get_registry(mx.init.Initializer)  # the class itself: the registry keys on it


def _is_gluon_constant_alias(name: str, klass: type) -> bool:
    # gluon.Constant registers one private initializer per constant ('constant_<name>_<id>').
    return name.startswith("constant_") and "<locals>" in klass.__qualname__


def list_initializers() -> List[str]:
    """Every name an initializer spec can use, sorted (aliases such as ``'zeros'`` included).

    Names come from MXNet's own registry, so initializers registered with
    ``mx.init.register`` show up too. The private per-``gluon.Constant`` entries Gluon
    registers are left out.

    Returns:
        The registered names, lower case, sorted.

    Examples:
        >>> import gluon_params_kit.chapter  # the book's module registers its 'myinit'
        >>> names = list_initializers()
        >>> {'xavier', 'normal', 'zeros', 'myinit'} <= set(names)
        True
    """
    return sorted(n for n, k in _registry().items() if not _is_gluon_constant_alias(n, k))


def register_initializer(klass: Optional[type] = None, *, aliases: Union[str, Sequence[str]] = (),
                         replace: bool = False) -> Union[type, Callable[[type], type]]:
    """Register an ``mx.init.Initializer`` subclass with MXNet's registry (a class decorator).

    The class is registered under its lower-cased class name (the name ``dumps()``
    writes, so specs round-trip) and under every alias. Use it bare
    (``@register_initializer``) or with options (``@register_initializer(aliases='tiny')``).
    Registering the same class again, or a redefinition of it (same module and
    qualified name, as when a notebook cell is re-run), replaces the entry silently.

    Args:
        klass: the class to register (when used bare).
        aliases: extra names (a str or a sequence of str); each must be a Python identifier
            so it can start a call string.
        replace: allow a name that another class already holds to be taken over.

    Returns:
        The class itself (or a decorator returning it).

    Raises:
        InitializerTypeError: ``klass`` is not an ``Initializer`` subclass, ``aliases`` is
            not a str or a sequence, or ``replace`` is not a bool.
        InitializerError: an alias is not an identifier, or a name already belongs to
            another class and ``replace`` is false.

    Examples:
        >>> @register_initializer(aliases='tiny_const')
        ... class TinyConstant(mx.init.Initializer):
        ...     def _init_weight(self, name, arr):
        ...         arr[:] = 1e-3
        >>> type(get_initializer('tiny_const')).__name__
        'TinyConstant'
        >>> get_initializer('tinyconstant()').dumps()
        '["tinyconstant", {}]'
    """
    if isinstance(aliases, str):
        names = [aliases]
    elif isinstance(aliases, (list, tuple, set, frozenset)):
        names = list(aliases)
    else:
        raise InitializerTypeError(f"register_initializer: aliases must be a str or a list/tuple "
                                   f"of str, got {type(aliases).__name__}: {aliases!r}")
    check_bool(replace, "replace", InitializerError, where="register_initializer")

    def decorate(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Initializer)):
            raise InitializerTypeError(
                f"register_initializer needs a subclass of mx.init.Initializer, got "
                f"{getattr(cls, '__name__', type(cls).__name__)!r}")
        bad = [a for a in names if not (isinstance(a, str) and a.isidentifier())]
        if bad:
            raise InitializerError(
                f"initializer aliases must be Python identifiers (they start a call string "
                f"like 'name(arg=1)'), got {listing([repr(b) for b in bad])}")
        table = _registry()
        for name in [cls.__name__.lower()] + [a.lower() for a in names]:
            held = table.get(name)
            if held is not None and not replace and not _same_class(held, cls):
                raise InitializerError(
                    f"initializer name {name!r} is already registered to "
                    f"{held.__module__}.{held.__qualname__}; choose another alias, rename "
                    f"the class, or pass replace=True to take the name over")
        with warnings.catch_warnings():  # MXNet warns on every re-registration
            warnings.simplefilter("ignore", UserWarning)
            mx.init.register(cls)
            if names:
                mx.init.alias(*names)(cls)
        return cls

    return decorate if klass is None else decorate(klass)


def _same_class(a: type, b: type) -> bool:
    return a is b or (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def get_initializer(spec: Spec) -> Initializer:
    """Turn a spec into an ``mx.init.Initializer`` instance (through ``mx.init.create``).

    Accepted specs: an ``Initializer`` (returned as is); a registered name, any case
    (``'xavier'``, ``'Zeros'``); a call string with literal arguments
    (``"xavier(rnd_type='gaussian', magnitude=2)"``; parsed with :mod:`ast`, nothing is
    evaluated); the JSON ``Initializer.dumps()`` writes (``'["normal", {"sigma": 0.5}]'``).
    Every spec round-trips: ``get_initializer(init.dumps()) == init``.

    Args:
        spec: the initializer spec.

    Returns:
        The initializer.

    Raises:
        InitializerError: an unknown name (the registered names and the closest are
            listed), arguments the initializer does not accept (its accepted arguments are
            listed), a non-literal argument, unparsable text or JSON, or another type.

    Examples:
        >>> get_initializer("normal(sigma=0.5)").dumps()
        '["normal", {"sigma": 0.5}]'
        >>> init = get_initializer("xavier(rnd_type='gaussian', magnitude=2)")
        >>> get_initializer(init.dumps()) == init
        True
        >>> import gluon_params_kit.chapter  # registers the book's MyInit as 'myinit'
        >>> type(get_initializer('myinit')).__name__
        'MyInit'
    """
    if isinstance(spec, Initializer):
        check_arguments(spec, repr(spec))
        return spec
    if not isinstance(spec, str):
        hint = (" (mx.init.Mixed and mx.init.Load are not Initializers: use InitPlan rules, "
                "or load a checkpoint)" if isinstance(spec, (mx.init.Mixed, mx.init.Load)) else "")
        raise InitializerTypeError(
            f"initializer spec must be {_SPEC_FORMS}; got {type(spec).__name__}: {spec!r}{hint}")
    text = spec.strip()
    if not text:
        raise InitializerError(f"initializer spec is empty; expected {_SPEC_FORMS}")
    if len(text) > MAX_SPEC_CHARS:
        raise InitializerError(f"initializer spec of {len(text)} characters is longer than the "
                               f"{MAX_SPEC_CHARS} allowed: {text[:60]!r}...")
    try:
        if text[0] in "[{":
            name, args, kwargs = _parse_json(text, spec)
        else:
            name, args, kwargs = _parse_call(text, spec)
    except (RecursionError, MemoryError):  # deeply nested brackets
        raise InitializerError(f"initializer spec {text[:60]!r}... is nested too deeply to "
                               f"parse; expected {_SPEC_FORMS}") from None
    init = _create(name, args, kwargs, spec)
    check_arguments(init, spec)
    return init


#: Longest spec text accepted (a call string or JSON).
MAX_SPEC_CHARS = 100_000


def _parse_json(text: str, spec: str) -> Tuple[str, tuple, Dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InitializerError(f"initializer spec {spec!r} is not valid JSON: {exc}") from None
    if (isinstance(data, list) and len(data) == 2 and isinstance(data[0], str)
            and isinstance(data[1], dict)):
        return data[0], (), dict(data[1])
    if isinstance(data, dict) and isinstance(data.get("initializer"), str):
        kwargs = dict(data)
        return kwargs.pop("initializer"), (), kwargs
    raise InitializerError(
        f"initializer spec {spec!r}: JSON must be [name, {{kwargs}}] as Initializer.dumps() "
        f"writes, or {{\"initializer\": name, ...}}")


def _parse_call(text: str, spec: str) -> Tuple[str, tuple, Dict[str, Any]]:
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise InitializerError(
            f"cannot parse initializer spec {spec!r} ({exc.msg}); expected {_SPEC_FORMS}") from None
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _callee(node, spec), (), {}
    if not isinstance(node, ast.Call):
        raise InitializerError(
            f"initializer spec {spec!r} must be a registered name or a call of one with "
            f"literal arguments, like \"normal(sigma=0.01)\"")
    name = _callee(node.func, spec)
    if (any(isinstance(a, ast.Starred) for a in node.args)
            or any(k.arg is None for k in node.keywords)):
        raise InitializerError(f"initializer spec {spec!r}: *args and **kwargs are not allowed")
    args = tuple(_literal(a, spec) for a in node.args)
    kwargs = {k.arg: _literal(k.value, spec) for k in node.keywords if k.arg is not None}  # all, here
    return name, args, kwargs


def _callee(node: ast.AST, spec: str) -> str:
    # 'xavier', or a qualified class such as 'mx.init.Xavier' (the last part is the name)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    raise InitializerError(f"initializer spec {spec!r} must start with an initializer name")


def _literal(node: ast.AST, spec: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        raise InitializerError(
            f"initializer spec {spec!r}: argument {ast.unparse(node)!r} is not a literal; "
            f"only numbers, strings, True/False/None and lists/tuples/dicts of them are "
            f"allowed (nothing is evaluated)") from None


def _create(name: str, args: tuple, kwargs: Dict[str, Any], spec: str) -> Initializer:
    table = _registry()
    key = name.lower()
    if key not in table or _is_gluon_constant_alias(key, table[key]):
        known = list_initializers()
        raise InitializerError(
            f"unknown initializer {name!r} in spec {spec!r}. "
            f"Registered: {listing(known, limit=40)}." + did_you_mean(key, known)
            + " Register new ones with register_initializer."
            + (" The chapter's 'myinit' is registered by importing gluon_params_kit.chapter."
               if key == "myinit" else ""))
    klass = table[key]
    signature = inspect.signature(klass.__init__)
    try:
        signature.bind(None, *args, **kwargs)
    except TypeError as exc:
        raise InitializerError(
            f"initializer {key!r} ({klass.__name__}) cannot take the arguments of spec "
            f"{spec!r}: {exc}. It accepts: {_accepted(signature)}") from None
    if klass is mx.init.FusedRNN and isinstance(kwargs.get("init"), str):
        # FusedRNN.dumps() stores its inner initializer as JSON its own __init__ cannot read back
        kwargs["init"] = get_initializer(kwargs["init"])
    try:
        return mx.init.create(key, *args, **kwargs)
    except Exception as exc:  # the initializer's own validation
        raise InitializerError(
            f"initializer {key!r} ({klass.__name__}) rejected spec {spec!r}: "
            f"{type(exc).__name__}: {exc}") from exc


def _accepted(signature: inspect.Signature) -> str:
    parts = []
    for p in list(signature.parameters.values())[1:]:
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
        elif p.kind is p.VAR_KEYWORD:
            parts.append(f"**{p.name}")
        elif p.default is p.empty:
            parts.append(f"{p.name} (required)")
        else:
            parts.append(f"{p.name}={p.default!r}")
    return ", ".join(parts) if parts else "no arguments"


def spec_text(init: Initializer) -> str:
    """The text a provenance record keeps for an initializer: its ``dumps()`` when it has one."""
    try:
        return init.dumps()
    except Exception:  # a custom initializer whose arguments are not JSON
        return f"{type(init).__name__}({init._kwargs!r})"


def derive_seed(seed: int, path: str, spec: str) -> int:
    """A parameter's own seed: a stable hash (sha256) of the plan seed, its path and spec.

    This is what ``apply(seed=...)`` seeds MXNet's CPU generator with right before it
    fills that parameter, so its values depend on nothing else (not Python's ``hash``,
    which changes between processes).

    Args:
        seed: the plan seed given to :meth:`InitPlan.apply` or :func:`reinitialize`.
        path: the parameter's canonical structural path.
        spec: the initializer's ``dumps()`` text.

    Returns:
        An int in ``[0, 2**31)``.

    Raises:
        InitializerTypeError: ``seed`` is not an int, or ``path`` or ``spec`` not a str.

    Examples:
        >>> derive_seed(0, '0.weight', '["one", {}]') != derive_seed(0, '1.weight', '["one", {}]')
        True
        >>> derive_seed(0, '0.weight', '["one", {}]')  # the same in every process
        1229866241
    """
    check_number(seed, "seed", InitializerError, integer=True, where="derive_seed")
    for value, name in ((path, "path"), (spec, "spec")):
        if not isinstance(value, str):
            raise InitializerTypeError(f"derive_seed: {name} must be a str, got {shown(value)}")
    digest = hashlib.sha256(f"{seed}\x00{path}\x00{spec}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
