"""The documentation site: its examples run, it builds without a warning, its pages render.

Every ```` ```python ```` block of a page in ``docs/`` runs, the page's blocks in order in one
fresh interpreter and an empty folder (as a reader pasting them top to bottom would). What a
block prints must be shown on the page, and is compared (``...`` matches anything, runs of
whitespace are equal):

- comment lines right below a line that calls ``print(``: ``print(x.shape)`` then ``# (2, 3)``;
- a ```` ```text ```` block right after the line ``<!-- output -->`` below the python block.

A block right after ``<!-- docs-test: skip (why) -->`` is not run. ``tests/test_readme.py``
applies the same rules to README.md, one block per interpreter.

The site is built with ``mkdocs build --strict`` into a temporary folder (any warning fails),
and three of its pages (home, a feature page, an API page) are opened in headless Chromium:
their headings and links are read from the DOM and a screenshot must show the page, not a
blank. ``python tests/test_docs.py docs/PAGE.md`` prints what each block of a page prints.
"""
import gluon_params_kit  # numpy shim (before mxnet); also read: _EXPORTS, __all__

# isort: split
import doctest
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md"))
_FENCE = re.compile(r"(?:<!-- (?:docs|readme)-test: (?:skip \((?P<skip>[^)]*)\)|(?P<run>run)) -->\n)?"
                    r"^```(?P<lang>\w*)\n(?P<code>.*?)^```\n"
                    r"(?:\n?<!-- output -->\n```text\n(?P<output>.*?)^```\n)?", re.S | re.M)
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

DRIVER = r"""
import contextlib, io, json, sys, traceback
blocks = json.load(open(sys.argv[1], encoding="utf-8"))
ns, results = {"__name__": "__main__"}, []
for b in blocks:
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(b["code"], b["where"], "exec"), ns)
    except BaseException:
        results.append({"out": buf.getvalue(), "error": traceback.format_exc()[-3000:]})
        break
    results.append({"out": buf.getvalue(), "error": None})
json.dump(results, open(sys.argv[2], "w", encoding="utf-8"))
"""


_SHELL = ("import os, subprocess, sys\n"
          "_env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH'])\n"
          "_proc = subprocess.run({!r}, shell=True, executable='/bin/bash', env=_env, text=True,\n"
          "                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)\n"
          "print(_proc.stdout, end='')\n")


def needs(path: Path):
    """The modules a page's examples need (``<!-- docs-test: needs torch onnx -->``)."""
    found = re.search(r"<!-- docs-test: needs ([\w ]+) -->", path.read_text(encoding="utf-8"))
    return found.group(1).split() if found else []


def python_blocks(path: Path):
    """The page's python blocks, and its shell blocks marked ``<!-- docs-test: run -->`` (run
    with bash, the venv's scripts first on PATH): dicts of line, code, skip reason and the
    expected output."""
    text = path.read_text(encoding="utf-8")
    found = []
    for m in _FENCE.finditer(text):
        if m.group("lang") in ("sh", "bash") and m.group("run"):
            code = _SHELL.format(m.group("code"))
        elif m.group("lang") == "python":
            code = m.group("code")
        else:
            continue
        found.append({"line": text[:m.start("code")].count("\n") + 1, "code": code,
                      "skip": m.group("skip"),
                      "expected": (comment_output(code) if m.group("lang") == "python" else "")
                      + (m.group("output") or ""),
                      "where": f"{path.name}:{text[:m.start('code')].count(chr(10)) + 1}"})
    return found


def comment_output(code: str) -> str:
    """The output a block shows as comments: the ``# `` lines right below a ``print(`` line."""
    out, after_print = [], False
    for line in code.splitlines():
        stripped = line.strip()
        if after_print and (stripped.startswith("# ") or stripped == "#"):
            out.append(stripped[2:])
            continue
        after_print = "print(" in line and not stripped.startswith("#")
    return "".join(f"{line}\n" for line in out)


def output_matches(expected: str, got: str) -> bool:
    return _CHECKER.check_output(expected, got, _FLAGS)


def run_blocks(blocks, cwd: Path, timeout: int = 300):
    """Run ``blocks`` in order in one fresh interpreter in ``cwd``; one result per block run."""
    src, dst = cwd / ".blocks.json", cwd / ".results.json"
    src.write_text(json.dumps(blocks), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(src), str(dst)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and dst.exists(), proc.stderr[-3000:]
    results = json.loads(dst.read_text(encoding="utf-8"))
    src.unlink()
    dst.unlink()
    return results


def check_blocks(name: str, blocks, results) -> None:
    for block, result in zip(blocks, results):
        where = f"{name} block at line {block['line']}"
        assert result["error"] is None, f"{where} failed:\n{result['error']}"
        if block["expected"] or result["out"]:
            assert output_matches(block["expected"], result["out"]), (
                f"{where} printed\n{result['out']}\nbut the page shows\n{block['expected']}")


RUNNABLE = [p for p in PAGES if any(not b["skip"] for b in python_blocks(p))]


def test_the_pages_have_runnable_examples():
    assert len(RUNNABLE) >= 10, [p.name for p in RUNNABLE]
    assert sum(len(python_blocks(p)) for p in PAGES) >= 30


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run_and_print_what_the_page_shows(page, tmp_path):
    import importlib.util
    missing = [m for m in needs(page) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{page.name} needs {', '.join(missing)}")
    blocks = [b for b in python_blocks(page) if not b["skip"]]
    results = run_blocks(blocks, tmp_path)
    assert len(results) >= 1
    check_blocks(page.name, blocks, results)
    assert len(results) == len(blocks)


def first_import(codes) -> str:
    """The first import line that names mxnet or the kit, in the order the codes run."""
    for code in codes:
        for line in code.splitlines():
            if re.match(r"\s*(import|from)\s", line) and ("mxnet" in line or "gluon_params_kit" in line):
                return line
    return ""


def test_the_kit_is_imported_before_mxnet():
    # Python 3.12 + numpy 1.26: the kit restores numpy's aliases before mxnet is imported
    runs = [[b["code"] for b in python_blocks(page)] for page in PAGES]  # a page: one interpreter
    runs += [[b["code"]] for b in python_blocks(ROOT / "README.md")]    # the README: one per block
    for codes in runs:
        line = first_import(codes)
        assert not line or "mxnet" not in line.split("gluon_params_kit")[0], line
    assert "mxnet" in first_import(["import mxnet as mx, gluon_params_kit as gpk"]).split("gluon_params_kit")[0]


def test_output_rules_can_fail():
    code = "print(1 + 1)\n# 3\nx = 2  # not output\nprint('a')\n# ...\n"
    assert comment_output(code) == "3\n...\n"
    assert not output_matches("3\n...\n", "2\na\n")
    assert output_matches("2\n...\n", "2\na b\n")
    with pytest.raises(AssertionError, match="printed"):
        check_blocks("x.md", [{"line": 1, "expected": ""}], [{"out": "surprise\n", "error": None}])


def test_the_api_reference_covers_every_public_name():
    listed = {}
    for page in (DOCS / "api").glob("*.md"):
        for module, name in re.findall(r"^::: gluon_params_kit\.(\w+)\.(\w+)$", page.read_text(), re.M):
            assert page.stem == module, (page.name, module, name)
            listed[name] = module
    assert listed == {n: gluon_params_kit._EXPORTS[n] for n in gluon_params_kit.__all__}


def test_every_page_is_in_the_navigation_and_images_exist():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in PAGES:
        assert str(page.relative_to(DOCS)) in config, page
    for page in PAGES:
        for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", page.read_text(encoding="utf-8")):
            assert (page.parent / image).is_file(), (page.name, image)


def test_the_benchmark_table_lives_in_the_docs():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import readme_table
    assert readme_table.README == DOCS / "benchmarks.md"
    assert readme_table.main(["--check"]) == 0


# ------------------------------------------------------------------------------ the built site

def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def browse(page: Path, *args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}",
                               "--window-size=1280,900", *args, page.as_uri()],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def picture_facts(png: Path):
    """(share of pixels that are not the background, number of distinct colours) of a PNG."""
    from PIL import Image
    img = Image.open(png).convert("RGB").resize((320, 225))
    pixels = list(img.getdata())
    background = max(set(pixels), key=pixels.count)
    ink = sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, background)) > 60)
    return ink / len(pixels), len(set(pixels))


def build_site(out: Path) -> None:
    """``mkdocs build --strict`` into ``out``: any warning fails."""
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # Material's banner about its successor
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "WARNING" not in proc.stderr, proc.stderr


# page, its heading, links it must hold (the navigation and the page's own)
SHOTS = [("index.html", "gluon_params_kit", ["getting-started/learner.html", "checkpoints.html", "api/index.html"]),
         ("checkpoints.html", "Checkpoints and formats", ["api/checkpoint.html", "troubleshooting.html"]),
         ("api/checkpoint.html", "Checkpoints", ["../checkpoints.html"])]


def check_in_chromium(page: Path, heading: str, links, shot: Path) -> None:
    dom = browse(page, "--dump-dom", f"--screenshot={shot}")  # one run: the DOM and the picture
    h1 = re.search(r"<h1[^>]*>(.*?)</h1>", dom, re.S)
    assert h1 and heading in re.sub(r"<[^>]+>", "", h1.group(1)), (page, h1 and h1.group(1))
    hrefs = set(re.findall(r'href="([^"#]+)', dom))
    assert set(links) <= hrefs, (page, sorted(hrefs))
    assert "md-sidebar" in dom and "md-header" in dom  # the theme's frame rendered
    ink, colours = picture_facts(shot)
    assert 0.03 < ink < 0.6 and colours > 50, (page, ink, colours)


def test_the_site_builds_strict_and_its_pages_render_in_chromium(tmp_path):
    """One build (the suite runs on several workers: one test, one build), then three pages.

    ``GPK_SITE=folder`` keeps the site there and the screenshots in ``folder-shots``."""
    pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="the docs extra: pip install -e '.[docs]'")
    keep = os.environ.get("GPK_SITE")
    site = Path(keep).resolve() if keep else tmp_path / "site"
    build_site(site)
    for page in PAGES:
        assert (site / page.relative_to(DOCS)).with_suffix(".html").is_file(), page
    api = (site / "api" / "checkpoint.html").read_text(encoding="utf-8")
    assert 'id="gluon_params_kit.checkpoint.load"' in api and "Raises" in api  # from the docstring
    trouble = (site / "troubleshooting.html").read_text(encoding="utf-8")
    assert "is missing in file" in trouble and "same prefix" in trouble
    if chromium() is None:
        pytest.skip("built; no Chromium here for the screenshots: apt-get install -y chromium")
    shots = site.parent / f"{site.name}-shots"
    shots.mkdir(exist_ok=True)
    for page, heading, links in SHOTS:
        check_in_chromium(site / page, heading, links, shots / (page.replace("/", "-") + ".png"))


def test_a_blank_screenshot_is_caught(tmp_path):
    from PIL import Image
    Image.new("RGB", (1280, 900), (255, 255, 255)).save(tmp_path / "blank.png")
    assert picture_facts(tmp_path / "blank.png") == (0.0, 1)


if __name__ == "__main__":  # print what each block of the pages given prints
    for arg in sys.argv[1:]:
        page = Path(arg).resolve()
        blocks = [b for b in python_blocks(page) if not b["skip"]]
        with tempfile.TemporaryDirectory() as folder:
            results = run_blocks(blocks, Path(folder))
        for block, result in zip(blocks, results):
            ok = result["error"] is None and output_matches(block["expected"], result["out"])
            print(f"===== {page.name}:{block['line']} {'ok' if ok else 'DIFFERS'}")
            print(result["out"] + (result["error"] or ""), end="")
