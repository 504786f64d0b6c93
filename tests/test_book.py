"""The kit's cells are the book's, character for character, and show what the book's code shows.

The book's Markdown is read from ../shared/book/ next to the repository (its code cells are
the ```{.python .input} fences); the reference outputs come from the book's code run in a
fresh Python process with plain MXNet (gluon_params_kit._book.replay).
"""
import os
import re
from pathlib import Path

import pytest
from transcripts import claim

import gluon_params_kit
from gluon_params_kit import chapter
from gluon_params_kit._book.chapter_cells import CELLS
from gluon_params_kit._book.replay import NO_BOOK_NOTE, ReplayResult, book_dir, book_fences, fresh_process_outputs


def book_cells(name: str):
    """The code fences of the book's file ``name`` in order (skips where the book is not at hand)."""
    folder = book_dir()
    if folder is None or not (folder / name).is_file():
        pytest.skip(f"the book's text is not next to this repository ({name})")
    return book_fences((folder / name).read_text(encoding="utf-8"))


def test_fence_reader_takes_every_fence_and_only_fences():
    text = ("intro\n```{.python .input  n=1}\na = 1\n\nb = 2\n```\n\ntext\n```python\nnot a cell\n```\n"
            "```{.python .input}\nprint(a)\n```\n")
    assert book_fences(text) == ["a = 1\n\nb = 2", "print(a)"]


def test_the_book_is_found_by_its_variable_and_beside_the_checkout(tmp_path, monkeypatch):
    found, runner_choice = book_dir(), os.environ.get("GPK_BOOK_DIR")
    monkeypatch.setenv("GPK_BOOK_DIR", str(tmp_path))
    assert book_dir() == tmp_path
    monkeypatch.setenv("GPK_BOOK_DIR", str(tmp_path / "absent"))
    assert book_dir() is None
    monkeypatch.delenv("GPK_BOOK_DIR")
    beside = Path(gluon_params_kit.__file__).resolve().parents[2] / "shared" / "book"
    if not beside.is_dir() or runner_choice:
        pytest.skip(f"no book beside this checkout ({beside})")
    assert book_dir() == beside == found and (found / "parameters_vn.md").is_file()


def test_chapter_cells_are_the_books_fences_character_for_character():
    fences = book_cells("parameters_vn.md")
    assert len(fences) == 17
    for i, (fence, cell) in enumerate(zip(fences, CELLS), 1):
        assert cell.key == str(i)
        assert cell.source == fence, f"cell {i} differs from the book"


@pytest.fixture(scope="module")
def book_outputs():
    return fresh_process_outputs([c.source for c in CELLS])


def test_fresh_process_replay_of_the_book_equals_the_kits_replay(book_outputs):
    ours = chapter.run(quiet=True).outputs
    assert len(book_outputs) == 17
    for i, (key, out) in enumerate(ours.items()):
        assert out == book_outputs[i], f"cell {key}"
    assert book_outputs[13] == "42.0\n"  # the 14th cell prints one value, as in the book


def test_run_with_book_says_identical_only_when_every_cell_is(book_outputs):
    result = chapter.run(quiet=True, book=True)
    assert result.identical and result.ok
    assert result.book == {str(i): out for i, out in enumerate(book_outputs, 1)}
    assert result.closing_line().endswith(claim(17))
    # Another generator state gives other random values: the line says which cells differ.
    import mxnet as mx

    from gluon_params_kit import fresh_names
    mx.random.seed(1)
    with fresh_names():
        drifted = chapter.run(quiet=True, book=True, reproduce=False)
    assert not drifted.identical and not drifted.ok and not drifted.failures
    assert drifted.differing == ["1", "4", "9", "12", "15", "16"]  # the cells that show random values
    assert drifted.closing_line().endswith(
        ", 11/17 cells identical to the book's code" + ("" if book_dir() else NO_BOOK_NOTE)
        + " (different: 1, 4, 9, 12, 15, 16)")


def test_a_cell_that_raises_is_a_failure_and_stops_the_replay():
    from gluon_params_kit._book import chapter_cells as cells
    from gluon_params_kit._book.replay import Cell
    broken = [Cell(c.key, c.title, "net[5]" if c.key == "3" else c.source, c.check) for c in cells.CELLS]
    from gluon_params_kit._book.replay import replay
    result = replay(broken, quiet=True)
    assert list(result.outputs) == ["1", "2", "3"] and list(result.failures) == ["3"]
    assert result.failures["3"].startswith("raised IndexError")
    assert "1 failed: cell 3: raised IndexError" in result.closing_line()


def test_no_claim_without_the_fresh_process_replay():
    result = chapter.run(quiet=True)
    assert result.book is None and not result.identical and result.ok
    assert "identical" not in result.closing_line()


def test_a_failing_book_cell_is_reported_not_compared():
    with pytest.raises(RuntimeError, match=r"cell 2 raised NameError: name 'undefined' is not defined"):
        fresh_process_outputs(["x = 1", "undefined + 1"])
    result = ReplayResult("t")
    result.outputs, result.book_error = {"1": ""}, "cell 1 raised NameError"
    assert not result.ok
    assert result.closing_line() == ("t: 1 cells reproduced, 0 checks passed, "
                                     "the book's code could not be replayed: cell 1 raised NameError")


def test_the_claim_compares_sources_with_the_books_file(tmp_path, monkeypatch):
    """A fence changed in the book's file makes that cell 'different' though outputs agree;
    without the book's files the line says it compared the kit's copy only."""
    folder = book_dir()
    if folder is None:
        pytest.skip("the book's text is not next to this repository")
    text = (folder / "parameters_vn.md").read_text(encoding="utf-8")
    assert text.count("init=init.Constant(1), force_reinit") == 1
    (tmp_path / "parameters_vn.md").write_text(
        text.replace("init=init.Constant(1), force_reinit", "init=init.Constant(2), force_reinit"),
        encoding="utf-8")
    monkeypatch.setenv("GPK_BOOK_DIR", str(tmp_path))
    changed = chapter.run(quiet=True, book=True)
    assert changed.differing == ["13"] and not changed.ok and not changed.failures
    assert changed.closing_line().endswith(", 16/17 cells identical to the book's code (different: 13)")
    (tmp_path / "parameters_vn.md").unlink()
    absent = chapter.run(quiet=True, book=True)
    assert absent.book_files is None and absent.identical and absent.ok
    assert absent.closing_line().endswith(
        ", 17/17 cells identical to the book's code as the kit copied it (the book's files are not at "
        "hand, so the cells' sources were not compared with them)")
    (tmp_path / "parameters_vn.md").write_text(text + "\n```{.python .input}\nextra = 1\n```\n", encoding="utf-8")
    extra = chapter.run(quiet=True, book=True)
    assert not extra.ok and extra.book_error == "parameters_vn.md has 18 code cells, the kit 17"


def test_vietnamese_section_titles_are_the_book_files_headings():
    """`chapter --lang vi` titles each section as its Vietnamese file does: the first heading
    outside an HTML comment (the English one is kept inside a comment)."""
    from gluon_params_kit._book.section_cells import SECTIONS
    from gluon_params_kit._book.vietnamese import SECTION_TITLES

    files = {"chapter": "parameters_vn.md", **{k: s.book_file for k, s in SECTIONS.items()}}
    for key, name in files.items():
        folder = book_dir()
        if folder is None or not (folder / name).is_file():
            pytest.skip(f"the book's text is not next to this repository ({name})")
        text = re.sub(r"<!--.*?-->", "", (folder / name).read_text(encoding="utf-8"), flags=re.S)
        heading = next(ln[2:].strip() for ln in text.splitlines() if ln.startswith("# "))
        assert SECTION_TITLES[key] == heading, name
