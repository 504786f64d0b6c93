"""Faults and bad input that used to escape as raw errors or wrong results.

A full disk (simulated: the free space the kit sees, an ENOSPC from a write, and MXNet
losing a failed write silently), huge keys, NUL bytes in stored names, 0-d and
zero-size shapes in ``.npz`` export, the dtype hint of a refused load, tie/tied_groups
misuse, arguments of the wrong type, and size-like arguments without a bound.
"""
import errno
import os

import mxnet as mx
import numpy as onp
import pytest
from mxnet.gluon import nn

import gluon_params_kit._io.files as files
import gluon_params_kit.checkpoint._convert as convert_mod
from gluon_params_kit import fresh_names
from gluon_params_kit.checkpoint import Remap, convert, export_npz, load, read_header, save
from gluon_params_kit.cli import main
from gluon_params_kit.errors import CheckpointError, CheckpointWriteError, InitializerError, ParamsKitError, TieError
from gluon_params_kit.initializers import InitPlan, provenance, reinitialize
from gluon_params_kit.inspection import InspectionError, stats, summary
from gluon_params_kit.tying import check_tied_gradients, tie, tied_groups

from ._util import listing, ones, small_net

# --------------------------------------------------------------------------- full disk


@pytest.fixture
def old_file(tmp_path):
    path = tmp_path / "net.params"
    save(small_net(), path)
    return path, path.read_bytes()


def _other_net():
    net = small_net()
    net[0].bias.set_data(net[0].bias.data() + 5)
    return net


WRITES = {
    "save": lambda target, src: save(_other_net(), target),
    "convert": lambda target, src: convert(src, target, remap=Remap.add_prefix("m.")),
    "export_npz": lambda target, src: export_npz(_other_net(), target),
}


def _assert_no_space(info, folder, target, before):
    err = info.value
    assert isinstance(err, CheckpointError) and isinstance(err, OSError)
    assert isinstance(err, CheckpointWriteError) and err.errno == errno.ENOSPC
    assert "no space left on device" in str(err) and "previous file is untouched" in str(err)
    assert target.read_bytes() == before
    assert listing(folder) == sorted({target.name, "src.params"} & set(os.listdir(folder))
                                     | {target.name})


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_disk_too_full_for_the_file_is_refused_before_writing(tmp_path, old_file, write,
                                                                 monkeypatch):
    target, before = old_file
    src = tmp_path / "src.params"
    save(small_net(), src)
    monkeypatch.setattr(files, "free_bytes", lambda folder: 100)
    with pytest.raises(CheckpointWriteError, match="no space left on device") as info:
        WRITES[write](target, src)
    assert "bytes needed, 100 free" in str(info.value)
    _assert_no_space(info, tmp_path, target, before)


def test_enospc_in_the_middle_of_export_npz(tmp_path, old_file, monkeypatch):
    target, before = old_file
    real = os.pwrite  # the kit's stored-member writer (small members gathered into one write)

    def full(fd, data, offset):  # some bytes are out already
        real(fd, memoryview(data)[:10], offset)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError) as info:
        export_npz(_other_net(), target)
    _assert_no_space(info, tmp_path, target, before)


@pytest.mark.parametrize("write", ["save"])  # convert writes .params itself (no MXNet writer)
def test_mxnet_losing_a_write_on_a_full_disk_is_caught(tmp_path, old_file, write, monkeypatch):
    """MXNet's writer flushes at close and ignores a failure there: a short file, no error."""
    target, before = old_file
    src = tmp_path / "src.params"
    save(small_net(), src)
    def losing(real_save):
        def short_save(fname, data):
            real_save(fname, data)
            with open(fname, "r+b") as f:
                f.truncate(os.path.getsize(fname) // 2)
        return short_save

    monkeypatch.setattr(convert_mod, "_dense_records", lambda arrays: None)  # MXNet writes
    monkeypatch.setattr(mx.nd, "save", losing(mx.nd.save))
    monkeypatch.setattr(mx.npx, "save", losing(mx.npx.save))  # what save() uses in np mode
    monkeypatch.setattr(files, "free_bytes", lambda folder: 0 if folder == str(tmp_path) else None)
    with pytest.raises(CheckpointWriteError) as info:
        WRITES[write](target, src)
    _assert_no_space(info, tmp_path, target, before)
    monkeypatch.setattr(files, "free_bytes", lambda folder: None)  # space unknown: say what
    with pytest.raises(CheckpointError, match="the file MXNet wrote is incomplete"):
        WRITES[write](target, src)
    assert target.read_bytes() == before and sorted(os.listdir(tmp_path)) == sorted(
        {"net.params", "src.params"})


def test_an_mxnet_error_on_a_full_disk_says_no_space(tmp_path, old_file, monkeypatch):
    target, before = old_file

    def failing(fname, data):
        with open(fname, "wb") as f:
            f.write(b"\x12\x01")
        raise mx.base.MXNetError("Check failed: ... FileStream.Write incomplete")

    monkeypatch.setattr(convert_mod, "_dense_records", lambda arrays: None)  # MXNet writes
    monkeypatch.setattr(mx.nd, "save", failing)
    monkeypatch.setattr(mx.npx, "save", failing)
    monkeypatch.setattr(files, "free_bytes", lambda folder: 0)
    with pytest.raises(CheckpointWriteError, match="no space left on device") as info:
        save(_other_net(), target)
    _assert_no_space(info, tmp_path, target, before)
    monkeypatch.setattr(files, "free_bytes", lambda folder: None)
    with pytest.raises(CheckpointWriteError, match="MXNet could not write .*FileStream.Write "
                                                   "incomplete; the previous file is untouched"):
        save(_other_net(), target)
    assert target.read_bytes() == before and listing(tmp_path) == ["net.params"]


# --------------------------------------------------------------------------- keys and names


def test_export_refuses_a_key_too_long_for_a_zip_entry(tmp_path):
    src = tmp_path / "long.params"
    with mx.util.np_array(False), mx.util.np_shape(False):
        mx.nd.save(str(src), {"k" * 100_000: mx.nd.ones(2), "short": mx.nd.zeros(2)})
    with pytest.raises(CheckpointError, match=r"a zip entry name holds at most 65535 bytes") as e:
        export_npz(src, tmp_path / "out.npz")
    assert "100000" in str(e.value) and "'kkkk" in str(e.value)
    assert listing(tmp_path) == ["long.params"]
    name = "k" * (65535 - len(".npy"))  # the longest key that fits
    with mx.util.np_array(False), mx.util.np_shape(False):
        mx.nd.save(str(src), {name: mx.nd.ones(2)})
    assert export_npz(src, tmp_path / "out.npz") == [name]


def _file_with_name(path, raw_name):
    with mx.util.np_array(False), mx.util.np_shape(False):
        mx.nd.save(str(path), {"aXb": mx.nd.ones(2), "a": mx.nd.zeros(2)})
    data = path.read_bytes()
    assert data.count(b"aXb") == 1
    path.write_bytes(data.replace(b"aXb", raw_name))


def test_a_nul_byte_in_a_stored_name_makes_the_file_damaged(tmp_path, capsys):
    bad = tmp_path / "nul.params"
    _file_with_name(bad, b"a\x00b")
    with mx.util.np_array(False), mx.util.np_shape(False):
        assert sorted(mx.nd.load(str(bad))) == ["a"]  # MXNet cuts the name: two arrays, one key
    with pytest.raises(CheckpointError, match=r"name 0 holds a NUL byte: b'a\\x00b'"):
        read_header(bad)
    net = nn.Dense(2, in_units=1)
    with pytest.raises(CheckpointError, match="NUL byte"):
        load(net, bad)
    assert main(["inspect", str(bad)]) == 1 and "NUL byte" in capsys.readouterr().err


def test_names_read_header_accepts_are_the_names_mxnet_loads(tmp_path):
    good = tmp_path / "ok.params"
    _file_with_name(good, "a\u00e9".encode("utf-8"))  # 3 bytes, as long as 'aXb'
    with mx.util.np_array(False), mx.util.np_shape(False):
        assert sorted(mx.nd.load(str(good))) == sorted(read_header(good).names)


# --------------------------------------------------------------------------- shapes


def test_export_npz_round_trips_0d_and_zero_size_shapes_exactly(tmp_path):
    src = tmp_path / "shapes.params"
    with mx.util.np_shape(True), mx.util.np_array(True):
        mx.npx.save(str(src), {"scalar": mx.np.array(3.5), "int0d": mx.np.array(7, dtype="int64"),
                               "rows0": mx.np.zeros((0, 3)), "cols0": mx.np.ones((2, 0)),
                               "empty3": mx.np.zeros((2, 0, 4), dtype="float16")})
    assert [a.shape for a in read_header(src).values()] == [(), (), (0, 3), (2, 0), (2, 0, 4)]
    export_npz(src, tmp_path / "out.npz")
    with onp.load(tmp_path / "out.npz", allow_pickle=False) as z:
        got = {k: (z[k].shape, z[k].dtype.name, z[k].tolist()) for k in z.files}
    assert got == {"scalar": ((), "float32", 3.5), "int0d": ((), "int64", 7),
                   "rows0": ((0, 3), "float32", []), "cols0": ((2, 0), "float32", [[], []]),
                   "empty3": ((2, 0, 4), "float16", [[], []])}


# --------------------------------------------------------------------------- load hints


def test_a_dtype_mismatch_suggests_dtype_cast_not_strict_false(tmp_path):
    path = tmp_path / "net.params"
    save(small_net(), path)
    half = small_net()
    half.cast("float16")
    with pytest.raises(CheckpointError) as info:
        load(half, path)
    msg = str(info.value)
    assert "4 with a different dtype" in msg and "Use dtype='cast'" in msg
    assert "strict=False" not in msg  # it would load nothing
    report = load(half, path, dtype="cast")
    assert report.applied and len(report.cast) == 4 and onp.dtype(half[0].weight.dtype) == onp.float16


def test_dtype_and_missing_keys_get_both_hints(tmp_path):
    path = tmp_path / "net.params"
    save(small_net(), path)
    with fresh_names():
        bigger = nn.Sequential()
        bigger.add(nn.Dense(3, in_units=4), nn.Dense(2, in_units=3), nn.Dense(1, in_units=2))
    bigger.initialize()
    bigger.cast("float16")
    with pytest.raises(CheckpointError) as info:
        load(bigger, path)
    assert "2 missing from the file" in str(info.value)
    assert "Use dtype='cast'" in str(info.value) and "Use strict=False" in str(info.value)


def test_strict_must_be_a_bool(tmp_path):
    path = tmp_path / "net.params"
    save(small_net(), path)
    with pytest.raises(TypeError, match="strict must be True or False, got 'no'"):
        load(small_net(), path, strict="no")


# --------------------------------------------------------------------------- tying


def test_tie_refuses_a_root_that_does_not_hold_the_target():
    net, other = small_net(), small_net()
    w0 = net[0].weight
    with pytest.raises(TieError, match=r"target Dense '.*' is not inside root Sequential .*"
                                       r"nothing was changed"):
        tie(net[1], net[0], root=other)
    assert net[0].weight is w0 and net[1].weight is not w0


def test_tied_groups_and_check_tied_gradients_report_a_wrong_input_as_a_kit_error():
    from gluon_params_kit.chapter import shared_mlp
    net = shared_mlp()
    net.initialize()
    net(ones((2, 4)))
    for bad in (ones((2, 7)), "not an array"):
        with pytest.raises(TieError, match="cannot run on x .*Give an input the network accepts"):
            tied_groups(net, bad)
    fresh = shared_mlp()
    fresh.initialize()  # deferred: the forward that finishes it gets a wrong input
    with pytest.raises(TieError, match="finishing deferred initialization: .*cannot run on x"):
        check_tied_gradients(fresh, "x", lambda out: out.sum())


# --------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize("bad", ["net", {}, 42, None])
def test_a_non_block_is_a_type_error_everywhere(bad, tmp_path):
    path = tmp_path / "net.params"
    save(small_net(), path)
    calls = [lambda: save(bad, path), lambda: load(bad, path), lambda: tied_groups(bad),
             lambda: InitPlan([], default="ones").apply(bad), lambda: provenance(bad),
             lambda: reinitialize(bad, "ones"), lambda: tie(bad, small_net()),
             lambda: tie(small_net(), small_net(), root=bad if bad is not None else 42)]
    for call in calls:
        with pytest.raises(TypeError) as info:
            call()
        assert isinstance(info.value, ParamsKitError), repr(info.value)
        assert "must be a mxnet.gluon.Block" in str(info.value)
    assert read_header(path).names == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_old_except_clauses_still_catch_the_type_errors(tmp_path):
    from gluon_params_kit.errors import PathError
    with pytest.raises(PathError):
        save("net", tmp_path / "x.params")
    with pytest.raises(InitializerError):
        provenance([])
    with pytest.raises(TieError):
        tied_groups(3)


# --------------------------------------------------------------------------- size bounds


def test_bins_are_bounded_and_the_bound_is_named():
    net = small_net()
    for call in (lambda: summary(net, stats=True, bins=10**9), lambda: stats(net, bins=10**9),
                 lambda: summary(net, grads=True, bins=10_001)):
        with pytest.raises(InspectionError, match=r"bins must be an int in 1\.\.10000, got "):
            call()
    assert len(stats(net, bins=10_000)["0.weight"].hist) == 10_000
