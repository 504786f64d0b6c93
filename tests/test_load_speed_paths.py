import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import os
import zipfile

import mxnet as mx
import numpy as onp
import pytest
from mxnet.gluon import nn
from safetensors.numpy import load_file, save_file

from gluon_params_kit import named_parameters
from gluon_params_kit._io import npz_into
from gluon_params_kit._io import safetensors_file as st
from gluon_params_kit.checkpoint import _convert, load, read_header, save
from gluon_params_kit.checkpoint._convert import to_nd
from gluon_params_kit.errors import CheckpointError

BF16 = onp.dtype([("bfloat16", onp.uint16)])
DTYPES = ["float16", "float32", "float64", "uint8", "int8", "int32", "int64", "bool", "bfloat16"]
SHAPES = {"a": (3, 5), "b": (7,), "c": (2, 3, 4)}


class Holder(nn.Block):
    """Parameters of any shape and dtype, keyed by their attribute names."""

    def __init__(self, specs, **kwargs):
        super().__init__(**kwargs)
        for name, (shape, dtype) in specs.items():
            setattr(self, name, self.params.get(name, shape=shape, dtype=dtype, init=mx.init.Zero(),
                                                 allow_deferred_init=True))


def _dtype(name):
    return BF16 if name == "bfloat16" else onp.dtype(name)


def _random_bits(shape, dtype, seed):
    """Values whose every bit is random (NaN payloads too); bool 0/1; bfloat16 as uint16."""
    rng = onp.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    dt = onp.dtype("uint16") if dtype == "bfloat16" else onp.dtype(dtype)
    raw = rng.integers(0, 256, int(onp.prod(shape)) * dt.itemsize, dtype=onp.uint8)
    return raw.view(dt).reshape(shape)


def _bits(param):
    values = param.data().asnumpy()
    return values.shape, values.view(onp.uint8).tobytes()


def _host_bits(a):
    return a.shape, onp.ascontiguousarray(a).view(onp.uint8).tobytes()


def _reference(tmp_path, dtype, seed=0):
    """A net holding random bits by ``load_parameters``, its ``.params`` file and values."""
    values = {k: _random_bits(shape, dtype, seed + i) for i, (k, shape) in enumerate(SHAPES.items())}
    path = tmp_path / f"{dtype}.params"
    mx.nd.save(str(path), {k: to_nd(v.view(BF16) if dtype == "bfloat16" else v) for k, v in values.items()})
    net = Holder({k: (s, _dtype(dtype)) for k, s in SHAPES.items()})
    net.load_parameters(str(path))
    return net, path, values


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_format_loads_the_bits_of_the_native_loaders(tmp_path, dtype):
    ref, params_file, values = _reference(tmp_path, dtype)
    want = {k: _bits(p) for k, p in named_parameters(ref).items()}
    assert want == {k: _host_bits(v) for k, v in values.items()}  # the reference holds the random bits
    for suffix in (".params", ".safetensors", ".npz"):
        path = params_file if suffix == ".params" else tmp_path / f"{dtype}{suffix}"
        if suffix != ".params":
            save(ref, path)
        net = Holder({k: (s, _dtype(dtype)) for k, s in SHAPES.items()})
        net.initialize()
        assert load(net, path).loaded == list(SHAPES)
        assert {k: _bits(p) for k, p in named_parameters(net).items()} == want, suffix
        if suffix == ".safetensors" and dtype != "bfloat16":  # the library's numpy reader has no bfloat16
            assert {k: _host_bits(v) for k, v in load_file(str(path)).items()} == want
        if suffix == ".npz":
            with onp.load(path) as z:
                assert {k: _host_bits(z[k]) for k in z.files} == want


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_npz_members_in_any_order_byte_order_and_deflated(tmp_path, compressed, order, byteorder):
    values = {k: onp.asarray(_random_bits(s, "float32", i), order=order).astype(byteorder + "f4")
              for i, (k, s) in enumerate(SHAPES.items())}
    values["i"] = onp.asarray(onp.arange(24, dtype=byteorder + "i8").reshape(4, 6), order=order)
    path = tmp_path / "numpy.npz"
    (onp.savez_compressed if compressed else onp.savez)(path, **values)
    header = read_header(path)
    assert header["c"].fortran_order == (order == "F") and header["c"].big_endian == (byteorder == ">")
    assert (header["a"].offset < 0) == compressed
    net = Holder({**{k: (s, "float32") for k, s in SHAPES.items()}, "i": ((4, 6), "int64")})
    net.initialize()
    load(net, path)
    with onp.load(path) as z:
        for k in z.files:
            got = getattr(net, k).data().asnumpy()
            assert got.tobytes() == onp.ascontiguousarray(z[k]).astype(z[k].dtype.newbyteorder("=")).tobytes(), k


def test_safetensors_bits_equal_the_library_for_a_file_it_wrote(tmp_path):
    values = {k: _random_bits(s, dt, i) for i, ((k, s), dt) in
              enumerate(zip(SHAPES.items(), ("float16", "int32", "float64")))}
    path = tmp_path / "lib.safetensors"
    save_file(values, str(path))
    net = Holder({k: (s, v.dtype) for (k, s), v in zip(SHAPES.items(), values.values())})
    net.initialize()
    load(net, path)
    assert {k: _bits(p) for k, p in named_parameters(net).items()} == \
        {k: _host_bits(v) for k, v in load_file(str(path)).items()}


def test_values_go_straight_into_fresh_arrays_without_a_numpy_copy(tmp_path, monkeypatch):
    ref, _, _ = _reference(tmp_path, "float32")
    for suffix in (".safetensors", ".npz"):
        save(ref, tmp_path / f"x{suffix}")
    from gluon_params_kit.checkpoint import _convert

    def refuse(*args, **kwargs):
        raise AssertionError("read through numpy")
    monkeypatch.setattr(_convert, "read_host", refuse)
    for suffix in (".safetensors", ".npz"):
        net = Holder({k: (s, "float32") for k, s in SHAPES.items()})
        net.initialize()
        load(net, tmp_path / f"x{suffix}")
        assert {k: _bits(p) for k, p in named_parameters(net).items()} == \
            {k: _bits(p) for k, p in named_parameters(ref).items()}


@pytest.mark.parametrize("suffix", [".params", ".safetensors", ".npz"])
def test_deferred_shapes_np_mode_and_two_contexts(tmp_path, suffix):
    src = nn.Sequential()
    src.add(nn.Dense(5, in_units=4), nn.Dense(3, in_units=5))
    src.initialize(mx.init.Uniform())
    path = tmp_path / f"net{suffix}"
    save(src, path)
    want = {k: _bits(p) for k, p in named_parameters(src).items()}

    deferred = nn.Sequential()
    deferred.add(nn.Dense(5), nn.Dense(3))
    deferred.initialize()
    load(deferred, path)
    assert {k: _bits(p) for k, p in named_parameters(deferred).items()} == want
    assert deferred[0].weight.shape == (5, 4)

    ctxs = [mx.cpu(0), mx.cpu(1)]
    for initialized in (True, False):
        two = nn.Sequential()
        two.add(nn.Dense(5, in_units=4), nn.Dense(3, in_units=5))
        if initialized:
            two.initialize(ctx=ctxs)
        load(two, path, ctx=ctxs)
        for k, p in named_parameters(two).items():
            assert p.list_ctx() == ctxs
            for c in ctxs:
                got = p.data(c)
                assert got.context == c and _host_bits(got.asnumpy()) == want[k], (k, c)

    mx.npx.set_np()
    try:
        for in_units in (0, 4):  # deferred, then initialized (its arrays taken over)
            npnet = nn.Sequential()
            npnet.add(nn.Dense(5, in_units=in_units), nn.Dense(3, in_units=in_units and 5))
            npnet.initialize()
            before = {k: p._data for k, p in named_parameters(npnet).items()}
            load(npnet, path)
            for k, p in named_parameters(npnet).items():
                assert isinstance(p.data(), mx.np.ndarray)
                assert _host_bits(p.data().asnumpy()) == want[k]
                assert in_units == 0 or p._data[0] is not before[k][0]
    finally:
        mx.npx.reset_np()


def test_cast_loads_values_in_the_parameters_dtype(tmp_path):
    values = {"a": onp.linspace(-2, 2, 15).reshape(3, 5)}
    path = tmp_path / "f64.safetensors"
    save_file(values, str(path))
    net = Holder({"a": ((3, 5), "float32")})
    net.initialize()
    with pytest.raises(CheckpointError, match="dtype"):
        load(net, path)
    load(net, path, dtype="cast")
    assert net.a.data().dtype == onp.float32
    assert net.a.data().asnumpy().tolist() == values["a"].astype("float32").tolist()


def _damage_last_member(path):
    """Flip one data byte of the last member of an .npz (its CRC no longer matches)."""
    with zipfile.ZipFile(path) as z:
        last = z.infolist()[-1]
    header = read_header(path)
    info = header[last.filename[:-4]]
    with open(path, "r+b") as f:
        if info.offset >= 0:
            f.seek(info.offset + info.nbytes // 2)
        else:  # deflated: a byte inside its compressed stream
            f.seek(last.header_offset + 30 + len(last.filename) + last.compress_size // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))


@pytest.mark.parametrize("compressed", [False, True])
def test_a_damaged_member_leaves_the_net_unchanged(tmp_path, compressed):
    ref, _, _ = _reference(tmp_path, "float32")
    path = tmp_path / "x.npz"
    save(ref, path, compressed=compressed)
    _damage_last_member(path)
    net = Holder({k: (s, "float32") for k, s in SHAPES.items()})
    net.initialize(mx.init.One())
    before = {k: _bits(p) for k, p in named_parameters(net).items()}
    with pytest.raises(CheckpointError, match="damaged|Error"):
        load(net, path)
    assert {k: _bits(p) for k, p in named_parameters(net).items()} == before


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_a_read_failing_mid_way_leaves_the_net_unchanged(tmp_path, suffix, monkeypatch):
    ref, _, _ = _reference(tmp_path, "float32")
    path = tmp_path / f"x{suffix}"
    save(ref, path)
    module = st if suffix == ".safetensors" else npz_into
    monkeypatch.setattr(_convert, "_BATCHED", False)  # one read_into per array (the batched reads: test_load_batched)
    real, calls = module.read_into, []

    def fails_on_the_last(src, header, name, out):
        calls.append(name)
        if name == "c":
            raise CheckpointError(f"{header.path!r} changed while it was read (simulated)")
        real(src, header, name, out)
    monkeypatch.setattr(module, "read_into", fails_on_the_last)
    for deferred in (False, True):
        net = Holder({k: ((0,) * len(s) if deferred else s, "float32") for k, s in SHAPES.items()})
        net.initialize(mx.init.One())
        before = {k: _bits(p) for k, p in named_parameters(net).items()} if not deferred else None
        with pytest.raises(CheckpointError, match="simulated"):
            load(net, path)
        assert calls[-3:] == ["a", "b", "c"]
        if deferred:
            assert all(p._data is None for p in named_parameters(net).values())
        else:
            assert {k: _bits(p) for k, p in named_parameters(net).items()} == before


def test_read_into_refuses_a_buffer_of_another_size(tmp_path):
    path = tmp_path / "x.npz"
    onp.savez(path, w=onp.ones(4, "float32"))
    from gluon_params_kit._io.formats import open_checkpoint
    with open_checkpoint(path) as (header, src):
        with pytest.raises(CheckpointError, match="into 8 bytes: it holds 16"):
            npz_into.read_into(src, header, "w", bytearray(8))


@pytest.mark.parametrize("suffix", [".params", ".safetensors", ".npz"])
def test_a_hybridized_net_computes_with_the_loaded_values_and_its_gradients(tmp_path, suffix):
    def net_of(seed):
        mx.random.seed(seed)
        net = nn.HybridSequential()
        net.add(nn.Dense(6, in_units=4, activation="relu"), nn.Dense(2, in_units=6))
        net.initialize(mx.init.Uniform())
        return net
    src = net_of(1)
    path = tmp_path / f"net{suffix}"
    save(src, path)
    x = mx.nd.array(onp.random.default_rng(0).standard_normal((3, 4)))
    net = net_of(2)
    net.hybridize(static_alloc=True, static_shape=True)
    before = net(x).asnumpy()
    load(net, path)
    want = src(x).asnumpy()
    assert not onp.array_equal(before, want)
    assert onp.array_equal(net(x).asnumpy(), want)
    for n in (src, net):
        with mx.autograd.record():
            y = n(x).sum()
        y.backward()
    for k, p in named_parameters(net).items():
        assert onp.array_equal(p.grad().asnumpy(), named_parameters(src)[k].grad().asnumpy()), k


def test_two_parameters_from_one_stored_array_stay_two_arrays(tmp_path):
    def pair(shared):
        net = nn.Sequential()
        first = nn.Dense(3, in_units=3)
        net.add(first, nn.Dense(3, in_units=3, params=first.params if shared else None))
        net.initialize(mx.init.Uniform())
        return net
    path = tmp_path / "tied.safetensors"
    save(pair(True), path)
    assert read_header(path).aliases  # stored once, the other path an alias
    net = pair(False)
    load(net, path)
    assert onp.array_equal(net[0].weight.data().asnumpy(), net[1].weight.data().asnumpy())
    net[0].weight.set_data(mx.nd.zeros((3, 3)))
    assert net[1].weight.data().asnumpy().any()  # not the same memory


def test_a_taken_over_array_keeps_the_gradient_buffer_and_request(tmp_path):
    src = nn.Dense(2, in_units=3)
    src.initialize(mx.init.Uniform())
    path = tmp_path / "d.npz"
    save(src, path)
    net = nn.Dense(2, in_units=3)
    net.initialize()
    net.weight.grad_req = "add"
    net.bias.grad_req = "null"
    grad = net.weight.grad()
    x = mx.nd.ones((1, 3))
    with mx.autograd.record():
        net(x).sum().backward()
    load(net, path)
    assert net.weight.grad() is grad and net.bias._grad is None
    with mx.autograd.record():
        net(x).sum().backward()
    assert onp.array_equal(grad.asnumpy(), 2 * onp.ones((2, 3), "float32"))  # accumulated twice
    assert onp.array_equal(net.weight.data().asnumpy(), src.weight.data().asnumpy())


@pytest.mark.parametrize("suffix", [".params", ".safetensors", ".npz"])
def test_values_are_read_into_cpu_memory_whatever_the_default_context(tmp_path, suffix):
    src = nn.Dense(2, in_units=3)
    src.initialize(mx.init.Uniform())
    path = tmp_path / f"d{suffix}"
    save(src, path)
    for home in (mx.cpu(0), mx.cpu(1)):
        net = nn.Dense(2, in_units=3)
        net.initialize(ctx=home)
        with mx.Context(mx.cpu(1)):
            load(net, path)
        assert net.weight.data(home).context == home
        assert onp.array_equal(net.weight.data(home).asnumpy(), src.weight.data().asnumpy())
