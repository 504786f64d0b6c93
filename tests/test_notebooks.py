"""Every notebook runs top to bottom on CPU and matches its source; run here, each book cell
shows exactly what the kit's replay of the book shows on this machine, and the outputs stored
in the notebook (another machine's run, named in its metadata) agree with it up to float
rounding (`compare_printed`), never digit for digit.

Rebuild a notebook after editing its source: `python notebooks/build.py <name>`.
"""
import copy
import functools
import shlex
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "notebooks"))
import build  # noqa: E402  (notebooks/build.py)
from transcripts import notebook_text  # noqa: E402

CHAPTER_NOTEBOOKS = ["1-quan-ly-tham-so", "1-parameter-management"]


@functools.lru_cache(maxsize=None)
def _replay() -> dict:
    """Every book cell's output in the kit's replay here, by notebook key (``'3'``, ``'use-gpu/2'``)."""
    from gluon_params_kit import chapter
    return {k[len("chapter/"):] if k.startswith("chapter/") else k: v
            for k, v in chapter.run_all(quiet=True, checks=False).outputs.items()}


def _agrees(stored: str, fresh: str, what: str) -> None:
    from gluon_params_kit._book.replay import compare_printed
    differences = compare_printed(stored, fresh)
    assert not differences, f"{what}: " + "; ".join(differences[:5])


def _shell_program(source: str):
    """The program a shell cell (``!nvidia-smi``) runs, or None for a Python cell."""
    return shlex.split(source.strip()[1:])[0] if source.strip().startswith("!") else None


def _check_shell_output(program: str, shown: str) -> None:
    """Jupyter runs a shell cell through its own shell: its real output, or the shell's
    "not found" where the program is absent (the kit's replay words that line itself)."""
    if shutil.which(program) is None:
        assert "not found" in shown and program in shown, shown
    else:
        assert shown.strip(), f"{program} printed nothing"


def test_there_are_notebooks_and_every_source_is_built():
    names = [p.stem for p in NOTEBOOKS]
    assert set(CHAPTER_NOTEBOOKS) <= set(names)
    assert names == build.notebooks()


def test_editions_share_their_code_cells_and_differ_in_prose():
    vi, en = (nbformat.read(str(ROOT / "notebooks" / f"{n}.ipynb"), as_version=4) for n in CHAPTER_NOTEBOOKS)
    code = [[c.source for c in nb.cells if c.cell_type == "code"] for nb in (vi, en)]
    assert code[0] == code[1] and len(code[0]) > 17
    prose = [[c.source for c in nb.cells if c.cell_type == "markdown"] for nb in (vi, en)]
    assert len(prose[0]) == len(prose[1]) and not set(prose[0]) & set(prose[1])
    assert prose[0][0].startswith("# Quản lý Tham số") and prose[1][0].startswith("# Parameter Management")
    assert any(p.startswith("## Tóm tắt") for p in prose[0]) and any(p.startswith("## Summary") for p in prose[1])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_matches_its_source(path):
    src, lang = build.source_of(path.stem)
    assert src.exists(), f"{path.name} has no source {src}"
    want = build.parse(src.read_text(encoding="utf-8"), lang)
    have = nbformat.read(str(path), as_version=4)
    assert [(c.cell_type, c.source) for c in have.cells] == [(c.cell_type, c.source) for c in want.cells], \
        f"{path.name} is stale: run `python notebooks/build.py {path.stem}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path):
    nb = nbformat.read(str(path), as_version=4)
    stored = copy.deepcopy(nb)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors[0]["ename"] + ": " + errors[0]["evalue"]
    # Run here, each book cell shows exactly the kit's replay of the book; what the notebook
    # stores (another run, perhaps another CPU) agrees with it up to float rounding.
    for old, new in zip(stored.cells, nb.cells):
        if "book_cell" in old.metadata:
            key = old.metadata["book_cell"]
            program = _shell_program(new.source)
            if program:
                _check_shell_output(program, notebook_text(new))
                continue
            assert notebook_text(new) == _replay()[key], key
            _agrees(notebook_text(old), notebook_text(new), f"{path.stem} cell {key}")
    made = stored.metadata.get("gluon_params_kit", {}).get("outputs_made", "")
    assert made.startswith("python notebooks/build.py ") and " on " in made, "where the outputs come from"


@pytest.mark.parametrize("name", CHAPTER_NOTEBOOKS)
def test_chapter_notebook_stores_the_replay(name):
    nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)
    shown = {c.metadata["book_cell"]: notebook_text(c) for c in nb.cells if "book_cell" in c.metadata}
    assert list(shown) == [str(i) for i in range(1, 18)]
    for key, text in shown.items():
        _agrees(text, _replay()[key], f"{name} cell {key}")
    # The first code cell is the visible set-up (the kit's numpy aliases), then book cell 1.
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == "import gluon_params_kit as gpk" and code[1].metadata["book_cell"] == "1"


def test_language_tags_pick_an_edition():
    text = "# %% [markdown vi]\n# Xin chào\n# %% [markdown en]\n# Hello\n# %%\nx = 1\n# %% [en]\ny = 2\n"
    vi, en = build.parse(text, "vi"), build.parse(text, "en")
    assert [(c.cell_type, c.source) for c in vi.cells] == [("markdown", "Xin chào"), ("code", "x = 1")]
    assert [(c.cell_type, c.source) for c in en.cells] == [("markdown", "Hello"), ("code", "x = 1"),
                                                           ("code", "y = 2")]
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        build.parse(text, "fr")


SECTION_NOTEBOOKS = {"8-khoi-tao-tre": "deferred-init", "9-tang-tuy-chinh": "custom-layer",
                     "10-doc-ghi-tep": "read-write", "11-tang-va-khoi": "model-construction",
                     "12-gpu": "use-gpu"}


@pytest.mark.parametrize("name", list(SECTION_NOTEBOOKS))
def test_section_notebook_stores_the_replay(name):
    from gluon_params_kit import chapter

    section = SECTION_NOTEBOOKS[name]
    nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)
    shown = {c.metadata["book_cell"]: c for c in nb.cells if "book_cell" in c.metadata}
    assert list(shown) == [f"{section}/{c.key}" for c in chapter._section(section).cells]
    for key, cell in shown.items():
        program = _shell_program(cell.source)
        if program:
            assert program in notebook_text(cell)  # its stored output is the shell's, from that run
        else:
            _agrees(notebook_text(cell), _replay()[key], f"{name} cell {key}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.startswith("import") and "import gluon_params_kit as gpk" in code[0].source
    assert code[1].metadata["book_cell"] == f"{section}/1"
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "## Tóm tắt (Summary)" in prose and "## Bài tập (Exercises)" in prose
    asserts = [c for c in code if "book_cell" not in c.metadata and "assert " in c.source]
    assert len(asserts) >= 4  # the kit's cells and the three exercises check what they claim
