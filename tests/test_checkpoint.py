"""checkpoint and _io.params: atomic saves, all-or-nothing loads, remaps, the header reader.

The header reader is checked against ``mx.nd.load`` on files MXNet itself writes (every
dtype it saves, nd and np modes, list and dict forms, sparse, the two older record
formats), then fuzzed: whatever the bytes, it returns a Header or raises CheckpointError.
"""
import os
import re
import struct
import subprocess
import sys

import gluon_params_kit as gpk  # numpy shim before mxnet

# isort: split
import mxnet as mx
import numpy as onp
import pytest
from fixtures import CPU2, book_mlp, book_rgnet, initialized, nested_custom, tied_mlp
from hypothesis import given, settings
from hypothesis import strategies as st
from mxnet import npx
from mxnet.gluon import nn
from test_tree import architectures, build

from gluon_params_kit._io.header import DataFile
from gluon_params_kit._io.params import read_array
from gluon_params_kit.checkpoint import (
    LoadReport,
    Remap,
    collapse_keys,
    convert,
    diff,
    export_npz,
    load,
    read_header,
    save,
)
from gluon_params_kit.checkpoint import _convert as _convert
from gluon_params_kit.errors import CheckpointError
from gluon_params_kit.tree import fresh_names, named_parameters

MLP_X = (2, 20)


def values(block):
    return {k: p.data().asnumpy().copy() for k, p in named_parameters(block).items()}


def same_values(a, b):
    va, vb = values(a), values(b)
    return va.keys() == vb.keys() and all(onp.array_equal(va[k], vb[k]) for k in va)


# --------------------------------------------------------------------------- save

@pytest.mark.parametrize("make", [book_mlp, tied_mlp, book_rgnet])
def test_save_writes_exactly_what_save_parameters_writes(tmp_path, mode, make):
    net = initialized(make(), x_shape=(2, 4) if make is book_rgnet else MLP_X, mode=mode)
    keys = save(net, tmp_path / "kit.params")
    net.save_parameters(str(tmp_path / "gluon.params"))
    assert keys == list(named_parameters(net, aliases=True))
    assert (tmp_path / "kit.params").read_bytes() == (tmp_path / "gluon.params").read_bytes()
    assert read_header(tmp_path / "kit.params").np_shape == (mode == "np")


def test_save_deduplicate_writes_each_shared_parameter_once(tmp_path):
    net = initialized(tied_mlp(), x_shape=MLP_X)
    keys = save(net, tmp_path / "d.params", deduplicate=True)
    assert keys == list(named_parameters(net))
    assert len(keys) < len(named_parameters(net, aliases=True))
    fresh = tied_mlp()
    fresh.initialize()
    report = load(fresh, tmp_path / "d.params")
    assert report.ok and same_values(net, fresh)
    assert fresh[1].weight is fresh[2].weight


@pytest.mark.parametrize("writer", ["kit", "mxnet"])
def test_save_is_atomic_when_the_write_fails(tmp_path, monkeypatch, writer):
    target = tmp_path / "net.params"
    net = initialized(book_mlp(), x_shape=MLP_X)
    save(net, target)
    before = target.read_bytes()

    def broken(path, arrays, **options):
        with open(path, "wb") as f:
            f.write(b"\x12\x01 half a file")
        raise OSError("disk full")

    if writer == "kit":  # dense CPU arrays in nd mode: the kit writes the bytes itself
        monkeypatch.setattr(_convert, "write_behind", broken)
    else:
        monkeypatch.setattr(_convert, "_dense_records", lambda arrays: None)
        monkeypatch.setattr(mx.nd, "save", broken)
    other = initialized(book_mlp(), x_shape=MLP_X)
    with pytest.raises(OSError, match="disk full"):
        save(other, target)
    assert target.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["net.params"]  # no temporary file left


def test_save_onto_a_folder_is_refused_and_leaves_nothing(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(CheckpointError, match="it is a folder; give a file name"):
        save(initialized(book_mlp(), x_shape=MLP_X), tmp_path / "run")
    assert sorted(os.listdir(tmp_path)) == ["run"] and os.listdir(tmp_path / "run") == []


def test_save_keeps_file_permissions(tmp_path):
    target = tmp_path / "net.params"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    save(initialized(book_mlp(), x_shape=MLP_X), target)
    assert os.stat(target).st_mode & 0o777 == 0o640


# --------------------------------------------------------------------------- load round trips

@pytest.mark.parametrize("make", [book_mlp, tied_mlp, book_rgnet])
def test_round_trip_into_deferred_net(tmp_path, mode, make):
    x_shape = (2, 4) if make is book_rgnet else MLP_X
    net = initialized(make(), x_shape=x_shape, mode=mode)
    save(net, tmp_path / "n.params")
    fresh = make()
    fresh.initialize()  # deferred: shapes unknown until the load
    report = load(fresh, tmp_path / "n.params")
    assert report.ok and report.applied
    assert report.loaded == list(named_parameters(fresh))
    assert same_values(net, fresh)
    array_type = mx.np.ndarray if mode == "np" else mx.nd.NDArray
    assert all(type(p.data()) is array_type for p in fresh.collect_params().values())


def test_round_trip_hybridized_custom_net(tmp_path):
    net = initialized(nested_custom(), hybridize=True)
    save(net, tmp_path / "c.params")
    fresh = nested_custom()
    fresh.initialize()
    fresh.hybridize()
    assert load(fresh, tmp_path / "c.params").ok
    x = mx.nd.ones((2, 5))
    assert onp.allclose(net(x).asnumpy(), fresh(x).asnumpy())


def test_load_into_net_without_initialize(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    save(net, tmp_path / "n.params")
    fresh = book_mlp()
    load(fresh, tmp_path / "n.params")
    assert same_values(net, fresh)
    assert fresh[0].weight.list_ctx() == [mx.cpu()]


@pytest.mark.parametrize("saved_in, loaded_in", [("nd", "np"), ("np", "nd")])
def test_files_load_across_modes(tmp_path, saved_in, loaded_in):
    if saved_in == "np":
        npx.set_np()
    net = initialized(book_mlp(), x_shape=MLP_X, mode=saved_in)
    save(net, tmp_path / "n.params")
    expected = values(net)
    npx.reset_np()
    if loaded_in == "np":
        npx.set_np()
    fresh = book_mlp()
    fresh.initialize()
    assert load(fresh, tmp_path / "n.params").ok
    got = values(fresh)
    assert all(onp.array_equal(got[k], expected[k]) for k in expected)


def test_load_onto_two_devices(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    save(net, tmp_path / "n.params")
    fresh = initialized(book_mlp(), x_shape=MLP_X, ctx=CPU2)
    load(fresh, tmp_path / "n.params")
    for path, p in named_parameters(fresh).items():
        want = net.collect_params()[p.name].data().asnumpy()
        for replica in p.list_data():
            assert onp.array_equal(replica.asnumpy(), want), path
    save(fresh, tmp_path / "two.params")  # replicas averaged, as save_parameters does
    fresh.save_parameters(str(tmp_path / "two_gluon.params"))
    assert (tmp_path / "two.params").read_bytes() == (tmp_path / "two_gluon.params").read_bytes()


def test_load_ctx_for_uninitialized_parameters(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    save(net, tmp_path / "n.params")
    fresh = book_mlp()
    load(fresh, tmp_path / "n.params", ctx=CPU2)
    assert fresh[0].weight.list_ctx() == CPU2


# --------------------------------------------------------------------------- all or nothing

def _mismatched(tmp_path):
    """A file from the MLP where 1.weight has another shape."""
    net = initialized(book_mlp(), x_shape=MLP_X)
    arrays = {k: p.data() for k, p in named_parameters(net).items()}
    arrays["1.weight"] = mx.nd.ones((10, 7))
    mx.nd.save(str(tmp_path / "bad.params"), arrays)
    return net, tmp_path / "bad.params"


def test_strict_failure_changes_nothing(tmp_path):
    _, bad = _mismatched(tmp_path)
    target = initialized(book_mlp(), x_shape=MLP_X)
    before = values(target)
    with pytest.raises(CheckpointError, match=r"1 with a different shape \('1.weight'\)") as info:
        load(target, bad)
    report = info.value.report
    assert isinstance(report, LoadReport) and not report.applied
    assert report.shape_mismatches == {"1.weight": ((10, 256), (10, 7))}
    assert "Nothing was changed" in str(info.value)
    after = values(target)
    assert all(onp.array_equal(before[k], after[k]) for k in before)


def test_non_strict_loads_the_rest_and_says_what_it_skipped(tmp_path):
    source, bad = _mismatched(tmp_path)
    target = initialized(book_mlp(), x_shape=MLP_X)
    old_w1 = target[1].weight.data().asnumpy().copy()
    with pytest.warns(gpk.LoadWarning, match=r"1 parameter\(s\), 2,560 values, keep their "
                      r"initial values \('1.weight'\); only 3 of 4 parameters were loaded"):
        report = load(target, bad, strict=False)
    assert report.not_loaded == ["1.weight"] and report.not_loaded_values == 2560
    assert "NOT LOADED: 1 parameter(s), 2,560 values" in str(report)
    assert report.applied and report.loaded == ["0.weight", "0.bias", "1.bias"]
    assert list(report.shape_mismatches) == ["1.weight"]
    assert report.skipped == ["1.weight"]
    assert onp.array_equal(target[1].weight.data().asnumpy(), old_w1)
    assert onp.array_equal(target[0].weight.data().asnumpy(), source[0].weight.data().asnumpy())
    assert ("shape", "1.weight", "block (10, 256) vs file (10, 7)") in report.rows()


def test_missing_and_unexpected_are_reported(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    arrays = {k: p.data() for k, p in named_parameters(net).items()}
    del arrays["0.bias"]
    arrays["2.weight"] = mx.nd.ones((3,))
    mx.nd.save(str(tmp_path / "f.params"), arrays)
    with pytest.raises(CheckpointError) as info:
        load(book_mlp(), tmp_path / "f.params")
    report = info.value.report
    assert report.missing == ["0.bias"] and report.unexpected == ["2.weight"]
    assert "1 missing from the file ('0.bias')" in str(info.value)
    assert "1 unexpected in the file ('2.weight')" in str(info.value)


def test_tied_copies_that_disagree_are_refused(tmp_path):
    net = initialized(tied_mlp(), x_shape=MLP_X)
    arrays = {k: p.data() for k, p in named_parameters(net, aliases=True).items()}
    arrays["2.weight"] = arrays["2.weight"] + 1
    mx.nd.save(str(tmp_path / "t.params"), arrays)
    target = initialized(tied_mlp(), x_shape=MLP_X)
    before = values(target)
    with pytest.raises(CheckpointError, match="shared but different") as info:
        load(target, tmp_path / "t.params")
    assert info.value.report.tied_conflicts == {"1.weight": ["1.weight", "2.weight"]}
    assert all(onp.array_equal(before[k], v) for k, v in values(target).items())


def test_tied_copies_that_are_both_nan_still_load(tmp_path):
    net = initialized(tied_mlp(), x_shape=MLP_X)
    net[1].weight.data()[0, 0] = float("nan")  # a diverged run: both copies hold the NaN
    save(net, tmp_path / "n.params")
    target = initialized(tied_mlp(), x_shape=MLP_X)
    report = load(target, tmp_path / "n.params")
    assert report.ok and report.tied_conflicts == {}
    assert onp.isnan(target[2].weight.data().asnumpy()[0, 0])


def test_dtype_policies(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    arrays = {k: p.data().astype("float16") for k, p in named_parameters(net).items()}
    mx.nd.save(str(tmp_path / "h.params"), arrays)
    with pytest.raises(CheckpointError, match="4 with a different dtype") as info:
        load(initialized(book_mlp(), x_shape=MLP_X), tmp_path / "h.params")
    assert info.value.report.dtype_mismatches["0.weight"] == ("float32", "float16")
    cast = initialized(book_mlp(), x_shape=MLP_X)
    report = load(cast, tmp_path / "h.params", dtype="cast")
    assert report.cast["0.weight"] == ("float16", "float32")
    assert cast[0].weight.data().dtype == onp.float32
    want = arrays["0.weight"].asnumpy().astype("float32")
    assert onp.array_equal(cast[0].weight.data().asnumpy(), want)
    saved = initialized(book_mlp(), x_shape=MLP_X)
    load(saved, tmp_path / "h.params", dtype="saved")
    assert saved[0].weight.data().dtype == onp.float16 and saved[0].weight.dtype == onp.float16


# --------------------------------------------------------------------------- suggestions and remaps

def test_wrapped_net_suggests_the_prefix(tmp_path):
    net = initialized(book_rgnet(), x_shape=(2, 4))
    save(net, tmp_path / "r.params")
    wrapper = nn.Sequential()
    wrapper.add(book_rgnet())
    wrapper.initialize()
    with pytest.raises(CheckpointError, match=r"Try remap=Remap.add_prefix\('0.'\)") as info:
        load(wrapper, tmp_path / "r.params")
    report = info.value.report
    assert report.suggestion_matches == 18
    text = str(report)
    assert "0.0.{0..3}.{0..1}.weight" in text and "suggested: remap=Remap.add_prefix('0.')" in text
    assert load(wrapper, tmp_path / "r.params", remap=report.suggestion).ok
    assert same_values(net, wrapper[0])
    # and the other way: the wrapper's file into the bare net
    save(wrapper, tmp_path / "w.params")
    with pytest.raises(CheckpointError) as info:
        load(book_rgnet(), tmp_path / "w.params")
    assert repr(info.value.report.suggestion) == "Remap.strip_prefix('0.')"


def test_legacy_file_from_another_process_suggests_and_loads(tmp_path):
    for _ in range(3):
        nn.Dense(2)  # another process's counter: these names start at dense3
    other = nn.Sequential()
    other.add(nn.Dense(256, activation="relu"), nn.Dense(10))
    initialized(other, x_shape=MLP_X)
    other.collect_params().save(str(tmp_path / "legacy.params"))
    assert not any("." in k for k in read_header(tmp_path / "legacy.params").names)
    target = book_mlp()
    with pytest.raises(CheckpointError, match=r"Try remap=Remap.to_structural\(\)"):
        load(target, tmp_path / "legacy.params")
    assert load(target, tmp_path / "legacy.params", remap="structural").ok
    assert onp.array_equal(target[1].weight.data().asnumpy(), other[1].weight.data().asnumpy())


def test_remap_rules_compose_and_drop():
    r = Remap.rename(r"^body\.", "features.") + Remap.keys(lambda k: None if k == "x" else k)
    assert dict(r(["body.0.weight", "x", "head.bias"])) == {
        "body.0.weight": "features.0.weight", "x": None, "head.bias": "head.bias"}
    assert repr(r).startswith("Remap.rename('^body\\\\.', 'features.') + Remap.keys(")
    assert dict(Remap.keys({"a": "b"})(["a", "c"])) == {"a": "b", "c": "c"}


def test_load_with_mapping_remap_reports_renamed_and_dropped(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    arrays = {k.replace("0.", "first."): p.data() for k, p in named_parameters(net).items()}
    arrays["junk"] = mx.nd.ones((1,))
    mx.nd.save(str(tmp_path / "m.params"), arrays)
    fresh = book_mlp()
    report = load(fresh, tmp_path / "m.params", remap=Remap.rename(r"^first\.", "0.")
                  + Remap.keys(lambda k: None if k == "junk" else k))
    assert report.ok and report.dropped == ["junk"]
    assert report.renamed == {"first.weight": "0.weight", "first.bias": "0.bias"}
    assert same_values(net, fresh)


def test_collapse_keys():
    keys = [f"0.{i}.{j}.weight" for i in range(4) for j in range(2)] + ["1.weight", "1.bias"]
    assert collapse_keys(keys) == ["0.{0..3}.{0..1}.weight", "1.weight", "1.bias"]
    assert collapse_keys(["a.1.w", "a.3.w", "a.4.w"]) == ["a.{1,3,4}.w"]
    assert collapse_keys([]) == []


# --------------------------------------------------------------------------- convert

def test_convert_structural_legacy_round_trip(tmp_path):
    net = initialized(book_rgnet(), x_shape=(2, 4))
    save(net, tmp_path / "s.params")
    mapping = convert(tmp_path / "s.params", tmp_path / "l.params", to="legacy", block=book_rgnet())
    assert mapping["0.0.0.weight"] == "dense2_weight"  # the book's names: mlp() came first
    convert(tmp_path / "l.params", tmp_path / "s2.params", to="structural", block=book_rgnet())
    assert (tmp_path / "s2.params").read_bytes() == (tmp_path / "s.params").read_bytes()


def test_convert_in_place_keeps_np_format(tmp_path):
    npx.set_np()
    net = initialized(book_mlp(), x_shape=MLP_X, mode="np")
    save(net, tmp_path / "n.params")
    npx.reset_np()
    convert(tmp_path / "n.params", tmp_path / "n.params", remap=Remap.add_prefix("net."))
    header = read_header(tmp_path / "n.params")
    assert header.np_shape and header.names == ["net.0.weight", "net.0.bias", "net.1.weight",
                                                "net.1.bias"]


# --------------------------------------------------------------------------- diff and export

def test_diff_blocks_files_and_mappings(tmp_path):
    a = initialized(book_mlp(), x_shape=MLP_X)
    save(a, tmp_path / "a.params")
    b = book_mlp()
    load(b, tmp_path / "a.params")
    assert diff(a, b).same and diff(a, tmp_path / "a.params").same
    b[1].bias.set_data(b[1].bias.data() + 0.5)
    report = diff(a, b)
    assert report.changed == ["1.bias"]
    row = report["1.bias"]
    assert row["max_abs"] == pytest.approx(0.5) and row["rel_l2"] == float("inf")
    assert row["cosine"] == 0.0  # a's bias is all zeros
    assert diff(a, b, atol=0.6).same
    assert diff(a, b, pattern=r"^0\.").same and len(diff(a, b, pattern=r"^0\.").rows) == 2
    m = diff({"w": onp.ones(3), "x": onp.ones(2)}, {"w": onp.ones((3, 1)), "y": onp.ones(1),
                                                    "x": onp.ones(2, dtype="float16")})
    assert [r["status"] for r in m.rows] == ["shape", "dtype", "only_b"]
    assert m.only_b == ["y"] and m["x"]["max_abs"] == 0.0
    assert re.search(r"^1\.bias +changed +\(10,\) +\(10,\) +0.5 +inf +0$", str(report), re.M)


def test_diff_nan_and_inf_at_the_same_place_are_the_same():
    nan, inf = float("nan"), float("inf")
    same = diff({"w": onp.array([1.0, nan, inf])}, {"w": onp.array([1.0, nan, inf])})
    assert same.same and same["w"]["max_abs"] == 0.0
    moved = diff({"w": onp.array([1.0, nan, 2.0])}, {"w": onp.array([1.0, 2.0, nan])})
    assert moved.changed == ["w"] and onp.isnan(moved["w"]["max_abs"])
    signs = diff({"w": onp.array([inf])}, {"w": onp.array([-inf])}, atol=1e30)
    assert signs.changed == ["w"] and signs["w"]["max_abs"] == inf


def test_diff_cosine_and_relative_l2():
    r = diff({"w": onp.array([3.0, 4.0])}, {"w": onp.array([3.0, 4.5])})["w"]
    assert r["rel_l2"] == pytest.approx(0.5 / 5.0)
    assert r["cosine"] == pytest.approx((9 + 18) / (5 * onp.hypot(3, 4.5)))


def test_export_npz_from_block_and_file(tmp_path):
    net = initialized(tied_mlp(), x_shape=MLP_X)
    keys = export_npz(net, tmp_path / "b.npz")
    assert keys == list(named_parameters(net))
    with onp.load(tmp_path / "b.npz", allow_pickle=False) as z:
        assert z.files == keys
        assert onp.array_equal(z["0.weight"], net[0].weight.data().asnumpy())
    save(net, tmp_path / "t.params")
    export_npz(tmp_path / "t.params", tmp_path / "f.npz", compressed=True)
    with onp.load(tmp_path / "f.npz", allow_pickle=False) as z:
        assert z.files == list(named_parameters(net, aliases=True))
    assert diff(tmp_path / "f.npz", tmp_path / "t.params").same


# --------------------------------------------------------------------------- header reader

DTYPES = ["float16", "float32", "float64", "uint8", "int8", "int32", "int64"]


def _agrees(path, np_shape=False):
    header = read_header(path)
    with mx.util.np_shape(np_shape):
        loaded = mx.nd.load(str(path))
    items = list(loaded.items()) if isinstance(loaded, dict) else list(enumerate(loaded))
    assert header.named == isinstance(loaded, dict)
    assert len(header) == len(items)
    for info, (key, arr) in zip(header.values(), items):
        assert info.name == (key if header.named else None)
        assert info.shape == arr.shape and info.dtype == onp.dtype(arr.dtype).name
        assert info.stype == arr.stype
        dense = arr.tostype("default").asnumpy() if arr.stype != "default" else arr.asnumpy()
        with DataFile.open(path) as src:
            assert onp.array_equal(read_array(src, info), dense)
    return header


@pytest.mark.parametrize("form", ["dict", "list"])
def test_header_agrees_with_nd_load_for_every_dtype(tmp_path, form):
    arrays = [mx.nd.array(onp.arange(6).reshape(2, 3) % 3, dtype=d) for d in DTYPES + ["bool"]]
    data = {f"a_{i}.{d}": a for i, (d, a) in enumerate(zip(DTYPES + ["bool"], arrays))}
    mx.nd.save(str(tmp_path / "f.params"), data if form == "dict" else list(data.values()))
    header = _agrees(tmp_path / "f.params")
    assert [a.dtype for a in header.values()] == DTYPES + ["bool"]
    offsets = [a.offset for a in header.values()]
    assert offsets == sorted(offsets) and header.file_size == os.path.getsize(tmp_path / "f.params")


@pytest.mark.parametrize("form", ["dict", "list"])
def test_header_agrees_with_npx_load_in_np_mode(tmp_path, form):
    npx.set_np()
    arrays = {d: mx.np.array(onp.arange(6).reshape(2, 3) % 2, dtype=d) for d in DTYPES + ["bool"]}
    arrays["scalar"] = mx.np.array(3.5)
    arrays["empty"] = mx.np.ones((0, 4))
    npx.save(str(tmp_path / "n.params"), arrays if form == "dict" else list(arrays.values()))
    npx.reset_np()
    header = _agrees(tmp_path / "n.params", np_shape=True)
    assert header.np_shape and header[-2].shape == () and header[-1].shape == (0, 4)


def test_header_of_sparse_arrays(tmp_path):
    rsp = mx.nd.array([[0, 0], [1, 2], [0, 0], [3, 4]]).tostype("row_sparse")
    csr = mx.nd.array([[0, 5, 0], [6, 0, 7]]).tostype("csr")
    mx.nd.save(str(tmp_path / "s.params"), {"rsp": rsp, "csr": csr})
    header = _agrees(tmp_path / "s.params")
    assert [a.stype for a in header.values()] == ["row_sparse", "csr"]


def test_header_of_gluon_files(tmp_path, mode):
    net = initialized(tied_mlp(), x_shape=MLP_X, mode=mode)
    net.save_parameters(str(tmp_path / "g.params"))
    header = _agrees(tmp_path / "g.params", np_shape=mode == "np")
    assert header.names == list(named_parameters(net, aliases=True))
    if mode == "nd":
        net.collect_params().save(str(tmp_path / "c.params"))
        assert _agrees(tmp_path / "c.params").names == list(net.collect_params().keys())


def _old_record(version, shape, values):
    """An array record in MXNet's V1 (int64 dims) or first (uint32 dims) format."""
    if version == 1:
        head = struct.pack("<Ii", 0xF993FAC8, len(shape)) + struct.pack(f"<{len(shape)}q", *shape)
    else:
        head = struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}I", *shape)
    return head + struct.pack("<iii", 1, 0, 0) + onp.asarray(values, "float32").tobytes()


@pytest.mark.parametrize("version", [0, 1])
def test_header_reads_older_formats_like_mxnet(tmp_path, version):
    rec = _old_record(version, (2, 2), [1, 2, 3, 4])
    name = b"old"
    blob = (struct.pack("<QQQ", 0x112, 0, 1) + rec + struct.pack("<QQ", 1, len(name)) + name)
    (tmp_path / "o.params").write_bytes(blob)
    header = _agrees(tmp_path / "o.params")
    assert header["old"].version == version and header["old"].shape == (2, 2)


def test_header_is_fast_on_large_data(tmp_path):
    mx.nd.save(str(tmp_path / "big.params"), {"w": mx.nd.zeros((1024, 1024))})
    assert read_header(tmp_path / "big.params")["w"].nbytes == 4 * 2**20


# --------------------------------------------------------------------------- fuzzing

@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    """A folder for the fuzzed files and the bytes of one valid file (dense, int64, sparse)."""
    d = tmp_path_factory.mktemp("fuzz")
    mx.nd.save(str(d / "v.params"), {"a.weight": mx.nd.ones((2, 3)),
                                     "b": mx.nd.array([1, 2], dtype="int64"),
                                     "s": mx.nd.array([[0, 1]]).tostype("row_sparse")})
    return d, (d / "v.params").read_bytes()


def _read_or_refuse(path, blob):
    path.write_bytes(blob)
    try:
        header = read_header(path)
    except CheckpointError as exc:
        assert str(exc)
        return None
    assert all(a.offset + a.nbytes <= len(blob) for a in header.values())
    return header


FUZZ = settings(max_examples=200, deadline=None)


@FUZZ
@given(data=st.data())
def test_fuzz_mutated_valid_files(fuzz_dir, data):
    d, blob = fuzz_dir
    buf = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    _read_or_refuse(d / "m.params", bytes(buf[:cut]))


@FUZZ
@given(blob=st.binary(max_size=300))
def test_fuzz_random_bytes(fuzz_dir, blob):
    d, _ = fuzz_dir
    prefix = struct.pack("<QQ", 0x112, 0)
    _read_or_refuse(d / "r.params", blob)
    _read_or_refuse(d / "p.params", prefix + blob)


@FUZZ
@given(count=st.integers(0, 2**64 - 1), ndim=st.integers(-2**31, 2**31 - 1),
       dim=st.integers(-2**63, 2**63 - 1))
def test_fuzz_hostile_counts(fuzz_dir, count, ndim, dim):
    d, _ = fuzz_dir
    blob = (struct.pack("<QQQ", 0x112, 0, count) + struct.pack("<Iii", 0xF993FAC9, 0, ndim)
            + struct.pack("<q", dim) + b"\0" * 40)
    _read_or_refuse(d / "h.params", blob)



ATHERIS_TARGET = r"""
import os, sys, tempfile
import gluon_params_kit
import atheris
from gluon_params_kit._io import params as _header
from gluon_params_kit.errors import CheckpointError

for fn in (_header.read_header, _header._read_array, _header._Reader.shape,
           _header._Reader.take, _header._Reader.skip, _header._Reader.view,
           _header._dense_record, _header._plain_name):
    atheris.instrument_func(fn)
path = os.path.join(tempfile.mkdtemp(), "f.params")

def one_input(data):
    with open(path, "wb") as f:
        f.write(data)
    try:
        _header.read_header(path)
    except CheckpointError:
        pass

atheris.Setup(sys.argv, one_input)
atheris.Fuzz()
"""


@pytest.mark.slow
def test_fuzz_with_atheris(fuzz_dir):
    """Coverage-guided fuzzing from a valid seed; anything but CheckpointError crashes it."""
    pytest.importorskip("atheris")
    d, _ = fuzz_dir
    corpus = d / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "seed.params").write_bytes((d / "v.params").read_bytes())
    proc = subprocess.run([sys.executable, "-c", ATHERIS_TARGET, "-runs=3000", "-seed=7",
                           "-max_len=400", str(corpus)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Done 3000 runs" in proc.stderr


def test_reports_render_as_text_and_html(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    save(net, tmp_path / "n.params")
    wrapper = nn.Sequential()
    wrapper.add(book_mlp())
    with pytest.raises(CheckpointError) as info:
        load(wrapper, tmp_path / "n.params")
    report = info.value.report
    assert str(report).splitlines() == [
        f"LoadReport {str(tmp_path / 'n.params')!r} -> Sequential (not applied): 0 loaded, "
        "4 missing, 4 unexpected, 0 shape, 0 dtype, 0 tied",
        "status      key              detail",
        "---------------------------------------------",
        "missing     0.{0..1}.weight  not in the file",
        "missing     0.{0..1}.bias    not in the file",
        "unexpected  {0..1}.weight    not in the block",
        "unexpected  {0..1}.bias      not in the block",
        "paired: 4 unexpected key(s) pair one to one with missing parameters: "
        "0.weight -> 0.0.weight, 0.bias -> 0.0.bias, 1.weight -> 0.1.weight (+1 more)",
        "suggested: remap=Remap.add_prefix('0.') (matches 4 of the block's parameters)",
    ]
    assert report.paired == {"0.weight": "0.0.weight", "0.bias": "0.0.bias",
                             "1.weight": "0.1.weight", "1.bias": "0.1.bias"}
    assert "<td" in report._repr_html_() and "Remap.add_prefix(&#x27;0.&#x27;)" in report._repr_html_()
    assert report.rows()[0] == ("missing", "0.{0..1}.weight", "not in the file")  # the table's rows
    assert report.to_records()[0] == {"key": "0.0.weight", "status": "missing",  # one per key
                                      "detail": "not in the file"}
    assert len(report.to_records()) == len(report) == 8
    d = diff(net, tmp_path / "n.params", all=True)  # identical keys too (by default: a count)
    assert d._repr_html_().startswith("<p>diff Sequential vs ") and "0.weight" in d._repr_html_()


def test_progress_bar_only_for_large_files():
    from gluon_params_kit.checkpoint._diff import _progress
    assert _progress(100 * 2**20, "small.params") is None
    bar = _progress(100 * 2**20 + 1, "big.params")
    assert bar is not None and bar.total == 100 * 2**20 + 1
    bar.close()


def test_iter_values_covers_the_array_in_order(tmp_path):
    from gluon_params_kit._io.formats import iter_values
    values = onp.arange(1000, dtype="float64").reshape(10, 100)
    mx.nd.save(str(tmp_path / "c.params"), {"v": mx.nd.array(values, dtype="float64")})
    header = read_header(tmp_path / "c.params")
    chunks = [c.copy() for c in iter_values(header, header["v"], chunk_values=100)]
    assert [c.size for c in chunks] == [100] * 10
    assert onp.array_equal(onp.concatenate(chunks), values.ravel())


# --------------------------------------------------------------------------- random architectures

@settings(max_examples=60, deadline=None)
@given(spec=architectures(), offset=st.integers(0, 3), dedup=st.booleans())
def test_round_trip_on_random_architectures(tmp_path_factory, spec, offset, dedup):
    """save == save_parameters byte for byte; load (strict) restores every value from
    either file; the auto-name file of another process loads through remap='structural'."""
    d = tmp_path_factory.mktemp("arch")
    with fresh_names():
        net = build(spec, known_shapes=True)
    net.initialize(mx.init.Uniform())
    save(net, d / "kit.params", deduplicate=dedup)
    net.save_parameters(str(d / "gluon.params"), deduplicate=dedup)
    if not dedup:  # deduplicated, Gluon keeps a shared Parameter's last path, the kit its first
        assert (d / "kit.params").read_bytes() == (d / "gluon.params").read_bytes()
    for source in ("kit.params", "gluon.params"):
        with fresh_names():
            fresh = build(spec, known_shapes=True)
        report = load(fresh, d / source)
        assert report.ok and diff(net, fresh).same
    with fresh_names():
        by_gluon = build(spec, known_shapes=True)
    by_gluon.load_parameters(str(d / "kit.params"))  # Gluon reads the kit's files too
    assert diff(net, by_gluon).same
    for _ in range(offset):
        nn.Dense(1)  # another process: the counter has moved on
    other = build(spec, known_shapes=True)
    other.initialize(mx.init.Uniform())
    other.collect_params().save(str(d / "legacy.params"))
    with fresh_names():
        target = build(spec, known_shapes=True)
    assert load(target, d / "legacy.params", remap="structural").ok
    assert diff(other, target).same


def _expand(pattern):
    """'0.{0..2}.w' -> ['0.0.w', '0.1.w', '0.2.w'] (the inverse of collapse_keys)."""
    m = re.search(r"\{(\d+)\.\.(\d+)\}|\{([\d,]+)\}", pattern)
    if not m:
        return [pattern]
    nums = (range(int(m.group(1)), int(m.group(2)) + 1) if m.group(1) is not None
            else [int(n) for n in m.group(3).split(",")])
    return [k for n in nums for k in _expand(pattern[:m.start()] + str(n) + pattern[m.end():])]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.sampled_from(["weight", "bias"])),
                unique=True))
def test_collapse_keys_expands_back_to_the_same_keys(triples):
    keys = [f"{a}.{b}.{c}" for a, b, c in triples]
    collapsed = collapse_keys(keys)
    expanded = [k for pattern in collapsed for k in _expand(pattern)]
    assert sorted(expanded) == sorted(keys) and len(collapsed) <= len(keys)


def test_load_report_is_a_mapping_of_keys(tmp_path):
    net = initialized(book_rgnet(), x_shape=(2, 20))
    mx.nd.save(str(tmp_path / "f.params"), {"1.weight": net[1].weight.data(), "extra": mx.nd.ones(1)})
    with pytest.warns(gpk.LoadWarning):
        report = load(initialized(book_rgnet(), x_shape=(2, 20)), tmp_path / "f.params", strict=False)
    keys = list(report)
    assert keys[0] == "1.weight" and keys[-1] == "extra" and len(keys) == len(report) == 19
    assert report["[1].weight"] == {"key": "1.weight", "status": "loaded", "detail": ""}
    assert report["0.0.0.bias"]["status"] == "missing" and report["extra"]["status"] == "unexpected"
    assert all(report[k]["key"] == k for k in report)
    with pytest.raises(gpk.PathError, match="Did you mean '1.weight'"):
        report["1.wieght"]


class _EveryDtype(nn.Block):
    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(3, in_units=2)
        for i, dt in enumerate(["float64", "float16", "uint8", "int32", "int8", "int64", "bool"]):
            setattr(self, f"p{i}", self.params.get(f"p{i}", shape=(2, 3), dtype=dt, init="ones"))


@pytest.mark.parametrize("ctx", [mx.cpu(0), mx.cpu(1)])
def test_save_writes_the_bytes_of_save_parameters_for_every_dtype_and_cpu(tmp_path, ctx):
    net = _EveryDtype()
    net.initialize(ctx=ctx)
    net.save_parameters(str(tmp_path / "gluon.params"))
    save(net, tmp_path / "kit.params")
    assert (tmp_path / "kit.params").read_bytes() == (tmp_path / "gluon.params").read_bytes()
    assert _convert._dense_records(dict(w=mx.nd.ones((2,)))) is not None


def test_save_leaves_sparse_arrays_and_np_shapes_to_mxnet(tmp_path):
    assert _convert._dense_records(dict(w=mx.nd.ones((2, 2)).tostype("row_sparse"))) is None
    with mx.util.np_shape(True):
        assert _convert._dense_records(dict(w=mx.nd.ones((2,)))) is None
    assert _convert._dense_records(dict(w=mx.nd.ones((2,)), e=mx.nd.ones((2, 2)).tostype("csr"))) is None


def test_a_full_disk_in_the_middle_of_the_kits_write_leaves_the_old_file(tmp_path, monkeypatch):
    import errno

    from gluon_params_kit._io import files as _files
    from gluon_params_kit.errors import CheckpointWriteError
    target = tmp_path / "net.params"
    net = initialized(book_mlp(), x_shape=MLP_X)
    save(net, target)
    before = target.read_bytes()
    real_write, calls = os.write, []

    def full(fd, data):  # small arrays are gathered into one write: part of it goes out
        calls.append(1)
        real_write(fd, memoryview(data)[:7])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_files.os, "write", full)
    other = initialized(book_mlp(), x_shape=MLP_X)
    with pytest.raises(CheckpointWriteError, match="no space left on device"):
        save(other, target)
    monkeypatch.undo()
    assert target.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["net.params"]


def _head_net(classes, head="output"):
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=3))
    setattr(net, head, nn.Dense(classes, in_units=4))
    net.initialize()
    return net


def test_load_exclude_leaves_the_head_out_without_warning(tmp_path):
    import warnings
    src = _head_net(10)
    f = tmp_path / "pretrained.params"
    save(src, f)
    dst = _head_net(5)  # a new head: another shape
    head_before = dst.output.weight.data().asnumpy().copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no LoadWarning for what was excluded
        report = load(dst, f, exclude=r"^output\.")
    assert report.excluded == ["output.weight", "output.bias"]
    assert report.missing == [] and report.unexpected == [] and not report.shape_mismatches
    assert report.loaded == ["0.weight", "0.bias"] and report.ok
    assert report["output.weight"]["status"] == "excluded"
    assert "2 excluded" in str(report) and "excluded  output.bias" in str(report)
    onp.testing.assert_array_equal(dst[0].weight.data().asnumpy(), src[0].weight.data().asnumpy())
    onp.testing.assert_array_equal(dst.output.weight.data().asnumpy(), head_before)
    # without exclude the same load is refused, nothing changed
    with pytest.raises(CheckpointError, match="shape"):
        load(_head_net(5), f)


def test_load_exclude_with_strict_counts_excluded_paths_as_not_missing(tmp_path):
    body = nn.HybridSequential()
    body.add(nn.Dense(4, in_units=3))
    body.initialize()
    f = tmp_path / "body.params"
    save(body, f)  # a file without any head
    net = _head_net(5)
    report = load(net, f, exclude="output", strict=True)
    assert report.missing == [] and report.excluded == ["output.weight", "output.bias"]
    # a file whose old head is named otherwise: its keys are excluded too, left unread
    old = _head_net(10, head="fc")
    save(old, tmp_path / "old.params")
    report = load(_head_net(5), tmp_path / "old.params", exclude=r"^(fc|output)\.")
    assert report.excluded == ["output.weight", "output.bias", "fc.weight", "fc.bias"]
    assert report.unexpected == [] and report.missing == []


def test_load_exclude_is_all_or_nothing_and_names_an_empty_selection(tmp_path):
    from gluon_params_kit.errors import SelectionError
    src = _head_net(10)
    save(src, tmp_path / "a.params")
    dst = _head_net(10)
    before = dst[0].weight.data().asnumpy().copy()
    with pytest.raises(SelectionError, match=r"exclude=.*selects nothing.*a\.params"):
        load(dst, tmp_path / "a.params", exclude="no_such_layer")
    # a shape problem outside the excluded part still refuses the whole load
    other = nn.HybridSequential()
    other.add(nn.Dense(7, in_units=3))
    other.output = nn.Dense(10, in_units=7)
    other.initialize()
    save(other, tmp_path / "b.params")
    with pytest.raises(CheckpointError):
        load(dst, tmp_path / "b.params", exclude="output")
    onp.testing.assert_array_equal(dst[0].weight.data().asnumpy(), before)
