"""Every notebook runs top to bottom on CPU, matches its source, and the chapter notebook
shows exactly what the book's cells show in a fresh process.

Rebuild a notebook after editing its source: `python notebooks/build.py <name>`.
"""
import copy
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "notebooks"))
import build  # noqa: E402  (notebooks/build.py)


def _text(cell):
    shown = ""
    for o in cell.get("outputs", []):
        if o.output_type == "stream" and o.name == "stdout":
            shown += o.text
        elif o.output_type == "execute_result":
            shown += o.data.get("text/plain", "")
    return shown


def test_there_are_notebooks():
    names = [p.stem for p in NOTEBOOKS]
    assert "1-quan-ly-tham-so" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_matches_its_source(path):
    src = ROOT / "notebooks" / "src" / f"{path.stem}.py"
    assert src.exists(), f"{path.name} has no source {src}"
    want = build.parse(src.read_text(encoding="utf-8"))
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
    # Stored outputs are real: each book cell's stored output is what it shows now.
    for old, new in zip(stored.cells, nb.cells):
        if "book_cell" in old.metadata:
            assert _text(old) == _text(new), old.metadata["book_cell"]


def test_chapter_notebook_shows_exactly_the_replay():
    from gluon_params_kit import chapter

    nb = nbformat.read(str(ROOT / "notebooks" / "1-quan-ly-tham-so.ipynb"), as_version=4)
    shown = {c.metadata["book_cell"]: _text(c) for c in nb.cells if "book_cell" in c.metadata}
    expected = chapter.run(quiet=True, checks=False).outputs
    assert list(shown) == list(expected)
    assert shown == expected
