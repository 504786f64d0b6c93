"""The numpy shim, import-time errors, `doctor`, and the package surface."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from transcripts import claim

import gluon_params_kit
from gluon_params_kit._core import compat as _compat
from gluon_params_kit.cli import _doctor as _doctor
from gluon_params_kit.cli import main
from gluon_params_kit.devices import num_gpus


def _run_python(code, tmp_path, fake=None):
    """Run ``code`` in a new interpreter; ``fake`` maps module name -> source shadowing it."""
    for name, source in (fake or {}).items():
        pkg = tmp_path / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text(textwrap.dedent(source))
    env_path = str(tmp_path) if fake else ""
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {env_path!r}) if {bool(fake)} else None\n{code}"],
        capture_output=True, text=True, timeout=120)


def test_numpy2_gives_an_actionable_import_error(tmp_path):
    # the package itself imports (doctor, --help and the file tools run there); its mxnet parts do not
    proc = _run_python("import numpy; numpy.__version__ = '2.1.0'  # as numpy 2 says\n"
                       "import gluon_params_kit as gpk; gpk.summary", tmp_path)
    assert proc.returncode != 0
    assert "ImportError: gluon_params_kit needs numpy<2 for mxnet 1.9.1, found numpy 2.1.0" in proc.stderr
    assert "virtual environment of its own" in proc.stderr  # numpy 2 stays where it is
    assert "pip install 'mxnet==1.9.1' 'numpy<1.24'" in proc.stderr or "'numpy==1.26.*'" in proc.stderr


def test_missing_mxnet_says_what_to_install(tmp_path):
    proc = _run_python("sys.modules['mxnet'] = None\nfrom gluon_params_kit import summary", tmp_path)
    assert proc.returncode != 0
    assert "gluon_params_kit needs Apache MXNet 1.9.1: pip install 'mxnet==1.9.1'" in proc.stderr
    assert "Never install two mxnet distributions side by side" in proc.stderr


def test_shim_restores_only_missing_aliases(tmp_path):
    # A numpy without `bool`/`int` (as 1.24+) gets exactly those back, as the builtins.
    code = textwrap.dedent("""
        import numpy, warnings
        with warnings.catch_warnings():  # numpy < 1.24 still has them, with a warning
            warnings.simplefilter('ignore')
            gone = {a for a in ('bool', 'int', 'float', 'complex', 'object', 'str') if not hasattr(numpy, a)}
        for a in ('bool', 'int'):
            numpy.__dict__.pop(a, None)
        real_getattr = getattr(numpy, '__getattr__', None)
        def __getattr__(name):
            if name in ('bool', 'int'):
                raise AttributeError(name)
            return real_getattr(name)
        numpy.__getattr__ = __getattr__
        from gluon_params_kit._core import compat as _compat
        print(sorted(_compat.SHIMMED_ALIASES) == sorted(gone | {'bool', 'int'}), numpy.bool is bool,
              numpy.int is int)
    """)
    proc = _run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True True True"


def test_shim_inactive_on_supported_numpy():
    import numpy
    if _compat.NUMPY_VERSION < (1, 24):
        assert _compat.SHIMMED_ALIASES == ()
    else:  # 1.24-1.26: every removed alias was put back
        assert set(_compat.SHIMMED_ALIASES) == {"bool", "int", "float", "complex", "object", "str"}
        assert numpy.bool is bool


def test_doctor_reports_versions_and_verdict(capsys):
    code = main(["doctor"])
    out = capsys.readouterr().out
    assert "mxnet    1.9.1" in out
    assert "features " in out and "DIST_KVSTORE=" in out
    assert ("verdict  ok" in out) == (code == 0)


def test_doctor_json_and_problem_detection(capsys, monkeypatch):
    assert main(["doctor", "--json"]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert report["mxnet"] == "1.9.1" and report["gpus"] == num_gpus() and "CUDA" in report["features"]
    monkeypatch.setattr(_doctor, "_mxnet_distributions", lambda: ["mxnet-cu112==1.9.1", "mxnet==1.9.1"])
    bad = _doctor.diagnose()
    assert not bad["ok"]
    assert any("several MXNet distributions" in p and "pip uninstall" in p for p in bad["problems"])


def test_cli_usage_error_exit_code(capsys):
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["--help"]) == 0


def test_cli_chapter_check_line(capsys):
    assert main(["chapter", "--check"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("chapter: 17 cells reproduced, ")
    assert out.endswith(" checks passed" + claim(17))


def test_public_api_is_sorted_and_importable():
    names = gluon_params_kit.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(gluon_params_kit, name) is not None, name
    assert gluon_params_kit.__version__.count(".") == 2


@pytest.mark.parametrize("module", ["tree", "select", "inspection", "initializers", "tying",
                                    "checkpoint", "devices"])
def test_every_module_public_name_is_exported_at_top_level(module):
    import importlib
    mod = importlib.import_module(f"gluon_params_kit.{module}")
    assert mod.__all__, module
    missing = [n for n in getattr(mod, "__all__", []) if n not in gluon_params_kit.__all__]
    assert not missing, f"{module}: not exported at top level: {missing}"


def test_editors_see_every_public_name_statically():
    """The lazy names are also imported under TYPE_CHECKING, so static completion finds them."""
    import ast
    tree = ast.parse(Path(gluon_params_kit.__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "_TYPE_CHECKING")
    static = {a.asname or a.name for n in block.body for a in n.names}
    assert static == set(gluon_params_kit.__all__) - {"__version__"}
    jedi = pytest.importorskip("jedi")
    names = [c.name for c in jedi.Script("import gluon_params_kit as gpk\ngpk.summ",
                                          path="probe.py").complete(2, 8)]
    assert "summary" in names and "Summary" in names


def test_a_big_fresh_array_is_filled_in_place_on_huge_pages_where_linux_offers_them():
    import mxnet as mx
    import numpy as np

    from gluon_params_kit._core import compat
    values = np.arange(3 << 20, dtype=np.float32) / 7  # 12 MiB: past the huge-page threshold
    array, view = compat.new_cpu_array(values.shape, "float32")
    view[:] = values.view(np.uint8)
    assert np.array_equal(array.asnumpy(), values) and array.context == mx.cpu(0)
    buf = np.zeros(5 << 20, np.uint8)
    for address, nbytes in ((buf.ctypes.data + 3, 4 << 20), (buf.ctypes.data, 100), (buf.ctypes.data, 0)):
        compat._huge_pages(address, nbytes)  # a hint: unaligned or small ranges do nothing wrong
    assert not buf.any()
    if Path("/sys/kernel/mm/transparent_hugepage/enabled").is_file() and sys.platform.startswith("linux"):
        assert compat._MADVISE  # found in libc where Linux has transparent huge pages
