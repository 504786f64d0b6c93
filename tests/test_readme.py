"""The README: short, every Python block runs as pasted and prints what it shows, its links resolve.

Every ```` ```python ```` block runs on its own, in a fresh interpreter and an empty folder,
so it must import and define what it uses; what it prints must be the comment lines right
below its ``print(`` calls (``tests/test_docs.py`` has the rules, shared with the docs pages).
A block right after ``<!-- readme-test: skip (why) -->`` is skipped with that reason. Shell
blocks are commands, not run. No ``>>>`` prompts (a pasted prompt is a SyntaxError). One import
alias, ``gpk``, throughout.
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import re
from pathlib import Path

import pytest
from test_docs import check_blocks, python_blocks, run_blocks

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = python_blocks(README)


def test_readme_is_short_and_has_runnable_blocks():
    assert README.stat().st_size <= 12 * 1024
    assert len(BLOCKS) >= 2 and all(b["expected"] for b in BLOCKS)
    assert ">>>" not in README.read_text(encoding="utf-8")


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b['line']}" for b in BLOCKS])
def test_readme_block_runs_as_pasted(block, tmp_path):
    if block["skip"]:
        pytest.skip(block["skip"])
    check_blocks("README.md", [block], run_blocks([block], tmp_path))


def test_readme_links_resolve():
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)", text)
    assert len([link for link in links if link.startswith("docs/")]) >= 15
    assert [link for link in links if not (ROOT / link).exists()] == []
    for page in ("troubleshooting.md", "api/index.md", "getting-started/learner.md",
                 "getting-started/engineer.md", "benchmarks.md", "architecture.md"):
        assert f"docs/{page}" in links, page


def test_readme_states_the_commands_and_versions():
    text = README.read_text(encoding="utf-8")
    for needed in ("make chapter", "make test", "make unit", "minutes", "## Supported versions",
                   "numpy 2", "is missing in file", "same prefix"):
        assert needed in text, needed


def test_one_import_alias():
    text = README.read_text(encoding="utf-8")
    aliases = set(re.findall(r"import gluon_params_kit as (\w+)", text))
    assert aliases == {"gpk"}, aliases
