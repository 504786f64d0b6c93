"""One way in for the three checkpoint formats: ``.params``, ``.safetensors`` and ``.npz``.

:func:`format_of` picks the format (``format=`` first, then the suffix, then, for a file
being read, its first bytes), :func:`read_header` gives the format's :class:`Header`,
:func:`read_host` its arrays as numpy arrays, and :func:`iter_values` one array's flat
values in bounded pieces (a reused buffer: the streaming readers of ``diff``, ``inspect
--stats`` and ``export`` never hold a whole array). Nothing here imports mxnet.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Iterator, List, Optional

import numpy as onp

from ..errors import CheckpointError, listing
from . import npz as _npz
from . import params as _header
from . import safetensors_file as _safetensors
from .files import file_path, open_source
from .header import BFLOAT16, ArrayInfo, Header, iter_range, numpy_dtype

__all__ = ["FORMATS", "format_of", "read_header", "read_host", "iter_values", "CHUNK_VALUES", "as_float"]

FORMATS = ("params", "safetensors", "npz")
SUFFIXES = {".params": "params", ".safetensors": "safetensors", ".npz": "npz"}
#: Values per piece of :func:`iter_values`: 4 MiB of float32.
CHUNK_VALUES = 1 << 20


def format_of(path: Any, format: Optional[str] = None, *, reading: bool = True) -> str:
    """``format`` if given, else the suffix's format, else (reading) what the bytes say.

    >>> format_of('net.safetensors'), format_of('w.npz'), format_of('x', 'params')
    ('safetensors', 'npz', 'params')
    """
    if format is not None:
        if format not in FORMATS:
            raise CheckpointError(f"unknown format {format!r}; expected one of {listing(FORMATS)}")
        return format
    text = file_path(path)
    suffix = os.path.splitext(text)[1].lower()
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if not reading:
        return "params"
    try:
        f, _ = open_source(text)
    except CheckpointError:
        return "params"  # the reader says what is wrong with it
    with f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04" or head[:4] == b"PK\x05\x06":
        return "npz"
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") != 0x112:
        return "safetensors"
    return "params"


def read_header(path: Any, format: Optional[str] = None) -> Header:
    """The :class:`Header` of a checkpoint in any of the three formats, data unread."""
    kind = format_of(path, format)
    if kind == "safetensors":
        return _safetensors.read_header(path)
    if kind == "npz":
        return _npz.read_header(path)
    return _header.read_header(path)


def read_host(header: Header, names: Optional[List[str]] = None) -> "OrderedDict[str, onp.ndarray]":
    """Arrays of a file as numpy arrays (sparse ``.params`` arrays dense), by name."""
    wanted = header.names if names is None else names
    if header.format == "safetensors":
        return _safetensors.read_arrays(header, wanted)
    if header.format == "npz":
        return _npz.read_arrays(header, wanted)
    return OrderedDict((n, _header.read_array(header.path, header[n])) for n in wanted)


def iter_values(header: Header, info: ArrayInfo, chunk_values: int = CHUNK_VALUES,
                buffer: Optional[bytearray] = None) -> Iterator[onp.ndarray]:
    """The flat C-order values of one array, ``chunk_values`` at a time.

    Pieces are views of one reused buffer: use each before asking for the next. bfloat16
    comes as MXNet's record dtype (:func:`as_float` turns it into float32).
    """
    if info.shape is None or info.dtype is None or info.size == 0:  # no shape: no dtype either
        return
    dt = numpy_dtype(info.dtype)
    streamable = info.stype == "default" and not info.fortran_order
    if streamable and info.offset >= 0:
        for raw in iter_range(header.path, info.offset, info.nbytes, chunk_values * dt.itemsize,
                              buffer):
            yield onp.frombuffer(raw, dtype=dt)
        return
    if streamable and header.format == "npz":  # deflated member: inflate piece by piece
        carry = b""
        for data in _npz.iter_member(header, info, chunk_values * dt.itemsize):
            data = carry + data
            whole = len(data) - len(data) % dt.itemsize
            carry = data[whole:]
            if whole:
                yield onp.frombuffer(data[:whole], dtype=dt)
        return
    flat = read_host(header, [header.names[info.index]])[header.names[info.index]].ravel()
    for i in range(0, flat.size, chunk_values):
        yield flat[i:i + chunk_values]


def as_float(a: onp.ndarray) -> onp.ndarray:
    """Values as a float array numpy can reduce (bfloat16 records -> exact float32)."""
    if a.dtype == BFLOAT16 or a.dtype.names:
        from .header import bfloat16_to_float32
        return bfloat16_to_float32(a)
    return a
