"""``inspect --stats`` reads files in memory through a mapping, under a read lease; the C
chunk kernel (``stats_native``) stands in for numba in processes that do not load it.

A mapping is only used while the lease holds, so a writer that opens or truncates the
file waits until the kit is done (no SIGBUS); chunks whose pages are not in memory are read
with ``pread``. Whatever way a chunk is read, the answer is the same to the bit.
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import gluon_params_kit  # noqa: F401
import gluon_params_kit.errors
from gluon_params_kit._core import file_stats as F
from gluon_params_kit._core import stats as _stats
from gluon_params_kit._core import stats_native
from gluon_params_kit._io.formats import read_header
from gluon_params_kit._io.header import DataFile

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="read leases are Linux's")


@pytest.fixture()
def big(tmp_path):
    """A .npz of 9 chunks (a mapped window and more), values far from 0 and around it."""
    rng = np.random.RandomState(3)
    v = rng.normal(0.0, 1.0, 9 * _stats.CHUNK + 77).astype(np.float32)
    v[2 * _stats.CHUNK:3 * _stats.CHUNK] += 500.0
    v[::997] = 0.0
    path = str(tmp_path / "big.npz")
    np.savez(path, w=v)
    return path, v


def _lease_or_skip(fd):
    lease = F._Lease.take(fd)
    if lease is None:
        pytest.skip("no read lease here (file system, owner or kernel setting)")
    return lease


def _count_preads(monkeypatch):
    count = {"n": 0}
    pread = F._pread_into

    def counted(*args):
        count["n"] += 1
        return pread(*args)
    monkeypatch.setattr(F, "_pread_into", counted)
    return count


@linux
def test_mapped_read_and_pread_give_the_same_bits(big, monkeypatch):
    path, v = big
    header = read_header(path)
    with DataFile.open(path) as f:
        _lease_or_skip(f.fileno()).release()
    preads = _count_preads(monkeypatch)
    mapped = [F.file_stats(header, header["w"], workers=w) for w in (1, 2)]
    assert preads["n"] == 0  # written just now: every page in memory, every chunk mapped
    monkeypatch.setenv("GPK_MAP", "0")
    read = F.file_stats(header, header["w"])
    assert preads["n"] == 10 and mapped == [read, read]
    assert read.size == v.size and read.min == float(v.min()) and read.max == float(v.max())
    assert read.zero_fraction == np.count_nonzero(v == 0) / v.size


@linux
@pytest.mark.parametrize("ask", ["cachestat", "mincore"])
def test_pages_on_disk_only_are_read_not_mapped(big, monkeypatch, ask):
    path, _v = big
    header = read_header(path)
    if ask == "mincore":  # a kernel before 6.5: no cachestat
        monkeypatch.setattr(F, "_CACHESTAT_WORKS", False)
    else:
        with DataFile.open(path) as f:
            lease = _lease_or_skip(f.fileno())
            try:
                if lease._cached_pages(0, 8192) is None:
                    pytest.skip("no cachestat in this kernel")
            finally:
                lease.release()
    preads = _count_preads(monkeypatch)
    want = F.file_stats(header, header["w"])
    assert preads["n"] == 0  # all in memory: mapped
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # out of the page cache
    finally:
        os.close(fd)
    preads = _count_preads(monkeypatch)
    assert F.file_stats(header, header["w"], workers=1) == want
    assert preads["n"] > 0


@linux
def test_no_lease_while_someone_writes_or_handles_sigurg(big):
    path, _v = big
    with DataFile.open(path) as f, open(path, "r+b"):
        assert F._Lease.take(f.fileno()) is None  # open for writing elsewhere
    previous = signal.signal(signal.SIGURG, lambda *a: None)
    try:
        with DataFile.open(path) as f:
            assert F._Lease.take(f.fileno()) is None  # the program uses SIGURG
    finally:
        signal.signal(signal.SIGURG, previous)


@linux
def test_a_truncating_writer_waits_and_the_read_switches_to_pread(big, monkeypatch):
    path, v = big
    header = read_header(path)
    want = F.file_stats(header, header["w"])
    with DataFile.open(path) as f:
        _lease_or_skip(f.fileno()).release()
    script = f"import os, time; t = time.time(); os.truncate({path!r}, 0); print(time.time() - t)"
    state = {"writer": None, "calls": 0}
    preads = _count_preads(monkeypatch)
    holds = F._Lease.holds

    def watched(self):
        state["calls"] += 1
        if state["calls"] == 2:  # after the first chunk (mapped): a process truncates the file
            state["writer"] = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
            deadline = time.time() + 20
            while F._Lease.holds.__wrapped__(self) and time.time() < deadline:
                time.sleep(0.01)  # until the kernel marks the lease as breaking
        return holds(self)
    watched.__wrapped__ = holds
    monkeypatch.setattr(F._Lease, "holds", watched)
    with DataFile.open(path) as f:  # the caller's open file: no check of it inside
        got = F.file_stats(header, header["w"], workers=1, src=f)
        writer = state["writer"]
        out, _ = writer.communicate(timeout=60)
        with pytest.raises(gluon_params_kit.errors.CheckpointError, match="changed"):
            f.check()  # the truncation, after the read: the open file says so
    assert writer.returncode == 0 and os.path.getsize(path) == 0  # it waited, then truncated
    assert got == want  # every value read whole: from the first break on, by pread
    assert preads["n"] == 10 - 1  # the first chunk mapped, the others read
    assert float(out) < 30  # held only until the read ended, not the kernel's 45 s


def test_the_c_kernel_matches_the_compiled_rows():
    kernel = stats_native.kernel(np.float32)
    if kernel is None:
        pytest.skip("no C compiler here (or GPK_NATIVE=0): the numpy kernel measures chunks")
    rng = np.random.default_rng(4)
    for dtype in (np.float32, np.float64):
        k = stats_native.kernel(dtype)
        for x in (rng.standard_normal(100_003).astype(dtype), np.array([0.0, -0.0, 3.0], dtype),
                  (rng.standard_normal(5000) * 1e-30).astype(dtype), np.array([1.0, np.nan], dtype)):
            lo, hi, centre, sd, sq, l2sq, zeros = k(x)
            if np.isnan(x).any():
                assert not np.isfinite(sd)
                continue
            assert (lo, hi, zeros) == (float(x.min()), float(x.max()), np.count_nonzero(x == 0))
            d = x.astype(np.float64) - centre
            assert sd == pytest.approx(d.sum(), rel=1e-5, abs=1e-6 * np.abs(d).sum())
            assert sq == pytest.approx((d * d).sum(), rel=1e-5)
            assert l2sq == pytest.approx((x.astype(np.float64) ** 2).sum(), rel=1e-5)


def test_the_numpy_kernel_still_agrees_without_the_c_kernel(big, monkeypatch):
    path, v = big
    header = read_header(path)
    with_c = F.file_stats(header, header["w"])
    monkeypatch.setattr(stats_native, "_kernels", {})
    plain = F.file_stats(header, header["w"])
    for field in ("size", "min", "max", "zero_fraction", "nan", "inf", "hist", "edges"):
        assert getattr(plain, field) == getattr(with_c, field), field
    assert plain.mean == pytest.approx(with_c.mean, rel=1e-6, abs=1e-6)
    assert plain.std == pytest.approx(with_c.std, rel=1e-6)


def test_no_compiler_means_no_c_kernel(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setenv("GPK_CACHE_DIR", str(tmp_path / "cache"))
    assert stats_native._load() == {}
    monkeypatch.setenv("CC", "cc")
    os.makedirs(tmp_path / "shared", mode=0o777)
    os.chmod(tmp_path / "shared", 0o777)  # others may write there: nothing is loaded from it
    monkeypatch.setenv("GPK_CACHE_DIR", str(tmp_path / "shared"))
    assert stats_native._load() == {}
    monkeypatch.setenv("GPK_NATIVE", "0")
    assert stats_native._load() == {}
