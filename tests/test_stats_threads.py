"""The threaded statistics pass: same answer for any number of threads, errors surface."""
import os
import threading

import numpy as np
import pytest

import gluon_params_kit  # noqa: F401
from gluon_params_kit._core import stats as _stats
from gluon_params_kit._core.file_stats import file_stats
from gluon_params_kit._io.formats import read_header
from gluon_params_kit._io.header import DataFile
from gluon_params_kit.errors import CheckpointError

CHUNKS = 3 * _stats._CHUNKS_PER_WORKER + 1  # enough for three threads, the last run shorter


@pytest.fixture(scope="module")
def values():
    """Chunks unlike each other: around 0, far from 0, one with NaN/Inf, exact zeros."""
    rng = np.random.RandomState(17)
    v = rng.normal(0.0, 1.0, CHUNKS * _stats.CHUNK - 123).astype(np.float32)
    v[5 * _stats.CHUNK:9 * _stats.CHUNK] += 1000.0  # the shifted, pairwise path
    v[[11, _stats.CHUNK * 13 + 4]] = np.nan
    v[_stats.CHUNK * 20] = -np.inf
    v[:: 1001] = 0.0
    v[7] = -0.0
    return v


def _gpk_threads():
    return [t for t in threading.enumerate() if t.name.startswith("gpk-stats-")]


def test_any_number_of_threads_gives_the_same_bits(values):
    runs = [_stats.chunk_stats(values.size, values.dtype, _stats.memory_chunks(values), 16,
                               _stats.HIST_SAMPLE, workers=w) for w in (1, 2, 3, 8)]
    assert all(r == runs[0] for r in runs[1:])
    r = runs[0]
    finite = values[np.isfinite(values)].astype(np.float64)
    assert (r.nan, r.inf, r.size) == (2, 1, values.size)
    assert r.zero_fraction == np.count_nonzero(values == 0) / values.size
    assert r.mean == pytest.approx(finite.mean(), rel=1e-6)
    assert r.std == pytest.approx(finite.std(), rel=1e-6)
    assert r.l2 == pytest.approx(np.sqrt(finite @ finite), rel=1e-6)
    assert (r.min, r.max) == (finite.min(), finite.max())
    picks = values[::-(-values.size // _stats.HIST_SAMPLE)]
    assert r.hist_values == np.isfinite(picks).sum() and sum(r.hist) == r.hist_values
    assert _gpk_threads() == []


def test_a_file_read_by_threads_matches_the_in_memory_kernel(values, tmp_path):
    path = str(tmp_path / "big.npz")
    np.savez(path, w=values)
    header = read_header(path)
    in_memory = _stats.chunk_stats(values.size, values.dtype, _stats.memory_chunks(values), 16,
                                   _stats.HIST_SAMPLE)
    for w in (1, 2, 3):  # the file's chunks through the very kernel: the same bits
        assert file_stats(header, header["w"], workers=w) == in_memory
    fast = _stats.host_stats(values, 16, _stats.HIST_SAMPLE)  # compiled where numba is installed
    assert (fast.hist, fast.edges, fast.min, fast.max, fast.zero_fraction) == (
        in_memory.hist, in_memory.edges, in_memory.min, in_memory.max, in_memory.zero_fraction)
    for field in ("mean", "std", "l2"):  # float32 sums (numpy) against float64 ones (compiled)
        assert getattr(fast, field) == pytest.approx(getattr(in_memory, field), rel=1e-6)


def test_a_file_cut_short_under_the_threads_is_an_error_naming_it(values, tmp_path):
    path = str(tmp_path / "cut.npz")
    np.savez(path, w=values)
    header = read_header(path)
    src = DataFile.open(path)  # open before the cut: the threads' reads come up short
    os.truncate(path, header["w"].offset + 4 * (CHUNKS - 2) * _stats.CHUNK)  # the last run's
    with src, pytest.raises(CheckpointError, match=r"cut\.npz.*changed while reading 'w'.*short read"):
        file_stats(header, header["w"], workers=3, src=src)
    with pytest.raises(CheckpointError, match=r"cut\.npz.*changed while reading"):
        file_stats(header, header["w"], workers=3)  # opened again: another file now
    assert _gpk_threads() == []


def test_an_error_in_a_helper_thread_reaches_the_caller_with_no_thread_left(values):
    seen = []

    def chunks(lo, hi):
        for j in range(lo, hi):
            seen.append(j)
            if j == CHUNKS - 1:
                raise RuntimeError(f"cannot read chunk {j}")
            yield values[j * _stats.CHUNK:(j + 1) * _stats.CHUNK]

    with pytest.raises(RuntimeError, match=f"cannot read chunk {CHUNKS - 1}"):
        _stats.chunk_stats(values.size, values.dtype, chunks, 16, None, workers=3)
    assert _gpk_threads() == []
    assert CHUNKS - 1 in seen


def test_a_chunk_of_the_wrong_size_is_refused():
    v = np.ones(_stats.CHUNK + 5, np.float32)
    with pytest.raises(ValueError, match="chunk 1 of 262149 values has 4, not 5"):
        _stats.chunk_stats(v.size, v.dtype, lambda lo, hi: (v[:_stats.CHUNK], v[:4]), 4, None)


@pytest.mark.parametrize("fill, zeros", [(0.5, 0.0), (-0.5, 0.0), (-0.0, 1.0), (0.0, 1.0)])
def test_zero_count_skipped_only_where_no_value_can_be_zero(fill, zeros):
    v = np.full(2 * _stats.CHUNK, fill, np.float32)
    assert _stats.host_stats(v, 4, None).zero_fraction == zeros
    v[_stats.CHUNK + 3] = -fill if fill else 1.0  # a chunk whose range now straddles 0
    assert _stats.host_stats(v, 4, None).zero_fraction == np.count_nonzero(v == 0) / v.size

