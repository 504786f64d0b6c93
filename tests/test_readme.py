"""Every README code block runs as pasted.

``>>>`` blocks are doctests (pytest runs README.md through ``--doctest-glob``). Every other
```` ```python ```` block runs here on its own, in a fresh interpreter and an empty folder,
so it must import and define what it uses. A block right after the line
``<!-- readme-test: skip (why) -->`` is skipped with that reason (a cluster worker). Shell
blocks are commands, not run. One import alias, ``gpk``, throughout.
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"(?:<!-- readme-test: skip \((?P<skip>[^)]*)\) -->\n)?```(?P<lang>\w*)\n"
                    r"(?P<code>.*?)```", re.S)


def blocks():
    text = README.read_text(encoding="utf-8")
    found = []
    for m in _BLOCK.finditer(text):
        line = text[:m.start("code")].count("\n") + 1
        found.append((line, m.group("lang"), m.group("code"), m.group("skip")))
    return found


PYTHON = [(line, code, skip) for line, lang, code, skip in blocks()
          if lang == "python" and not code.lstrip().startswith(">>>")]


def test_readme_has_runnable_blocks():
    assert len(PYTHON) >= 5


@pytest.mark.parametrize("line, code, skip", PYTHON, ids=[f"line{b[0]}" for b in PYTHON])
def test_readme_block_runs_as_pasted(line, code, skip, tmp_path):
    if skip:
        pytest.skip(skip)
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"README.md block at line {line}:\n{proc.stderr[-3000:]}"


def test_one_import_alias():
    text = README.read_text(encoding="utf-8")
    aliases = set(re.findall(r"import gluon_params_kit as (\w+)", text))
    assert aliases == {"gpk"}, aliases
