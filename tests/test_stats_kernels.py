"""The host kernels of _core.stats: both summation paths, overflow, chunk edges, max_abs_diff."""
import mxnet as mx
import numpy as np
import pytest

import gluon_params_kit  # noqa: F401
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
