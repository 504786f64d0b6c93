"""The section "GPUs" (use-gpu_vn.md, 15 cells), replayed where it runs: CPU here and in CI.

Every expectation follows this machine: the book's `try_gpu` falls back to cpu(0) without a GPU,
and the shell line `!nvidia-smi` shows the program's real output where it exists and one
plain sentence where it does not. The tests marked `gpu` run the same cells on a real GPU;
they are skipped here (tests/conftest.py skips them without a GPU the installed MXNet can use).
"""
import os
import re
import stat

import mxnet as mx
import numpy as onp
import pytest
from fixtures import change_section_cell
from test_book import book_cells
from transcripts import claim

from gluon_params_kit import chapter
from gluon_params_kit._book import use_gpu as use_gpu

GPUS = mx.context.num_gpus()
NOT_FOUND = "nvidia-smi: not found on this machine, so this shell line shows nothing else\n"
#: A stand-in for nvidia-smi: the first lines of its table, and its arguments.
FAKE_SMI = """#!/bin/sh
echo "+-----------------------------------------------------------------------------+"
echo "| NVIDIA-SMI 535.00       Driver Version: 535.00       CUDA Version: 12.2     |"
echo "args: $*"
"""


def book_try_gpu(i=0):
    return mx.gpu(i) if GPUS >= i + 1 else mx.cpu()


def numbers(text):
    return [float(v) for v in re.findall(r"-?\d+\.\d*(?:e[-+]?\d+)?", text.split("ctx=")[0])]


@pytest.fixture(scope="module")
def result():
    return chapter.run_section("use-gpu", quiet=True, book=True)


def test_cells_are_the_books_fences_character_for_character():
    fences = book_cells("use-gpu_vn.md")
    cells = use_gpu.SECTION.cells
    assert len(fences) == len(cells) == 15
    for i, (fence, cell) in enumerate(zip(fences, cells), 1):
        assert cell.key == str(i)
        assert cell.source == fence, f"cell {i} differs from the book"


def test_replay_verified_and_identical_to_the_books_code_in_a_fresh_process(result):
    assert result.ok and result.identical, (result.failures, result.differing, result.book_error)
    assert list(result.outputs) == [str(i) for i in range(1, 16)]
    assert all(result.checks[k] >= 2 for k in result.outputs)
    assert result.closing_line().endswith(claim(15))


@pytest.mark.skipif(GPUS > 0, reason="this machine has a GPU: tests marked gpu cover it")
def test_without_a_gpu_every_context_is_cpu0(result):
    out = result.outputs
    assert out["2"] == "(cpu(0), gpu(0), gpu(1))"  # naming a GPU context needs no GPU
    assert out["3"] == "0"
    assert out["4"] == "(cpu(0), cpu(0), [cpu(0)])"
    assert out["5"] == out["15"] == "cpu(0)"
    assert "ctx=" not in out["6"] + out["7"] + out["9"] + out["14"] and "@" not in out["8"]
    assert out["8"] == "[[1. 1. 1.]\n [1. 1. 1.]]\n" * 2
    assert (out["10"], out["11"], out["12"], out["13"]) == (out["6"], "True", "False", "")


def test_contexts_follow_the_number_of_gpus(result):
    out = result.outputs
    every = [mx.gpu(i) for i in range(GPUS)] or [mx.cpu()]
    assert out["4"] == repr((book_try_gpu(0), book_try_gpu(3), every))
    assert out["15"] == str(book_try_gpu(0))
    for key, ctx in (("6", book_try_gpu(0)), ("7", book_try_gpu(1)), ("9", book_try_gpu(1)),
                     ("14", book_try_gpu(0))):
        assert out[key].endswith(")" if ctx.device_type == "cpu" else f", ctx={ctx})"), key


def test_values_with_tolerances(result):
    out = result.outputs
    y, total = numbers(out["7"]), numbers(out["9"])
    assert len(y) == len(total) == 6 and all(0 <= v < 1 for v in y)
    # y + z is y + 1; the printed digits are rounded, so compare within their precision.
    assert onp.allclose(total, onp.array(y) + 1, rtol=0, atol=1e-6)
    forward = numbers(out["14"])
    assert len(forward) == 2 and forward[0] == forward[1]  # both rows of x are ones
    assert abs(forward[0]) <= 3 * 0.07  # three weights from Uniform(0.07), zero bias


def test_the_shell_line_shows_nvidia_smis_real_output(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(FAKE_SMI, encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    r = chapter.run_section("use-gpu", quiet=True, book=True)
    assert r.outputs["1"] == ("+" + "-" * 77 + "+\n| NVIDIA-SMI 535.00       Driver Version: 535.00"
                              "       CUDA Version: 12.2     |\nargs: \n")
    assert r.ok and r.identical and r.checks["1"] >= 2  # the book's code sees the same program


def test_the_shell_line_without_nvidia_smi_says_so(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    r = chapter.run_section("use-gpu", quiet=True)
    assert r.ok and r.outputs["1"] == NOT_FOUND


def test_a_program_that_is_not_nvidia_smi_fails_cell_1(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'something else entirely'\n", encoding="utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    r = chapter.run_section("use-gpu", quiet=True)
    assert list(r.failures) == ["1"] and "NVIDIA-SMI" in r.failures["1"]


@pytest.mark.parametrize("key, old, new, message", [
    ("10", "x.as_in_ctx(", "x.copyto(", "as_in_ctx returns x itself exactly when"),
    ("12", "y.copyto(", "y.as_in_ctx(", "y.copyto(y's own context) is a new array"),
    ("14", "net(x)", "net(x * 2)", "net(x) == x @ W^T + b"),
    ("6", "np.ones((2, 3)", "np.zeros((2, 3)", "x = ones((2, 3))"),
])
def test_a_changed_cell_fails_its_check(monkeypatch, key, old, new, message):
    change_section_cell(monkeypatch, "use-gpu", key, old, new)
    r = chapter.run_section("use-gpu", quiet=True)
    assert key in r.failures and message in r.failures[key], r.failures


def test_checks_follow_the_gpu_count(monkeypatch):
    # Told there are two GPUs, every check about a context fails on this CPU-only replay;
    # the cells whose facts hold on any machine (shell line, context names, x's ctx,
    # copyto's new object) still pass.
    if GPUS > 0:
        pytest.skip("this machine has a GPU")
    monkeypatch.setattr(use_gpu, "_gpus", lambda: 2)
    r = chapter.run_section("use-gpu", quiet=True)
    assert set(r.failures) == set(map(str, range(1, 16))) - {"1", "2", "5", "12"}


@pytest.mark.gpu
@pytest.mark.skipif(GPUS == 0, reason="no GPU: the book's cells run on cpu(0) here")
class TestOnAGpu:
    """The same replay on a machine with a GPU: the contexts shown are GPUs."""

    def test_replay_verified_and_identical_on_the_gpu(self, result):
        assert result.ok and result.identical, (result.failures, result.differing, result.book_error)

    def test_contexts_are_gpus(self, result):
        out = result.outputs
        assert int(out["3"]) == GPUS
        assert out["4"].startswith("(gpu(0), ") and "[gpu(0)" in out["4"]
        assert out["6"].endswith(", ctx=gpu(0))") and out["14"].endswith(", ctx=gpu(0))")
        assert out["15"] == "gpu(0)"
        want = "gpu(1)" if GPUS >= 2 else None
        assert out["7"].endswith(f", ctx={want})" if want else "]])")
        assert out["8"].startswith("[[1. 1. 1.]\n [1. 1. 1.]] @gpu(0)\n")

    def test_nvidia_smi_shows_its_table(self, result):
        assert "NVIDIA-SMI" in result.outputs["1"]

