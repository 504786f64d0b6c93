"""The host kernels of _core.stats: both summation paths, overflow, chunk edges, many small arrays."""
import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import mxnet as mx
import numpy as np
import pytest

from gluon_params_kit._core import stats as _stats


def _exact(values):
    v = np.asarray(values, np.float64).reshape(-1)
    return v.mean(), v.std(), np.sqrt((v * v).sum())


@pytest.mark.parametrize("loc, scale", [(0.0, 1.0), (0.3, 1.0), (1000.0, 0.01), (-5.0, 0.1)])
def test_host_stats_match_float64_on_both_paths(loc, scale):
    # around 0: BLAS dots; a large mean next to the spread: shifted, pairwise sums
    values = np.random.RandomState(4).normal(loc, scale, 3 * _stats.CHUNK + 17)
    values = values.astype(np.float32)
    rec = _stats.array_stats(mx.nd.array(values), 8, None)
    mean, std, l2 = _exact(values)
    assert rec.mean == pytest.approx(mean, rel=1e-6, abs=1e-6 * scale)
    assert rec.std == pytest.approx(std, rel=1e-6)
    assert rec.l2 == pytest.approx(l2, rel=1e-6)
    assert (rec.min, rec.max) == (float(values.min()), float(values.max()))


def test_float32_squares_that_overflow_fall_back_to_float64():
    values = np.array([3e19, -3e19, 0.0, 1e19], np.float32)  # squares overflow float32
    rec = _stats.array_stats(mx.nd.array(values), 4, None)
    mean, std, l2 = _exact(values)
    assert (rec.nan, rec.inf) == (0, 0)
    assert rec.std == pytest.approx(std, rel=1e-6) and rec.l2 == pytest.approx(l2, rel=1e-6)
    assert rec.mean == pytest.approx(mean, rel=1e-6) and rec.zero_fraction == 0.25


def test_zero_count_and_extremes_across_chunk_edges():
    values = np.ones(2 * _stats.CHUNK + 5, np.float32)
    values[[0, _stats.CHUNK - 1, _stats.CHUNK, -1]] = 0.0
    values[_stats.CHUNK + 1] = -7.0
    rec = _stats.array_stats(mx.nd.array(values), 4, None)
    assert rec.zero_fraction == 4 / values.size
    assert (rec.min, rec.max) == (-7.0, 1.0)


# ---------------------------------------------------------------- many small arrays at once

def _same(batched, alone):
    """Equal up to float rounding: counts, extremes, edges and histograms exactly."""
    a, b = batched.as_dict(), alone.as_dict()
    for key in ("state", "size", "min", "max", "zero_fraction", "nan", "inf", "hist", "edges",
                "hist_values"):
        assert a[key] == b[key], (key, a[key], b[key])
    if b["mean"] is None:
        assert a["mean"] is None and a["std"] is None
        return
    spread = max(abs(b["min"]), abs(b["max"]))
    assert a["mean"] == pytest.approx(b["mean"], rel=1e-6, abs=1e-6 * spread)
    assert a["std"] == pytest.approx(b["std"], rel=1e-5, abs=1e-6 * spread)
    assert a["l2"] == pytest.approx(b["l2"], rel=1e-6)


def _varied_arrays(rng, dtype):
    arrays = []
    for n in (1, 2, 3, 17, 64, 1000, 4096, _stats.HIST_SAMPLE, _stats.HIST_SAMPLE + 1, 40_000,
              _stats.CHUNK, _stats.CHUNK + 1, 3 * _stats.CHUNK):  # past CHUNK: measured alone
        arrays.append(rng.normal(0, 0.05, n))
    arrays += [np.ones(256), np.zeros(300), np.full(50, -3.0), rng.normal(1000, 0.01, 5000),
               rng.uniform(0.5, 1.5, 700), np.arange(64.0), np.array([0.0, -0.0, 1.0]),
               np.full(16, 2.0 ** 30), rng.normal(0, 1, 20_000) * (rng.rand(20_000) < 0.3)]
    with_nan = rng.normal(0, 1, 500)
    with_nan[[3, 99]] = np.nan
    with_nan[7] = -np.inf
    arrays += [with_nan, np.full(9, np.nan), np.array([3e38, -3e38, 1.0]), np.array([1e-42, 0.0])]
    if dtype == "float64":
        arrays += [np.array([1e308, -1e308, 2.0]), np.array([1e-320, 3e-320]), 1 + np.arange(9) * 2.0 ** -52]
    return [mx.nd.array(a.astype(dtype, copy=False) if dtype != "float16" else np.clip(a, -6e4, 6e4),
                        dtype=dtype) for a in arrays]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("hist_sample", [_stats.HIST_SAMPLE, None, 100])
def test_batched_arrays_match_each_measured_alone(dtype, hist_sample):
    import warnings
    arrays = _varied_arrays(np.random.RandomState(3), dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow or invalid-value warning
        batched = _stats.cpu_arrays_stats([(a, a.size) for a in arrays], 16, hist_sample)
    assert len(batched) == len(arrays)
    for a, rec in zip(arrays, batched):
        _same(rec, _stats.array_stats(a, 16, hist_sample))


def test_batches_mix_dtypes_keep_order_and_survive_a_wrong_size():
    rng = np.random.RandomState(8)
    arrays = [mx.nd.array(rng.normal(0, 1, n), dtype=d)
              for n, d in [(5, "float32"), (7, "float64"), (9, "float32"), (0, "float32"),
                           (11, "int32"), (13, "float16")]]
    sizes = [a.size for a in arrays]
    sizes[2] = 8  # not the array's size: MXNet refuses the copy, it is measured alone
    out = _stats.cpu_arrays_stats(list(zip(arrays, sizes)), 4, None)
    assert [r.size for r in out] == [5, 7, 9, 0, 11, 13]
    assert out[3].state == "empty"
    for a, rec in zip(arrays, out):
        if a.size:
            _same(rec, _stats.array_stats(a, 4, None))


def test_many_small_parameters_of_a_net_after_a_forward():
    """Conv weights after a forward in predict mode may be held in MKL-DNN layouts."""
    from mxnet.gluon import nn

    from gluon_params_kit import stats
    net = nn.HybridSequential()
    for c in (8, 16, 16):
        net.add(nn.Conv2D(c, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"))
    net.add(nn.Dense(10))
    net.initialize(mx.init.Xavier())
    net(mx.nd.ones((2, 3, 8, 8)))
    mx.nd.waitall()
    report = stats(net)
    params = list(net.collect_params().values())
    assert len(report) == len(params) == 3 * 6 + 2
    for rec, param in zip(report.values(), params):
        values = param.data().asnumpy().astype(np.float64)
        assert rec.size == values.size and (rec.min, rec.max) == (values.min(), values.max())
        assert rec.mean == pytest.approx(values.mean(), rel=1e-5, abs=1e-7)
        assert rec.zero_fraction == np.count_nonzero(values == 0) / values.size
        assert sum(rec.hist) == rec.hist_values == values.size


def test_an_array_that_cannot_be_read_is_an_error_for_the_caller():
    class Broken:
        dtype = np.float32

        @property
        def handle(self):
            raise RuntimeError("cannot read this array")

    items = [(mx.nd.ones(n), n) for n in (5, 6, 7)]
    items[1] = (Broken(), 10)
    with pytest.raises(RuntimeError, match="cannot read this array"):
        _stats.cpu_arrays_stats(items, 16, None)
