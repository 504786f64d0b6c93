"""``.safetensors`` files: the header and the values read by hand, and written.

The layout (huggingface/safetensors): ``uint64`` little-endian header length ``n``, ``n``
bytes of UTF-8 JSON starting with ``{`` (``name -> {"dtype", "shape", "data_offsets"}`` and
an optional ``"__metadata__"`` of strings), then the data. Offsets are relative to the end
of the header, start at 0, follow each other without gap or overlap, and the last one ends
the file; each tensor's bytes are ``prod(shape) * itemsize``.

:func:`read_header` checks exactly that (the rules of the library's ``read_metadata``;
``tests/test_formats.py`` proves it accepts and refuses the same fuzzed files as the
library), for ``inspect``, ``diff --names`` and ``load``'s checks without reading data.
:func:`write` lays a file out as the library does (tensors by dtype, widest first, then
by name; the same compact JSON header; only ``__metadata__``'s order is the kit's own,
where the library's follows a hash), from the arrays' own memory, no copy.
:func:`read_arrays` reads the values itself, from the file held open for the call (a
:class:`~gluon_params_kit._io.header.DataFile`), at the offsets :func:`read_header` has just
validated, so header and values always come from one version of the file; bfloat16
tensors (numpy has none) come as MXNet's uint16 record. :func:`read_into` reads one
tensor straight into memory the caller owns (a load's fresh MXNet array: no copy between).
Reading and writing need no library.

The kit writes its own keys into ``__metadata__``: ``format`` (``mxnet``), the kit and MXNet
versions, ``mxnet.mode`` (``nd``/``np``), ``gluon_params_kit.keys`` (the names in Gluon's
order, as the library sorts tensors by dtype and name) and ``gluon_params_kit.aliases``
(the other paths of tied Parameters, stored once).
"""
from __future__ import annotations

import json
import struct
import sys
from collections import Counter, OrderedDict
from typing import Any, BinaryIO, Dict, List, Mapping, Optional, Tuple

import numpy as onp

from ..errors import CheckpointError, listing
from .files import open_source
from .header import BFLOAT16, DataFile, Header, dense_infos, file_stamp, numpy_dtype

__all__ = ["DTYPES", "parse", "read_header", "read_arrays", "read_into", "write", "kit_metadata"]

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
        return parse(f, path)


def parse(f: BinaryIO, path: str) -> Header:
    """:func:`read_header` of a file already open (at any position)."""
    stamp = file_stamp(f.fileno())
    size = stamp[2]
    f.seek(0)
    if size < 8:
        raise _fail(path, f"{size} bytes, too short for the 8-byte header length")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > MAX_HEADER:
        raise _fail(path, f"its header claims {n} bytes, over the {MAX_HEADER} allowed")
    if n + 8 > size:
        raise _fail(path, f"its header claims {n} bytes but the file has {size - 8} "
                          f"after the length (truncated?)")
    raw = f.read(n)
    if len(raw) != n:
        raise _fail(path, f"its header ends early: {len(raw)} of {n} bytes (it changed while reading?)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _fail(path, "its header is not valid UTF-8") from None
    if not text.startswith("{"):
        raise _fail(path, f"its header does not start with '{{': {text[:20]!r}")
    split = _in_pieces(path, text)  # None: parsed whole, below
    if split is None:
        doc = _json_without_repeats(path, text)
        if not isinstance(doc, dict):
            raise _fail(path, "its header is not a JSON object")
        metadata = doc.pop("__metadata__", None)
    else:
        metadata, infos = split
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _fail(path, "its __metadata__ is not a map of strings")
    if split is None:
        infos = [_entry(path, name, entry) for name, entry in doc.items()]
        del doc  # 10^5 small objects: the next ones reuse their memory
    del raw, text
    infos.sort(key=_by_offsets)
    start, arrays, names = 0, [], []
    for name, shape, s, e, code in infos:
        if s != start or e < s:
            raise _fail(path, f"tensor {name!r} has data offsets [{s}, {e}]; expected it to "
                              f"start at {start} (offsets overlap, leave a gap or run backwards)")
        dtype, itemsize = DTYPES[code]
        count = itemsize
        for d in shape:
            count *= d
        if count != e - s:
            raise _fail(path, f"tensor {name!r} ({dtype}, shape {shape}) needs "
                              f"{count} bytes but its offsets hold {e - s}")
        start = e
        arrays.append((name, shape, dtype, 8 + n + s, e - s))
        names.append(name)
    if 8 + n + start != size:
        raise _fail(path, f"its tensors end at byte {8 + n + start} but the file has {size} "
                          f"bytes (truncated, or bytes after the data)")
    order = _stored_order(metadata, names)
    # the library sorts tensors by dtype, then name: such an order says nothing of the
    # writer's; only the kit's recorded order (or an unsorted file) is evidence
    ordered = order is not None or not _library_sorted(arrays)
    if order is not None:
        by_name = {a[0]: a for a in arrays}
        arrays = [by_name[k] for k in order]
    infos_out = dense_infos(arrays)
    aliases = _aliases(metadata, set(names))
    np_shape = metadata.get(MODE) == "np" or any(0 in a[1] or a[1] == () for a in arrays)
    return Header(path, size, infos_out, True, format="safetensors", metadata=metadata,
                  aliases=aliases, np_shape=np_shape, ordered=ordered, stamp=stamp)


def _by_offsets(t):
    return t[2], t[3]


def _library_sorted(arrays: List[Tuple[str, Any, str, int, int]]) -> bool:
    """True when the names are sorted within each run of one dtype (the library's order)."""
    return all(a[0] <= b[0] for a, b in zip(arrays, arrays[1:]) if a[2] == b[2])


def _json_without_repeats(path: str, text: str) -> Any:
    """The JSON header, refused when an object repeats a key (as the library refuses it).

    Fast path: the C parser, then one count proving nothing was merged: every key ends in
    ``":`` (no whitespace before a colon anywhere), a string may hold ``":`` too, so the
    count is at least the number of keys and equals the keys parsed only when no object
    lost a repeated key. Anything else (a count that differs, nested objects, spaced
    colons) is parsed again pair by pair (exact, slower).
    """
    try:
        doc = json.loads(text)
        spaced = any(c in text for c in " \t\n\r") and any(  # one memchr each first: 10^5 keys
            sep in text for sep in ('" :', '"\t:', '"\n:', '"\r:'))
        if isinstance(doc, dict) and not spaced:
            parsed = len(doc)
            for entry in doc.values():
                if type(entry) is dict:
                    parsed += len(entry)
            if text.count('":') == parsed:
                return doc
        return json.loads(text, object_pairs_hook=_no_repeats)
    except (ValueError, RecursionError) as exc:
        raise _fail(path, f"its header is not valid JSON ({exc})") from None


#: A header longer than this is parsed a piece of about :data:`_PIECE` characters at a time
#: (:func:`_in_pieces`): each piece's objects fit in the cache and are freed before the
#: next piece is parsed, where the whole header's (10^5 entries: 50 MB) would not.
_PIECES_FROM, _PIECE = 1 << 18, 1 << 16
_MISSING = object()


def _in_pieces(path: str, text: str):
    """``(metadata or None, entries)`` of a long header in the library's compact form,
    parsed a piece at a time, exactly what parsing it whole gives; or None (parse it whole:
    a short header, whitespace or escapes anywhere, a repeated key, anything invalid).

    A piece ends at a ``},"`` and is parsed as ``{`` + piece + ``}``. Without backslashes a
    ``"`` always delimits a string, so a cut inside a string or a nested object leaves a
    piece that is not valid JSON (and the header is parsed whole): when every piece
    parses, every cut was between two top-level entries. The count of ``":`` shows no
    piece merged a repeated key (as in :func:`_json_without_repeats`); the names, that no
    two pieces hold the same one.
    """
    if len(text) < _PIECES_FROM:
        return None
    end = len(text) - 9 + len(text[-8:].rstrip(" "))  # the closing brace (the library pads < 8 spaces)
    if text[0] != "{" or text[end] != "}" or "\\" in text \
            or any(text.find(c, 0, end) >= 0 for c in " \t\n\r"):
        return None
    entries: List[Any] = []
    metadata: List[Any] = []
    parsed, a = 0, 1
    try:
        while a < end:
            b = text.find('},"', a + _PIECE, end)
            piece = "{" + (text[a:b + 1] if b >= 0 else text[a:end + 1]) + ("}" if b >= 0 else "")
            a = b + 2 if b >= 0 else end
            doc = json.loads(piece)
            if type(doc) is not dict:
                return None
            parsed += len(doc)
            for entry in doc.values():
                if type(entry) is dict:
                    parsed += len(entry)
            meta = doc.pop("__metadata__", _MISSING)
            if meta is not _MISSING:
                metadata.append(meta)
            entries.extend([_entry(path, name, entry) for name, entry in doc.items()])
            del doc, piece
    except (ValueError, RecursionError, CheckpointError):
        return None
    if parsed != text.count('":') or len(metadata) > 1 or len({e[0] for e in entries}) != len(entries):
        return None
    return (metadata[0] if metadata else None), entries


def _no_repeats(pairs):
    out = dict(pairs)
    if len(out) != len(pairs):
        repeated = sorted(k for k, c in Counter(k for k, _ in pairs).items() if c > 1)
        raise ValueError(f"repeated keys {listing(repeated)}")
    return out


_U64 = 2**64


def _entry(path: str, name: str, entry: Any):
    if type(entry) is not dict:
        raise _fail(path, f"entry {name!r} is not an object")
    code, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if type(code) is not str or code not in DTYPES:
        raise _fail(path, f"tensor {name!r} has unknown dtype {code!r:.80} (known: "
                          f"{listing(sorted(DTYPES))})")
    if type(shape) is not list:
        raise _fail(path, f"tensor {name!r} has an invalid shape {shape!r:.80}")
    for d in shape:
        if type(d) is not int or not 0 <= d < _U64:
            raise _fail(path, f"tensor {name!r} has an invalid shape {shape!r:.80}")
    if type(offsets) is not list or len(offsets) != 2:
        raise _fail(path, f"tensor {name!r} has invalid data_offsets {offsets!r:.80}")
    s, e = offsets
    if type(s) is not int or type(e) is not int or not 0 <= s < _U64 or not 0 <= e < _U64:
        raise _fail(path, f"tensor {name!r} has invalid data_offsets {offsets!r:.80}")
    return name, tuple(shape), s, e, code


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


def write(path: str, arrays: Mapping[str, onp.ndarray], metadata: Mapping[str, str], *,
          writeback: bool = True) -> int:
    """Write host arrays as a ``.safetensors`` file, laid out as the library lays it out
    (:func:`~.params_writer.write_safetensors`); the bytes written.

    Each array's bytes go to the file from its own memory (no copy; bfloat16 as MXNet's
    uint16 record, big-endian values as little-endian copies). ``writeback``: hand the
    bytes to the disk as they are written (for a file about to be flushed, or renamed over
    another).

    >>> import os, tempfile, numpy as np
    >>> from safetensors.numpy import load_file
    >>> f = os.path.join(tempfile.mkdtemp(), 'w.safetensors')
    >>> write(f, {'b': np.ones(2, 'float16'), 'a': np.arange(3, dtype='>i4')}, {'k': 'v'})
    160
    >>> {k: v.tolist() for k, v in load_file(f).items()}
    {'a': [0, 1, 2], 'b': [1.0, 1.0]}
    """
    from .params_writer import SAFETENSORS_CODES, Record, sink_to_file, write_safetensors
    records = []
    for name, value in arrays.items():
        a = onp.require(value, requirements="C")
        code = _KIT_NAMES.get(a.dtype)
        if code is None:
            code = "bfloat16" if a.dtype == BFLOAT16 else a.dtype.name
        if code == "bfloat16":
            a = a.view(onp.uint16)
        if code not in SAFETENSORS_CODES:
            raise CheckpointError(f"cannot store {name!r} ({a.dtype}) in a .safetensors file; the "
                                  f"format holds {listing(list(SAFETENSORS_CODES))}")
        if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and sys.byteorder == "big"):
            a = a.astype(a.dtype.newbyteorder("<"))  # the format stores little-endian values
        records.append(Record(name, tuple(a.shape), code, a.nbytes, a))
    return sink_to_file(path, writeback, lambda sink: write_safetensors(sink, records, metadata, _fill))


#: numpy dtype -> the kit's dtype name (``dtype.name`` costs microseconds per array).
_KIT_NAMES = {onp.dtype(t): onp.dtype(t).name for t in (
    "bool", "uint8", "int8", "int16", "uint16", "float16", "int32", "uint32", "float32", "float64",
    "int64", "uint64")}


def _fill(sink: Any, rec: Any) -> None:
    if rec.nbytes:
        sink.write(rec.source.reshape(-1).view(onp.uint8))


def read_arrays(src: DataFile, header: Header,
                names: Optional[List[str]] = None) -> "OrderedDict[str, onp.ndarray]":
    """The stored arrays as numpy arrays (new, writable), read from the open file at the
    offsets :func:`read_header` validated (little-endian, as the format stores them;
    bfloat16 as MXNet's uint16 record). A dtype numpy lacks (the float8 family) is a
    :class:`~gluon_params_kit.errors.CheckpointError`."""
    wanted = header.names if names is None else names
    out: "OrderedDict[str, onp.ndarray]" = OrderedDict()
    for name in wanted:
        info = header[name]
        assert info.shape is not None and info.dtype is not None  # every tensor has both here
        try:
            dt = numpy_dtype(info.dtype)
        except CheckpointError as exc:
            raise CheckpointError(f"cannot read tensor {name!r} of {header.path!r}: {exc}") from None
        stored = dt if dt == BFLOAT16 else dt.newbyteorder("<")
        value = onp.empty(info.shape, stored)
        if value.nbytes:
            src.readinto(info.offset, value.reshape(-1).view(onp.uint8), repr(name))
        out[name] = value if stored.isnative or dt == BFLOAT16 else value.astype(dt)
    return out


def read_into(src: DataFile, header: Header, name: str, out: Any) -> None:
    """Fill ``out`` (a writable buffer of exactly the tensor's bytes) with tensor ``name``'s
    values in native byte order, read from the open file at the offset :func:`read_header`
    validated.

    >>> import os, tempfile, numpy as np
    >>> from safetensors.numpy import save_file
    >>> from gluon_params_kit._io.formats import open_checkpoint
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.safetensors')
    >>> save_file({'w': np.arange(3, dtype=np.int64)}, f)
    >>> out = np.empty(3, np.int64)
    >>> with open_checkpoint(f) as (h, src):
    ...     read_into(src, h, 'w', out.view(np.uint8))
    >>> out.tolist()
    [0, 1, 2]
    """
    info = header[name]
    view = memoryview(out).cast("B")
    if len(view) != info.nbytes:
        raise CheckpointError(f"cannot read tensor {name!r} of {header.path!r} into {len(view)} "
                              f"bytes: it holds {info.nbytes}")
    if len(view):
        src.readinto(info.offset, view, repr(name))
    if sys.byteorder != "little":  # stored little-endian: swapped where it lies
        dt = onp.dtype("<u2") if info.dtype == "bfloat16" else numpy_dtype(info.dtype).newbyteorder("<")
        if dt.itemsize > 1:
            onp.frombuffer(view, dtype=dt).byteswap(inplace=True)
