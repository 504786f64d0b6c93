"""The book's outputs hold on any CPU: the reference is a replay on this machine, stored
transcripts agree with it up to float rounding, and a real difference still fails.

MXNet's oneDNN picks kernels by CPU (AVX-512, AVX2, ...); ``DNNL_MAX_CPU_ISA=SSE41`` and
``MXNET_MKLDNN_ENABLED=0`` take other kernel paths on any machine, so the float digits that
other machines print can be produced here.
"""
import re

import pytest
from transcripts import as_with_book, claim, run_cli, stored

from gluon_params_kit._book.replay import ATOL, RTOL, compare_printed

KERNELS = {"sse41": {"DNNL_MAX_CPU_ISA": "SSE41"}, "no-onednn": {"MXNET_MKLDNN_ENABLED": "0"}}


@pytest.fixture(scope="module")
def other_kernels():
    return {name: run_cli("chapter", "--all", env=env) for name, env in KERNELS.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(KERNELS))
def test_other_kernels_replay_identically_and_agree_with_the_stored_transcript(other_kernels, name):
    out = other_kernels[name]
    # The book's code in a fresh process under the same kernels prints exactly this...
    assert out.splitlines()[-1].endswith(claim(66))
    # ...and the stored transcript, made with other kernels, agrees up to float rounding.
    assert compare_printed(stored("chapter_all.txt"), as_with_book(out)) == []


@pytest.mark.slow
def test_the_kernel_settings_really_change_printed_digits(other_kernels):
    """Otherwise the test above would prove nothing: some printed floats differ in their digits."""
    base = stored("chapter_all.txt")
    outs = [as_with_book(out) for out in other_kernels.values()]
    assert any(out != base for out in outs)
    changed = [ln for out in outs for a, ln in zip(base.splitlines(), out.splitlines()) if a != ln]
    assert changed and all(re.search(r"\d\.\d", ln) for ln in changed)  # only lines with floats


BASE = stored("chapter.txt")


@pytest.mark.parametrize("before, after", [
    ("(256, 20)", "(256, 21)"),                          # a shape
    ("dense0_weight", "dense2_weight"),                  # a name
    ("dtype=float32", "dtype=float64"),                  # a dtype
    ("0.06240273", "0.06250273"),                        # a value off by 1e-4
    ("True", "False"),                                   # a boolean
    ("── cell 2:", "── cell 3:"),                         # a heading
])
def test_a_real_difference_fails(before, after):
    assert before in BASE
    differences = compare_printed(BASE, BASE.replace(before, after, 1))
    assert len(differences) == 1 and differences[0].startswith("line ")


def test_rounding_in_the_last_digits_and_column_padding_pass():
    assert compare_printed(BASE, BASE.replace("0.06240273", "0.06240276")) == []
    assert compare_printed("[ 0.0173853 ,  0.5]", "[ 0.01738528,  0.5]") == []
    assert compare_printed("array(3.4924597e-10)", "array(2.910383e-10)") == []  # noise around 0


def test_line_breaks_and_the_count_of_numbers_are_exact():
    assert compare_printed(BASE, BASE.replace("\n", "", 1)) != []
    assert compare_printed("[1. 2.]", "[1. 2. 3.]") == ["line 1: '[1. 2.]' vs '[1. 2. 3.]'"]
    assert compare_printed("a  b", "a b") != []            # spaces not beside a number
    assert compare_printed("x 5", "x 5.0") == ["line 1: '5' vs '5.0' (not a float: must be equal)"]


def test_the_tolerance_is_what_the_docs_state():
    a = 0.5
    inside, outside = a + 0.99 * (ATOL + RTOL * a), a + 1.01 * (ATOL + RTOL * a)
    assert compare_printed(f"{a}", f"{inside:.10f}") == []
    assert compare_printed(f"{a}", f"{outside:.10f}") != []
    assert compare_printed("nan inf -inf", "nan inf -inf") == []
    assert compare_printed("inf", "-inf") != []
