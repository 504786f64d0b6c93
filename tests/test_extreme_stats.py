"""Statistics of extreme finite values (issue 32.6): a diverged model is when they are wanted.

Every path (the host kernel, chunk by chunk and merged; the device kernel's MXNet ops run on
CPU; ``stats``, ``summary(stats=True)``; ``inspect --stats`` on a file) gives finite numbers,
or inf where the true value is past float64 (the L2 norm of three 1.7e308), never an
exception or a RuntimeWarning, and agrees with a float64 reference computed on the values
divided by a power of two (exact), or with exact math.
"""
import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import json
import math
import warnings

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import nn

from gluon_params_kit import stats, summary
from gluon_params_kit._core import stats as _stats
from gluon_params_kit.cli import main

_F32MAX = float(np.finfo(np.float32).max)

CASES = {
    "diverged float32": ([3e38, -3e38, 1], "float32"),
    "float16 limits": ([65504, -65504], "float16"),
    "float64 limits": ([1e308, -1e308], "float64"),
    "equal float32 huge": ([3e38] * 5, "float32"),
    "equal float64 huge": ([1.7e308] * 3, "float64"),  # l2 = 2.94e308: inf is right
    "float32 max both signs": ([_F32MAX, -_F32MAX, _F32MAX], "float32"),
    "float32 denormals": ([1e-45, 3e-45, 0.0, -4e-45], "float32"),
    "float64 denormals": ([1e-320, 3e-320, 0.0, 5e-324], "float64"),
    "huge beside tiny": ([1e308, 1e-300, -2e-300, 5.0], "float64"),
    "huge with inf and nan": ([3e38, np.inf, -np.inf, np.nan, -3e38, 1], "float32"),
}


def reference(values):
    """mean, std, l2 of the finite values in float64, scaled by a power of two (exact)."""
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    s = math.ldexp(1.0, math.frexp(float(np.abs(x).max()))[1] - 1) if np.abs(x).max() else 1.0
    xs = x / s
    with np.errstate(over="ignore"):
        return (float(np.clip(s * xs.mean(), x.min(), x.max())), s * float(xs.std()),
                s * math.sqrt(float((xs * xs).sum())))


def check(rec, values, dtype):
    x = np.asarray(values, dtype).astype(np.float64)
    finite = x[np.isfinite(x)]
    mean, std, l2 = reference(x)
    assert rec.state == "ok" and rec.size == x.size
    assert (rec.nan, rec.inf) == (int(np.isnan(x).sum()), int(np.isinf(x).sum()))
    assert (rec.min, rec.max) == (float(finite.min()), float(finite.max()))
    assert rec.mean == pytest.approx(mean, rel=1e-12, abs=1e-12 * float(np.abs(finite).max()))
    assert rec.std == pytest.approx(std, rel=1e-9, abs=1e-12 * float(np.abs(finite).max()))
    assert rec.l2 == pytest.approx(l2, rel=1e-12)  # inf == inf where the norm is past float64
    assert rec.zero_fraction == float((x == 0).sum()) / x.size
    assert sum(rec.hist) == rec.hist_values == finite.size
    edges = np.array(rec.edges)
    assert np.isfinite(edges).all() and (np.diff(edges) >= 0).all()
    if rec.min < rec.max:
        assert (edges[0], edges[-1]) == (rec.min, rec.max)
    else:  # equal values: one bin around them
        assert edges[0] < rec.min < edges[-1] and max(rec.hist) == finite.size
    return rec


@pytest.fixture(autouse=True)
def no_runtime_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow, no invalid value
        yield


@pytest.mark.parametrize("case", sorted(CASES))
def test_host_kernel(case):
    values, dtype = CASES[case]
    check(_stats.array_stats(mx.nd.array(values, dtype=dtype), 4, None), values, dtype)


@pytest.mark.parametrize("case", sorted(CASES))
def test_device_kernel(case):
    values, dtype = CASES[case]
    rec = check(_stats._device_stats(mx.nd.array(values, dtype=dtype), 4), values, dtype)
    host = _stats.array_stats(mx.nd.array(values, dtype=dtype), 4, None)
    if rec.min < rec.max:  # equal values: each kernel widens its single bin its own way
        assert rec.hist == host.hist and np.allclose(rec.edges, host.edges, rtol=1e-12)


def test_known_answers():
    rec = _stats.array_stats(mx.nd.array([3e38, -3e38, 1], dtype="float32"), 4, None)
    exact_std = math.sqrt(((3e38 - 1 / 3) ** 2 + (3e38 + 1 / 3) ** 2 + (2 / 3) ** 2) / 3)
    assert rec.mean == pytest.approx(1 / 3) and rec.std == pytest.approx(exact_std, rel=1e-7)
    assert rec.hist == (1, 0, 1, 1)  # -3e38 | . | 1 | 3e38
    big = _stats.array_stats(mx.nd.array([1.7e308] * 3, dtype="float64"), 4, None)
    assert (big.mean, big.std, big.l2) == (1.7e308, 0.0, math.inf)
    tiny = _stats.array_stats(mx.nd.array([1e-320, 3e-320], dtype="float64"), 2, None)
    assert tiny.std == pytest.approx(1e-320, rel=1e-3) and tiny.hist == (1, 1)  # denormal digits
    none = _stats.array_stats(mx.nd.array([np.nan, np.inf], dtype="float32"), 4, None)
    assert (none.mean, none.std, none.nan, none.inf, none.hist) == (None, None, 1, 1, (0,) * 4)


@pytest.mark.parametrize("workers", [1, 3])
def test_chunks_of_different_scales_merge(workers):
    """Parts measured unscaled, scaled up (denormals) and scaled down (past 2**400) merge."""
    n = 2 * _stats.CHUNK + 5
    x = np.random.RandomState(5).normal(size=n)
    x[:_stats.CHUNK] *= 1e-315           # a chunk of denormals
    x[_stats.CHUNK:2 * _stats.CHUNK] *= 1e300
    x[-1] = -1.5e308                     # the last chunk: past 2**400
    rec = _stats.chunk_stats(n, x.dtype, _stats.memory_chunks(x), 8, None, workers=workers)
    mean, std, l2 = reference(x)
    assert rec.mean == pytest.approx(mean, rel=1e-9) and rec.std == pytest.approx(std, rel=1e-9)
    assert rec.l2 == pytest.approx(l2, rel=1e-9) and (rec.min, rec.max) == (x.min(), x.max())
    assert sum(rec.hist) == n and rec.hist[0] == 1  # -1.5e308 alone in the first bin


def test_many_float64_values_whose_squares_sum_past_float64():
    x = np.full(3 * _stats.CHUNK, 2.0 ** 399)  # each square fits; their sum does not
    x[::2] *= -1
    rec = _stats.chunk_stats(x.size, x.dtype, _stats.memory_chunks(x), 4, None, workers=1)
    assert rec.std == pytest.approx(2.0 ** 399, rel=1e-12)
    assert rec.l2 == pytest.approx(2.0 ** 399 * math.sqrt(x.size), rel=1e-12)


def _diverged_net(mode):
    net = nn.Dense(3, in_units=1, use_bias=False)
    net.initialize()
    w = mx.nd.array([[3e38], [-3e38], [1]])
    net.weight.set_data(w.as_np_ndarray() if mode == "np" else w)
    return net


def test_stats_and_summary_of_a_diverged_net(mode):
    net = _diverged_net(mode)
    rec = stats(net)["weight"]
    check(rec, [3e38, -3e38, 1], "float32")
    row = summary(net, stats=True)["weight"]["stats"]
    assert row["std"] == rec.std and row["hist"] == list(rec.hist)
    assert "2.449e+38" in str(summary(net, stats=True))


def test_inspect_stats_on_a_file(tmp_path, capsys):
    f = tmp_path / "diverged.params"
    mx.nd.save(str(f), {"w": mx.nd.array([3e38, -3e38, 1]),
                        "d": mx.nd.array([1e308, -1e308], dtype="float64"),
                        "h": mx.nd.array([65504, -65504], dtype="float16")})
    assert main(["inspect", str(f), "--stats", "--json"]) == 0
    rows = {a["name"]: a["stats"] for a in json.loads(capsys.readouterr().out)["arrays"]}
    assert rows["w"]["std"] == pytest.approx(2.449489742783178e38, rel=1e-7)
    assert rows["d"] == dict(mean=0.0, std=1e308, min=-1e308, max=1e308, nonfinite=0)
    assert rows["h"]["std"] == 65504.0
    assert main(["inspect", str(f), "--stats"]) == 0
    assert "2.449e+38" in capsys.readouterr().out


@pytest.mark.parametrize("bins", [1, 2, 16])
def test_device_kernel_counts_values_on_the_last_edge_in_the_last_bin(bins):
    # MXNet's histogram scans past its last bound for such a value (it read beyond the array
    # and crashed now and then): the device kernel gives it an infinite bound to stop at
    for values in ([0.0, 0.25, 7.0, 7.0, 7.0], [-3.0, -1.0, -1.0], [1e-320, 3e-320, 3e-320]):
        for dtype in ("float32", "float64"):
            arr = mx.nd.array(values, dtype=dtype)
            rec = _stats._device_stats(arr, bins)
            assert rec.hist == _stats.array_stats(arr, bins, None).hist and sum(rec.hist) == len(values)
            assert len(rec.edges) == bins + 1 and (rec.edges[-1] == rec.max or rec.min == rec.max)
