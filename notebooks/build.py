"""Build notebooks from their percent-format sources and store their executed outputs.

Each ``notebooks/src/<name>.py`` is a plain Python file split into cells by ``# %%``
lines (``# %% [markdown]`` starts a markdown cell whose lines are ``# ``-commented).
``python notebooks/build.py [name ...]`` writes ``notebooks/<name>.ipynb`` and runs it
top to bottom in a fresh kernel (so auto names and random values are a fresh process's),
keeping the outputs. The sources are the truth; the .ipynb files are built from them.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
_MARK = re.compile(r"^# %%(?P<md> \[markdown\])?\s*$")


def parse(text: str) -> nbformat.NotebookNode:
    """Percent-format source -> notebook (no outputs)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    kind, lines = None, []

    def flush():
        body = "\n".join(lines).strip("\n")
        if kind == "md":
            md = "\n".join(re.sub(r"^# ?", "", ln) for ln in body.splitlines())
            nb.cells.append(nbformat.v4.new_markdown_cell(md))
        elif kind == "code" and body:
            nb.cells.append(nbformat.v4.new_code_cell(body))

    for line in text.splitlines():
        m = _MARK.match(line)
        if m:
            flush()
            kind, lines = ("md" if m.group("md") else "code"), []
        elif kind is not None:
            lines.append(line)
    flush()
    return nb


def build(name: str, execute: bool = True, timeout: int = 600) -> Path:
    src = SRC / f"{name}.py"
    nb = parse(src.read_text(encoding="utf-8"))
    if execute:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(HERE)}}).execute()
    for i, cell in enumerate(nb.cells):  # stable ids keep rebuild diffs small
        cell["id"] = f"{name[:20]}-{i}"
    out = HERE / f"{name}.ipynb"
    nbformat.write(nb, str(out))
    return out


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(p.stem for p in SRC.glob("*.py"))
    for n in names:
        print("built", build(n))
