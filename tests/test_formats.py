"""``.safetensors`` and ``.npz`` as first-class formats: save, load, inspect, diff, convert.

Interop is proven with the ``safetensors`` library itself (both directions), round trips
``.params -> .safetensors -> .params`` give back ``save_parameters``' bytes on the
model-zoo nets, and damaged files (truncated, bit-flipped, lying lengths and offsets) are
refused with a ``CheckpointError`` exactly when the library refuses them.
"""
import json
import os
import struct
import subprocess
import sys

import gluon_params_kit as gpk  # numpy shim before mxnet

# isort: split
import mxnet as mx
import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mxnet.gluon import nn

pytest.importorskip("safetensors")  # a dependency on Python 3.10+ (setup.cfg)
from fixtures import book_rgnet, initialized, tied_mlp
from real_models import CORPUS
from safetensors import SafetensorError, safe_open  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402
from test_real_models import HEAVY, _ready

from gluon_params_kit._io import formats as _formats
from gluon_params_kit._io.header import BFLOAT16
from gluon_params_kit.checkpoint import convert, diff, export_npz, load, read_header, save
from gluon_params_kit.cli import main
from gluon_params_kit.errors import CheckpointError

RG_X = (2, 20)


def _values(net):
    return {k: p.data().asnumpy() for k, p in gpk.named_parameters(net).items()}


def _rgnet():
    return initialized(book_rgnet(), x_shape=RG_X)


# --------------------------------------------------------------------------- save and load

@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_save_and_load_round_trip_in_both_modes(tmp_path, mode, suffix):
    net = initialized(book_rgnet(), x_shape=RG_X, mode=mode)
    path = tmp_path / f"net{suffix}"
    keys = save(net, path)
    assert keys == list(gpk.named_parameters(net))
    header = read_header(path)
    assert header.format == suffix[1:] and header.names == keys
    fresh = book_rgnet()  # not initialized: the file gives the shapes
    report = load(fresh, path)
    assert report.applied and report.loaded == keys
    before, after = _values(net), _values(fresh)
    assert all(onp.array_equal(before[k], after[k]) for k in keys)
    assert diff(net, fresh).same and diff(net, path).same


def test_safetensors_metadata_records_versions_mode_and_order(tmp_path, mode):
    net = initialized(book_rgnet(), x_shape=RG_X, mode=mode)
    path = tmp_path / "net.safetensors"
    save(net, path, metadata={"epoch": "7"})
    meta = read_header(path).metadata
    assert meta["format"] == "mxnet" and meta["mxnet.version"] == mx.__version__
    assert meta["gluon_params_kit.version"] == gpk.__version__
    assert meta["mxnet.mode"] == mode and meta["epoch"] == "7"
    assert json.loads(meta["gluon_params_kit.keys"]) == list(gpk.named_parameters(net))
    with safe_open(str(path), framework="numpy") as f:  # the library reads the same metadata
        assert f.metadata() == meta


def test_dtypes_and_shapes_are_exact(tmp_path):
    """float16/64, ints, 0-d and zero-size: from a library-written file into uninitialized
    Parameters (MXNet's initializers cannot fill a 0-d array), then saved in both formats."""
    shapes = {"f16": ((2, 3), "float16"), "f64": ((4,), "float64"), "i32": ((3,), "int32"),
              "i64": ((2, 2), "int64"), "u8": ((5,), "uint8"), "i8": ((1,), "int8"),
              "scalar": ((), "float32"), "empty": ((0, 3), "float32")}
    source = tmp_path / "src.safetensors"
    save_file({k: onp.full(shape, 3, dtype) for k, (shape, dtype) in shapes.items()}, str(source))

    def block():
        net = nn.Block()
        for name, (shape, dtype) in shapes.items():
            setattr(net, name, mx.gluon.Parameter(name, shape=shape, dtype=dtype))
        return net

    mx.npx.set_np()  # 0-d and zero-size Parameters need np shape semantics
    try:
        net = block()
        load(net, source)
        for suffix in (".safetensors", ".npz", ".params"):
            path = tmp_path / f"d{suffix}"
            save(net, path)
            header = read_header(path)
            assert {k: (a.shape, a.dtype) for k, a in header.items()} == shapes
            fresh = block()
            load(fresh, path)
            for name, (shape, dtype) in shapes.items():
                got = getattr(fresh, name).data().asnumpy()
                assert got.shape == shape and got.dtype == onp.dtype(dtype)
                assert (got == 3).all()
    finally:
        mx.npx.reset_np()


def test_bool_values_survive_the_safetensors_library(tmp_path):
    path = tmp_path / "b.safetensors"
    mask = onp.array([True, False, True])
    save_file({"mask": mask}, str(path))
    header = read_header(path)
    assert header["mask"].dtype == "bool"
    assert onp.array_equal(_formats.read_host(header)["mask"], mask)
    gpk_path = tmp_path / "c.safetensors"
    convert(path, gpk_path)
    assert onp.array_equal(load_file(str(gpk_path))["mask"], mask)


def test_bfloat16_parameters_round_trip_as_bits(tmp_path):
    """MXNet 1.9.1 holds bfloat16 as a uint16 record dtype; numpy has none, so the library
    cannot hand bf16 tensors to numpy: the kit reads their bits at the validated offsets."""
    net = nn.Dense(3, in_units=2)
    net.initialize(mx.init.Constant(1.5))
    net.cast(BFLOAT16)
    path = tmp_path / "bf.safetensors"
    save(net, path)
    assert read_header(path)["weight"].dtype == "bfloat16"
    with safe_open(str(path), framework="numpy") as f:
        assert f.get_slice("weight").get_dtype() == "BF16"
        with pytest.raises(TypeError, match="bfloat16"):
            f.get_tensor("weight")  # the library's numpy side has no bfloat16
    fresh = nn.Dense(3, in_units=2, dtype=BFLOAT16)
    load(fresh, path)
    bits = fresh.weight.data().asnumpy().view(onp.uint16)
    assert (bits == 0x3FC0).all()  # 1.5 in bfloat16
    assert diff(net, fresh).same and diff(net, path).same


def test_tied_parameters_are_stored_once_and_restored(tmp_path):
    net = initialized(tied_mlp(), x_shape=RG_X)
    all_paths = list(gpk.named_parameters(net, aliases=True))
    canonical = list(gpk.named_parameters(net))
    path = tmp_path / "tied.safetensors"
    assert save(net, path) == canonical
    header = read_header(path)
    assert header.names == canonical and len(load_file(str(path))) == len(canonical)
    assert set(header.aliases) == set(all_paths) - set(canonical)
    alias = next(iter(header.aliases))
    assert header[alias] == header[header.aliases[alias]]
    fresh = tied_mlp()
    report = load(fresh, path)
    assert report.applied and not report.missing
    assert diff(net, fresh).same and diff(net, path).same
    net.save_parameters(str(tmp_path / "tied.params"))  # every path, as Gluon writes
    assert diff(tmp_path / "tied.params", path).same


def test_load_checks_strict_dtype_and_remap_like_params(tmp_path):
    net = _rgnet()
    path = tmp_path / "net.safetensors"
    save(net, path)
    wrapped = nn.Sequential()
    wrapped.add(book_rgnet())
    with pytest.raises(CheckpointError) as info:
        load(wrapped, path)
    assert info.value.report.suggestion is not None and not info.value.report.applied
    assert load(wrapped, path, remap=gpk.Remap.add_prefix("0.")).applied
    half = tmp_path / "half.safetensors"
    save_file({k: v.astype("float16") for k, v in _values(net).items()}, str(half))
    with pytest.raises(CheckpointError, match="dtype='cast'"):
        load(book_rgnet(), half)
    target = _rgnet()
    report = load(target, half, dtype="cast")
    assert report.cast and onp.dtype(target[1].weight.dtype) == onp.float32
    partial = tmp_path / "part.safetensors"
    save_file({"1.weight": _values(net)["1.weight"]}, str(partial))
    with pytest.warns(gpk.LoadWarning):
        report = load(_rgnet(), partial, strict=False)
    assert report.loaded == ["1.weight"]


def test_options_that_do_not_fit_the_format_are_refused(tmp_path):
    net = _rgnet()
    with pytest.raises(CheckpointError, match="metadata= is stored by .safetensors files only"):
        save(net, tmp_path / "a.params", metadata={"a": "b"})
    with pytest.raises(CheckpointError, match="compressed=True deflates .npz files only"):
        save(net, tmp_path / "a.safetensors", compressed=True)
    with pytest.raises(CheckpointError, match="the kit's own"):
        save(net, tmp_path / "a.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="str to str"):
        save(net, tmp_path / "a.safetensors", metadata={"epoch": 3})
    with pytest.raises(CheckpointError, match="unknown format 'onnx'"):
        save(net, tmp_path / "a.bin", format="onnx")
    assert not list(tmp_path.iterdir())
    save(net, tmp_path / "weights.bin", format="safetensors")
    assert read_header(tmp_path / "weights.bin").format == "safetensors"  # sniffed
    save(net, tmp_path / "z.npz", compressed=True)
    assert read_header(tmp_path / "z.npz")["1.weight"].offset == -1
    assert diff(net, tmp_path / "z.npz").same


# --------------------------------------------------------------------------- interop

def test_a_file_written_by_the_kit_reads_with_the_library(tmp_path):
    net = _rgnet()
    path = tmp_path / "kit.safetensors"
    save(net, path)
    theirs = load_file(str(path))
    ours = _values(net)
    assert set(theirs) == set(ours)
    assert all(theirs[k].dtype == ours[k].dtype and onp.array_equal(theirs[k], ours[k])
               for k in ours)


def test_a_file_written_by_the_library_loads_into_a_gluon_net(tmp_path):
    source = _values(_rgnet())
    path = tmp_path / "lib.safetensors"
    save_file(source, str(path), metadata={"format": "np"})
    header = read_header(path)
    assert sorted(header.names) == sorted(source) and not header.aliases
    net = book_rgnet()
    load(net, path)
    got = _values(net)
    assert all(onp.array_equal(got[k], source[k]) for k in source)
    net(mx.nd.ones(RG_X))  # a working Gluon net
    assert diff(net, path).same


ZOO = sorted(n for n in ("densenet", "mobilenet", "mobilenet_v2", "resnet_v1", "resnet_v2",
                         "squeezenet", "vgg_bn", "tied_language_model", "lstm_bidir_hybrid_sequential"))


@pytest.mark.parametrize("name,mode", [(n, m) for n in ZOO for m in ("nd", "np")
                                       if m == "nd" or n not in HEAVY], indirect=["mode"])
def test_params_to_safetensors_and_back_gives_save_parameters_bytes(name, mode, tmp_path):
    net, _ = _ready(name, tmp_path)
    gluon, st_file, back = tmp_path / "g.params", tmp_path / "g.safetensors", tmp_path / "b.params"
    net.save_parameters(str(gluon))
    convert(gluon, st_file)
    convert(st_file, back)
    assert back.read_bytes() == gluon.read_bytes()
    assert diff(gluon, st_file).same
    ours = tmp_path / "kit.safetensors"
    save(net, ours)
    fresh, _ = CORPUS[name]()
    load(fresh, ours)
    assert diff(net, fresh).same
    theirs = load_file(str(ours))
    assert all(onp.array_equal(theirs[k], v) for k, v in _values(net).items())


# --------------------------------------------------------------------------- headers

def _library_view(path):
    with safe_open(str(path), framework="numpy") as f:
        return {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype())
                for k in f.keys()}, f.metadata() or {}


def test_safetensors_header_agrees_with_the_library_and_the_bytes(tmp_path):
    arrays = {"a": onp.arange(6, dtype="float32").reshape(2, 3), "b": onp.zeros((0, 4), "int64"),
              "c": onp.array(2.5, "float64"), "d": onp.ones(3, "uint8"), "e": onp.ones(2, "float16")}
    path = tmp_path / "x.safetensors"
    save_file(arrays, str(path), metadata={"k": "v"})
    header = read_header(path)
    tensors, meta = _library_view(path)
    codes = {"float32": "F32", "int64": "I64", "float64": "F64", "uint8": "U8", "float16": "F16"}
    assert {k: (a.shape, codes[a.dtype]) for k, a in header.items()} == tensors
    assert header.metadata == meta == {"k": "v"}
    blob = path.read_bytes()
    for name, info in header.items():
        assert blob[info.offset:info.offset + info.nbytes] == arrays[name].tobytes()
    assert sum(a.nbytes for a in header.values()) + header["a"].offset - \
        min(a.offset for a in header.values()) <= len(blob)


def test_npz_header_agrees_with_numpy(tmp_path):
    path = tmp_path / "x.npz"
    onp.savez(str(path), w=onp.ones((3, 2), "float32"), s=onp.array(4, "int32"),
              f=onp.asfortranarray(onp.arange(6.0).reshape(2, 3)))
    header = read_header(path)
    with onp.load(str(path), allow_pickle=False) as z:
        assert {k: (z[k].shape, z[k].dtype.name) for k in z.files} == \
            {k: (a.shape, a.dtype) for k, a in header.items()}
    assert header["f"].fortran_order and header["w"].offset > 0
    blob = path.read_bytes()
    assert blob[header["w"].offset:header["w"].offset + 24] == onp.ones((3, 2), "float32").tobytes()
    assert onp.array_equal(onp.concatenate(list(_formats.iter_values(header, header["f"]))),
                           onp.arange(6.0))


def test_npz_with_objects_is_refused(tmp_path):
    path = tmp_path / "o.npz"
    onp.savez(str(path), o=onp.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match="only plain numeric arrays"):
        read_header(path)


def test_header_is_a_mapping_of_names(tmp_path):
    net = _rgnet()
    save(net, tmp_path / "n.params")
    header = read_header(tmp_path / "n.params")
    assert list(header) == header.names == list(gpk.named_parameters(net))
    assert all(header[k].name == k for k in header)  # for k in header: header[k] works
    assert header["[0][1][0].bias"] is header["0.1.0.bias"] is header[("0", 1, 0, "bias")]
    assert header["rgnet[1].weight"] is header["1.weight"] and header[0] is header.arrays[0]
    assert "0.1.0.bias" in header and "nope" not in header
    with pytest.raises(gpk.PathError, match="Did you mean '1.weight'"):
        header["1.wieght"]  # a KeyError, with the closest names
    records = header.to_records()
    assert [r["name"] for r in records] == header.names and records[-1]["shape"] == (10,)


# --------------------------------------------------------------------------- fuzzing

def _st_file(tmp_path):
    path = tmp_path / "f.safetensors"
    save_file({"a": onp.arange(12, dtype="float32").reshape(3, 4), "b": onp.ones(5, "int64"),
               "c": onp.zeros((0,), "float16")}, str(path), metadata={"x": "y"})
    return path


def _verdicts(path):
    """(kit accepts, library accepts) for one file."""
    try:
        read_header(path, format="safetensors")
        ours = True
    except CheckpointError:
        ours = False
    try:
        with safe_open(str(path), framework="numpy") as f:
            list(f.keys())
        theirs = True
    except (SafetensorError, Exception):  # noqa: B014  (the library raises several kinds)
        theirs = False
    return ours, theirs


def _rewrite_header(path, edit):
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    doc = json.loads(blob[8:8 + n])
    edit(doc)
    text = json.dumps(doc).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob[8 + n:])


@pytest.mark.parametrize("case", ["overlap", "past_end", "gap", "backwards", "size", "dtype",
                                  "length_over_file", "length_huge", "not_json", "no_brace",
                                  "extra_byte", "negative_dim"])
def test_damaged_safetensors_are_refused_like_the_library_refuses_them(tmp_path, case):
    path = _st_file(tmp_path)
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    edits = {
        "overlap": lambda d: d["b"].update(data_offsets=[d["a"]["data_offsets"][0] + 4,
                                                         d["b"]["data_offsets"][1]]),
        "past_end": lambda d: d["a"].update(data_offsets=[d["a"]["data_offsets"][0],
                                                          d["a"]["data_offsets"][1] + 4096]),
        "gap": lambda d: d["a"].update(data_offsets=[d["a"]["data_offsets"][0] + 8,
                                                     d["a"]["data_offsets"][1] + 8]),
        "backwards": lambda d: d["b"].update(data_offsets=[40, 0]),
        "size": lambda d: d["a"].update(shape=[3, 5]),
        "dtype": lambda d: d["a"].update(dtype="F99"),
        "negative_dim": lambda d: d["a"].update(shape=[-3, -4]),
    }
    if case in edits:
        _rewrite_header(path, edits[case])
    elif case == "length_over_file":
        path.write_bytes(struct.pack("<Q", len(blob)) + blob[8:])
    elif case == "length_huge":
        path.write_bytes(struct.pack("<Q", 2**63) + blob[8:])
    elif case == "not_json":
        path.write_bytes(blob[:8] + b"{" + b"x" * (n - 1) + blob[8 + n:])
    elif case == "no_brace":
        path.write_bytes(blob[:8] + b"[" + blob[9:])
    else:
        path.write_bytes(blob + b"\0")
    assert _verdicts(path) == (False, False)
    with pytest.raises(CheckpointError, match="not a valid .safetensors file"):
        load(_rgnet(), path)
    assert main(["inspect", str(path), "--format", "safetensors"]) == 1


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fuzzed_safetensors_the_kit_and_the_library_agree(tmp_path_factory, data):
    """Truncations and bit flips anywhere: the kit refuses exactly what the library
    refuses (with a CheckpointError, never a crash), and what both accept reads the same."""
    path = _st_file(tmp_path_factory.mktemp("fz"))
    blob = bytearray(path.read_bytes())
    if data.draw(st.booleans()):
        blob = blob[:data.draw(st.integers(0, len(blob) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(blob) - 1))
            blob[i] ^= 1 << data.draw(st.integers(0, 7))
    path.write_bytes(bytes(blob))
    ours, theirs = _verdicts(path)
    assert ours == theirs, (ours, theirs, bytes(blob[:120]))
    if ours:
        tensors, meta = _library_view(path)
        header = read_header(path, format="safetensors")
        assert set(header.names) == set(tensors)
        for k, (shape, _) in tensors.items():
            assert header[k].shape == shape


@pytest.mark.parametrize("cut", [0, 10, 60, -30, -1])
def test_truncated_npz_is_a_checkpoint_error(tmp_path, cut):
    path = tmp_path / "t.npz"
    save(_rgnet(), path)
    blob = path.read_bytes()
    path.write_bytes(blob[:cut] if cut else b"")
    with pytest.raises(CheckpointError):
        read_header(path)
    with pytest.raises(CheckpointError):
        load(book_rgnet(), path)


# --------------------------------------------------------------------------- diff, convert, CLI

def test_diff_across_formats_finds_the_change(tmp_path):
    net = _rgnet()
    save(net, tmp_path / "a.params")
    net[1].weight.data()[0, 0] += 0.25
    save(net, tmp_path / "b.safetensors")
    save(net, tmp_path / "c.npz")
    report = diff(tmp_path / "a.params", tmp_path / "b.safetensors")
    assert report.changed == ["1.weight"]
    assert report["1.weight"]["max_abs"] == pytest.approx(0.25, abs=1e-6)
    assert diff(tmp_path / "b.safetensors", tmp_path / "c.npz").same


def test_convert_between_every_pair_of_formats(tmp_path):
    net = _rgnet()
    save(net, tmp_path / "n.params")
    src = tmp_path / "n.params"
    for dst_name in ("n.safetensors", "n.npz", "m.params", "m.safetensors"):
        dst = tmp_path / dst_name
        mapping = convert(src, dst)
        assert list(mapping) == list(gpk.named_parameters(net))
        assert diff(net, dst).same
        src = dst
    mapping = convert(tmp_path / "n.safetensors", tmp_path / "p.npz",
                      remap=gpk.Remap.add_prefix("model."))
    assert read_header(tmp_path / "p.npz").names[0] == "model.0.0.0.weight"


def _cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr().out


def test_cli_on_all_three_formats(tmp_path, capsys):
    net = _rgnet()
    p, s, z = tmp_path / "n.params", tmp_path / "n.safetensors", tmp_path / "n.npz"
    save(net, p)
    code, out = _cli(["convert", str(p), str(s), "--metadata", "run", "7", "--json"], capsys)
    assert code == 0 and json.loads(out)["dst"] == str(s)
    assert read_header(s).metadata["run"] == "7"
    code, out = _cli(["export", str(s), str(z), "--json"], capsys)
    assert code == 0 and json.loads(out)["keys"] == list(gpk.named_parameters(net))
    for f in (p, s, z):
        code, out = _cli(["inspect", str(f), "--json"], capsys)
        data = json.loads(out)
        assert code == 0 and data["file_format"] == f.suffix[1:]
        assert [a["name"] for a in data["arrays"]] == list(gpk.named_parameters(net))
    code, out = _cli(["diff", str(p), str(s), "--json"], capsys)
    assert code == 0 and json.loads(out)["same"] is True
    code, out = _cli(["diff", "--names", str(s), str(z), "--json"], capsys)
    assert code == 0 and json.loads(out)["same"] is True
    code, out = _cli(["convert", str(s), str(tmp_path / "back.params")], capsys)
    assert code == 0 and (tmp_path / "back.params").read_bytes() == p.read_bytes()
    code, out = _cli(["inspect", str(s)], capsys)
    assert code == 0 and "(safetensors)" in out and "mxnet.mode=nd" in out


def test_inspect_stats_agrees_with_gpk_stats(tmp_path, capsys):
    net = nn.Dense(300, in_units=200)
    net.initialize(mx.init.Normal(3.0))
    net.bias.set_data(mx.nd.arange(300) * 1e3 + 1e6)  # a large mean: no cancellation allowed
    expected = gpk.stats(net)
    for suffix in (".params", ".safetensors", ".npz"):
        path = tmp_path / f"n{suffix}"
        save(net, path)
        code, out = _cli(["inspect", str(path), "--stats", "--json"], capsys)
        assert code == 0
        got = {a["name"]: a["stats"] for a in json.loads(out)["arrays"]}
        for key in ("weight", "bias"):  # gpk.stats sums small arrays pairwise, the file kernel by BLAS:
            # float32 rounding, ~1e-7 of the values' spread (a mean near 0 is no scale for it)
            spread = expected[key].std
            assert got[key]["mean"] == pytest.approx(expected[key].mean, rel=1e-6, abs=1e-6 * spread), \
                (suffix, key)
            assert got[key]["std"] == pytest.approx(spread, rel=1e-6, abs=0), (suffix, key)
            for field in ("min", "max"):
                assert got[key][field] == getattr(expected[key], field), (suffix, key, field)


def test_header_commands_on_safetensors_never_import_mxnet(tmp_path):
    path = tmp_path / "n.safetensors"
    save(_rgnet(), path)
    code = (f"from gluon_params_kit.cli import main\nc = main(['inspect', {str(path)!r}])\n"
            "import sys\nassert 'mxnet' not in sys.modules\nraise SystemExit(c)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr


def test_streaming_export_keeps_values_and_layout(tmp_path):
    path = tmp_path / "big.params"
    values = {"w": onp.random.RandomState(0).randn(3000, 700).astype("float32"),
              "i": onp.arange(10, dtype="int64")}
    mx.nd.save(str(path), {k: mx.nd.array(v, dtype=v.dtype) for k, v in values.items()})
    for compressed in (False, True):
        out = tmp_path / f"o{compressed}.npz"
        assert export_npz(path, out, compressed=compressed) == ["w", "i"]
        with onp.load(str(out), allow_pickle=False) as z:
            assert all(onp.array_equal(z[k], v) and z[k].dtype == v.dtype for k, v in values.items())
    import zipfile
    for compressed in (False, True):
        with zipfile.ZipFile(tmp_path / f"o{compressed}.npz") as z:
            assert z.testzip() is None  # every member's CRC is right (the kernel-copied ones too)
    assert (tmp_path / "oFalse.npz").stat().st_size < values["w"].nbytes + 4096
    assert os.path.getsize(tmp_path / "oTrue.npz") < os.path.getsize(tmp_path / "oFalse.npz")


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_a_failed_write_leaves_the_old_file_byte_identical(tmp_path, monkeypatch, suffix):
    import os

    from gluon_params_kit._io import params_writer
    target = tmp_path / f"net{suffix}"
    save(_rgnet(), target)
    before = target.read_bytes()
    real = os.pwrite

    def broken(fd, data, offset):  # the kit's writer: half a file out, then a full disk
        real(fd, memoryview(data)[:11], offset)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(params_writer.os, "pwrite", broken)
    with pytest.raises(gpk.errors.CheckpointWriteError, match="no space left"):
        save(_rgnet(), target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temp file left
