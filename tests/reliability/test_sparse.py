"""Corrupt sparse arrays are reported as damaged before MXNet sees them (MXNet crashes on them).

One overwritten int64 in a ``row_sparse`` or ``csr`` array's index data used to kill
the process (SIGSEGV/abort inside MXNet) in ``diff``, ``export_npz`` and
``inspect --stats``. The fuzz run overwrites index data at random in a subprocess, so
a crash fails the test instead of ending pytest.
"""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as onp
import pytest
from mxnet.gluon import nn

from gluon_params_kit import read_array
from gluon_params_kit.checkpoint import diff, export_npz, load, read_header
from gluon_params_kit.cli import main
from gluon_params_kit.errors import CheckpointError

from ._sparse_files import CSR_COLS, CSR_INDPTR, RSP_ROWS, dense_expected, index_regions, patched, write_sparse

HERE = os.path.dirname(os.path.abspath(__file__))

CORRUPTIONS = {  # name -> (index array, new values, words of the error)
    "row past the shape": ("rsp_rows", [1, 99], "row indices outside 0..5"),
    "negative row": ("rsp_rows", [-1, 4], "row indices outside"),
    "huge row": ("rsp_rows", [1, 2**62], "row indices outside"),
    "rows out of order": ("rsp_rows", [4, 1], "do not strictly increase"),
    "repeated row": ("rsp_rows", [4, 4], "do not strictly increase"),
    "indptr past nnz": ("csr_indptr", [0, 1, 1, 3, 99], "indptr that does not run from 0 to 3"),
    "indptr not monotonic": ("csr_indptr", [0, 2, 1, 3, 3], "without decreasing"),
    "indptr not from 0": ("csr_indptr", [1, 1, 1, 3, 3], "starts 1"),
    "huge indptr": ("csr_indptr", [0, 2**40, 1, 3, 3], "without decreasing"),
    "column past the shape": ("csr_cols", [2, 0, 7], "column indices outside 0..4"),
    "negative column": ("csr_cols", [2, -5, 4], "column indices outside"),
    "columns out of order in a row": ("csr_cols", [2, 4, 0], "do not strictly increase within"),
}


@pytest.fixture
def sparse_file(tmp_path):
    path = tmp_path / "sparse.params"
    return path, write_sparse(path)


def test_a_valid_sparse_file_reads_exactly_without_mxnet(sparse_file, tmp_path):
    path, _ = sparse_file
    header = read_header(path)
    assert [(a.name, a.stype, a.shape) for a in header.values()] == [
        ("dense", "default", (2, 2)), ("rsp", "row_sparse", (6, 3)), ("csr", "csr", (4, 5))]
    expected = dense_expected()
    with mx.util.np_array(False), mx.util.np_shape(False):
        theirs = {k: v.tostype("default").asnumpy() for k, v in mx.nd.load(str(path)).items()}
    for info in header.values():
        onp.testing.assert_array_equal(read_array(path, info.name), expected[info.name])
        onp.testing.assert_array_equal(theirs[info.name], expected[info.name])
    export_npz(path, tmp_path / "s.npz")
    with onp.load(tmp_path / "s.npz", allow_pickle=False) as z:
        assert {k: z[k].tolist() for k in z.files} == {k: v.tolist() for k, v in expected.items()}
    assert diff(path, tmp_path / "s.npz").same


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_damaged_index_data_is_refused_by_every_reader(sparse_file, tmp_path, case, capsys):
    path, raw = sparse_file
    region, values, words = CORRUPTIONS[case]
    start, count = index_regions(raw)[region]
    assert len(values) == count
    bad = tmp_path / "bad.params"
    bad.write_bytes(patched(raw, start, values))
    with pytest.raises(CheckpointError, match="its index data is damaged") as info:
        read_header(bad)
    assert words in str(info.value) and repr(str(bad)) in str(info.value)
    for call in (lambda: diff(bad, path), lambda: export_npz(bad, tmp_path / "o.npz"),
                 lambda: load(nn.Dense(2, in_units=2), bad)):
        with pytest.raises(CheckpointError, match="damaged"):
            call()
    assert not (tmp_path / "o.npz").exists()
    for argv in (["inspect", str(bad), "--stats"], ["diff", str(bad), str(path)],
                 ["export", str(bad), str(tmp_path / "o.npz")]):
        assert main(argv) == 1
        assert "its index data is damaged" in capsys.readouterr().err


def test_sparse_index_data_fuzzed_at_random_never_crashes(tmp_path):
    """Index int64s overwritten at random: refused as damaged, or valid and read exactly."""
    proc = subprocess.run([sys.executable, os.path.join(HERE, "_sparse_fuzz.py"), str(tmp_path),
                           "300", "12"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["iterations"] == 300 == counts["refused"] + counts["accepted"]
    assert counts["refused"] > 200 and counts["changed_but_valid"] > 0, counts


def test_the_known_index_values_are_where_the_tests_patch_them(sparse_file):
    _, raw = sparse_file
    regions = index_regions(raw)
    assert [regions[k][1] for k in ("rsp_rows", "csr_indptr", "csr_cols")] == [
        len(RSP_ROWS), len(CSR_INDPTR), len(CSR_COLS)]
