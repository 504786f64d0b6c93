"""The chapter's other sections: layers and blocks, deferred initialization, custom layers, file
I/O, GPUs (the first before "Parameter management", the others after it).

Their cells are the book's fences (../shared/book/*_vn.md), every output is what the book's code
shows in a fresh process, and the checks verify real facts. `GPK_REGEN_GOLDEN=1 pytest
tests/test_sections.py` rewrites tests/golden/chapter_all.txt (`gluon-params chapter --all`),
compared with each run up to float rounding (tests/transcripts.py).
"""
import os
import re

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
import pytest
from fixtures import change_section_cell
from test_book import book_cells
from transcripts import check_against_stored, claim, run_cli, stored

from gluon_params_kit import chapter, cli
from gluon_params_kit._book.replay import compare_printed, rule
from gluon_params_kit._book.section_cells import SECTIONS
from gluon_params_kit._book.vietnamese import SECTION_TITLES
from gluon_params_kit.errors import ParamsKitError

COUNTS = {"model-construction": 8, "deferred-init": 9, "custom-layer": 9, "read-write": 8, "use-gpu": 15}


@pytest.fixture(scope="module")
def results():
    return {name: chapter.run_section(name, quiet=True, book=True) for name in chapter.SECTIONS}


def test_the_sections_in_the_books_order():
    assert chapter.SECTIONS == tuple(SECTIONS) == cli._SECTIONS == tuple(COUNTS)


@pytest.mark.parametrize("name", list(COUNTS))
def test_section_cells_are_the_books_fences(name):
    fences = book_cells(SECTIONS[name].book_file)
    cells = SECTIONS[name].cells
    assert len(fences) == len(cells) == COUNTS[name]
    for i, (fence, cell) in enumerate(zip(fences, cells), 1):
        assert cell.key == str(i)
        assert cell.source == fence, f"{name} cell {i} differs from the book"


@pytest.mark.parametrize("name", list(COUNTS))
def test_section_replays_verified_and_identical_to_the_books_code(results, name):
    r = results[name]
    assert r.ok and r.identical, (r.failures, r.differing, r.book_error)
    assert list(r.outputs) == [str(i) for i in range(1, COUNTS[name] + 1)]
    assert all(r.checks[k] >= 1 for k in r.outputs)
    assert r.closing_line().endswith(claim(COUNTS[name]))


def test_deferred_init_shapes_and_init_lines_in_the_books_order(results):
    out = results["deferred-init"].outputs
    assert "Parameter dense0_weight (shape=(256, -1), dtype=float32)" in out["3"]  # after initialize()
    assert "Parameter dense0_weight (shape=(256, 20), dtype=float32)" in out["4"]  # after a forward
    assert out["5"] == "" and out["7"] == ""  # deferred; then initialized only once
    assert out["6"] == out["8"] == "Init dense2_weight (256, 20)\nInit dense3_weight (10, 256)\n"
    assert out["9"] == "Init dense4_weight (256, 20)\nInit dense5_weight (10, 256)\n"


def test_custom_layer_outputs_and_parameter_shapes(results):
    out = results["custom-layer"].outputs
    assert out["2"] == "array([-2., -1.,  0.,  1.,  2.])"
    assert abs(float(out["4"][len("array("):-1])) < 1e-6
    assert "Parameter param2 (shape=(2, 3)" in out["5"]
    assert "mydense0_weight (shape=(5, 3)" in out["7"] and "mydense0_bias (shape=(3,)" in out["7"]
    assert out["9"].startswith("array([[") and out["9"].count("]") == 3  # a (2, 1) output


def test_read_write_files_stay_in_their_own_folder(results, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = chapter.run_section("read-write", quiet=True)
    assert r.ok and os.getcwd() == str(tmp_path) and list(tmp_path.iterdir()) == []
    assert r.outputs == results["read-write"].outputs
    assert r.outputs["4"] == "{'x': array([0., 1., 2., 3.]), 'y': array([0., 0., 0., 0.])}"
    assert r.outputs["8"].count("True") == 20


def test_a_changed_cell_fails_its_check(monkeypatch):
    change_section_cell(monkeypatch, "deferred-init", "9", "in_units=20", "in_units=21")
    r = chapter.run_section("deferred-init", quiet=True)
    assert list(r.failures) == ["9"] and "Init lines at initialize()" in r.failures["9"]


def test_unknown_section_lists_the_valid_ones():
    with pytest.raises(ParamsKitError, match="unknown section 'files'; expected one of 'model-construction', "
                                             "'deferred-init', 'custom-layer', 'read-write', 'use-gpu'"):
        chapter.run_section("files")


def test_run_all_keys_and_total_line():
    r = chapter.run_all(quiet=True)
    assert r.ok and len(r.outputs) == 8 + 17 + 26 + 15
    assert list(r.outputs)[7:10] == ["model-construction/8", "chapter/1", "chapter/2"]
    assert list(r.outputs)[24:27] == ["chapter/17", "deferred-init/1", "deferred-init/2"]
    assert list(r.outputs)[-1] == "use-gpu/15"
    assert r.closing_line() == f"all: 66 cells reproduced, {sum(r.checks.values())} checks passed"


def test_fresh_process_all_transcript_agrees_with_the_stored_one():
    """`gluon-params chapter --all` in a new process: 66/66 identical to the book's files and
    code on this machine; the stored transcript agrees up to float rounding."""
    out = run_cli("chapter", "--all")
    lines = out.splitlines()
    assert lines[-1].endswith(claim(66))
    assert lines[-1].startswith("all: 66 cells reproduced, ")
    rules = [ln for ln in lines if ln.startswith(("── cell ", "══ "))]
    assert len(rules) == 66 + 6 and {len(ln) for ln in rules} == {72}
    check_against_stored("chapter_all.txt", out, "gluon-params chapter --all")


def test_in_process_all_equals_the_fresh_process():
    mx.gluon.nn.Dense(3)
    mx.nd.random.uniform(shape=(7,))
    result = chapter.run_all(quiet=True, book=True)
    assert result.identical and result.ok, result.differing
    assert result.fences == (result.sources if result.book_files and len(result.book_files) == 6 else {})


def _outputs_only(transcript: str) -> str:
    """A transcript without its rules and closing lines: what the cells showed."""
    closing = re.compile(r"^[\w-]+: (?:\d+ cells reproduced|chạy lại \d+ ô), ")
    return "".join(ln for ln in transcript.splitlines(keepends=True)
                   if not ln.startswith(("── ", "══ ")) and not closing.match(ln))


def test_fresh_process_all_transcript_in_vietnamese():
    """`gluon-params chapter --all --lang vi`: each section under its title in the Vietnamese book
    file, each cell under a Vietnamese title, closing lines in Vietnamese; the cells show what
    they show in the English transcript."""
    out = run_cli("chapter", "--all", "--lang", "vi", "--no-book")
    lines = out.splitlines()
    order = ["model-construction", "chapter", "deferred-init", "custom-layer", "read-write", "use-gpu"]
    assert [ln for ln in lines if ln.startswith("══ ")] == [rule(f"{n}: {SECTION_TITLES[n]}", "═") for n in order]
    assert lines[1] == rule("ô 1: Một MLP dạng Sequential")
    assert len([ln for ln in lines if ln.startswith("── ô ")]) == 66 and not any("cell" in ln for ln in lines
                                                                               if ln.startswith("── "))
    assert re.fullmatch(r"all: chạy lại 66 ô, \d+ phép kiểm chứng đạt", lines[-1])
    assert compare_printed(_outputs_only(stored("chapter_all.txt")), _outputs_only(out)) == []
    check_against_stored("chapter_all_vi.txt", out, "gluon-params chapter --all --lang vi --no-book")
