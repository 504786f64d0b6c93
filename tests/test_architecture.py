"""The package's plan, checked: folders by feature, and the import rules between them.

Every module of the package is read recursively with ``ast`` (imports inside functions count
too), named by its dotted path inside the package (``_core.gluon``, ``tree`` for
``tree/__init__.py``). The rules, by folder:

- ``_io`` (the file layer) imports the standard library, numpy, ``errors``, the mxnet-free
  core (the path grammar ``_core.paths``, the report base ``_core.report`` and the
  display helpers ``_core.display``: a ``Header`` is a report) and itself, nothing else
  (and the ``safetensors`` library, lazily, where a caller asks for its check);
- the mxnet-free core imports only ``errors``, itself, the argument checks
  ``_core.validate`` (numpy; mxnet only lazily, to check a context) and the standard
  library (and ``tqdm``, lazily, for a progress bar); ``_core.paths``, the path grammar,
  only ``errors`` and the standard library;
- ``_core`` imports no feature, nor the book (``_book``, ``chapter``, ``exercises``) nor the
  command line (``cli``): only itself, ``_io``, ``errors`` and ``_shim``;
- a feature (a public module or folder) imports another feature only through its public
  face (``tree``, never ``tree._render``);
- a name imported from another module of the package is in that module's ``__all__``, and no
  underscore name crosses modules;
- no import cycle;
- the file layer, the mxnet-free core and the CLI's header-only commands work with mxnet
  blocked; so do the file tools of the public face (``gpk.read_header``, ``read_array``,
  ``convert``, ``diff``, ``export_npz``) and the CLI's ``inspect --stats``, ``diff``,
  ``convert`` and ``export``: the modules they go through (``checkpoint``, ``tree``,
  ``_core.gluon``) import mxnet only where a Block or an NDArray is used.
"""
from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys
from typing import Dict, List, Optional, Set, Tuple

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "gluon_params_kit"
#: The public features: each a module or a folder whose ``__init__`` is its face.
FEATURES = {"tree", "select", "inspection", "initializers", "tying", "checkpoint", "training", "devices",
            "interop"}
#: The book's public modules and the command line: the outer ring.
OUTER = {"chapter", "exercises", "cli", "__main__"}
#: Located by path, so they stay at the top level (each says why in its docstring).
TOP_BY_PATH = {"_shim", "_server_assign"}
#: Third-party packages the file layer may import (``safetensors`` only lazily, for its check).
IO_THIRD_PARTY = {"numpy", "safetensors"}
#: The core modules that import no mxnet (nor numpy), so the file layer may use them.
MXNET_FREE = {"_core.paths", "_core.report", "_core.display"}
#: What else they may import: the argument checks (numpy; mxnet lazily, for contexts only).
MXNET_FREE_USES = {"errors", "_core.validate"}
#: Third-party packages they may import (lazily: ``tqdm`` for a progress bar).
MXNET_FREE_THIRD_PARTY = {"tqdm"}


def module_name(path: pathlib.Path, root: pathlib.Path = PACKAGE) -> str:
    """``tree/__init__.py`` -> ``'tree'``, ``_core/gluon.py`` -> ``'_core.gluon'``, ``__init__.py`` -> ``'__init__'``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def read_modules(root: pathlib.Path = PACKAGE) -> Dict[str, Tuple[ast.Module, bool]]:
    """Every module under ``root``, recursively: name -> (tree, is a package ``__init__``)."""
    return {module_name(f, root): (ast.parse(f.read_text(encoding="utf-8"), str(f)), f.name == "__init__.py")
            for f in sorted(root.rglob("*.py"))}


def _package_of(name: str, is_package: bool) -> List[str]:
    if name == "__init__":
        return []
    parts = name.split(".")
    return parts if is_package else parts[:-1]


def imports(name: str, tree: ast.Module, is_package: bool, known: Set[str]
            ) -> Tuple[List[Tuple[str, List[str]]], Set[str]]:
    """(package module, names imported from it) for each import of the package's own modules,
    and the top-level names of other (third-party or standard) packages imported."""
    inside: List[Tuple[str, List[str]]] = []
    outside: Set[str] = set()
    here = _package_of(name, is_package)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)] if node.level > 1 else list(here)
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "gluon_params_kit":
                target = node.module[len("gluon_params_kit."):] if "." in node.module else ""
            else:
                outside.add((node.module or "").split(".")[0])
                continue
            names = [a.name for a in node.names]
            subs = [f"{target}.{n}" if target else n for n in names]
            if all(s in known for s in subs) and names:
                inside.extend((s, []) for s in subs)  # from . import display as D
            else:
                inside.append((target or "__init__", names))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "gluon_params_kit":
                    inside.append((alias.name[len("gluon_params_kit."):] or "__init__", []))
                else:
                    outside.add(alias.name.split(".")[0])
    return inside, outside


def _all_of(tree: ast.Module) -> Optional[Set[str]]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return None


def _area(name: str) -> str:
    """The folder or top-level module a module belongs to: ``'_core'``, ``'tree'``, ``'errors'``."""
    return name.split(".")[0]


def violations(modules: Dict[str, Tuple[ast.Module, bool]]) -> List[str]:
    """Every broken rule of the module docstring, one line each."""
    known = set(modules)
    found: List[str] = []
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for name, (tree, is_package) in sorted(modules.items()):
        inside, outside = imports(name, tree, is_package, known)
        area = _area(name)
        for target, names in inside:
            if target not in known:
                found.append(f"{name} imports {target!r}, which is not a module of the package")
                continue
            t_area = _area(target)
            if area == "_io" and t_area != "_io" and target != "errors" and target not in MXNET_FREE \
                    and not (target == "__init__" and names == ["__version__"]):
                found.append(f"{name} (file layer) imports {target}")
            if area == "_core" and t_area not in ("_core", "_io", "errors", "_shim"):
                found.append(f"{name} (core) imports {target}")
            if (name == "_core.paths" and target != "errors") or \
                    (name in MXNET_FREE and target not in MXNET_FREE_USES | MXNET_FREE):
                found.append(f"{name} (no mxnet) imports {target}")
            if t_area in FEATURES | OUTER and t_area != area and target != t_area:
                found.append(f"{name} imports {target}, not {t_area}'s public face")
            if target != name and names and target != "__init__":
                exported = _all_of(modules[target][0])
                for n in names:
                    if n.startswith("_"):
                        found.append(f"{name} imports the private name {n} from {target}")
                    elif exported is None or n not in exported:
                        found.append(f"{name} imports {n} from {target}, not in its __all__")
        if area == "_io" or name in MXNET_FREE:
            allowed = IO_THIRD_PARTY if area == "_io" else \
                set() if name == "_core.paths" else MXNET_FREE_THIRD_PARTY
            bad = outside - stdlib - allowed
            if bad:
                found.append(f"{name} (file layer) imports {', '.join(sorted(bad))}")
    cycle = _cycle({n: {t for t, _ in imports(n, tr, p, known)[0] if t in known and t != n and t != "__init__"}
                    for n, (tr, p) in modules.items() if n != "__init__"})
    if cycle:
        found.append("import cycle: " + " -> ".join(cycle))
    return found


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``[]``."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


# ----------------------------------------------------------------------------- the package

def test_the_package_keeps_every_rule():
    assert violations(read_modules()) == []


def test_the_walk_sees_every_file_in_every_folder():
    files = sorted(PACKAGE.rglob("*.py"))
    modules = read_modules()
    assert len(modules) == len(files) > 50
    assert {"_core.gluon", "_core.paths", "_io.header", "tree._render", "checkpoint._remap",
            "_book.replay", "cli._doctor"} <= set(modules)


def test_the_top_level_shows_the_features():
    top = sorted(p.name for p in PACKAGE.iterdir() if not p.name.startswith("__pycache__"))
    folders = {p for p in top if (PACKAGE / p).is_dir()}
    assert folders == {"_book", "_core", "_io", "checkpoint", "cli", "devices", "initializers", "inspection",
                       "interop", "training", "tree", "tying"}
    loose = {p[:-3] for p in top if p.endswith(".py")}
    assert loose == {"__init__", "__main__", "errors", "select", "chapter", "exercises"} | TOP_BY_PATH
    for private in ("_core", "_io", "_book"):  # private folders: empty __init__s, nothing runs on import
        assert (PACKAGE / private / "__init__.py").read_text(encoding="utf-8") == ""


def test_every_private_module_declares_its_interface():
    missing = [n for n, (tree, is_package) in read_modules().items()
               if not is_package and n not in ("__main__",) and _all_of(tree) is None]
    assert missing == []


def test_the_architecture_page_draws_every_folder():
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    plan = page.split("## Layout", 1)[1].split("\n## ", 1)[0]
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert [f for f in folders if f"{f}/" not in plan] == []


# ----------------------------------------------------------------------------- the rules can fail

def _fake(**sources: str) -> Dict[str, Tuple[ast.Module, bool]]:
    """Modules from source text; a name ending in ``/`` is a package (``'_io/'``)."""
    return {name.rstrip("/").replace("/", "."): (ast.parse(src), name.endswith("/"))
            for name, src in sources.items()}


BASE = dict(**{"__init__": "", "errors": "__all__ = ['E']\nclass E(Exception): pass\n",
               "_io/": "", "_core/": "", "tree/": "__all__ = ['walk']\nfrom .._core.gluon import walk\n",
               "tree/_render": "__all__ = ['draw']\ndef draw(): pass\n",
               "_core/gluon": "__all__ = ['walk']\nimport mxnet\ndef walk(): pass\n",
               "_core/paths": "__all__ = ['parse_path']\ndef parse_path(): pass\n",
               "_core/display": "__all__ = ['text_table']\ndef text_table(): pass\n",
               "_core/report": "__all__ = ['Report']\nfrom ..errors import E\nfrom .display import text_table\n"
                              "from .paths import parse_path\nclass Report: pass\n",
               "_io/header": "__all__ = ['Header']\nimport numpy\nfrom ..errors import E\n"
                             "from .._core.paths import parse_path\nfrom .._core.report import Report\n"
                             "class Header(Report): pass\n"})


def test_a_clean_fake_package_passes():
    assert violations(_fake(**BASE)) == []


@pytest.mark.parametrize("module, source, message", [
    ("_io/bad", "__all__ = []\nimport mxnet\n", "_io.bad (file layer) imports mxnet"),
    ("_io/bad", "__all__ = []\nfrom .._core.gluon import walk\n", "_io.bad (file layer) imports _core.gluon"),
    ("_core/bad", "__all__ = []\nfrom ..tree import walk\n", "_core.bad (core) imports tree"),
    ("checkpoint/", "__all__ = []\nfrom ..tree._render import draw\n",
     "checkpoint imports tree._render, not tree's public face"),
    ("_core/bad", "__all__ = []\ndef f():\n    from .gluon import _hidden\n",
     "_core.bad imports the private name _hidden from _core.gluon"),
    ("_core/bad", "__all__ = []\nfrom .paths import unlisted\n",
     "_core.bad imports unlisted from _core.paths, not in its __all__"),
    ("_core/bad", "__all__ = []\nfrom .nowhere import x\n", "_core.bad imports '_core.nowhere', which is not"),
    ("_core/paths", "__all__ = ['parse_path']\nfrom .gluon import walk\ndef parse_path(): pass\n",
     "_core.paths (no mxnet) imports _core.gluon"),
    ("_core/paths", "__all__ = ['parse_path']\nfrom .display import text_table\ndef parse_path(): pass\n",
     "_core.paths (no mxnet) imports _core.display"),
    ("_core/report", "__all__ = ['Report']\nfrom .gluon import walk\nclass Report: pass\n",
     "_core.report (no mxnet) imports _core.gluon"),
    ("_core/report", "__all__ = ['Report']\nimport numpy\nclass Report: pass\n",
     "_core.report (file layer) imports numpy"),
])
def test_a_broken_rule_is_named(module, source, message):
    found = violations(_fake(**{**BASE, module: source}))
    assert any(v.startswith(message) or message in v for v in found), found


def test_a_cycle_is_found():
    found = violations(_fake(**{**BASE, "_core/gluon": "__all__ = ['walk']\nfrom .paths import parse_path\n"
                                                        "def walk(): pass\n",
                                "_core/paths": "__all__ = ['parse_path']\nfrom .gluon import walk\n"
                                               "def parse_path(): pass\n"}))
    assert any(v.startswith("import cycle: _core.gluon -> _core.paths -> _core.gluon") for v in found), found


# ----------------------------------------------------------------------------- no mxnet

NO_MXNET = """
import sys
sys.modules['mxnet'] = None  # any import of mxnet now fails
import importlib, pathlib
import gluon_params_kit as gpk
root = pathlib.Path(gpk.__file__).parent
names = ['_core.paths', '_core.display', '_core.validate', '_core.report', '_core.stats', '_core.file_stats'] + sorted('_io.' + p.stem for p in (root / '_io').glob('*.py') if p.stem != '__init__')
for name in names:
    importlib.import_module('gluon_params_kit.' + name)
from gluon_params_kit._io.formats import read_header
from gluon_params_kit._io.npz import write
import numpy as np
write(sys.argv[1], {'0.weight': np.ones((2, 3), 'float32'), '1.bias': np.zeros(2, 'float32')})
header = read_header(sys.argv[1])
print(len(names), header['[0].weight'].shape, header[(1, 'bias')].shape, header['0.weight'].dtype)
from gluon_params_kit._core.report import Report
assert isinstance(header, Report) and str(header).splitlines()[4].split()[:3] == ['1.bias', '(2,)', 'float32']
assert header._repr_html_().count('<tr>') == 3 and header.to_records()[1]['name'] == '1.bias'
from gluon_params_kit.cli import main
for command in (['inspect', sys.argv[1]], ['inspect', '--stats', sys.argv[1]],
                ['--version']):
    assert main(command) == 0, command
print('mxnet' in sys.modules and sys.modules['mxnet'] is not None)
"""


def test_the_file_layer_path_grammar_and_header_commands_need_no_mxnet(tmp_path):
    proc = subprocess.run([sys.executable, "-c", NO_MXNET, str(tmp_path / "w.npz")], capture_output=True,
                          text=True, timeout=120, cwd=str(tmp_path),
                          env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    modules = 6 + len([p for p in (PACKAGE / "_io").glob("*.py") if p.stem != "__init__"])
    assert lines[0] == f"{modules} (2, 3) (2,) float32"
    assert lines[-1] == "False"


#: Blocks mxnet as if it were not installed (a meta path finder: every ``import mxnet...`` fails).
BLOCK_MXNET = """
import sys
class _NoMXNet:
    def find_spec(self, name, path=None, target=None):
        if name == 'mxnet' or name.startswith('mxnet.'):
            raise ModuleNotFoundError(f'No module named {name!r} (blocked)', name=name)
sys.meta_path.insert(0, _NoMXNet())
"""

FILE_TOOLS = BLOCK_MXNET + """
import importlib, os, pathlib
import gluon_params_kit as gpk
for name in ('checkpoint', 'tree', 'cli', '_core.gluon', '_core.types', '_core.compat', '_core.file_stats'):
    importlib.import_module('gluon_params_kit.' + name)
data, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ckpt = data / 'ckpt-0000.params'
assert gpk.read_header(ckpt).names[-1] == 'aux:bn0_moving_var'
assert gpk.read_array(data / 'sparse.params', 'csr')[2, 3] == -3
assert gpk.convert(ckpt, out / 'c.safetensors', remap=gpk.Remap.rename('^(arg|aux):', ''))['aux:bn0_moving_var'] == 'bn0_moving_var'
assert gpk.convert(data / 'dense.params', out / 'd.npz')['w16'] == 'w16'
assert gpk.export_npz(out / 'c.safetensors', out / 'e.npz')[-1] == 'bn0_moving_var'
assert gpk.diff(out / 'c.safetensors', out / 'e.npz').same
assert not gpk.diff(ckpt, out / 'e.npz').same
from gluon_params_kit.cli import main
for args, code in ((['inspect', '--stats', str(data / 'sparse.params')], 0), (['diff', str(ckpt), str(ckpt)], 0),
                   (['convert', str(ckpt), str(out / 'cli.npz')], 0), (['export', str(ckpt), str(out / 'x.npz')], 0),
                   (['diff', '--names', str(data / 'dense.params'), str(out / 'd.npz')], 0)):
    assert main(args) == code, args
print('imported mxnet:', 'mxnet' in sys.modules)
"""


def test_the_file_tools_of_the_public_face_never_import_mxnet(tmp_path):
    data = PACKAGE.parent / "tests" / "data" / "files"
    proc = subprocess.run([sys.executable, "-c", FILE_TOOLS, str(data), str(tmp_path)], capture_output=True,
                          text=True, timeout=120, cwd=str(tmp_path),
                          env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "imported mxnet: False"
    assert "Traceback" not in proc.stderr


def test_a_use_of_mxnet_without_it_is_one_line_naming_the_install(tmp_path):
    code = BLOCK_MXNET + """
import gluon_params_kit as gpk
from gluon_params_kit.errors import MXNetImportError
from gluon_params_kit._core.types import Block
assert not isinstance(object(), Block) and 'mxnet' not in sys.modules  # no Block can exist yet
assert Block.__name__ == 'Block' and not hasattr(Block, '__wrapped__') and 'mxnet' not in sys.modules
for call in (lambda: gpk.named_parameters(None), lambda: gpk.load(None, 'x.params')):
    try:
        call()
    except TypeError as exc:  # the argument check needs no mxnet
        print(type(exc).__name__, isinstance(exc, gpk.ParamsKitError))
from gluon_params_kit._core.compat import mx
try:
    mx.nd.ones(2)
except MXNetImportError as exc:
    print(exc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[:2] == ["PathTypeError True"] * 2
    assert len(lines) == 3 and lines[2].startswith("gluon_params_kit needs ") and "pip install '" in lines[2]
