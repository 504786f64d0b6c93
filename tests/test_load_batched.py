import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import os

import mxnet as mx
import numpy as onp
import pytest
from mxnet.gluon import nn
from safetensors.numpy import load_file, save_file

from gluon_params_kit import named_parameters
from gluon_params_kit.checkpoint import _convert, load
from gluon_params_kit.errors import CheckpointError

#: name -> (shape, dtype): every dtype read in place, and what goes through numpy (0-d, empty).
SPECS = {"a": ((3, 5), "float32"), "b": ((7,), "float16"), "c": ((2, 3, 4), "float64"), "d": ((9,), "uint8"),
         "e": ((4, 2), "int8"), "f": ((5,), "int32"), "g": ((3,), "int64"), "h": ((6,), "bool"),
         "j": ((), "float32"), "k": ((0, 3), "float32")}


class Holder(nn.Block):
    def __init__(self, specs, **kwargs):
        super().__init__(**kwargs)
        for name, (shape, dtype) in specs.items():
            setattr(self, name, self.params.get(name, shape=shape, dtype=dtype,
                                                 init=mx.init.Zero(), allow_deferred_init=True))


def _values(specs, seed=0):
    rng = onp.random.default_rng(seed)
    out = {}
    for name, (shape, dtype) in specs.items():
        if dtype == "bool":
            out[name] = rng.integers(0, 2, shape).astype(bool)
            continue
        dt = onp.dtype(dtype)
        raw = rng.integers(0, 256, int(onp.prod(shape)) * dt.itemsize, dtype=onp.uint8)
        out[name] = raw.view(dt).reshape(shape)
    return out


def _bits(param):
    values = param.data().asnumpy()
    return values.shape, values.tobytes()


def _file(tmp_path, specs, seed=0):
    """A .safetensors file the library wrote, with random bits (NaN payloads too)."""
    values = _values(specs, seed)
    path = tmp_path / "x.safetensors"
    save_file(values, str(path))
    return path, load_file(str(path))


def _loaded(specs, path, **kwargs):
    with mx.util.np_shape(True):
        net = Holder(specs)
        net.initialize()
        load(net, path, **kwargs)
        return {k: _bits(p) for k, p in named_parameters(net).items()}


def _expected(values):
    return {k: (v.shape, v.tobytes()) for k, v in values.items()}


def test_batched_reads_give_the_library_bits_for_every_dtype(tmp_path):
    path, values = _file(tmp_path, SPECS)
    assert _convert._BATCHED  # this machine reads in runs (POSIX, little-endian)
    assert _loaded(SPECS, path) == _expected(values)


@pytest.mark.parametrize("iov_max", [1, 2, 3])
def test_runs_split_at_the_buffer_limit_read_the_same_bits(tmp_path, monkeypatch, iov_max):
    path, values = _file(tmp_path, SPECS, seed=1)
    monkeypatch.setattr(_convert, "_IOV_MAX", iov_max)
    assert _loaded(SPECS, path) == _expected(values)


def test_short_reads_are_finished_array_by_array(tmp_path, monkeypatch):
    """The kernel may read less than asked (its limit per call, a signal): the rest of each
    array is read on its own, and the values are the same."""
    path, values = _file(tmp_path, SPECS, seed=2)
    real, calls = os.preadv, []

    def short(fd, buffers, offset):
        calls.append(len(buffers))
        if len(buffers) > 1:  # a run: read only half of it
            total = sum(len(memoryview(b)) for b in buffers)
            head = bytearray(total // 2 + 3)
            n = real(fd, [head], offset)
            done = 0
            for b in buffers:
                view = memoryview(b).cast("B")
                take = min(len(view), n - done)
                if take <= 0:
                    break
                view[:take] = head[done:done + take]
                done += take
            return n
        return real(fd, buffers, offset)
    monkeypatch.setattr(os, "preadv", short)
    assert _loaded(SPECS, path) == _expected(values)
    assert max(calls) > 1  # runs were read, and cut short


def test_a_file_ending_mid_run_names_the_array_and_changes_nothing(tmp_path, monkeypatch):
    specs = {k: v for k, v in SPECS.items() if k != "k"}  # (0, 3): deferred until a load
    path, _values_ = _file(tmp_path, specs, seed=3)
    real = os.preadv
    from gluon_params_kit.checkpoint import read_header
    header = read_header(path)
    cut = header["f"].offset + 2  # inside int32 'f'

    def ends_early(fd, buffers, offset):
        views = [memoryview(b).cast("B") for b in buffers]
        room = max(cut - offset, 0)
        mine, left = [], room
        for v in views:
            if left <= 0:
                break
            mine.append(v[:left])
            left -= len(v[:left])
        return real(fd, mine, offset) if mine else 0
    monkeypatch.setattr(os, "preadv", ends_early)
    with mx.util.np_shape(True):
        net = Holder(specs)
        net.initialize(mx.init.One())
        before = {k: _bits(p) for k, p in named_parameters(net).items()}
        with pytest.raises(CheckpointError, match=r"'f'.*short read at byte"):
            load(net, path)
        assert {k: _bits(p) for k, p in named_parameters(net).items()} == before


def test_a_deferred_net_takes_its_shapes_from_batched_reads(tmp_path):
    specs = {k: v for k, v in SPECS.items() if v[0] and 0 not in v[0]}
    path, values = _file(tmp_path, specs, seed=4)
    with mx.util.np_shape(True):
        net = Holder({k: ((-1,) * len(s), d) for k, (s, d) in specs.items()})
        net.initialize()
        load(net, path)
        got = {k: _bits(p) for k, p in named_parameters(net).items()}
    assert got == _expected(values)


@pytest.mark.parametrize("suffix", [".params", ".safetensors", ".npz"])
def test_initialized_parameters_take_the_read_arrays_over_only_where_set_data_would_agree(tmp_path, suffix):
    """On cpu(0), same shape and dtype: the Parameter takes the array read over (an array
    got before keeps the old values); on cpu(1), or another dtype with dtype='cast', the
    values are copied into the Parameter's own arrays, which stay where they are."""
    specs = {"a": ((3, 5), "float32"), "b": ((7,), "float16"), "c": ((2, 2), "int32")}
    ref = Holder(specs)
    ref.initialize()
    for name, value in _values(specs, seed=5).items():
        getattr(ref, name).set_data(mx.nd.array(value, dtype=value.dtype))
    path = tmp_path / f"ref{suffix}"
    gluon_params_kit.save(ref, path)
    want = {k: _bits(p) for k, p in named_parameters(ref).items()}
    for ctx in (mx.cpu(0), mx.cpu(1)):
        net = Holder(specs)
        net.initialize(ctx=ctx)
        held = {k: p.data() for k, p in named_parameters(net).items()}
        load(net, path)
        for k, p in named_parameters(net).items():
            assert _bits(p) == want[k] and p.list_ctx() == [ctx]
            assert (p.data() is held[k]) == (ctx == mx.cpu(1)), (k, ctx)  # taken over on cpu(0) only
            if ctx == mx.cpu(0):
                assert not held[k].asnumpy().any()  # the old array kept its (zero) values
    cast = Holder({"a": ((3, 5), "float64"), "b": ((7,), "float16"), "c": ((2, 2), "int32")})
    cast.initialize()
    before = cast.a.data()
    load(cast, path, dtype="cast")
    assert cast.a.data() is before and onp.dtype(cast.a.dtype) == onp.float64  # cast, copied: not taken over
    assert cast.a.data().asnumpy().astype("float32").tobytes() == want["a"][1]
