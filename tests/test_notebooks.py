"""Every notebook runs top to bottom on CPU and matches its source; run here, each book cell
shows exactly what the kit's replay of the book shows on this machine, and the outputs stored
in the notebook (another machine's run, named in its metadata) agree with it up to float
rounding (`compare_printed`), never digit for digit.

The Vietnamese notebooks speak Vietnamese in every line they print (the book's cells show
what the book's code shows; library error messages are quoted as they are), and no cell of
ours reads a private field.

Rebuild a notebook after editing its source: `python notebooks/build.py <name>`.
"""
import ast
import copy
import functools
import io
import re
import shlex
import shutil
import sys
import tokenize
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


def _code_tokens(source: str) -> list:
    """The tokens of a code cell without its strings and comments: what it does, not what it says."""
    words = {tokenize.STRING, tokenize.COMMENT, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in words]


def test_editions_share_their_code_cells_and_differ_in_prose():
    vi, en = (nbformat.read(str(ROOT / "notebooks" / f"{n}.ipynb"), as_version=4) for n in CHAPTER_NOTEBOOKS)
    code = [[c.source for c in nb.cells if c.cell_type == "code"] for nb in (vi, en)]
    assert len(code[0]) == len(code[1]) > 17
    # The same code; only what it prints (strings) and its comments are in each edition's language.
    assert [_code_tokens(s) for s in code[0]] == [_code_tokens(s) for s in code[1]]
    differing = [i for i, (a, b) in enumerate(zip(*code)) if a != b]
    assert len(differing) == 5  # the five exercises print in their edition's language
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


# ----------------------------------------------------------------------------- the learner's path

#: Letters only Vietnamese uses among the notebooks' languages.
_VIETNAMESE_LETTERS = re.compile("[ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđ]", re.I)
VIETNAMESE_NOTEBOOKS = ["1-quan-ly-tham-so", "8-khoi-tao-tre", "9-tang-tuy-chinh", "10-doc-ghi-tep",
                        "11-tang-va-khoi", "12-gpu"]


def _read(name: str):
    return nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), as_version=4)


def _our_code_cells(nb) -> list:
    """The code cells that are not the book's."""
    return [c for c in nb.cells if c.cell_type == "code" and "book_cell" not in c.metadata]


def test_the_vietnamese_notebooks_are_the_ones_whose_title_is_vietnamese():
    titled = [p.stem for p in NOTEBOOKS
              if _VIETNAMESE_LETTERS.search(next(c.source for c in _read(p.stem).cells if c.cell_type == "markdown"))]
    assert sorted(titled) == sorted(VIETNAMESE_NOTEBOOKS)


@functools.lru_cache(maxsize=None)
def _english_answer_texts() -> tuple:
    """What the exercises' answers say in English: gluon_params_kit.exercises' sentences and the
    words the English edition's exercise cells print, where the Vietnamese ones differ."""
    import mxnet as mx

    from gluon_params_kit import exercises, fresh_names
    from gluon_params_kit.chapter import shared_mlp

    with fresh_names():
        net = shared_mlp()
    net.initialize()
    net(mx.nd.ones((2, 20)))
    texts = set(exercises.why_share(net))
    vi_props = {r["property"] for r in exercises.initializer_properties(lang="vi")}
    texts |= {r["property"] for r in exercises.initializer_properties()} - vi_props
    texts.add(exercises.step_table(exercises.train_shared_mlp(steps=1)).splitlines()[0])
    vi, en = (_our_code_cells(_read(n)) for n in CHAPTER_NOTEBOOKS)
    for a, b in zip(vi, en):
        if a.source != b.source:
            for tok in tokenize.generate_tokens(io.StringIO(b.source).readline):
                if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                    texts |= {t.strip(" :|,") for t in re.split(r"\{[^}]*\}|^[a-z]*[\"']+|[\"']+$", tok.string)}
    return tuple(sorted(t for t in texts if re.search(r"[a-z]{3,} [a-z]{2,}", t)))


#: A line that quotes a library's message as it is: ``ValueError: ...``, ``MXNetError: ...``.
_QUOTED_ERROR = re.compile(r"^\s*[A-Z]\w*(?:Error|Exception|Warning|ForSymbol): ")
#: What is code, not prose, in a printed line: quoted strings, MXNet's Parameter repr, names
#: with dots, underscores, brackets or digits (paths, calls, shapes).
_CODE = re.compile(r"'[^']*'|\"[^\"]*\"|Parameter \S+ \([^)]*\)|[\w.]*[_.(\[\d][\w.()\[\]]*")
#: English words no Vietnamese sentence of ours needs.
_ENGLISH = re.compile(r"\b(?:the|of|and|are|is|with|from|not|parameters?|shared|values?|loaded|missing|"
                      r"moved|replicas?|consistent|unexpected|tied|keys?|bound|uses?|measured|theory|step)\b", re.I)


def english_in(text: str, answers=()) -> list:
    """Lines of ``text`` (a cell's printed output) that speak English: an English answer text
    of the exercises, or English words outside code and quoted library messages."""
    found = []
    for line in text.splitlines():
        if any(a in line for a in answers):
            found.append(line)
        elif not _QUOTED_ERROR.match(line) and _ENGLISH.search(_CODE.sub(" ", line)):
            found.append(line)
    return found


def test_the_english_detector_sees_english_and_passes_code_and_vietnamese():
    assert english_in("Fewer values to store and learn: 330 instead of 402")
    assert english_in("Parameters: 1,696 in 12 tensors (trainable 1,696, frozen 0)")
    assert english_in("rand_weight   (20, 20)  grad_req=null   uses=1")
    assert english_in("anything", answers=("anything",))
    assert not english_in("rand_weight   (20, 20)  grad_req=null   số lần dùng=1")
    assert not english_in("sequential0_ (\n  Parameter dense0_weight (shape=(256, 20), dtype=float32)\n)")
    assert not english_in("RuntimeError: Parameter 'dense15_weight' has not been initialized.")
    assert not english_in("đã nạp: ['hidden.weight', 'hidden.bias'] | thiếu: [] | thừa: []")
    assert not english_in("collect_params(): {} | named_parameters: {}")


@pytest.mark.parametrize("name", VIETNAMESE_NOTEBOOKS)
def test_vietnamese_notebook_prints_no_english(name):
    """Read from the stored outputs (build.py runs each notebook to store them): every line our
    cells print is Vietnamese, or code, or a library's message quoted as it is."""
    answers = _english_answer_texts()
    assert len(answers) > 10 and any(a.startswith("Fewer values to store") for a in answers)
    cells = _our_code_cells(_read(name))
    assert sum(bool(notebook_text(c).strip()) for c in cells) >= 3  # the outputs are stored
    english = {c.source.splitlines()[0]: english_in(notebook_text(c), answers) for c in cells}
    assert not {k: v for k, v in english.items() if v}


def _private_reads(source: str) -> list:
    """``obj._name`` in a cell's code (dunders such as ``__name__`` aside)."""
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)]
    return [f"{a.line.strip()}" for a, b in zip(toks, toks[1:]) if a.string == "." and
            b.type == tokenize.NAME and b.string.startswith("_") and not b.string.startswith("__")]


def test_private_reads_are_found():
    assert _private_reads("cached = rg[1]._cached_op\nx = 1") == ["cached = rg[1]._cached_op"]
    assert _private_reads("print(net.__class__.__name__, '._no')  # x._y") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_cell_of_ours_reads_a_private_field(path):
    found = [r for c in _our_code_cells(_read(path.stem)) for r in _private_reads(c.source)]
    assert not found


@pytest.mark.parametrize("name", VIETNAMESE_NOTEBOOKS)
def test_exercise_cells_show_their_code_and_a_short_check(name):
    nb = _read(name)
    heading = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Bài tập" in c.source)
    exercises = [c for c in nb.cells[heading:] if c.cell_type == "code"]
    assert len(exercises) >= 3
    for cell in _our_code_cells(nb):
        tree = ast.parse(cell.source)
        asserts = [n for n in ast.walk(tree) if isinstance(n, ast.Assert)]
        assert len(asserts) <= 2, cell.source  # the check is short; the cell shows the work
        assert "exercises" not in cell.source, cell.source  # the answer is in the cell, not hidden
    for cell in exercises:
        assert len(ast.parse(cell.source).body) >= 3, cell.source  # a few lines that do it
