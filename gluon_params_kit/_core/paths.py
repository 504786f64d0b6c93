"""The path grammar: every accepted spelling of a path inside a block, and nothing else.

Pure Python (no mxnet, no numpy), so the file layer (``Header``'s lookups by any path form)
and the CLI's header-only commands have it where mxnet cannot import:

- :data:`ParamPath`, :func:`parse_path` (``'0.1.bias'``, the book's ``'[0][1].bias'``, after
  a variable name too, and tuples), :func:`format_path`, :func:`join`, :func:`is_index`;
- :func:`key_in`, a path's key among a set of keys and aliases.
"""
from __future__ import annotations

import re
from typing import List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import PathError, PathTypeError

__all__ = ["LEADING_VAR", "ParamPath", "format_path", "is_index", "join", "key_in", "parse_path"]

#: A path inside a block: ``'0.1.weight'``, the book's ``'[0][1].weight'``, or ``(0, 1, 'weight')``.
ParamPath = Union[str, Sequence[Union[str, int]]]

_TOKEN = re.compile(r"\[\s*(-?\d+|'[^']*'|\"[^\"]*\")\s*\]|\.?([^.\[\]]+)")
LEADING_VAR = re.compile(r"^([A-Za-z_]\w*)\[")


def parse_path(path: ParamPath) -> Tuple[str, ...]:
    """Split a path in any accepted form into its segments.

    Accepted: ``'0.1.0.bias'``, the book's ``'[0][1][0].bias'`` (also after a variable
    name, ``'rgnet[0][1][0].bias'``, kept here as a first segment), attribute paths
    ``'features.3.weight'`` and tuples ``(0, 1, 0, 'bias')``. ``''`` and ``()`` are the root.

    >>> parse_path('[0][1][0].bias')
    ('0', '1', '0', 'bias')
    >>> parse_path((0, 'weight'))
    ('0', 'weight')
    """
    if isinstance(path, (tuple, list)):
        given = tuple(str(s) for s in path)
        if any(s == "" for s in given):
            raise PathError(f"path {path!r} has an empty segment")
        return given
    if not isinstance(path, str):
        raise PathTypeError(
            f"path must be a str like '0.1.weight' or a tuple like (0, 1, 'weight'), "
            f"got {type(path).__name__}: {path!r}")
    text = path.strip()
    if text == "":
        return ()
    if text.startswith(".") or text.endswith(".") or ".." in text:
        raise PathError(f"path {path!r} has an empty segment")
    segs: List[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise PathError(f"cannot parse path {path!r} at position {pos}: {text[pos:]!r}")
        index, name = m.groups()
        segs.append((index.strip("'\"") if index is not None else name).strip())
        pos = m.end()
    if any(s == "" for s in segs):
        raise PathError(f"path {path!r} has an empty segment")
    return tuple(segs)


def format_path(segments: Sequence[Union[str, int]]) -> str:
    """Join segments into the canonical dotted form (inverse of :func:`parse_path`).

    >>> format_path(('0', 1, 'bias'))
    '0.1.bias'
    >>> format_path(None)
    Traceback (most recent call last):
    ...
    gluon_params_kit.errors.PathTypeError: format_path takes a sequence of path segments like ('0', 1, 'bias'), got NoneType: None
    """
    if not isinstance(segments, (tuple, list)):
        raise PathTypeError(f"format_path takes a sequence of path segments like ('0', 1, "
                            f"'bias'), got {type(segments).__name__}: {segments!r}")
    return ".".join(str(s) for s in segments)


def join(prefix: str, key: str) -> str:
    """``prefix.key``, or ``key`` alone at the root (``prefix == ''``)."""
    return f"{prefix}.{key}" if prefix else str(key)


def is_index(text: str) -> bool:
    """Whether a path segment is an integer index (``'2'``, ``'-1'``)."""
    return text.lstrip("-").isdigit()


def key_in(path: ParamPath, keys, aliases: Optional[Mapping[str, str]] = None) -> str:
    """The dotted key of ``path`` as found in ``keys`` (a mapping or set of canonical paths).

    A leading variable name, as in the book's ``rgnet[0][1].bias``, is dropped when only the
    rest is a key; ``aliases`` (spelling -> canonical path, as :func:`key_index` builds it)
    turns an attribute path or a shared Parameter's other key into its canonical path. A
    key that is not there comes back as written (for the error message).
    """
    segs = parse_path(path)
    key = format_path(segs)
    candidates = [key]
    if isinstance(path, str) and segs and LEADING_VAR.match(path.strip()):
        candidates.append(format_path(segs[1:]))
    for cand in candidates:
        if cand in keys:
            return cand
    for cand in candidates:
        if aliases and aliases.get(cand) in keys:
            return aliases[cand]
    return key
