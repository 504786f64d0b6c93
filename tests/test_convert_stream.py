"""convert streams file -> file: ``.params`` written byte for byte as ``mx.nd.save`` writes
the arrays ``mx.nd.load`` reads (no mxnet needed to write it), bounded memory, constant
work per array, a progress bar naming the file on big inputs."""
import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import json
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as onp
import pytest

import gluon_params_kit as gpk
from gluon_params_kit._core import display
from gluon_params_kit._io.header import BFLOAT16
from gluon_params_kit.checkpoint import convert, read_header
from gluon_params_kit.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[1]
DTYPES = ["float16", "float32", "float64", "uint8", "int8", "int32", "int64"]


def _nd_arrays():
    rs = onp.random.RandomState(0)
    out = {f"a.{d}": mx.nd.array((rs.uniform(-50, 50, (3, 4))).astype(d), dtype=d) for d in DTYPES}
    out["a.bf16"] = mx.nd.array(rs.uniform(-2, 2, (5,)).astype("float32")).astype(BFLOAT16)
    out["big"] = mx.nd.array(rs.standard_normal((1100, 1000)).astype("float32"))  # half the sink's buffer
    out["huge"] = mx.nd.array(rs.standard_normal((2, 1 << 21)).astype("float32"))  # 16 MiB: the kernel's copy
    return out


def _saved(path, arrays, np_shape=False):
    """What mx.nd.save writes for ``arrays`` (in nd or np shape mode): its bytes."""
    with mx.util.np_shape(np_shape):
        mx.nd.save(str(path), arrays)
    return Path(path).read_bytes()


def _resaved(path, tmp_path, np_shape=False):
    """mx.nd.save(mx.nd.load(path)) in the given mode (loaded in the file's): the bytes the
    kit must write."""
    with mx.util.np_shape(read_header(path).np_shape):
        loaded = mx.nd.load(str(path))
    return _saved(tmp_path / "oracle.params", loaded, np_shape)


@pytest.mark.parametrize("via", [".safetensors", ".npz", ".params"])
def test_params_written_bit_identical_to_mx_nd_save(tmp_path, via):
    src = tmp_path / "src.params"
    want = _saved(src, _nd_arrays())
    mid = tmp_path / ("mid" + via)
    convert(src, mid)
    back = tmp_path / "back.params"
    done = convert(mid, back)
    assert done.np_mode is False and done.format == "params"
    assert back.read_bytes() == want
    assert (tmp_path / "back.params").read_bytes() == _resaved(back, tmp_path)


def test_params_from_a_plain_npz_is_what_mx_nd_save_writes(tmp_path):
    rs = onp.random.RandomState(1)
    plain = {f"w{d}": rs.uniform(-9, 9, (2, 3)).astype(d) for d in DTYPES}
    onp.savez(tmp_path / "plain.npz", **plain)
    convert(tmp_path / "plain.npz", tmp_path / "out.params", np_mode=False)
    want = _saved(tmp_path / "want.params", {k: mx.nd.array(v, dtype=v.dtype) for k, v in plain.items()})
    assert (tmp_path / "out.params").read_bytes() == want


def test_np_mode_records_0d_and_zero_size_as_mx_nd_save(tmp_path):
    with mx.util.np_shape(True):
        arrays = {"scalar": mx.nd.ones(()) * 3.5, "empty": mx.nd.zeros((0, 4)),
                  "w": mx.nd.array(onp.arange(6).reshape(2, 3), dtype="int64")}
        src = tmp_path / "np.params"
        want = _saved(src, arrays, np_shape=True)
    convert(src, tmp_path / "np.safetensors")
    done = convert(tmp_path / "np.safetensors", tmp_path / "back.params")
    assert done.np_mode is True
    assert (tmp_path / "back.params").read_bytes() == want
    # nd arrays written in np mode on request: V3 records, as nd.save under np_shape writes
    plain = tmp_path / "plain.params"
    _saved(plain, {"w": mx.nd.ones((2, 2))})
    convert(plain, tmp_path / "as_np.params", np_mode=True)
    assert (tmp_path / "as_np.params").read_bytes() == _resaved(plain, tmp_path, np_shape=True)


def test_a_list_file_stays_a_list(tmp_path):
    src = tmp_path / "list.params"
    want = _saved(src, [mx.nd.ones((2,)), mx.nd.arange(6).reshape((2, 3))])
    convert(src, tmp_path / "list.npz")
    # an .npz has names: the list comes back as a dict keyed '0', '1'
    convert(src, tmp_path / "same.params")
    assert (tmp_path / "same.params").read_bytes() == want


def _sparse_file(path):
    rsp = mx.nd.sparse.row_sparse_array((onp.arange(6, dtype="float32").reshape(2, 3) + 1, [1, 4]),
                                        shape=(6, 3))
    csr = mx.nd.sparse.csr_matrix((onp.array([1.5, -2, 3], "float32"), [0, 2, 1], [0, 2, 2, 3]),
                                  shape=(3, 4))
    _saved(path, {"rsp": rsp, "csr": csr, "dense": mx.nd.ones((2, 2))})
    return {"rsp": rsp.asnumpy(), "csr": csr.asnumpy(), "dense": onp.ones((2, 2), "float32")}


def test_sparse_stays_sparse_in_nd_mode_and_goes_dense_in_np_mode(tmp_path):
    src = tmp_path / "sparse.params"
    dense = _sparse_file(src)
    out = tmp_path / "out.params"
    convert(src, out, remap=gpk.Remap.add_prefix("m."))
    header = read_header(out)
    assert [header[k].stype for k in header.names] == ["row_sparse", "csr", "default"]
    loaded = mx.nd.load(str(out))
    assert loaded["m.rsp"].stype == "row_sparse" and loaded["m.csr"].stype == "csr"
    for k, v in dense.items():
        assert onp.array_equal(loaded["m." + k].asnumpy(), v)
    same = tmp_path / "same.params"
    convert(src, same, remap=gpk.Remap.add_prefix("m."))
    assert same.read_bytes() == out.read_bytes()
    # byte for byte what mx.nd.save writes for what mx.nd.load gives (names aside)
    convert(out, tmp_path / "back.params", remap=gpk.Remap.strip_prefix("m."))
    assert (tmp_path / "back.params").read_bytes() == _resaved(src, tmp_path)
    # np mode: MXNet cannot store sparse arrays under np shape semantics: written dense
    convert(src, tmp_path / "np.params", np_mode=True)
    header = read_header(tmp_path / "np.params")
    assert header.np_shape and {header[k].stype for k in header.names} == {"default"}
    with mx.util.np_shape(True):
        loaded = mx.nd.load(str(tmp_path / "np.params"))
    for k, v in dense.items():
        assert onp.array_equal(loaded[k].asnumpy(), v) and loaded[k].stype == "default"


def test_npz_written_by_the_kit_is_what_numpy_reads(tmp_path):
    src = tmp_path / "src.params"
    arrays = _nd_arrays()
    _saved(src, arrays)
    out = tmp_path / "out.npz"
    convert(src, out)
    with onp.load(out, allow_pickle=False) as z:
        assert z.files == list(arrays)
        for k, v in arrays.items():
            got = z[k]
            want = v.asnumpy()
            if k == "a.bf16":
                assert got.dtype == BFLOAT16 and got.view(onp.uint16).tobytes() == \
                    onp.asarray(want).view(onp.uint16).tobytes()
            else:
                assert got.dtype == want.dtype and onp.array_equal(got, want), k
    # a damaged member of a source .npz is an error, never written again under a fresh CRC
    raw = bytearray(out.read_bytes())
    pos = raw.index(arrays["a.float32"].asnumpy().tobytes())
    raw[pos] ^= 0xFF
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="damaged"):
        convert(tmp_path / "bad.npz", tmp_path / "never.params")
    assert not (tmp_path / "never.params").exists()


def test_many_keys_zip64_npz_reads_back(tmp_path):
    """More than 65535 members: the zip64 end record, as zipfile writes it."""
    n = 70_000
    src = tmp_path / "many.params"
    _write_many(src, n)
    convert(src, tmp_path / "many.npz")
    with onp.load(tmp_path / "many.npz") as z:
        assert len(z.files) == n and int(z["k69999"][0]) == 69999 and int(z["k0"][0]) == 0
    assert len(read_header(tmp_path / "many.npz")) == n  # the kit's reader too


def _write_many(path, n):
    """``n`` int32 arrays ``k{i} = [i]``, written by the kit's byte writer (as mx.nd.save)."""
    from gluon_params_kit._io.params import dense_pieces
    values = onp.arange(n, dtype="int32")
    with open(path, "wb") as f:
        for piece in dense_pieces([(f"k{i}", (1,), 1, 0, "int32", values[i:i + 1]) for i in range(n)]):
            f.write(piece)


def _convert_seconds(tmp_path, n, suffix):
    src = tmp_path / f"n{n}.params"
    if not src.exists():
        _write_many(src, n)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        convert(src, tmp_path / f"n{n}{suffix}")
        best = min(best, time.perf_counter() - t)
    return best


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_work_per_array_is_constant(tmp_path, suffix):
    """Ten times the arrays take about ten times as long (a per-array cost that grew with
    the count would give ~100x); best of three runs, bound far from both."""
    small, large = _convert_seconds(tmp_path, 1000, suffix), _convert_seconds(tmp_path, 10000, suffix)
    assert large / small < 30, (small, large)


RSS_SCRIPT = r"""
import json, resource, sys
import numpy as np
sys.modules['mxnet'] = None  # convert needs no mxnet
import gluon_params_kit as gpk
src, out = sys.argv[1], sys.argv[2]
gpk.read_header(src)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
gpk.convert(src, out)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(extra_kib=after - before)))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB on Linux")
def test_extra_memory_is_bounded_whatever_the_size(tmp_path):
    """A 192 MiB file (three 64 MiB arrays) converts with far less than 64 MiB extra peak
    memory, to each format, from each format, in a process without mxnet."""
    src = tmp_path / "big.params"
    with open(src, "wb") as f:  # written by hand: no 192 MiB array in this test's memory
        from gluon_params_kit._io.params import dense_pieces
        chunk = onp.full(4 << 20, 0.5, "float32")  # 16 MiB, written 4 times per array
        records = [(f"w{i}", (4, 4 << 20), 1, 0, "float32", chunk) for i in range(3)]
        pieces = dense_pieces(records)
        for p in pieces:
            if p is chunk:
                for _ in range(4):
                    f.write(chunk.data)
            else:
                f.write(p)
    assert read_header(src).total_bytes == 3 * (64 << 20)
    steps = [(src, tmp_path / "a.safetensors"), (tmp_path / "a.safetensors", tmp_path / "b.npz"),
             (tmp_path / "b.npz", tmp_path / "c.params")]
    for a, b in steps:
        out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(a), str(b)], capture_output=True,
                             text=True, cwd=ROOT, timeout=300)
        assert out.returncode == 0, out.stderr
        extra = json.loads(out.stdout)["extra_kib"]
        assert extra < 32 * 1024, (a.name, b.name, extra)
    assert (tmp_path / "c.params").read_bytes() == src.read_bytes()


def test_progress_bar_names_the_file(tmp_path, monkeypatch, capsys):
    src = tmp_path / "named-source.params"
    _saved(src, {"w": mx.nd.ones((64, 1024))})
    monkeypatch.setattr(display, "PROGRESS_BYTES", 1000)
    monkeypatch.setattr(display, "PROGRESS_DELAY", 0.0)  # the bar from the first byte read
    convert(src, tmp_path / "out.safetensors", progress=True)
    err = capsys.readouterr().err
    assert "named-source.params" in err
    convert(src, tmp_path / "quiet.safetensors")  # progress=False: nothing
    assert capsys.readouterr().err == ""


def test_cli_convert_shows_the_bar_and_takes_np_nd_and_allow_expand(tmp_path, monkeypatch, capsys):
    from gluon_params_kit.cli import main
    src = tmp_path / "cli-src.params"
    _saved(src, {"w": mx.nd.ones((64, 1024))})
    monkeypatch.setattr(display, "PROGRESS_BYTES", 1000)
    monkeypatch.setattr(display, "PROGRESS_DELAY", 0.0)
    assert main(["convert", str(src), str(tmp_path / "np.params"), "--np"]) == 0
    assert "cli-src.params" in capsys.readouterr().err
    assert read_header(tmp_path / "np.params").np_shape
    assert main(["convert", str(tmp_path / "np.params"), str(tmp_path / "nd.params"), "--nd"]) == 0
    assert (tmp_path / "nd.params").read_bytes() == src.read_bytes()
    # a sparse array that claims far more dense bytes than it stores needs --allow-expand
    huge = mx.nd.sparse.row_sparse_array((onp.ones((1, 1 << 16), "float32"), [0]), shape=(1 << 10, 1 << 16))
    _saved(tmp_path / "rsp.params", {"e": huge})
    capsys.readouterr()
    assert main(["convert", str(tmp_path / "rsp.params"), str(tmp_path / "e.npz")]) == 1
    assert "--allow-expand" in capsys.readouterr().err
    assert main(["convert", str(tmp_path / "rsp.params"), str(tmp_path / "e.npz"), "--allow-expand"]) == 0
    assert main(["convert", str(src), str(tmp_path / "x.params"), "--np", "--nd"]) == 2
