import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import json
import os
import struct
import zipfile

import mxnet as mx
import numpy as onp
import pytest
from mxnet.gluon import nn
from safetensors.numpy import load_file, save_file

from gluon_params_kit import named_parameters
from gluon_params_kit._io import files as _files
from gluon_params_kit._io import params_writer as _writer
from gluon_params_kit.checkpoint import _convert, read_header, save
from gluon_params_kit.errors import CheckpointError

DTYPES = ["float16", "float32", "float64", "uint8", "int8", "int32", "int64", "bool"]


class _EveryDtype(nn.Block):
    """A Dense layer and one (2, 3) Parameter of each dtype MXNet holds, random bits each."""

    def __init__(self):
        super().__init__()
        self.dense = nn.Dense(3, in_units=2)
        for i, dt in enumerate(DTYPES):
            setattr(self, f"p{i}", self.params.get(f"p{i}", shape=(2, 3), dtype=dt, init="zeros"))


def _net(seed=0):
    net = _EveryDtype()
    net.initialize()
    rng = onp.random.default_rng(seed)
    for p in net.collect_params().values():
        dt = onp.dtype(p.dtype)
        raw = rng.integers(0, 256, int(onp.prod(p.shape)) * dt.itemsize, dtype=onp.uint8)
        values = raw.view(dt) if dt != onp.bool_ else (raw % 2).astype(bool)
        p.set_data(mx.nd.array(values.reshape(p.shape), dtype=dt))
    mx.nd.waitall()
    return net


def _conv_net():
    """Conv weights after a forward in predict mode (MXNet may keep them in MKL-DNN layouts)."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, in_channels=3), nn.BatchNorm(in_channels=8), nn.Conv2D(4, 3, in_channels=8))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    net(mx.nd.ones((1, 3, 12, 12)))
    mx.nd.waitall()
    return net


def _values(net):
    return {k: p.data().asnumpy() for k, p in named_parameters(net).items()}


def _header(raw: bytes):
    n = struct.unpack("<Q", raw[:8])[0]
    return n, json.loads(raw[8:8 + n]), raw[8 + n:]


@pytest.mark.parametrize("make", [_net, _conv_net])
def test_save_safetensors_is_laid_out_as_the_library_lays_it_out(tmp_path, make):
    net = make()
    path = tmp_path / "kit.safetensors"
    save(net, path)
    header = read_header(path)
    library = tmp_path / "library.safetensors"
    values = _values(net)
    save_file(values, str(library), metadata=dict(header.metadata))
    mine, theirs = _header(path.read_bytes()), _header(library.read_bytes())
    assert mine[0] == theirs[0]  # the same header length (padding included)
    assert list(mine[1]) == list(theirs[1])  # __metadata__, then the tensors in the library's order
    assert mine[1] == theirs[1] and mine[2] == theirs[2]  # the same entries, the same data bytes
    assert {k: v.tobytes() for k, v in load_file(str(path)).items()} == {k: v.tobytes() for k, v in values.items()}


@pytest.mark.parametrize("make", [_net, _conv_net])
def test_save_npz_holds_every_value_and_passes_the_zip_crc_check(tmp_path, make):
    net = make()
    path = tmp_path / "kit.npz"
    save(net, path)
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None  # every member's CRC-32 is right
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())
    with onp.load(path, allow_pickle=False) as z:
        got = {k: z[k] for k in z.files}
    want = _values(net)
    assert list(got) == list(want)
    assert all(got[k].dtype == want[k].dtype and got[k].tobytes() == want[k].tobytes() for k in want)


def test_save_params_of_a_conv_net_after_a_forward_is_save_parameters(tmp_path):
    net = _conv_net()
    net.save_parameters(str(tmp_path / "gluon.params"))
    save(net, tmp_path / "kit.params")
    assert (tmp_path / "kit.params").read_bytes() == (tmp_path / "gluon.params").read_bytes()


@pytest.mark.parametrize("suffix", [".params", ".safetensors", ".npz"])
def test_the_disk_is_asked_to_write_early_only_for_a_flush_or_a_big_rename_over_a_file(tmp_path, monkeypatch,
                                                                                       suffix):
    calls = []

    def counting(fd, offset, nbytes):
        calls.append(nbytes)
    monkeypatch.setattr(_files, "start_writeback", counting)
    monkeypatch.setattr(_writer, "start_writeback", counting)
    net = _net()
    save(net, tmp_path / f"a{suffix}", fsync=False)
    assert calls == []  # a new file, not flushed: the kernel writes it back when it likes
    save(net, tmp_path / f"b{suffix}")
    assert calls and sum(calls) > 0  # about to fsync: handed to the disk as written
    calls.clear()
    save(net, tmp_path / f"a{suffix}", fsync=False)
    assert calls == []  # renamed over a file, but small: flushed at the rename in one go
    monkeypatch.setattr(_convert, "EARLY_WRITEBACK_BYTES", 100)
    save(net, tmp_path / f"a{suffix}", fsync=False)
    assert calls and sum(calls) > 0  # big, renamed over a file: ext4 flushes it at the rename
    if suffix != ".npz":  # (an .npz records the time of writing)
        assert (tmp_path / f"a{suffix}").read_bytes() == (tmp_path / f"b{suffix}").read_bytes()


def test_host_bytes_reads_dense_cpu_arrays_in_place_and_nothing_else():
    a = mx.nd.array([[1, 2, 3], [4, 5, 6]], dtype="int32")
    data, shape, dtype = _convert.host_bytes(a)
    assert shape == (2, 3) and dtype == onp.int32 and data.tobytes() == a.asnumpy().tobytes()
    a[0, 0] = 9  # the same memory: a write shows
    mx.nd.waitall()
    assert data.view(onp.int32)[0] == 9
    kept = _convert.host_bytes(mx.nd.arange(4))[0]  # the view keeps its (temporary) array alive
    mx.nd.ones((4,)) * 7  # memory freed early would be reused here
    mx.nd.waitall()
    assert kept.view(onp.float32).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert _convert.host_bytes(a.tostype("row_sparse")) is None
    assert _convert.host_bytes(mx.nd.zeros((2,), dtype=onp.dtype([("bfloat16", onp.uint16)]))) is None
    assert _convert.host_bytes(a.as_np_ndarray()) is None
    with mx.util.np_shape(True):
        assert _convert.host_bytes(mx.nd.zeros((0, 3))) is None
    assert _convert.host_bytes(onp.ones(3)) is None


@pytest.mark.parametrize("chunk", [2, 7, 64, 1 << 20])
def test_write_behind_gathers_small_pieces_and_writes_each_byte_once(tmp_path, chunk, monkeypatch):
    pieces = [bytes([i % 251]) * n for i, n in enumerate([1, 5, 0, 3, 2_000_000, 7, (1 << 20) - 1, 1 << 20, 4, 9])]
    writes = []
    real = os.write

    def counted(fd, data):
        writes.append(len(data))
        return real(fd, data)
    monkeypatch.setattr(_files.os, "write", counted)
    path = str(tmp_path / "x.bin")
    assert _files.write_behind(path, pieces, chunk=chunk, writeback=False) == sum(map(len, pieces))
    monkeypatch.undo()
    assert open(path, "rb").read() == b"".join(pieces)
    assert sum(writes) == sum(map(len, pieces))
    if chunk == 1 << 20:
        assert len(writes) < len(pieces)  # the small ones went out together


def test_a_file_shorter_than_what_the_kit_wrote_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "net.safetensors"
    save(_net(), target)
    before = target.read_bytes()
    real = _convert._safetensors.write

    def losing(path, arrays, metadata, **options):
        written = real(path, arrays, metadata, **options)
        os.truncate(path, written - 4)
        return written
    monkeypatch.setattr(_convert._safetensors, "write", losing)
    with pytest.raises(CheckpointError, match=r"the file the kit wrote holds \d+ bytes, not the \d+ it wrote"):
        save(_net(seed=1), target)
    assert target.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["net.safetensors"]


def test_writers_end_a_longer_file_where_their_bytes_end(tmp_path):
    """The kit opens a file to write without truncating it first (ext4 flushes a file
    truncated to zero at its close); old bytes past the new end are cut."""
    from gluon_params_kit._io import npz as _npz
    from gluon_params_kit._io import safetensors_file as _st
    arrays = {"w": onp.arange(6, dtype="float32").reshape(2, 3), "b": onp.ones(2, "int64")}
    for name, write in [("x.bin", lambda p: _files.write_behind(p, [b"abc", b"de"])),
                        ("x.safetensors", lambda p: _st.write(p, arrays, {"k": "v"})),
                        ("x.npz", lambda p: _npz.write(p, arrays))]:
        path = tmp_path / name
        path.write_bytes(b"\xff" * 100_000)
        written = write(str(path))
        assert os.path.getsize(path) == written
    assert (tmp_path / "x.bin").read_bytes() == b"abcde"
    assert {k: v.tolist() for k, v in load_file(str(tmp_path / "x.safetensors")).items()} == \
        {k: v.tolist() for k, v in arrays.items()}
    with onp.load(tmp_path / "x.npz") as z:
        assert {k: z[k].tolist() for k in z.files} == {k: v.tolist() for k, v in arrays.items()}


def test_the_files_written_are_never_truncated_to_zero(tmp_path, monkeypatch):
    real, flags = os.open, []

    def opening(path, flag, *args, **kwargs):
        flags.append(flag)
        return real(path, flag, *args, **kwargs)
    monkeypatch.setattr(os, "open", opening)
    net = _net()
    for suffix in (".params", ".safetensors", ".npz"):
        save(net, tmp_path / f"n{suffix}", fsync=False)
    monkeypatch.undo()
    assert flags and not any(f & os.O_TRUNC for f in flags)
