"""Bad inputs to checkpoint/ and the header reader: the error type and what it says.

Part of the bad-input suite (``tests/test_errors*.py``); ``tests/reliability/test_np_mode.py``
replays it in np mode, so arrays are made in the current mode.
"""
import math
import struct

import mxnet as mx
import numpy as onp
import pytest
from fixtures import CPU2, book_mlp
from fixtures import initialized_in_current_mode as initialized
from mxnet.gluon import nn

from gluon_params_kit.checkpoint import (
    Remap,
    convert,
    diff,
    export_npz,
    load,
    read_header,
    save,
)
from gluon_params_kit.errors import (
    CheckpointError,
    CheckpointTypeError,
    DeviceError,
    DeviceTypeError,
    PathError,
    SelectionError,
)

MLP_X = (2, 20)


@pytest.fixture
def mlp_file(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    save(net, tmp_path / "mlp.params")
    return tmp_path / "mlp.params"


def test_save_refuses_deferred_parameters(tmp_path):
    net = book_mlp()
    net.initialize()  # deferred until a forward pass
    with pytest.raises(CheckpointError, match=r"2 parameters are not initialized yet "
                                              r"\('\{0..1\}.weight'\); run a forward pass"):
        save(net, tmp_path / "x.params")
    assert not (tmp_path / "x.params").exists()


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="folder .*nope.* does not exist"):
        save(initialized(book_mlp(), x_shape=MLP_X), tmp_path / "nope" / "x.params")


def test_save_and_load_need_a_block(mlp_file):
    with pytest.raises(PathError, match="block must be a mxnet.gluon.Block, got str"):
        save("net", mlp_file)
    with pytest.raises(PathError, match="got dict"):
        load({}, mlp_file)


def test_load_unknown_dtype_policy(mlp_file):
    with pytest.raises(CheckpointError, match=r"unknown dtype policy 'float16'\. Expected one of "
                                              r"'check', 'cast', 'saved'"):
        load(book_mlp(), mlp_file, dtype="float16")
    with pytest.raises(CheckpointTypeError, match=r"unknown dtype policy 3\."):
        load(book_mlp(), mlp_file, dtype=3)


def test_save_options_of_the_wrong_type(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    with pytest.raises(CheckpointTypeError, match=r"compressed must be True or False, got 'yes'"):
        save(net, tmp_path / "f.npz", compressed="yes")
    with pytest.raises(CheckpointTypeError, match=r"metadata must be a mapping of str to str, got list"):
        save(net, tmp_path / "f.safetensors", metadata=["a"])
    with pytest.raises(CheckpointTypeError, match=r"strict must be True or False, got 1"):
        load(net, tmp_path / "missing.params", strict=1)
    assert not list(tmp_path.iterdir())  # nothing written


def test_load_bad_remaps(mlp_file):
    with pytest.raises(CheckpointError, match="unknown remap 'structurel'; expected one of "
                                              "'gluon', 'legacy', 'structural'"):
        load(book_mlp(), mlp_file, remap="structurel")
    with pytest.raises(CheckpointTypeError, match="remap must be a Remap, .* got int"):
        load(book_mlp(), mlp_file, remap=3)
    with pytest.raises(CheckpointError, match="sends both '0.weight' and '0.bias' to 'w'"):
        load(book_mlp(), mlp_file, remap=Remap.rename(r"^0\.\w+$", "w"))


def test_bad_regex_in_rename():
    with pytest.raises(CheckpointError, match=r"remap pattern '\(' is not a valid regex"):
        Remap.rename("(", "x")
    with pytest.raises(CheckpointError, match=r"remap replacement '\\\\2' is not valid for "
                                              r"pattern '\(w\)': invalid group reference 2"):
        Remap.rename("(w)", r"\2")


def test_load_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="cannot open checkpoint .*none.params"):
        load(book_mlp(), tmp_path / "none.params")


def test_load_list_file_says_it_has_no_names(tmp_path):
    mx.nd.save(str(tmp_path / "l.params"), [mx.nd.ones((2,))])
    with pytest.raises(CheckpointError, match="unnamed list of arrays"):
        load(book_mlp(), tmp_path / "l.params")


def test_load_ctx_conflict_changes_nothing(mlp_file):
    net = initialized(book_mlp(), x_shape=MLP_X)
    before = net[0].weight.data().asnumpy().copy()
    with pytest.raises(DeviceError, match=r"parameter '0.weight' lives on \[cpu\(0\)\], "
                                          r"not on ctx="):  # a context's error, whoever gets it
        load(net, mlp_file, ctx=CPU2)
    assert onp.array_equal(net[0].weight.data().asnumpy(), before)


@pytest.mark.parametrize("ctx, error, message", [
    (ctx, error, r"ctx must be None, an mx.Context or a non-empty list of distinct ones, like mx.cpu\(\)")
    for ctx, error in [("cpu", DeviceTypeError), ([], DeviceError), ([mx.cpu(0), "gpu"], DeviceTypeError),
                       (0, DeviceTypeError)]
] + [([mx.cpu(1), mx.cpu(1)], DeviceError, r"ctx lists a context twice: \[cpu\(1\), cpu\(1\)\]")])
def test_load_bad_ctx_changes_nothing(mlp_file, ctx, error, message):
    net = book_mlp()
    with pytest.raises(error, match=message) as info:  # a DeviceError, as in move() and InitPlan.apply()
        load(net, mlp_file, ctx=ctx)
    assert type(info.value) is error
    assert all(p._data is None for p in net.collect_params().values())


def test_header_wrong_magic(tmp_path):
    (tmp_path / "x.params").write_bytes(struct.pack("<QQQ", 0x113, 0, 0) + b"\0" * 8)
    with pytest.raises(CheckpointError, match=r"wrong list magic number 0x113 \(expected 0x112\)"):
        read_header(tmp_path / "x.params")


def test_header_too_short(tmp_path):
    (tmp_path / "x.params").write_bytes(b"\x12\x01")
    with pytest.raises(CheckpointError, match="too short to hold the 16-byte list header"):
        read_header(tmp_path / "x.params")


def test_header_truncated_data(mlp_file, tmp_path):
    blob = mlp_file.read_bytes()
    (tmp_path / "t.params").write_bytes(blob[:1000])
    with pytest.raises(CheckpointError, match=r"array 0 data \(float32, shape \(256, 20\)\) needs "
                                              r"20480 bytes but only 936 are left \(truncated\?\)"):
        read_header(tmp_path / "t.params")


def test_header_hostile_count(tmp_path):
    (tmp_path / "x.params").write_bytes(struct.pack("<QQQ", 0x112, 0, 2**62) + b"\0" * 64)
    with pytest.raises(CheckpointError, match=f"claims {2**62} arrays, more than the 64 bytes left"):
        read_header(tmp_path / "x.params")


def test_header_hostile_ndim_and_dtype(tmp_path):
    rec = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iii", 0xF993FAC9, 0, 10**6)
    (tmp_path / "x.params").write_bytes(rec + b"\0" * 16)
    with pytest.raises(CheckpointError, match="impossible number of dimensions 1000000"):
        read_header(tmp_path / "x.params")
    rec = (struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iiiq", 0xF993FAC9, 0, 1, 2)
           + struct.pack("<iii", 1, 0, 99))
    (tmp_path / "y.params").write_bytes(rec + b"\0" * 16)
    with pytest.raises(CheckpointError, match=r"unknown dtype flag 99 \(known: \[0, 1, 2"):
        read_header(tmp_path / "y.params")
    rec = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Ii", 0xF993FAC9, 7)
    (tmp_path / "z.params").write_bytes(rec + b"\0" * 16)
    with pytest.raises(CheckpointError, match=r"unknown storage type 7 \(known: \[0, 1, 2\]\)"):
        read_header(tmp_path / "z.params")


def test_header_names_count_and_utf8(tmp_path, mlp_file):
    blob = bytearray(mlp_file.read_bytes())
    names_at = read_header(mlp_file)[-1].offset + read_header(mlp_file)[-1].nbytes
    bad = blob[:names_at] + struct.pack("<Q", 3) + blob[names_at + 8:]
    (tmp_path / "n.params").write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="it has 4 arrays but 3 names"):
        read_header(tmp_path / "n.params")
    bad = blob[:names_at + 16] + b"\xff" + blob[names_at + 17:]
    (tmp_path / "u.params").write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="name 0 is not valid UTF-8"):
        read_header(tmp_path / "u.params")


def test_convert_errors(mlp_file, tmp_path):
    with pytest.raises(CheckpointError, match="convert: unknown to 'auto'. Expected one of 'structural', 'legacy'"):
        convert(mlp_file, tmp_path / "o.params", to="auto")
    with pytest.raises(CheckpointError, match=r"Remap.to_legacy\(\) needs the target block"):
        convert(mlp_file, tmp_path / "o.params", to="legacy")
    with pytest.raises(CheckpointError, match="gives repeated keys 'x'; nothing was written"):
        convert(mlp_file, tmp_path / "o.params", remap=Remap.keys(lambda k: "x"))
    assert not (tmp_path / "o.params").exists()
    other = nn.Sequential()
    other.add(nn.Dense(3))
    with pytest.raises(CheckpointError, match=r"Remap.to_legacy\(\): no parameter at path "
                                              r"'1.weight'"):
        convert(mlp_file, tmp_path / "o.params", to="legacy", block=other)


def test_to_structural_that_cannot_match(tmp_path):
    mx.nd.save(str(tmp_path / "l.params"), {"dense7_weight": mx.nd.ones((2, 2)),
                                            "conv0_weight": mx.nd.ones((2, 2))})
    with pytest.raises(CheckpointError, match="cannot convert 2 auto names to paths of Sequential: "
                                              "cannot match auto names by structure"):
        load(book_mlp(), tmp_path / "l.params", remap="structural")


def test_diff_errors(mlp_file, tmp_path):
    with pytest.raises(SelectionError, match=r"invalid regular expression '\['"):
        diff(mlp_file, mlp_file, pattern="[")
    with pytest.raises(CheckpointError, match="a must be a Block, a file path or a mapping of "
                                              "arrays, got int"):
        diff(3, mlp_file)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot read .*bad.npz.* as .npz"):
        diff(tmp_path / "bad.npz", mlp_file)


@pytest.mark.parametrize("atol, error", [(-1, CheckpointError), (math.nan, CheckpointError),
                                         (math.inf, CheckpointError), (True, CheckpointTypeError),
                                         ("0.1", CheckpointTypeError)])
def test_diff_bad_atol(mlp_file, atol, error):
    with pytest.raises(error, match=rf"diff: atol must be a finite number >= 0, got {atol!r}") as info:
        diff(mlp_file, mlp_file, atol=atol)
    assert type(info.value) is error


def test_export_uninitialized_block(tmp_path):
    with pytest.raises(CheckpointError, match=r"export source: parameters not initialized yet: "
                                              r"'\{0..1\}.weight'"):
        export_npz(book_mlp(), tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
