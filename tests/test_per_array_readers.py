"""The per-array fast paths (issue 33) give exactly what the checking paths give.

- ``.params``: records and names read from a window of the file by ``unpack_from``; any
  record or name that does not fit the common form is read again by the checking reader,
  so a damaged file gets the same message (compared here on every truncation and on
  bit flips against the checking reader alone).
- ``.safetensors``: a long header parsed a piece at a time (``_in_pieces``) gives the
  header the whole parse gives, and the same error where the whole parse refuses it.
- ``diff``: small arrays of one stored dtype gathered by a few numpy calls (in file order
  or not, across gaps, split into several reads, one array twice through a tied alias)
  give the per-array answers.
"""
import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import json
import random
import struct

import mxnet as mx
import numpy as onp
import pytest

from gluon_params_kit._io import params as _params
from gluon_params_kit._io import safetensors_file as _st
from gluon_params_kit.checkpoint import _diff, diff, read_header
from gluon_params_kit.errors import CheckpointError

pytest.importorskip("safetensors")
from safetensors.numpy import save_file  # noqa: E402


def _outcome(path):
    try:
        h = _params.read_header(path)
        return "ok", h.named, h.file_size, h.arrays, h.names
    except CheckpointError as exc:
        return "error", str(exc)


def _checking_only(monkeypatch):
    """The reader with its fast paths off: every record and name by the checking reader."""
    monkeypatch.setattr(_params, "_read_arrays", lambda r, n: [_params._read_array(r, i) for i in range(n)])
    monkeypatch.setattr(_params, "_read_names", lambda r, n: [_params._read_name(r, i) for i in range(n)])


def _params_file(path):
    mx.nd.save(str(path), {
        "w": mx.nd.ones((2, 3)), "h": mx.nd.ones((3,), dtype="float16"), "i": mx.nd.ones((1, 1, 2), dtype="int64"),
        "rs": mx.nd.sparse.row_sparse_array((onp.ones((2, 3)), [0, 2]), shape=(4, 3)),
        "csr": mx.nd.sparse.csr_matrix(onp.eye(3)), "名": mx.nd.zeros((2,))})
    return path.read_bytes()


def test_params_fast_reader_matches_the_checking_reader_on_damaged_files(tmp_path, monkeypatch):
    raw = _params_file(tmp_path / "a.params")
    rng = random.Random(0)
    cases = [raw[:k] for k in range(len(raw) + 1)]
    for _ in range(600):
        b = bytearray(raw)
        k = rng.randrange(len(b))
        b[k] = rng.choice([b[k] ^ (1 << rng.randrange(8)), 0, 0xFF, 0x80, 1, 12, 33])
        cases.append(bytes(b))
    case = tmp_path / "case.params"
    fast = []
    for c in cases:
        case.write_bytes(c)
        fast.append(_outcome(case))
    _checking_only(monkeypatch)
    checked = []
    for c in cases:
        case.write_bytes(c)
        checked.append(_outcome(case))
    assert fast == checked
    assert sum(o[0] == "ok" for o in fast) > 50 and sum(o[0] == "error" for o in fast) > 500
    assert fast[0] == ("error", f"{str(case)!r} is not a valid MXNet .params file: the file is too short "
                                f"to hold the 16-byte list header (at byte 0 of 0)")


def test_params_window_across_large_arrays(tmp_path, monkeypatch):
    """Records far apart (1 MiB arrays between small ones) and close together: the same
    header as the checking reader, and offsets that hold the values."""
    arrays = {}
    for i in range(300):
        arrays[f"s{i}"] = mx.nd.full((i % 5 + 1,), i)
        if i % 100 == 0:
            arrays[f"big{i}"] = mx.nd.full((300, 1000), -i)
    f = tmp_path / "w.params"
    mx.nd.save(str(f), arrays)
    fast = _params.read_header(f)
    _checking_only(monkeypatch)
    assert fast.arrays == _params.read_header(f).arrays
    raw = f.read_bytes()
    for name in ("s0", "s299", "big200"):
        info = fast[name]
        got = onp.frombuffer(raw, "float32", info.size, info.offset)
        assert (got == arrays[name].asnumpy().reshape(-1)).all()


def _long_header(tmp_path, n=1500, metadata=None):
    arrays = {f"t{i}.{'},' if i % 7 == 0 else ''}w": onp.full(i % 3 + 1, i, ["float32", "int64"][i % 2])
              for i in range(n)}
    f = tmp_path / "long.safetensors"
    save_file(arrays, str(f), metadata=metadata)
    return f


def _with_header(path, text):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    head = text.encode()
    path.write_bytes(struct.pack("<Q", len(head)) + head + raw[8 + n:])


def _both(monkeypatch, path):
    """(header or error text) parsed whole, then in pieces."""
    out = []
    for pieces_from in (1 << 60, 1 << 12):
        monkeypatch.setattr(_st, "_PIECES_FROM", pieces_from)
        monkeypatch.setattr(_st, "_PIECE", 1 << 10)
        try:
            h = read_header(path)
            out.append((h.arrays, h.metadata, h.ordered, h.np_shape))
        except CheckpointError as exc:
            out.append(str(exc))
    return out


def test_safetensors_in_pieces_is_the_whole_parse(tmp_path, monkeypatch):
    f = _long_header(tmp_path, metadata={"format": "mxnet", "a},": "b},"})
    text = f.read_bytes()[8:8 + struct.unpack("<Q", f.read_bytes()[:8])[0]].decode()
    monkeypatch.setattr(_st, "_PIECES_FROM", 1 << 12)
    monkeypatch.setattr(_st, "_PIECE", 1 << 10)
    assert _st._in_pieces(str(f), text) is not None  # the pieces path is taken
    whole, pieces = _both(monkeypatch, f)
    assert whole == pieces and len(whole[0]) == 1500 and whole[1]["a},"] == "b},"


def test_safetensors_in_pieces_refuses_what_the_whole_parse_refuses(tmp_path, monkeypatch):
    """A key repeated in another piece, a nested object, a bad entry in a late piece,
    bad metadata at the end: the outcome (and message) of the whole parse."""
    f = _long_header(tmp_path)
    text = f.read_bytes()[8:8 + struct.unpack("<Q", f.read_bytes()[:8])[0]].decode().rstrip()
    doc = json.loads(text)
    first = next(iter(doc))
    repeated = text[:-1] + f',"{first}":' + json.dumps(doc[first], separators=(",", ":")) + "}"
    nested = text.replace('"t9.w":{', '"t9.w":{"x":{"y":[1]},', 1)
    bad_entry = text.replace('"t1401.w":{"dtype":"I64"', '"t1401.w":{"dtype":"I65"', 1)
    metadata_last = text[:-1] + ',"__metadata__":{"k":1}}'
    outcomes = []
    for changed in (repeated, nested, bad_entry, metadata_last):
        _with_header(f, changed)
        whole, pieces = _both(monkeypatch, f)
        assert whole == pieces
        outcomes.append(whole)
    assert "repeated keys" in outcomes[0] and "unknown dtype 'I65'" in outcomes[2]
    assert len(outcomes[1][0]) == 1500  # an entry's unknown field is left alone, as the library does
    assert "__metadata__ is not a map of strings" in outcomes[3]


def _reference(a, b, key):
    x, y = a[key].astype("f8").reshape(-1), b[key].astype("f8").reshape(-1)
    d = x - y
    return float(abs(d).max()), float(onp.linalg.norm(d) / onp.linalg.norm(x))


@pytest.mark.parametrize("gap, span", [(1 << 16, 1 << 23), (0, 1 << 23), (1 << 16, 200)])
def test_diff_gathers_small_arrays_across_gaps_orders_and_reads(tmp_path, monkeypatch, gap, span):
    """.params vs .params: records between the values (gaps), b's arrays in another order
    (a gather, not one copy), reads cut by gap and span limits: the per-array answers."""
    monkeypatch.setattr(_diff, "_GAP", gap)
    monkeypatch.setattr(_diff, "_SPAN", span)
    gathered = []
    real = _diff._gather
    monkeypatch.setattr(_diff, "_gather", lambda *args: gathered.append(real(*args)) or gathered[-1])
    rng = onp.random.default_rng(5)
    a = {f"k{i}": rng.standard_normal(int(rng.integers(1, 40))).astype("float32") for i in range(400)}
    b = {k: v + (1.5 if i % 4 == 0 else 0) for i, (k, v) in enumerate(a.items())}
    mx.nd.save(str(tmp_path / "a.params"), {k: mx.nd.array(v) for k, v in a.items()})
    keys = list(b)
    rng.shuffle(keys)
    mx.nd.save(str(tmp_path / "b.params"), {k: mx.nd.array(b[k]) for k in keys})
    report = diff(tmp_path / "a.params", tmp_path / "b.params")
    for i, key in enumerate(a):
        max_abs, rel = _reference(a, b, key)
        assert report[key]["max_abs"] == max_abs
        assert report[key]["rel_l2"] == pytest.approx(rel, rel=1e-9, abs=1e-12)
        assert report[key]["status"] == ("changed" if i % 4 == 0 else "same")
    assert gathered and all(gathered)  # every batch of either file went through the gather


def test_diff_one_array_twice_through_a_tied_alias(tmp_path, monkeypatch):
    """A file whose tied alias names a stored array: both keys compared from the one array."""
    from gluon_params_kit._io.safetensors_file import kit_metadata
    w = onp.arange(6, dtype="float32")
    meta = kit_metadata(["w", "v"], {"w_alias": "w"}, np_mode=False)
    save_file({"w": w, "v": w * 2}, str(tmp_path / "a.safetensors"), metadata=meta)
    other = {"w": w, "w_alias": w + 1, "v": w * 2}
    gathered = []
    real = _diff._gather
    monkeypatch.setattr(_diff, "_gather", lambda *args: gathered.append(real(*args)) or gathered[-1])
    report = diff(tmp_path / "a.safetensors", other)
    assert gathered == [True]
    assert [report[k]["status"] for k in ("w", "v", "w_alias")] == ["same", "same", "changed"]
    assert report["w_alias"]["max_abs"] == 1.0
