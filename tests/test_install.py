"""Where learners are: no mxnet, numpy 2, the package folder as working directory, no tqdm.

Each case runs in a fresh interpreter. "No mxnet" is ``sys.modules['mxnet'] = None``
(import then fails exactly as for a missing package); "numpy 2" is this numpy saying it is
2.1.0 (the kit decides by the version; the real numpy 2 runs the file layer's tests in
``make files-np2``). The built wheel in a fresh venv is checked by ``make wheel-check``
(part of ``make test``), not here; the packaging rules (numpy pinned only with mxnet, the
``cpu`` extra refusing Python 3.13) are read from ``setup.cfg`` below, and pip's own
refusal on 3.13 is run by ``make files-np2``.
"""
import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gluon_params_kit as gpk
from gluon_params_kit import _shim
from gluon_params_kit._core import display as _display

ROOT = Path(__file__).resolve().parents[1]
NO_MXNET = "import sys; sys.modules['mxnet'] = None\n"


def python(code, *, cwd=None):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=180, cwd=cwd or ROOT)


def cli(args, prelude=""):
    return prelude + f"from gluon_params_kit.cli import main\nraise SystemExit(main({args!r}))\n"


@pytest.fixture(scope="module")
def params_files(tmp_path_factory):
    import mxnet as mx
    folder = tmp_path_factory.mktemp("files")
    a, b = folder / "a.params", folder / "b.params"
    mx.nd.save(str(a), {"0.weight": mx.nd.ones((4, 3)), "0.bias": mx.nd.zeros((4,))})
    mx.nd.save(str(b), {"0.weight": mx.nd.ones((4, 2)), "1.bias": mx.nd.zeros((4,))})
    return a, b


NUMPY_2 = "import numpy; numpy.__version__ = '2.1.0'\n"


# --------------------------------------------------------------------------- without mxnet

@pytest.mark.parametrize("args", [["--help"], ["--version"], ["inspect", "--help"]])
def test_help_and_version_work_without_mxnet(args):
    proc = python(cli(args, NO_MXNET))
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    out = proc.stdout
    assert ("gluon-params 0.1.0" in out) if args == ["--version"] else ("usage: gluon-params" in out)


def test_doctor_without_mxnet_diagnoses_and_says_the_fix():
    proc = python(cli(["doctor"], NO_MXNET))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "mxnet    cannot be imported" in proc.stdout
    assert "pip install 'mxnet==1.9.1'" in proc.stdout and "verdict  1 problem(s)" in proc.stdout
    proc = python(cli(["doctor", "--json"], NO_MXNET))
    import json
    report = json.loads(proc.stdout)
    assert report["mxnet"] is None and not report["ok"] and report["features"] == {}


def test_header_commands_run_and_never_import_mxnet(params_files):
    a, b = params_files
    check = "\nimport sys\nassert 'mxnet' not in sys.modules, 'mxnet was imported'\n"
    for args in (["inspect", str(a)], ["diff", "--names", str(a), str(b)]):
        code = ("from gluon_params_kit.cli import main\ncode = main(%r)" % args + check
                + "raise SystemExit(code)")
        proc = python(code)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == (0 if args[0] == "inspect" else 1), proc.stdout
    proc = python(cli(["diff", "--names", str(a), str(b)], NO_MXNET))
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("3 keys, 3 differ (headers only: values not compared)")
    assert any(l.split()[:2] == ["shape", "0.weight"] for l in lines)
    assert any(l.split()[:2] == ["only_a", "0.bias"] for l in lines)
    assert any(l.split()[:2] == ["only_b", "1.bias"] for l in lines)
    same = python(cli(["diff", "--names", str(a), str(a)], NO_MXNET))
    assert same.returncode == 0 and "2 keys, 0 differ" in same.stdout


def test_diff_names_reads_npz_headers(params_files, tmp_path):
    import numpy as np
    a, _ = params_files
    npz = tmp_path / "a.npz"
    np.savez(npz, **{"0.weight": np.ones((4, 3), np.float32), "0.bias": np.zeros(4, np.float32)})
    proc = python(cli(["diff", "--names", "--json", str(a), str(npz)], NO_MXNET))
    import json
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["same"] and report["names_only"]
    assert {r["key"]: r["shape_b"] for r in report["rows"]} == {"0.weight": [4, 3], "0.bias": [4]}


def test_lazy_package_import_is_light_and_complete():
    proc = python("""
        import sys
        import gluon_params_kit as gpk
        assert 'mxnet' not in sys.modules and 'gluon_params_kit.tree' not in sys.modules
        assert set(gpk.__all__) <= set(dir(gpk)) and 'chapter' in dir(gpk)
        import gluon_params_kit.select          # the submodule ...
        assert callable(gpk.select) and gpk.select.__module__ == 'gluon_params_kit.select'
        from gluon_params_kit import summary    # ... never hides the function select
        assert 'mxnet' in sys.modules and gpk.summary is summary
        print(gpk.chapter.rgnet.__name__)
    """)
    assert proc.returncode == 0 and proc.stdout.strip() == "rgnet", proc.stderr
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        gpk.no_such_name  # noqa: B018


# --------------------------------------------------------------------------- numpy 2

def test_doctor_and_help_with_numpy_2():
    proc = python(cli(["doctor"], NUMPY_2))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "numpy    2.1.0" in proc.stdout
    assert "mxnet 1.9.1 needs numpy<2. Fix: pip install 'numpy" in proc.stdout
    helped = python(cli(["--help"], NUMPY_2))
    assert helped.returncode == 0 and "usage: gluon-params" in helped.stdout, helped.stderr
    used = python(NUMPY_2 + "import gluon_params_kit as gpk; gpk.summary")
    assert "gluon_params_kit needs numpy<2 for mxnet 1.9.1, found numpy 2.1.0" in used.stderr
    assert "MXNetImportError" in used.stderr and "virtual environment of its own" in used.stderr


# --------------------------------------------------------------------------- packaging

def _setup_cfg():
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def _requirements(text, python_version):
    """The requirements of a setup.cfg list that apply on ``python_version``."""
    from packaging.requirements import Requirement
    reqs = [Requirement(line) for line in (l.split("#")[0].strip() for l in text.splitlines()) if line]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"python_version": python_version})]


PYTHONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14"]


@pytest.mark.parametrize("python_version", PYTHONS)
def test_numpy_is_pinned_only_where_mxnet_comes_in(python_version):
    pytest.importorskip("packaging")
    from packaging.specifiers import SpecifierSet
    cfg = _setup_cfg()
    assert SpecifierSet(cfg["options"]["python_requires"]).contains(python_version)
    base = {r.name: r for r in _requirements(cfg["options"]["install_requires"], python_version)}
    assert "mxnet" not in base and base["numpy"].specifier.contains("2.3.0")  # a numpy-2 env stays
    assert base["numpy"].specifier.contains("1.23.5")
    cpu = _requirements(cfg["options.extras_require"]["cpu"], python_version)
    mxnet = [r for r in cpu if r.name == "mxnet"]
    numpy = [r for r in cpu if r.name == "numpy"]
    assert len(mxnet) == 1
    version = tuple(int(p) for p in python_version.split("."))
    if version < (3, 13):  # mxnet 1.9.1 and the numpy it imports with (the shim's on 3.12)
        assert str(mxnet[0].specifier) == "==1.9.1" and len(numpy) == 1
        allowed = [v for v in ("1.23.5", "1.24.4", "1.26.4", "2.0.0") if numpy[0].specifier.contains(v)]
        assert allowed == (["1.26.4"] if version == (3, 12) else ["1.23.5"])
    else:  # MXNet cannot run: no version can match, so pip stops at once, before any numpy
        assert not numpy and not list(mxnet[0].specifier.filter(["1.9.1", "1.9.0", "2.0.0"], prereleases=True))
        assert str(mxnet[0].specifier) == "==1.9.1+needs.python.3.8.to.3.12"  # pip prints it


def test_install_hint_fits_how_the_kit_was_installed(monkeypatch):
    from gluon_params_kit._core import compat
    monkeypatch.setattr(sys, "version_info", (3, 11, 7, "final", 0))
    monkeypatch.setattr(compat, "NUMPY_VERSION", (1, 23))
    hint = compat.install_hint()  # from this checkout (an editable install)
    assert hint.startswith("pip install 'mxnet==1.9.1' 'numpy") and "mxnet-cu112==1.9.1" in hint
    monkeypatch.setattr(compat, "__file__", "/env/lib/python3.11/site-packages/gluon_params_kit/_core/compat.py")
    assert compat.install_hint().startswith("pip install 'gluon_params_kit[cpu]' (for CUDA")
    monkeypatch.setattr(compat, "NUMPY_VERSION", (2, 3))
    assert compat.install_hint().startswith("in a virtual environment of its own (mxnet needs numpy<2")
    monkeypatch.setattr(sys, "version_info", (3, 13, 1, "final", 0))
    hint = compat.install_hint()
    assert hint.startswith("MXNet 1.9.1 does not run on Python 3.13") and "Python 3.8-3.12" in hint
    assert hint.endswith("pip install 'gluon_params_kit[cpu]'")


# --------------------------------------------------------------------------- package folder

def test_running_from_inside_the_package_folder_says_what_is_wrong():
    proc = python("import gluon_params_kit", cwd=ROOT / "gluon_params_kit")
    assert proc.returncode != 0
    assert "package folder itself on its path" in proc.stderr and "select.py" in proc.stderr
    assert "run Python from another folder" in proc.stderr and "install mxnet" not in proc.stderr
    assert _shim.shadowing_entry([str(ROOT)]) is None


# --------------------------------------------------------------------------- progress, CLI

def test_long_read_without_tqdm_says_once_how_to_get_a_bar(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setattr(_display, "_hinted", False)
    out = io.StringIO()
    big = _display.PROGRESS_BYTES + 1
    assert _display.progress(big, "/x/big.params", stream=out) is None
    assert _display.progress(big, "/x/other.params", stream=out) is None
    text = out.getvalue()
    assert text.count("\n") == 1 and "pip install tqdm" in text and "big.params" in text
    assert _display.progress(10, "small.params", stream=out) is None and out.getvalue() == text


def test_progress_bar_with_tqdm(monkeypatch):
    tqdm = pytest.importorskip("tqdm")
    bar = _display.progress(_display.PROGRESS_BYTES + 1, "/x/big.params", stream=io.StringIO())
    try:
        assert bar.total == _display.PROGRESS_BYTES + 1 and bar.desc == "big.params"
        bar.update(10)  # a read that ends before the delay: no bar, so tqdm is not imported for it
        assert bar._bar is None and bar.n == 10
        monkeypatch.setattr(_display, "PROGRESS_DELAY", 0.0)  # a read still running: the bar appears
        bar.update(5)
        assert isinstance(bar._bar, tqdm.tqdm) and bar._bar.n == 15 and bar._bar.total == bar.total
        bar.update(1)
        assert bar._bar.n == 16
    finally:
        bar.close()
    assert bar._bar is None
    monkeypatch.setitem(sys.modules, "tqdm", None)  # tqdm found, then failing to import: no bar, no error
    broken = _display.Progress(100, "x.params")
    broken.update(7)
    assert broken._bar is None and broken.n == 7


def test_chapter_quiet_and_check_alias(capsys):
    from gluon_params_kit.cli import build_parser
    parser = build_parser()
    for flag in ("--quiet", "-q", "--check"):
        assert parser.parse_args(["chapter", flag]).check is True
    assert parser.parse_args(["chapter"]).check is False
    assert "--quiet" in parser._subparsers._group_actions[0].choices["chapter"].format_help()
