"""``.safetensors`` files: the header read by hand (data unread), data and writes by the library.

The layout (huggingface/safetensors): ``uint64`` little-endian header length ``n``, ``n``
bytes of UTF-8 JSON starting with ``{`` (``name -> {"dtype", "shape", "data_offsets"}`` and
an optional ``"__metadata__"`` of strings), then the data. Offsets are relative to the end
of the header, start at 0, follow each other without gap or overlap, and the last one ends
the file; each tensor's bytes are ``prod(shape) * itemsize``.

:func:`read_header` checks exactly that (the rules of the library's ``read_metadata``;
``tests/test_formats.py`` proves it accepts and refuses the same fuzzed files as the
library), for ``inspect``, ``diff --names`` and ``load``'s checks without reading data.
Writing is always the library's ``serialize_file`` (from the arrays' own memory, no copy),
and :func:`read_arrays` reads through the library's ``safe_open``; only bfloat16 tensors,
which the library cannot hand to numpy (numpy has no bfloat16), are read as their raw
bits at the offsets the library has just validated.

The kit writes its own keys into ``__metadata__``: ``format`` (``mxnet``), the kit and MXNet
versions, ``mxnet.mode`` (``nd``/``np``), ``gluon_params_kit.keys`` (the names in Gluon's
order, as the library sorts tensors by dtype and name) and ``gluon_params_kit.aliases``
(the other paths of tied Parameters, stored once).
"""
from __future__ import annotations

import json
import struct
import sys
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional

import numpy as onp

from ..errors import CheckpointError, listing
from .files import open_source
from .header import BFLOAT16, ArrayInfo, Header, read_range

__all__ = ["DTYPES", "read_header", "read_arrays", "write", "kit_metadata"]

#: safetensors dtype code -> (kit dtype name, item size). Codes numpy cannot hold (the
#: float8 family) can be inspected, not read.
DTYPES = {
    "BOOL": ("bool", 1), "U8": ("uint8", 1), "I8": ("int8", 1), "I16": ("int16", 2),
    "U16": ("uint16", 2), "F16": ("float16", 2), "BF16": ("bfloat16", 2), "I32": ("int32", 4),
    "U32": ("uint32", 4), "F32": ("float32", 4), "F64": ("float64", 8), "I64": ("int64", 8),
    "U64": ("uint64", 8), "C64": ("complex64", 8), "F8_E5M2": ("float8_e5m2", 1),
    "F8_E4M3": ("float8_e4m3fn", 1), "F8_E4M3FNUZ": ("float8_e4m3fnuz", 1),
    "F8_E5M2FNUZ": ("float8_e5m2fnuz", 1), "F8_E8M0": ("float8_e8m0fnu", 1),
}
#: The library's limit on the JSON header (its ``MAX_HEADER_SIZE``).
MAX_HEADER = 100_000_000
KEYS, ALIASES, MODE = "gluon_params_kit.keys", "gluon_params_kit.aliases", "mxnet.mode"
RESERVED = ("format", "gluon_params_kit.version", "mxnet.version", MODE, KEYS, ALIASES)


def _fail(path: str, what: str) -> CheckpointError:
    return CheckpointError(f"{path!r} is not a valid .safetensors file: {what}")


def read_header(path: Any) -> Header:
    """Names, shapes, dtypes and data offsets of a ``.safetensors`` file, data unread.

    >>> import os, tempfile, numpy as np
    >>> from safetensors.numpy import save_file
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.safetensors')
    >>> save_file({'w': np.ones((2, 3), np.float32)}, f)
    >>> h = read_header(f); h['w'].shape, h['w'].dtype, h['w'].offset
    ((2, 3), 'float32', 72)
    """
    f, path = open_source(path)
    with f:
        import os
        size = os.fstat(f.fileno()).st_size
        if size < 8:
            raise _fail(path, f"{size} bytes, too short for the 8-byte header length")
        (n,) = struct.unpack("<Q", f.read(8))
        if n > MAX_HEADER:
            raise _fail(path, f"its header claims {n} bytes, over the {MAX_HEADER} allowed")
        if n + 8 > size:
            raise _fail(path, f"its header claims {n} bytes but the file has {size - 8} "
                              f"after the length (truncated?)")
        raw = f.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(path, "its header is not valid UTF-8") from None
    if not text.startswith("{"):
        raise _fail(path, f"its header does not start with '{{': {text[:20]!r}")
    try:
        doc = json.loads(text, object_pairs_hook=_no_repeats)
    except (ValueError, RecursionError) as exc:
        raise _fail(path, f"its header is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise _fail(path, "its header is not a JSON object")
    metadata = doc.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _fail(path, "its __metadata__ is not a map of strings")
    infos = []
    for name, entry in doc.items():
        infos.append(_entry(path, name, entry))
    infos.sort(key=lambda t: (t[2], t[3]))
    start, arrays, names = 0, [], []
    for name, shape, s, e, code in infos:
        if s != start or e < s:
            raise _fail(path, f"tensor {name!r} has data offsets [{s}, {e}]; expected it to "
                              f"start at {start} (offsets overlap, leave a gap or run backwards)")
        dtype, itemsize = DTYPES[code]
        count = 1
        for d in shape:
            count *= d
        if count * itemsize != e - s:
            raise _fail(path, f"tensor {name!r} ({dtype}, shape {tuple(shape)}) needs "
                              f"{count * itemsize} bytes but its offsets hold {e - s}")
        start = e
        arrays.append(ArrayInfo(name, tuple(shape), dtype, "default", "", 8 + n + s, e - s, 0))
        names.append(name)
    if 8 + n + start != size:
        raise _fail(path, f"its tensors end at byte {8 + n + start} but the file has {size} "
                          f"bytes (truncated, or bytes after the data)")
    order = _stored_order(metadata, names)
    # the library sorts tensors by dtype, then name: such an order says nothing of the
    # writer's; only the kit's recorded order (or an unsorted file) is evidence
    ordered = order is not None or not _library_sorted(arrays)
    if order is not None:
        by_name = {a.name: a for a in arrays}
        arrays = [by_name[k] for k in order]
    arrays = [a._replace(index=i) for i, a in enumerate(arrays)]
    aliases = _aliases(metadata, {a.name for a in arrays})
    np_shape = metadata.get(MODE) == "np" or any(a.size == 0 or a.shape == () for a in arrays)
    return Header(path, size, arrays, True, format="safetensors", metadata=metadata,
                  aliases=aliases, np_shape=np_shape, ordered=ordered)


def _library_sorted(arrays: List[ArrayInfo]) -> bool:
    """True when the names are sorted within each run of one dtype (the library's order)."""
    return all((a.name or "") <= (b.name or "") for a, b in zip(arrays, arrays[1:]) if a.dtype == b.dtype)


def _no_repeats(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"repeated keys {listing(sorted({k for k in keys if keys.count(k) > 1}))}")
    return dict(pairs)


def _entry(path: str, name: str, entry: Any):
    if not isinstance(entry, dict):
        raise _fail(path, f"entry {name!r} is not an object")
    code, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if code not in DTYPES:
        raise _fail(path, f"tensor {name!r} has unknown dtype {code!r} (known: "
                          f"{listing(sorted(DTYPES))})")
    if not isinstance(shape, list) or not all(_uint(d) for d in shape):
        raise _fail(path, f"tensor {name!r} has an invalid shape {shape!r}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_uint(o) for o in offsets):
        raise _fail(path, f"tensor {name!r} has invalid data_offsets {offsets!r}")
    return name, shape, offsets[0], offsets[1], code


def _uint(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**64


def _stored_order(metadata: Mapping[str, str], names: List[str]) -> Optional[List[str]]:
    """The kit's recorded key order, when it names exactly the stored tensors."""
    try:
        keys = json.loads(metadata[KEYS])
    except (KeyError, ValueError):
        return None
    if isinstance(keys, list) and sorted(map(str, keys)) == sorted(names) and len(keys) == len(names):
        return [str(k) for k in keys]
    return None


def _aliases(metadata: Mapping[str, str], stored) -> Dict[str, str]:
    try:
        table = json.loads(metadata[ALIASES])
    except (KeyError, ValueError):
        return {}
    if not isinstance(table, dict):
        return {}
    return {str(k): str(v) for k, v in table.items() if v in stored and k not in stored}


def kit_metadata(keys: List[str], aliases: Mapping[str, str], np_mode: bool,
                 extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The ``__metadata__`` the kit writes, with the user's ``extra`` entries."""
    from .. import __version__
    meta = {"format": "mxnet", "gluon_params_kit.version": __version__,
            "mxnet.version": _mxnet_version(), MODE: "np" if np_mode else "nd",
            KEYS: json.dumps(list(keys))}
    if aliases:
        meta[ALIASES] = json.dumps(dict(aliases))
    for k, v in (extra or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise CheckpointError(f"metadata must map str to str (safetensors stores text only); "
                                  f"got {k!r}: {type(v).__name__}")
        if k in RESERVED:
            raise CheckpointError(f"metadata key {k!r} is the kit's own; use another name "
                                  f"(reserved: {listing(RESERVED)})")
        meta[k] = v
    return meta


def _mxnet_version() -> str:
    """The running mxnet's version where it is imported, else the installed one's (no import:
    the file layer never loads mxnet)."""
    mx = sys.modules.get("mxnet")
    if mx is not None and getattr(mx, "__version__", None):
        return str(mx.__version__)
    try:
        from importlib.metadata import version
        return version("mxnet")
    except Exception:  # not installed under that name (mxnet-cu11x, a source build): say so
        return "unknown"


def _library():
    """The ``safetensors`` module, or a CheckpointError that says how to install it."""
    try:
        import safetensors
    except ImportError:
        raise CheckpointError("writing or reading the values of a .safetensors file needs the "
                              "safetensors package: pip install 'safetensors>=0.8,<1' "
                              "(Python 3.10+); read_header and inspect work without it") from None
    return safetensors


def write(path: str, arrays: Mapping[str, onp.ndarray], metadata: Mapping[str, str]) -> None:
    """Write host arrays with the library's ``serialize_file`` (no copy of the data)."""
    lib = _library()
    SafetensorError, TensorSpec, serialize_file = (lib.SafetensorError, lib.TensorSpec,
                                                   lib.serialize_file)
    keep, specs = [], OrderedDict()
    for name, value in arrays.items():
        a = onp.require(value, requirements="C")
        if a.dtype == BFLOAT16:
            a, code = a.view(onp.uint16), "bfloat16"
        else:
            if not a.dtype.isnative and a.dtype.byteorder != "|":
                a = a.astype(a.dtype.newbyteorder("="))
            code = "bool" if a.dtype == onp.bool_ else a.dtype.name
        keep.append(a)
        try:
            specs[name] = TensorSpec(dtype=code, shape=list(a.shape), data_ptr=a.ctypes.data,
                                     data_len=a.nbytes)
        except (ValueError, TypeError, SafetensorError) as exc:
            raise CheckpointError(f"cannot store {name!r} ({a.dtype}) in a .safetensors file: "
                                  f"{exc}") from None
    serialize_file(specs, path, metadata=dict(metadata))
    del keep


def read_arrays(header: Header, names: Optional[List[str]] = None) -> "OrderedDict[str, onp.ndarray]":
    """The stored arrays as numpy arrays (copies), through the library's ``safe_open``."""
    lib = _library()
    SafetensorError, safe_open = lib.SafetensorError, lib.safe_open
    wanted = header.names if names is None else names
    out: "OrderedDict[str, onp.ndarray]" = OrderedDict()
    try:
        with safe_open(header.path, framework="numpy") as f:
            known = set(f.keys())
            if known != set(header.names):
                raise _fail(header.path, "the library reads other tensor names than its header")
            for name in wanted:
                info = header[name]
                if info.dtype == "bfloat16":  # numpy has no bfloat16: its bits, at the offsets
                    assert info.shape is not None  # a safetensors header gives every tensor a shape
                    out[name] = _raw(header.path, info).view(BFLOAT16).reshape(info.shape)
                    continue
                value = onp.array(f.get_tensor(name))
                if value.shape != info.shape or value.dtype != onp.dtype(info.dtype):
                    raise _fail(header.path, f"tensor {name!r} reads as {value.dtype} "
                                             f"{value.shape}, not as its header says")
                out[name] = value
    except SafetensorError as exc:
        raise _fail(header.path, str(exc)) from None
    except TypeError as exc:  # a dtype numpy lacks (float8): the library cannot convert
        raise CheckpointError(f"cannot read the values of {header.path!r}: {exc}") from None
    return out


def _raw(path: str, info: ArrayInfo) -> onp.ndarray:
    return onp.frombuffer(read_range(path, info), dtype="<u2").copy()
