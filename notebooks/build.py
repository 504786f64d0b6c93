"""Build notebooks from their percent-format sources and store their executed outputs.

Each ``notebooks/src/<name>.py`` is a plain Python file split into cells by ``# %%``
lines (``# %% [markdown]`` starts a markdown cell whose lines are ``# ``-commented;
``# %% [book:KEY]`` is the book's cell KEY, filled in from the kit's copy of the book's
cells: ``1`` .. ``17`` for the chapter, ``deferred-init/3`` for a section's cell 3).
A cell tagged with a language (``# %% [markdown en]``, ``# %% [vi]``) belongs to that
edition only: one source gives the Vietnamese notebook and, listed in ``EDITIONS``, an
English one with the same code cells.
``python notebooks/build.py [notebook ...]`` writes ``notebooks/<notebook>.ipynb`` and runs it
top to bottom in a fresh kernel (so auto names and random values are a fresh process's),
keeping the outputs, and notes in the notebook's metadata (``gluon_params_kit.outputs_made``)
where and when they were made. The sources are the truth; the .ipynb files are built from them.
"""
from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
_MARK = re.compile(r"^# %%(?: \[(?:(?P<md>markdown)|book:(?P<book>[\w/-]+))?"
                   r"(?: ?(?P<lang>vi|en))?\])?\s*$")
#: notebook -> (source, language) for the notebooks that are another language's edition
EDITIONS = {"1-parameter-management": ("1-quan-ly-tham-so", "en")}
LANGUAGES = ("vi", "en")


def source_of(notebook: str):
    """``(source path, language)`` that notebook ``notebook`` is built from."""
    src, lang = EDITIONS.get(notebook, (notebook, "vi"))
    return SRC / f"{src}.py", lang


def notebooks() -> list:
    """Every notebook the sources give, editions included, sorted."""
    return sorted([p.stem for p in SRC.glob("*.py")] + list(EDITIONS))


def parse(text: str, lang: str = "vi") -> nbformat.NotebookNode:
    """Percent-format source -> the notebook of edition ``lang`` (no outputs)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; expected one of {LANGUAGES}")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    kind, lines, book, tag = None, [], None, None

    def flush():
        body = "\n".join(lines).strip("\n")
        if tag not in (None, lang):
            return
        if kind == "book":
            if body:
                raise ValueError(f"book cell {book!r} must be empty in the source: it is filled in")
            cell = nbformat.v4.new_code_cell(_book_cells()[book])
            cell.metadata["book_cell"] = book
            nb.cells.append(cell)
        elif kind == "md":
            md = "\n".join(re.sub(r"^# ?", "", ln) for ln in body.splitlines())
            nb.cells.append(nbformat.v4.new_markdown_cell(md))
        elif kind == "code" and body:
            nb.cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        m = _MARK.match(line)
        if m:
            flush()
            book, tag = m.group("book"), m.group("lang")
            kind, lines = ("md" if m.group("md") else "book" if book else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    return nb


def _book_cells() -> dict:
    """The book's cells by key, from the one place they are written down."""
    sys.path.insert(0, str(HERE.parent))
    from gluon_params_kit.chapter import book_cells
    return book_cells()


def build(name: str, execute: bool = True, timeout: int = 600) -> Path:
    src, lang = source_of(name)
    nb = parse(src.read_text(encoding="utf-8"), lang)
    if execute:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(HERE)}}).execute()
        # Printed float digits depend on the CPU's kernels: say where these outputs come from.
        from gluon_params_kit._book.replay import machine_note
        nb.metadata["gluon_params_kit"] = {"outputs_made": (
            f"python notebooks/build.py {name} on {machine_note()}, {datetime.date.today().isoformat()}; "
            "other machines print some floats with other last digits")}
    for i, cell in enumerate(nb.cells):  # stable ids keep rebuild diffs small
        cell["id"] = f"{name[:20]}-{i}"
    out = HERE / f"{name}.ipynb"
    nbformat.write(nb, str(out))
    return out


if __name__ == "__main__":
    names = sys.argv[1:] or notebooks()
    for n in names:
        print("built", build(n))
