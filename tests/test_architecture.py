"""The package's import boundaries (docs/architecture.md draws them).

Read from the source with ``ast``, so every import counts, also the ones inside functions:
- no module imports another module's underscore names, except from :data:`PRIVATE_OWNER`
  (the backbone's internals), and that module's own interface has no underscore names;
- no import cycle between the package's modules;
- the core (everything but the book's modules and the command line) imports neither the
  book nor the command line.
"""
from __future__ import annotations

import ast
import inspect
import pathlib
from typing import Dict, List, Set, Tuple

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "gluon_params_kit"

#: The one module whose names other modules may import even though it is private.
PRIVATE_OWNER = "_backbone"
#: Underscore names one module may import from another; empty: none may.
ALLOWED_PRIVATE_IMPORTS: Set[Tuple[str, str, str]] = set()
#: The book's modules and the command line: the core must not import them.
OUTER = {"chapter", "_chapter_cells", "_section_cells", "_section_model_construction", "_section_use_gpu",
         "_replay", "exercises", "cli", "__main__"}


def _modules() -> Dict[str, ast.Module]:
    return {f.stem: ast.parse(f.read_text(encoding="utf-8"), str(f))
            for f in sorted(PACKAGE.glob("*.py"))}


def _imports(tree: ast.Module) -> List[Tuple[str, List[str]]]:
    """(imported module, names imported from it) for every package-relative import."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module is None:  # from . import x, y
                out.extend((alias.name, []) for alias in node.names)
            elif node.level == 1 or (node.module or "").startswith("gluon_params_kit."):
                module = node.module if node.level == 1 else node.module.split(".")[1]
                out.append((module.split(".")[0], [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            out.extend((alias.name.split(".")[1], []) for alias in node.names
                       if alias.name.startswith("gluon_params_kit."))
    return out


def _graph() -> Dict[str, Set[str]]:
    modules = _modules()
    return {name: {m for m, _ in _imports(tree) if m in modules and m != name}
            for name, tree in modules.items()}


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``[]``."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
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


def test_no_private_names_cross_modules():
    crossing = {(name, module, imported)
                for name, tree in _modules().items() for module, names in _imports(tree)
                for imported in names
                if imported.startswith("_") and module != PRIVATE_OWNER}
    assert crossing <= ALLOWED_PRIVATE_IMPORTS, sorted(crossing - ALLOWED_PRIVATE_IMPORTS)


def test_the_backbone_interface_is_documented_and_has_no_underscore_names():
    import gluon_params_kit._backbone as backbone
    assert backbone.__doc__ and all(not n.startswith("_") for n in backbone.__all__)
    for name in backbone.__all__:
        obj = getattr(backbone, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert obj.__doc__, f"_backbone.{name} has no docstring"


def test_no_import_cycles():
    # __init__ loads the public modules lazily and nothing imports it back.
    graph = {m: deps - {"__init__"} for m, deps in _graph().items() if m != "__init__"}
    assert _cycle(graph) == []


def test_the_core_imports_neither_the_book_nor_the_cli():
    core = {m: deps for m, deps in _graph().items() if m not in OUTER | {"__init__"}}
    leaks = {m: sorted(deps & OUTER) for m, deps in core.items() if deps & OUTER}
    assert leaks == {}


#: The layers of the README's architecture table, first to last; a module imports
#: only from its own layer or the ones before it.
LAYERS = [
    {"_shim", "_compat", "errors", "_gc"},
    {"_backbone", "_validate", "_display", "_files", "_init_checks", "_summary_view", "_stats",
     "_provenance", "_training_state", "_gpus"},
    {"_report", "_patterns", "_render", "_fileheader", "_header", "_safetensors", "_npz",
     "_formats", "_tied_layers"},
    {"tree", "select"},
    {"_layer_trace", "_remap", "_kvstore", "_trainer_kv", "_server_assign", "_load_report",
     "_convert", "_compare", "_file_stats",
     "_init_specs", "_init_run", "_summary", "_tying_report"},
    {"inspection", "initializers", "tying", "checkpoint", "training", "devices"},
    {"chapter", "_chapter_cells", "_section_cells", "_section_model_construction", "_section_use_gpu",
     "_replay", "exercises", "_doctor", "cli", "__main__"},
]


def test_every_module_has_a_layer_and_imports_only_from_layers_before_it():
    layer_of = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    graph = {m: deps - {"__init__"} for m, deps in _graph().items() if m != "__init__"}
    assert sorted(set(graph) - set(layer_of)) == []
    upward = sorted((m, d) for m, deps in graph.items() for d in deps
                    if layer_of[d] > layer_of[m])
    assert upward == []


def test_the_readme_architecture_table_names_every_module():
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    missing = [m for m in _modules() if m != "__init__" and f"`{m}`" not in table]
    assert missing == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("source, expected", [
    ("from ._backbone import key_in\n", [("_backbone", ["key_in"])]),
    ("def f():\n    from .tree import _x\n", [("tree", ["_x"])]),
    ("from . import _display as D\n", [("_display", [])]),
    ("from gluon_params_kit.select import make_matcher\n", [("select", ["make_matcher"])]),
])
def test_imports_are_read_inside_functions_too(source, expected):
    assert _imports(ast.parse(source)) == expected
