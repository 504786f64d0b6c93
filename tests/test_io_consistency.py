"""One version of a file per call, CRC checks, bounded streaming, np mode and linear checks (issue 32).

- A checkpoint replaced (by rename) or cut short while a call reads it gives the old
  version entirely, the new one entirely, or a CheckpointError that says it changed: a
  swap forced between the header read and the value read (every reader), then a replacer
  process renaming two versions over the path while loads, diffs and exports run.
- Every ``.npz`` member read is CRC-checked; a damaged one is refused by every reader.
- Sparse arrays and Fortran-order members stream in C order piece by piece; a dense size
  the file's bytes do not justify needs ``allow_expand=True``.
- ``convert`` to ``.params`` writes the array mode asked for (np mode by default when it
  runs), which np-mode ``load_parameters`` reads.
- Duplicate checks are linear: time at 20k keys over time at 5k keys stays far below 16.
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile

import mxnet as mx
import numpy as onp
import pytest
from mxnet.gluon import nn
from safetensors.numpy import save_file

import gluon_params_kit as gpk
from gluon_params_kit._core.file_stats import file_stats
from gluon_params_kit._io import formats as _formats
from gluon_params_kit._io import params as _params
from gluon_params_kit._io.formats import iter_values, read_header, read_host
from gluon_params_kit._io.header import DataFile
from gluon_params_kit.checkpoint import _convert, convert, diff, export_npz, load
from gluon_params_kit.errors import CheckpointError

KEYS = ["0.weight", "0.bias", "1.weight", "1.bias"]
SHAPES = {"0.weight": (4, 4), "0.bias": (4,), "1.weight": (4, 4), "1.bias": (4,)}
CHANGED = "changed while reading"


def _value(version: int, key: str) -> float:
    """Version 1 (A) or 2 (B); each layer's values differ, so a misassigned one shows."""
    return version + 10 * KEYS.index(key)


def _arrays(version: int):
    order = KEYS if version == 1 else KEYS[::-1]  # B stores its layers in the other order
    return {k: onp.full(SHAPES[k], _value(version, k), "float32") for k in order}


def _write(path, version: int) -> None:
    arrays = _arrays(version)
    path = str(path)
    if path.endswith(".npz"):
        with open(path, "wb") as f:
            onp.savez(f, **arrays)
    elif path.endswith(".safetensors"):
        save_file(arrays, path)
    else:
        mx.nd.save(path, {k: mx.nd.array(v) for k, v in arrays.items()})


def _version_of(values) -> int:
    """The one version all ``key -> array`` values come from, or an AssertionError (mixed)."""
    seen = {k: float(onp.asarray(v).reshape(-1)[0]) for k, v in values.items()}
    versions = {int(seen[k] - 10 * KEYS.index(k)) for k in KEYS}
    assert len(versions) == 1 and versions <= {1, 2}, f"mixed or misassigned values: {seen}"
    (version,) = versions
    for k in KEYS:
        assert onp.all(onp.asarray(values[k]) == _value(version, k)), f"{k} mixed: {values[k]}"
    return version


def _net():
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=4, bias_initializer=mx.init.Constant(-1.0)),
            nn.Dense(4, in_units=4, bias_initializer=mx.init.Constant(-1.0)))
    net.initialize(mx.init.Constant(-1.0))
    return net


def _net_values(net):
    return {k: p.data().asnumpy() for k, p in gpk.named_parameters(net).items()}


def _untouched(net) -> bool:
    return all(onp.all(v == -1.0) for v in _net_values(net).values())


# --------------------------------------------------------------------------- a forced swap

@pytest.fixture(params=["params", "npz", "safetensors"])
def two_versions(request, tmp_path):
    """(path holding A, a file holding B of the same format, ready to be renamed over it)."""
    path, other = tmp_path / f"ck.{request.param}", tmp_path / f"next.{request.param}"
    _write(path, 1)
    _write(other, 2)
    return path, other


def _swap_on_reopen(monkeypatch, path, other):
    """Rename ``other`` over ``path`` just before the first value re-open of ``path``."""
    real = DataFile.open.__func__
    done = []

    def opening(cls, where):
        if not done:
            done.append(1)
            os.replace(other, path)
        return real(cls, where)
    monkeypatch.setattr(DataFile, "open", classmethod(opening))


def test_a_swap_between_header_and_values_is_an_error_and_the_net_is_unchanged(two_versions, monkeypatch):
    path, other = two_versions
    net = _net()
    header = gpk.read_header(path)  # what load's checks are made against
    assert header.names  # read: version A's header

    _swap_on_reopen(monkeypatch, path, other)
    with pytest.raises(CheckpointError, match=CHANGED):
        load(net, path)  # load reads the header itself, then re-opens for the values
    assert _untouched(net)


def test_load_from_a_header_reads_that_version_or_refuses(two_versions):
    path, other = two_versions
    header = gpk.read_header(path)
    net = _net()
    assert load(net, header).loaded  # the header's own version: loads
    other_format = "npz" if header.format != "npz" else "params"
    with pytest.raises(CheckpointError, match=f"format='{other_format}' but the header given as path "
                                              f"is of a '{header.format}' file"):
        load(_net(), header, format=other_format)
    os.replace(other, path)  # a new version renamed over the file the header describes
    fresh = _net()
    with pytest.raises(CheckpointError, match=CHANGED):
        load(fresh, header)
    assert _untouched(fresh)


@pytest.mark.parametrize("reader", ["read_host", "file_stats", "iter_values"])
def test_header_then_values_from_a_swapped_file_is_an_error(two_versions, monkeypatch, reader):
    path, other = two_versions
    header = read_header(path)
    _swap_on_reopen(monkeypatch, path, other)
    with pytest.raises(CheckpointError, match=CHANGED):
        if reader == "read_host":
            read_host(header)
        elif reader == "file_stats":
            file_stats(header, header["1.weight"])
        else:
            list(iter_values(header, header["1.weight"]))


def _swap_on_first_value_read(monkeypatch, path, other, how):
    """Rename ``other`` over ``path`` (or cut ``path`` short) at the first value read of a
    call that holds the file open (header already read from it)."""
    real = DataFile.readinto
    done = []

    def reading(self, offset, out, what=""):
        if not done:
            done.append(1)
            if how == "rename":
                os.replace(other, path)
            else:
                os.truncate(path, offset + 2)
        return real(self, offset, out, what)
    monkeypatch.setattr(DataFile, "readinto", reading)
    real_runs = _convert._read_runs  # a load's batched reads of .safetensors tensors

    def reading_runs(src, reads):
        if not done and reads:
            done.append(1)
            if how == "rename":
                os.replace(other, path)
            else:
                os.truncate(path, min(offset for offset, _v, _w in reads) + 2)
        return real_runs(src, reads)
    monkeypatch.setattr(_convert, "_read_runs", reading_runs)


@pytest.mark.parametrize("how", ["rename", "truncate"])
@pytest.mark.parametrize("call", ["load", "diff", "export", "convert"])
def test_a_swap_while_values_are_read_gives_the_old_version_or_an_error(two_versions, tmp_path,
                                                                        monkeypatch, how, call):
    path, other = two_versions
    net = _net()
    out = tmp_path / ("out.safetensors" if call == "convert" else "out.npz")
    _swap_on_first_value_read(monkeypatch, path, other, how)
    try:
        if call == "load":
            load(net, path)
            got = _net_values(net)
        elif call == "diff":
            report = diff(path, path)
            assert report.same  # one version on both sides
            got = None
        elif call == "export":
            export_npz(path, out)
            with onp.load(out, allow_pickle=False) as z:
                got = {k: z[k] for k in z.files}
        else:
            convert(path, out)
            got = read_host(read_header(out))
    except CheckpointError as exc:
        assert how == "truncate" and CHANGED in str(exc), exc
        assert _untouched(net) and not out.exists()
        return
    assert how == "rename", "a file cut short must not read as a success"
    if got is not None:
        assert _version_of(got) == 1  # the version whose header was read, whole


# --------------------------------------------------------------------------- a replacer process

REPLACER = r"""
import os, shutil, sys
path, a, b, stop = sys.argv[1:]
i = 0
while not os.path.exists(stop):
    tmp = path + ".tmp%d" % (i % 2)
    shutil.copyfile(a if i % 2 == 0 else b, tmp)
    os.replace(tmp, path)
    i += 1
print(i)
"""


@pytest.mark.parametrize("fmt", ["params", "npz", "safetensors"])
def test_loads_diffs_and_exports_under_a_replacer_are_never_mixed(tmp_path, fmt):
    path, a, b, stop = (tmp_path / f"ck.{fmt}", tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}",
                        tmp_path / "stop")
    _write(a, 1)
    _write(b, 2)
    _write(path, 1)
    script = tmp_path / "replacer.py"
    script.write_text(REPLACER)
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(a), str(b), str(stop)],
                            stdout=subprocess.PIPE, text=True)
    outcomes = {"ok": 0, "changed": 0, "versions": set()}
    out = tmp_path / "out.npz"
    net = _net()
    # each format: at most 3 s of calls (GPK_RACE_SECONDS and GPK_RACE_TRIES for a longer run)
    deadline = time.monotonic() + float(os.environ.get("GPK_RACE_SECONDS", 3.0))
    most = int(os.environ.get("GPK_RACE_TRIES", 210))
    tries = 0
    try:
        while tries < most and time.monotonic() < deadline:
            call = tries % 3
            tries += 1
            try:
                if call == 0:
                    load(net, path)
                    outcomes["versions"].add(_version_of(_net_values(net)))
                elif call == 1:
                    report = diff(path, path)
                    assert report.same, f"diff(f, f) found differences: {report.changed}"
                else:
                    export_npz(path, out, fsync=False)
                    with onp.load(out, allow_pickle=False) as z:  # numpy reads it, one version
                        outcomes["versions"].add(_version_of({k: z[k] for k in z.files}))
                outcomes["ok"] += 1
            except CheckpointError as exc:
                assert CHANGED in str(exc) or "not a valid" in str(exc) or "cannot" in str(exc), exc
                outcomes["changed"] += 1
    finally:
        stop.write_text("")
        swaps = int(proc.communicate(timeout=30)[0] or 0)
    print(f"\n{fmt}: {tries} calls, {outcomes['ok']} whole, {outcomes['changed']} refused "
          f"(changed), 0 mixed; {swaps} replacements")
    assert swaps > 10 and outcomes["ok"] > 0


# --------------------------------------------------------------------------- CRC

def _damaged_npz(tmp_path, compressed: bool):
    """An .npz whose member 'w' has one data byte changed (its CRC no longer matches)."""
    path = tmp_path / ("deflated.npz" if compressed else "stored.npz")
    w = onp.arange(4096, dtype="float32").reshape(64, 64)
    (onp.savez_compressed if compressed else onp.savez)(path, w=w, b=onp.ones(3, "float32"))
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("w.npy")
    raw = bytearray(path.read_bytes())
    local = struct.unpack("<IHHHHHIIIHH", raw[info.header_offset:info.header_offset + 30])
    start = info.header_offset + 30 + local[9] + local[10]
    raw[start + info.compress_size - 9] ^= 0x10  # inside the data, away from the .npy header
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("compressed", [False, True])
def test_a_damaged_member_is_refused_by_every_reader(tmp_path, compressed):
    path = _damaged_npz(tmp_path, compressed)
    header = read_header(path)
    damaged = r"w\.npy.*(damaged|CRC|Error)"
    with pytest.raises(CheckpointError, match=damaged):
        read_host(header)
    with pytest.raises(CheckpointError, match=damaged):
        diff(path, {"w": onp.zeros((64, 64), "float32"), "b": onp.ones(3, "float32")})
    with pytest.raises(CheckpointError, match=damaged):
        file_stats(header, header["w"])
    with pytest.raises(CheckpointError, match=damaged):
        convert(path, tmp_path / "c.safetensors")
    out = tmp_path / "e.npz"
    with pytest.raises(CheckpointError, match=damaged):
        export_npz(path, out)  # never wrapped again under a fresh CRC
    assert not out.exists() and not (tmp_path / "c.safetensors").exists()
    net = nn.Dense(64, in_units=64, use_bias=False)
    net.initialize(mx.init.Constant(-1.0))
    with pytest.raises(CheckpointError, match=damaged):
        load(net, path, remap={"w": "weight", "b": None})
    assert onp.all(net.weight.data().asnumpy() == -1.0)
    assert str(path) in str(pytest.raises(CheckpointError, read_host, header).value)


# --------------------------------------------------------------------------- sparse and Fortran

def _sparse_file(tmp_path):
    path = tmp_path / "sparse.params"
    rs = mx.nd.sparse.row_sparse_array((onp.arange(15.0).reshape(3, 5), [1, 4, 6]), shape=(8, 5))
    cs = mx.nd.sparse.csr_matrix((onp.array([1.0, 2, 3, 4]), onp.array([0, 3, 1, 4]),
                                  onp.array([0, 2, 2, 4, 4])), shape=(4, 6))
    mx.nd.save(str(path), {"rs": rs, "cs": cs, "none": mx.nd.sparse.zeros("row_sparse", (5, 3))})
    return path, {"rs": rs.asnumpy(), "cs": cs.asnumpy(), "none": onp.zeros((5, 3), "float32")}


@pytest.mark.parametrize("chunk", [1, 3, 7, 100])
def test_sparse_arrays_stream_dense_in_pieces(tmp_path, chunk):
    path, dense = _sparse_file(tmp_path)
    header = read_header(path)
    for name, want in dense.items():
        pieces = list(p.copy() for p in iter_values(header, header[name], chunk))
        assert all(p.size <= chunk for p in pieces)
        assert onp.array_equal(onp.concatenate(pieces), want.reshape(-1)), name
    assert diff(path, dense).same
    export_npz(path, tmp_path / "s.npz")
    with onp.load(tmp_path / "s.npz") as z:
        assert all(onp.array_equal(z[k], v) for k, v in dense.items())
    st = file_stats(header, header["rs"])
    assert (st.min, st.max, st.size) == (0.0, 14.0, 40)


def test_fortran_members_come_in_c_order_piece_by_piece(tmp_path, monkeypatch):
    rng = onp.random.default_rng(0)
    w = onp.asfortranarray(rng.standard_normal((30, 7, 5)).astype("float32"))
    m = onp.asfortranarray(rng.standard_normal((9, 11)))
    for compress in (False, True):
        path = tmp_path / f"f{int(compress)}.npz"
        (onp.savez_compressed if compress else onp.savez)(path, w=w, m=m)
        header = read_header(path)
        assert header["w"].fortran_order
        for block in (1 << 22, 40, 7):  # one tile; tiles read by runs; by passes
            monkeypatch.setattr(_formats, "FORTRAN_BLOCK", block)
            for name, want in (("w", w), ("m", m)):
                got = onp.concatenate([p.copy() for p in iter_values(header, header[name], 13)])
                assert onp.array_equal(got, onp.ascontiguousarray(want).reshape(-1)), (name, block)
        assert diff(path, {"w": onp.ascontiguousarray(w), "m": onp.ascontiguousarray(m)}).same
        export_npz(path, tmp_path / "e.npz")  # written in Fortran order, bytes as they are
        with onp.load(tmp_path / "e.npz") as z:
            assert onp.array_equal(z["w"], w) and onp.array_equal(z["m"], m)
        convert(path, tmp_path / "c.safetensors")
        assert onp.array_equal(read_host(read_header(tmp_path / "c.safetensors"))["w"], w)


def _claiming_file(tmp_path, shape, name="big.params"):
    """A .params file whose row_sparse array stores no row but claims ``shape``."""
    path = tmp_path / name
    mx.nd.save(str(path), {"w": mx.nd.sparse.zeros("row_sparse", shape)})
    return path


def test_a_claimed_dense_size_the_file_does_not_hold_needs_an_opt_in(tmp_path):
    path = _claiming_file(tmp_path, (16384, 16384))
    assert path.stat().st_size < 200  # the 117-byte file: 1 GiB claimed
    header = read_header(path)
    opt_in = r"claims 1,073,741,824 dense bytes from \d+ stored bytes.*allow_expand=True"
    with pytest.raises(CheckpointError, match=opt_in):
        export_npz(path, tmp_path / "e.npz")
    with pytest.raises(CheckpointError, match=opt_in):
        diff(path, path)
    with pytest.raises(CheckpointError, match=opt_in):
        file_stats(header, header["w"])
    with pytest.raises(CheckpointError, match=opt_in):
        convert(path, tmp_path / "c.npz")
    assert not (tmp_path / "e.npz").exists()


def test_an_allowed_expansion_streams_in_bounded_memory(tmp_path):
    path = tmp_path / "rows.params"
    rows = mx.nd.sparse.row_sparse_array((onp.ones((2, 8192), "float32"), [3, 4000]), shape=(4096, 8192))
    mx.nd.save(str(path), {"w": rows})  # 128 MiB dense from 64 KiB
    with pytest.raises(CheckpointError, match="allow_expand"):
        export_npz(path, tmp_path / "e.npz")
    tracemalloc.start()
    try:
        export_npz(path, tmp_path / "e.npz", allow_expand=True, fsync=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, f"peak {peak} bytes"
    with onp.load(tmp_path / "e.npz", mmap_mode=None) as z:
        w = z["w"]
        assert w.shape == (4096, 8192) and w[3].sum() == 8192 and w.sum() == 2 * 8192


def _bomb(path, shape):
    """An .npz of one deflated Fortran-order float32 member of zeros, written by hand (the
    deflate stream is one block of zeros repeated after full flushes: cheap to build)."""
    import zlib
    head = onp.lib.format._wrap_header(  # what numpy writes for this member
        repr({"descr": "<f4", "fortran_order": True, "shape": shape}), (1, 0))
    nbytes = 4 * shape[0] * shape[1]
    block = 1 << 22
    assert nbytes % block == 0
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(head) + comp.flush(zlib.Z_FULL_FLUSH)
    zeros = comp.compress(bytes(block)) + comp.flush(zlib.Z_FULL_FLUSH)
    data = first + zeros * (nbytes // block) + comp.flush()
    crc = zlib.crc32(head)
    for _ in range(nbytes // block):
        crc = zlib.crc32(bytes(block), crc)
    name = b"w.npy"
    size = len(head) + nbytes
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(data), size,
                          len(name), 0, 0, 0, 0, 0, 0)
    body = local + name + data
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(name), len(body), 0)
    path.write_bytes(body + central + name + end)
    return path


def test_a_zip_bomb_with_a_fortran_member_is_refused(tmp_path):
    path = _bomb(tmp_path / "bomb.npz", (16384, 16384))  # 1 GiB of zeros in about 1 MB
    assert path.stat().st_size < 2 << 20
    header = read_header(path)
    assert header["w"].fortran_order and header["w"].nbytes == 1 << 30
    opt_in = r"deflated array 'w'.*claims 1,073,741,824 dense bytes.*allow_expand=True"
    for call in (lambda: export_npz(path, tmp_path / "e.npz"), lambda: diff(path, path),
                 lambda: file_stats(header, header["w"]),
                 lambda: convert(path, tmp_path / "c.safetensors")):
        with pytest.raises(CheckpointError, match=opt_in):
            call()
    assert not (tmp_path / "e.npz").exists()


def test_an_allowed_deflated_fortran_member_streams_in_bounded_memory(tmp_path, monkeypatch):
    from gluon_params_kit._io import header as _header
    monkeypatch.setattr(_header, "EXPAND_FLOOR", 4 << 20)  # a small bomb, to stay fast
    monkeypatch.setattr(_formats, "FORTRAN_BLOCK", 1 << 18)  # tiles of 1 MiB
    path = _bomb(tmp_path / "bomb.npz", (2048, 4096))  # 32 MiB claimed
    header = read_header(path)
    with pytest.raises(CheckpointError, match="allow_expand=True"):
        file_stats(header, header["w"])
    tracemalloc.start()
    try:  # opted in: inflated piece by piece, rows put in C order by tiles
        st = file_stats(header, header["w"], allow_expand=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (st.min, st.max, st.size) == (0.0, 0.0, 2048 * 4096)
    assert peak < 24 << 20, f"peak {peak} bytes (the array: 32 MiB)"


# --------------------------------------------------------------------------- np mode

def _first_magic(path) -> int:
    return struct.unpack_from("<I", open(path, "rb").read(), 24)[0]


def test_np_mode_survives_params_npz_params(tmp_path):
    mx.npx.set_np()
    try:
        net = nn.Dense(3, in_units=2)
        net.initialize()
        net.save_parameters(str(tmp_path / "a.params"))
        assert _first_magic(tmp_path / "a.params") == _params.V3_MAGIC
        first = convert(tmp_path / "a.params", tmp_path / "a.npz")
        assert first.np_mode is None and first.format == "npz"
        back = convert(tmp_path / "a.npz", tmp_path / "b.params")  # default: the running mode
        assert back.np_mode is True and _first_magic(tmp_path / "b.params") == _params.V3_MAGIC
        other = nn.Dense(3, in_units=2)
        other.load_parameters(str(tmp_path / "b.params"))  # np-mode Gluon reads it
        assert onp.array_equal(other.weight.data().asnumpy(), net.weight.data().asnumpy())
        nd = convert(tmp_path / "a.npz", tmp_path / "c.params", np_mode=False)
        assert nd.np_mode is False and _first_magic(tmp_path / "c.params") == _params.V2_MAGIC
    finally:
        mx.npx.reset_np()
    # outside np mode the default is nd, unless the source records np
    assert convert(tmp_path / "a.npz", tmp_path / "d.params").np_mode is False
    assert convert(tmp_path / "a.params", tmp_path / "e.params").np_mode is True
    kit = tmp_path / "k.safetensors"
    assert convert(tmp_path / "a.params", kit).np_mode is True
    assert read_header(kit).metadata["mxnet.mode"] == "np"
    assert convert(kit, tmp_path / "f.params").np_mode is True
    onp.savez(tmp_path / "z.npz", s=onp.float32(2.0))
    with pytest.raises(CheckpointError, match="np_mode=False cannot write .* 0-d"):
        convert(tmp_path / "z.npz", tmp_path / "g.params", np_mode=False)
    assert convert(tmp_path / "z.npz", tmp_path / "g.params").np_mode is True


# --------------------------------------------------------------------------- linear checks

def _best(fn, runs=3) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def test_header_diff_and_convert_grow_linearly_with_the_key_count(tmp_path):
    """At 20k keys over 5k keys: 4x for a linear check, 16x for a quadratic one."""
    ratios = {}
    timings = {}
    for n in (5000, 20000):
        arrays = {f"layer{i}.weight": onp.full((2,), i, "float32") for i in range(n)}
        st, pa = tmp_path / f"k{n}.safetensors", tmp_path / f"k{n}.params"
        save_file(arrays, str(st))
        with open(pa, "wb") as f:  # what nd.save writes, without 2 x 10^4 NDArrays
            for piece in _params.dense_pieces([(k, (2,), 1, 0, "float32", v) for k, v in arrays.items()]):
                f.write(piece)
        timings[n] = dict(
            header_safetensors=_best(lambda: read_header(st)),
            header_params=_best(lambda: read_header(pa)),
            diff=_best(lambda: diff(st, pa), 2),
            convert=_best(lambda: convert(pa, tmp_path / f"o{n}.safetensors"), 2))
    for what in timings[5000]:
        ratios[what] = timings[20000][what] / max(timings[5000][what], 1e-3)
    print("\n20k/5k keys:", {k: round(v, 1) for k, v in ratios.items()})
    assert all(r < 8 for r in ratios.values()), ratios


# --------------------------------------------------------------------------- the kit's own reader

def test_load_values_are_what_nd_load_gives_sparse_and_np_shape_too(tmp_path):
    from gluon_params_kit.checkpoint._convert import read_for_load
    bf16 = onp.dtype([("bfloat16", onp.uint16)])
    files = {"dense.params": {"w": mx.nd.array(onp.random.default_rng(1).standard_normal((3, 4))),
                              "i": mx.nd.array([1, 2], dtype="int64"), "b": mx.nd.array([1, 0], dtype="bool"),
                              "bf": mx.nd.ones((2, 3)).astype(bf16)},
             "sparse.params": _sparse_file(tmp_path)[0]}
    mx.nd.save(str(tmp_path / "dense.params"), files["dense.params"])
    mx.npx.set_np()
    try:
        mx.npx.save(str(tmp_path / "np.params"), {"s": mx.np.array(3.0), "z": mx.np.zeros((0, 3)),
                                                   "w": mx.np.ones((2, 2))})
    finally:
        mx.npx.reset_np()
    for name in ("dense.params", "sparse.params", "np.params"):
        header = read_header(tmp_path / name)
        with mx.util.np_shape(header.np_shape):
            want = mx.nd.load(str(tmp_path / name))
            got = read_for_load(header)
            assert list(got) == list(want)
            for key, w in want.items():
                g = got[key]
                assert (type(g), g.stype, g.dtype, g.shape) == (type(w), w.stype, w.dtype, w.shape), key
                assert g.asnumpy().tobytes() == w.asnumpy().tobytes(), key
                if w.stype != "default":
                    assert onp.array_equal(g.indices.asnumpy(), w.indices.asnumpy())


def test_big_endian_members_read_in_native_order(tmp_path):
    w = onp.arange(12, dtype=">f8").reshape(3, 4)
    v = onp.asfortranarray(onp.arange(6, dtype=">i4").reshape(2, 3))
    path = tmp_path / "be.npz"
    onp.savez(path, w=w, v=v)
    header = read_header(path)
    assert header["w"].big_endian and header["w"].dtype == "float64"
    got = read_host(header)
    assert got["w"].tolist() == w.tolist() and got["v"].tolist() == v.tolist()
    assert onp.concatenate(list(iter_values(header, header["v"]))).tolist() == list(range(6))
    export_npz(path, tmp_path / "e.npz")
    with onp.load(tmp_path / "e.npz") as z:
        assert z["w"].tolist() == w.tolist() and z["v"].tolist() == v.tolist()
    assert diff(path, {"w": w.astype("<f8"), "v": onp.ascontiguousarray(v).astype("<i4")}).same
    assert file_stats(header, header["w"]).max == 11.0


def test_values_read_without_positional_reads(tmp_path, monkeypatch):
    """Where os has no pread (Windows), the open file is read by seek and read."""
    path = tmp_path / "a.params"
    _write(path, 1)
    monkeypatch.delattr(os, "preadv", raising=False)
    monkeypatch.delattr(os, "pread", raising=False)
    assert _version_of(read_host(read_header(path))) == 1
    assert diff(path, path).same
