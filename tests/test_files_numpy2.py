"""The file layer on numpy alone: files real MXNet 1.9.1 wrote, read as ``mx.nd.load`` read them.

``tests/data/files/`` holds small files written by MXNet 1.9.1 (``make_fixtures.py`` there
regenerates them) and ``expected.npz``, written by numpy: what ``mx.nd.load`` returned for
each array. Every test here uses numpy and the kit only, never mxnet, so the file runs
twice in ``make test``: in the project's venv (numpy 1.x, mxnet installed) and in
``.venv-np2`` (``make files-np2``: numpy >= 2, Python 3.13 or 3.12, no mxnet, the kit
installed without extras). "Bit for bit" means same dtype, same shape, same bytes.
"""
import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gluon_params_kit as gpk
from gluon_params_kit.cli import main

DATA = Path(__file__).resolve().parent / "data" / "files"
ROOT = DATA.parents[2]
FILES = ["dense.params", "list.params", "sparse.params", "ckpt-0000.params", "export-0000.params",
         "npmode.params"]
STYPES = {"sparse.params/rsp": "row_sparse", "sparse.params/csr": "csr"}
MXNET_INSTALLED = importlib.util.find_spec("mxnet") is not None
#: The safetensors library (Python 3.10+) writes and reads .safetensors values; elsewhere those cases skip.
needs_safetensors = pytest.mark.skipif(importlib.util.find_spec("safetensors") is None,
                                       reason="the safetensors library is not installed (Python < 3.10)")


def expected(name):
    """``key -> array`` that ``mx.nd.load(name)`` gave, in the file's order."""
    with np.load(DATA / "expected.npz", allow_pickle=False) as z:
        return {k.split("/", 1)[1]: z[k] for k in z.files if k.split("/", 1)[0] == name}


def same_bits(got, want):
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


def test_the_fixtures_are_small_and_complete():
    sizes = {p.name: p.stat().st_size for p in DATA.iterdir() if p.is_file() and p.suffix != ".py"}
    assert set(FILES) | {"ckpt-symbol.json", "export-symbol.json", "expected.npz"} == set(sizes)
    assert sum(sizes.values()) < 100_000
    dtypes = {str(a.dtype) for f in FILES for a in expected(f).values()}
    assert {"float16", "float32", "float64", "int8", "uint8", "int32", "int64"} <= dtypes


@pytest.mark.parametrize("name", FILES)
def test_header_is_what_mx_nd_load_read(name):
    header = gpk.read_header(DATA / name)
    want = expected(name)
    assert header.names == list(want)  # the file's order
    assert header.format == "params" and header.named == (name != "list.params")
    assert header.np_shape == (name == "npmode.params")
    for key, array in want.items():
        info = header[key]
        assert (info.shape, info.dtype) == (array.shape, str(array.dtype)), key
        assert info.stype == STYPES.get(f"{name}/{key}", "default"), key


@pytest.mark.parametrize("name", FILES)
def test_read_array_gives_mx_nd_load_arrays_bit_for_bit(name):
    for key, want in expected(name).items():
        got = gpk.read_array(DATA / name, int(key) if name == "list.params" else key)
        assert same_bits(got, want), (name, key)
        assert got.flags.writeable and got.flags.c_contiguous


def test_read_array_takes_every_path_form_and_names_what_is_missing():
    want = expected("ckpt-0000.params")["arg:fc1_weight"]
    assert same_bits(gpk.read_array(str(DATA / "ckpt-0000.params"), "arg:fc1_weight"), want)
    assert same_bits(gpk.read_array(DATA / "dense.params", ("w32",)), expected("dense.params")["w32"])
    with pytest.raises(gpk.PathError, match=r"no array 'w33' in this header .* Did you mean 'w32'"):
        gpk.read_array(DATA / "dense.params", "w33")
    with pytest.raises(gpk.CheckpointError, match="no such file|does not exist|cannot"):
        gpk.read_array(DATA / "missing.params", "w32")


def test_csr_storage_shape_as_mxnet_writes_it_either_way(tmp_path):
    """MXNet writes the csr array's storage shape as (0,) or, now and then, as (4,) (its value
    count); it reads both the same, from the index arrays, and so does the kit."""
    raw = bytearray((DATA / "sparse.params").read_bytes())
    at = 152  # the csr record: magic, stype, storage ndim (int32 each), then the int64 dim
    assert raw[at - 12:at - 4] == b"\xc9\xfa\x93\xf9\x02\x00\x00\x00" and raw[at:at + 8] == bytes(8)
    raw[at] = 4
    (tmp_path / "s.params").write_bytes(bytes(raw))
    assert gpk.read_header(tmp_path / "s.params")["csr"].storage_shape == (4,)
    assert same_bits(gpk.read_array(tmp_path / "s.params", "csr"), expected("sparse.params")["csr"])


@pytest.mark.parametrize("suffix", [".npz", pytest.param(".safetensors", marks=needs_safetensors)])
def test_read_array_reads_that_array_alone(suffix, tmp_path):
    """Lazily: the header, then the one array's bytes (a 16 MiB neighbour is never read)."""
    import tracemalloc
    small = np.arange(6, dtype=np.int16).reshape(2, 3)
    path = tmp_path / ("two" + suffix)
    arrays = {"big": np.zeros((4096, 1024), np.float32), "small": small}
    if suffix == ".npz":
        np.savez(path, **arrays)
    else:
        save_file = pytest.importorskip("safetensors.numpy").save_file
        save_file(arrays, str(path))
    del arrays
    tracemalloc.start()
    try:
        got = gpk.read_array(path, "small")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert same_bits(got, small) and peak < 4 << 20, peak


@pytest.mark.parametrize("suffix", [pytest.param(".safetensors", marks=needs_safetensors), ".npz",
                                    ".params"])
@pytest.mark.parametrize("name", FILES)
def test_convert_keeps_every_value(name, suffix, tmp_path):
    out = tmp_path / ("out" + suffix)
    mapping = gpk.convert(DATA / name, out)
    want = expected(name)
    assert list(mapping.values()) == list(mapping) == list(want)
    header = gpk.read_header(out)
    assert sorted(header.names) == sorted(want)
    for key, array in want.items():
        assert same_bits(gpk.read_array(out, key), array), (name, suffix, key)


@pytest.mark.parametrize("name", ["dense.params", "ckpt-0000.params", "export-0000.params", "npmode.params",
                                  "sparse.params"])
def test_convert_writes_params_byte_for_byte_as_mxnet_wrote_them(name, tmp_path):
    """The kit's own .params writer (no mxnet): through an .npz and back, a file MXNet wrote
    comes back with the same bytes. Sparse arrays (an .npz holds them dense) go .params to
    .params and stay sparse (byte for byte what mx.nd.save writes for what mx.nd.load reads:
    tests/test_convert_stream.py; the fixture's own storage shape fields MXNet left 0)."""
    src = DATA / name
    np_shape = gpk.read_header(src).np_shape
    back = tmp_path / "back.params"
    if name == "sparse.params":
        gpk.convert(src, back, np_mode=False)
        header = gpk.read_header(back)
        assert [header[k].stype for k in header.names] == [STYPES.get(f"{name}/{k}", "default")
                                                            for k in header.names]
        for key, array in expected(name).items():
            assert same_bits(gpk.read_array(back, key), array), key
        return
    gpk.convert(src, tmp_path / "mid.npz")
    gpk.convert(tmp_path / "mid.npz", back, np_mode=np_shape)
    assert back.read_bytes() == src.read_bytes()


@needs_safetensors
@pytest.mark.parametrize("name", FILES)
def test_convert_between_npz_and_safetensors(name, tmp_path):
    """Files with no MXNet mode recorded (a numpy .npz, a library's .safetensors) convert too."""
    want = expected(name)
    plain = tmp_path / "plain.npz"
    np.savez(plain, **want)
    gpk.convert(plain, tmp_path / "a.safetensors")
    gpk.convert(tmp_path / "a.safetensors", tmp_path / "b.npz")
    for key, array in want.items():
        assert same_bits(gpk.read_array(tmp_path / "b.npz", key), array), (name, key)


@needs_safetensors
def test_convert_renames_symbol_checkpoint_keys(tmp_path):
    out = tmp_path / "plain.safetensors"
    mapping = gpk.convert(DATA / "ckpt-0000.params", out, remap=gpk.Remap.rename(r"^(arg|aux):", ""))
    assert mapping["aux:bn0_moving_var"] == "bn0_moving_var"
    assert same_bits(gpk.read_array(out, "bn0_moving_var"), expected("ckpt-0000.params")["aux:bn0_moving_var"])


@pytest.mark.parametrize("name", FILES)
def test_export_npz_is_what_numpy_loads(name, tmp_path):
    out = tmp_path / "x.npz"
    want = expected(name)
    assert gpk.export_npz(DATA / name, out) == list(want)
    with np.load(out, allow_pickle=False) as z:
        assert all(same_bits(z[k], v) for k, v in want.items())


def test_diff_of_files_finds_the_changed_key(tmp_path):
    same = gpk.diff(DATA / "sparse.params", DATA / "sparse.params")
    assert same.same and list(same) == ["rsp", "csr", "dense"]
    values = dict(expected("sparse.params"))
    values["csr"] = values["csr"].copy()
    values["csr"][2, 3] = 5.0  # was -3
    del values["dense"]
    other = tmp_path / "other.npz"
    np.savez(other, **values)
    report = gpk.diff(DATA / "sparse.params", other)
    assert not report.same and report.changed == ["csr"] and report.only_a == ["dense"]
    assert report["csr"]["max_abs"] == 8.0 and report["rsp"]["status"] == "same"


# --------------------------------------------------------------------------- the command line

def test_cli_inspect_stats_of_a_sparse_file(capsys):
    assert main(["inspect", "--stats", "--json", str(DATA / "sparse.params")]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {a["name"]: a for a in report["arrays"]}
    csr = expected("sparse.params")["csr"]
    assert rows["csr"]["stype"] == "csr" and rows["rsp"]["stype"] == "row_sparse"
    assert rows["csr"]["stats"]["max"] == float(csr.max()) == 4.0
    assert rows["csr"]["stats"]["min"] == -3.0 and rows["dense"]["stats"]["mean"] == 1.5


@needs_safetensors
def test_cli_diff_convert_export(tmp_path, capsys):
    ckpt = str(DATA / "ckpt-0000.params")
    st = str(tmp_path / "c.safetensors")
    assert main(["convert", "--rename", "^(arg|aux):", "", ckpt, st]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {st}: 8 keys, 8 changed"
    npz = str(tmp_path / "c.npz")
    assert main(["export", st, npz]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {npz}: 8 arrays"
    assert main(["diff", st, npz]) == 0
    assert "8 keys, 0 differ" in capsys.readouterr().out
    assert main(["diff", "--json", ckpt, npz]) == 1
    report = json.loads(capsys.readouterr().out)
    assert len(report["only_a"]) == len(report["only_b"]) == 8 and not report["same"]
    assert "arg:fc1_weight" in report["only_a"] and "fc1_weight" in report["only_b"]


# --------------------------------------------------------------------------- without mxnet

BLOCK_MXNET = textwrap.dedent("""
    import sys
    class _NoMXNet:  # as if mxnet were not installed
        def find_spec(self, name, path=None, target=None):
            if name == "mxnet" or name.startswith("mxnet."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, _NoMXNet())
""")


def run_without_mxnet(code, tmp_path):
    return subprocess.run([sys.executable, "-c", BLOCK_MXNET + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, cwd=str(tmp_path))


@pytest.mark.parametrize("args", [["chapter"], ["chapter", "--quiet"],
                                  ["convert", "--json", "--to", "legacy", "--model",
                                   "gluon_params_kit.chapter:rgnet", "IN", "OUT"],
                                  ["check", "IN", "--model", "gluon_params_kit.chapter:rgnet"]])
def test_cli_says_in_one_line_what_needs_mxnet(args, tmp_path):
    shutil.copy(DATA / "dense.params", tmp_path / "IN")
    proc = run_without_mxnet(f"from gluon_params_kit.cli import main\nraise SystemExit(main({args!r}))",
                             tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    line, = proc.stderr.splitlines()
    assert line.startswith(f"gluon-params {args[0]}: error: ")
    assert "needs Apache MXNet 1.9.1" in line or "needs numpy<2" in line
    assert "pip install 'gluon_params_kit[cpu]'" in line or "pip install 'mxnet==1.9.1'" in line
    assert "file tools work without it" in line
    if "--json" in args:  # the same line, as JSON
        report = json.loads(proc.stdout)
        assert report["exit_code"] == 2 and report["error"] in line and "pip install" in report["error"]
    assert not (tmp_path / "OUT").exists()


def test_needing_mxnet_raises_one_kit_error(tmp_path):
    proc = run_without_mxnet("""
        import gluon_params_kit as gpk
        try:
            gpk.summary
        except gpk.ParamsKitError as exc:
            assert isinstance(exc, ImportError) and type(exc).__name__ == 'MXNetImportError'
            assert '\\n' not in str(exc)
            print(str(exc))
        print('mxnet' in sys.modules)
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    message, imported = proc.stdout.strip().splitlines()
    assert "pip install" in message and imported == "False"


@pytest.mark.skipif(MXNET_INSTALLED, reason="the venv without mxnet (make files-np2) checks the real absence")
def test_this_venv_has_no_mxnet():  # (make files-np2 also checks that its numpy is 2.x)
    with pytest.raises(ImportError):
        import mxnet  # noqa: F401
    assert "mxnet" not in sys.modules or sys.modules["mxnet"] is None


@pytest.mark.skipif(sys.version_info < (3, 13), reason="make files-np2 runs it on Python 3.13")
def test_doctor_on_python_313_names_one_problem(capsys):
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "verdict  1 problem(s):" in out and "the file tools (inspect, diff, convert, export) work" in out
    assert "numpy==1.26" not in out and "pip install 'mxnet" not in out
