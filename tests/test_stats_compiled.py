"""The compiled statistics loops (numba, the ``fast`` extra) against the numpy kernels.

Counts, extremes, zeros, NaN/Inf and histograms (counts and edges) must be the numpy
kernels' exactly; mean, std and l2 agree to float rounding (the compiled sums are in
float64, the numpy ones in the values' type). A small array measured in a batch, in place,
or alone must give the same bits.
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import math

import mxnet as mx
import numpy as np
import pytest

from gluon_params_kit import stats
from gluon_params_kit._core import stats as _stats
from gluon_params_kit._core import stats_native

pytest.importorskip("numba")
KERNELS = _stats.compiled()
pytestmark = pytest.mark.skipif(KERNELS is None, reason="compiled loops turned off (GPK_NUMBA=0)")

EXACT = ("state", "size", "min", "max", "zero_fraction", "nan", "inf", "hist", "edges", "hist_values")


def _numpy(monkeypatch, fn):
    """``fn()`` by the numpy kernels: neither numba's loops nor the C chunk kernel."""
    stats_native.kernel(np.float32)  # loaded (or found missing) before it is turned off
    native = stats_native._kernels
    monkeypatch.setattr(_stats, "_KERNELS", False)
    monkeypatch.setattr(stats_native, "_kernels", {})
    try:
        return fn()
    finally:
        monkeypatch.setattr(_stats, "_KERNELS", KERNELS)
        monkeypatch.setattr(stats_native, "_kernels", native)


def _agree(fast, slow):
    for field in EXACT:
        assert getattr(fast, field) == getattr(slow, field), field
    if slow.mean is None:
        assert (fast.mean, fast.std, fast.l2) == (None, None, None)
        return
    spread = max(slow.max - slow.min, abs(slow.mean), 1e-300)
    assert abs(fast.mean - slow.mean) <= 1e-6 * spread
    assert fast.std == pytest.approx(slow.std, rel=1e-5, abs=1e-6 * spread)
    assert fast.l2 == pytest.approx(slow.l2, rel=1e-6)


def _cases():
    rng = np.random.default_rng(7)
    g = rng.standard_normal
    cases = {
        "one value": np.array([2.5], np.float32),
        "gaussian 1000": g(1000).astype(np.float32),
        "gaussian 16385 (sampled)": g(16385).astype(np.float32),
        "gaussian 2 chunks": g(2 * _stats.CHUNK + 5).astype(np.float32),
        "ones (a gamma)": np.ones(4096, np.float32),
        "zeros (a beta)": np.zeros(777, np.float32),
        "signed zeros": np.array([0.0, -0.0, 1.0, -0.0], np.float32),
        "far from 0": (1e4 + g(5000)).astype(np.float32),
        "tiny float32": (g(3000) * 1e-40).astype(np.float32),
        "float32 extremes": np.array([3e38, -3e38, 1.0], np.float32),
        "with NaN and Inf": np.array([1.0, np.nan, -np.inf, 2.0, 0.0], np.float32),
        "only NaN": np.full(10, np.nan, np.float32),
        "float64": g(70000),
        "float64 past 2**400": np.array([1e300, -1e300, 3.0]),
        "float64 tiny": g(100) * 1e-300,
        "float16": g(5000).astype(np.float16),
        "two values on edges": np.repeat(np.linspace(-1, 1, 17, dtype=np.float32), 3),
    }
    return sorted(cases.items())


@pytest.mark.parametrize("name, values", _cases())
@pytest.mark.parametrize("hist_sample", [None, _stats.HIST_SAMPLE])
def test_one_array_matches_the_numpy_kernel(name, values, hist_sample, monkeypatch):
    fast = _stats.host_stats(values, 16, hist_sample)
    slow = _numpy(monkeypatch, lambda: _stats.host_stats(values, 16, hist_sample))
    _agree(fast, slow)


@pytest.mark.parametrize("name, values", _cases())
def test_a_batch_gives_what_one_array_gives_to_the_bit(name, values, monkeypatch):
    # segments of one buffer (small arrays), in place (larger ones), alone: the same arithmetic
    others = [np.random.default_rng(1).standard_normal(n).astype(values.dtype) for n in (3, 70000, 40)]
    items = [(mx.nd.array(a, dtype=a.dtype), a.size) for a in others + [values]]
    got = _stats.cpu_arrays_stats(items, 16, _stats.HIST_SAMPLE)
    for a, rec in zip(others + [values], got):
        alone = _stats.array_stats(mx.nd.array(a, dtype=a.dtype), 16, _stats.HIST_SAMPLE)
        if a.dtype == np.float16:  # batched in float64 by the loops; alone, chunk by chunk by numpy
            _agree(rec, alone)
        else:
            assert rec == alone
        _agree(rec, _numpy(monkeypatch, lambda: _stats.host_stats(a, 16, _stats.HIST_SAMPLE)))


def test_histograms_are_numpys_at_every_edge():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        for _ in range(40):
            lo, hi = sorted(rng.uniform(-1e3, 1e3, 2))
            edges = np.linspace(lo, hi, 8, dtype=dtype)
            near = np.concatenate([edges, np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf)])
            x = np.clip(np.concatenate([near, rng.uniform(lo, hi, 500).astype(dtype)]), edges[0], edges[-1])
            x = x.astype(dtype)
            got = _stats.host_stats(x, 7, None)
            counts, want_edges = np.histogram(x, 7, range=(float(x.min()), float(x.max())))
            assert got.hist == tuple(counts.tolist())
            assert got.edges == tuple(want_edges.tolist())


def test_a_net_of_many_small_parameters_matches_the_numpy_kernels(monkeypatch):
    net = mx.gluon.nn.HybridSequential()
    for units in (8, 5, 1, 300):
        net.add(mx.gluon.nn.Dense(units), mx.gluon.nn.BatchNorm())
    net.add(mx.gluon.nn.Dense(400, in_units=300))  # 120,000 values: measured in place
    net.initialize(mx.init.Xavier())
    net(mx.nd.ones((2, 300)))
    fast = stats(net)
    slow = _numpy(monkeypatch, lambda: stats(net))
    assert list(fast) == list(slow)
    for path in fast:
        _agree(fast[path], slow[path])


def test_the_first_call_in_a_process_loads_the_loops_once():
    assert _stats.compiled() is KERNELS is _stats.compiled(load=False)


def _located(arrays):
    fns, wide = _stats._mx_functions()
    handles = np.array([a.handle.value for a in arrays], np.int64)
    return fns, wide, handles


def test_locate_keeps_dense_host_arrays_of_the_size_given():
    arrays = [mx.nd.ones((3, 4)), mx.nd.arange(5, dtype="float64"), mx.nd.ones(3, dtype="float16"),
              mx.np.ones((2, 2)), mx.nd.ones((4, 4)).tostype("row_sparse"), mx.nd.ones((2, 3)),
              mx.nd.ones(7, dtype="int32")]
    sizes = np.array([12, 5, 3, 4, 16, 5, 7], np.int64)  # the sixth: not its size (6)
    fns, wide, handles = _located(arrays)
    addr, code = KERNELS.locate(fns, handles, sizes, wide)
    assert code.tolist() == [0, 1, 2, 0, -1, -1, 4]
    assert (addr[code >= 0] != 0).all() and (addr[code < 0] == 0).all()
    # the address is the array's memory: the values read there are the array's
    rows, counts, _edges, binned = KERNELS.stats_at(addr[:1], sizes[:1], np.ones(1, np.int64), np.float32, 4, 2.0**400)
    assert rows[0, [0, 1, 3]].tolist() == [1.0, 1.0, 0.0]  # min, max, sum of v - centre
    assert binned.tolist() == [True] and counts.tolist() == [[0, 0, 1, 0]]  # one of the 12 equal values


def test_arrays_read_at_their_addresses_give_what_each_gives_alone():
    rng = np.random.default_rng(5)
    values = [rng.standard_normal(n).astype(t) for n, t in
              ((1, np.float32), (300, np.float32), (20000, np.float32), (65535, np.float32),
               (777, np.float64), (40000, np.float64), (64, np.float16), (10, np.int32))]
    values += [np.ones(128, np.float32), np.zeros(33, np.float32), np.array([1.0, np.nan, 2.0], np.float32)]
    arrays = [mx.nd.array(v, dtype=v.dtype) for v in values] + [mx.np.array(values[1])]
    items = [(a, a.size) for a in arrays]
    items.append((mx.nd.ones(6), 5))  # a size that is not the array's: measured alone (its own 6 values)
    got = _stats.cpu_arrays_stats(items, 16, _stats.HIST_SAMPLE)
    for (a, _size), rec in zip(items, got):
        alone = _stats.array_stats(a, 16, _stats.HIST_SAMPLE)
        if a.dtype == np.float16:
            _agree(rec, alone)
        else:
            assert rec == alone
    assert got[-1].size == 6 and got[8].hist_values == 128 and got[-3].nan == 1


def test_what_the_located_pass_leaves_is_measured_once(monkeypatch):
    rng = np.random.default_rng(9)
    arrays = [mx.nd.array(rng.standard_normal(int(n)).astype(np.float32)) for n in rng.integers(1, 30000, 40)]
    arrays += [mx.nd.array(rng.standard_normal(50).astype(t), dtype=t) for t in (np.float16, np.int32)]
    items = [(a, a.size) for a in arrays]
    whole = _stats.cpu_arrays_stats(items, 16, _stats.HIST_SAMPLE)
    assert whole == [_stats.array_stats(a, 16, _stats.HIST_SAMPLE) for a in arrays[:40]] + whole[40:]
    alone, copied = [], []
    array_stats, copied_stats = _stats.array_stats, _stats._copied_stats
    monkeypatch.setattr(_stats, "array_stats", lambda arr, *a: alone.append(arr.dtype) or array_stats(arr, *a))
    monkeypatch.setattr(_stats, "_copied_stats", lambda members, *a: copied.extend(m[1].dtype for m in members)
                        or copied_stats(members, *a))
    assert _stats.cpu_arrays_stats(items, 16, _stats.HIST_SAMPLE) == whole
    assert alone == [np.int32] and copied == [np.float16]  # what the loops leave, measured once


def test_arrays_the_kernel_did_not_bin_are_binned_from_their_sample(monkeypatch):
    rng = np.random.default_rng(4)
    arrays = [mx.nd.array(rng.standard_normal(n).astype(np.float32)) for n in (10, 5000, 40000)]
    arrays += [mx.nd.ones(64), mx.nd.array(rng.standard_normal(300), dtype="float64")]  # equal values; float64
    items = [(a, a.size) for a in arrays]
    want = _stats.cpu_arrays_stats(items, 16, _stats.HIST_SAMPLE)
    stats_at = KERNELS.stats_at

    def unbinned(*args):  # as if the kernel's tests and _segments_stats's disagreed
        rows, counts, edges, binned = stats_at(*args)
        return rows, counts * 0, edges * 0, binned & False
    monkeypatch.setattr(KERNELS, "stats_at", unbinned)
    assert _stats.cpu_arrays_stats(items, 16, _stats.HIST_SAMPLE) == want


def test_equal_valued_arrays_of_one_kind_share_one_answer_and_negative_zero_is_its_own_kind():
    kinds = [(np.ones, 64), (np.zeros, 64), (np.ones, 65), (lambda n: np.full(n, -0.0), 64), (np.zeros, 64),
             (np.ones, 64), (lambda n: np.full(n, -0.0), 64), (lambda n: np.full(n, 2.0), 64)]
    arrays = [mx.nd.array(make(n).astype(np.float32)) for make, n in kinds]
    got = _stats.cpu_arrays_stats([(a, a.size) for a in arrays], 16, _stats.HIST_SAMPLE)
    for a, rec in zip(arrays, got):
        assert rec == _stats.array_stats(a, 16, _stats.HIST_SAMPLE)
    assert got[0] is got[5] and got[1] is got[4] and got[3] is got[6]  # built once per kind
    assert len({id(r) for r in got}) == 5
    assert math.copysign(1.0, got[3].min) == -1.0 and math.copysign(1.0, got[1].min) == 1.0
    assert got[2].size == 65 and got[2].hist_values == 65 and got[7].mean == 2.0


@pytest.mark.parametrize("channels", [4, 128])  # weights of 288 values (located), 294,912 (in place, 2 chunks)
def test_a_conv_weight_in_an_mkldnn_layout_is_read_as_its_values(channels, monkeypatch):
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Conv2D(2 * channels, 3, in_channels=channels), mx.gluon.nn.BatchNorm(in_channels=2 * channels))
    net.initialize(mx.init.Xavier())
    net.hybridize()
    x = mx.nd.ones((1, channels, 8, 8))
    before = net(x).asnumpy()  # inference: MXNet may keep the weight in its MKL-DNN layout
    want = {name: p.data().asnumpy().ravel() for name, p in net.collect_params().items()}
    copies = []
    asnumpy = mx.nd.NDArray.asnumpy
    monkeypatch.setattr(mx.nd.NDArray, "asnumpy", lambda self: copies.append(self.shape) or asnumpy(self))
    report = stats(net)
    assert copies == []  # read where MXNet keeps them, not copied
    monkeypatch.undo()
    for (name, values), path in zip(want.items(), report):
        rec = report[path]
        assert (rec.min, rec.max, rec.size) == (float(values.min()), float(values.max()), values.size), name
        assert rec.mean == pytest.approx(float(values.astype(np.float64).mean()), abs=1e-6)
    assert np.array_equal(net(x).asnumpy(), before)
