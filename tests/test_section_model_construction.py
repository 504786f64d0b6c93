"""The section "Layers and blocks" (model-construction_vn.md): its 8 cells, their checks, its notebook.

The cells are the book's fences; the replay is verified and shows exactly what the book's code
shows in a fresh process. Facts are re-derived here from the blocks themselves (replayed in a
fresh-process state), independently of the checks; changed cells must make their checks fail.
"""
from pathlib import Path

import numpy as onp
import pytest
from fixtures import change_section_cell
from test_book import book_cells
from transcripts import claim, notebook_text

from gluon_params_kit import chapter
from gluon_params_kit._book import section_cells as sc
from gluon_params_kit._book.model_construction import SECTION, _shown
from gluon_params_kit._book.replay import compare_printed, run_cell
from gluon_params_kit.tree import fresh_names, named_parameters

ROOT = Path(__file__).resolve().parents[1]
NAME = "model-construction"
MLP_SHAPES = [(256, 20), (256,), (10, 256), (10,)]


@pytest.fixture(scope="module")
def result():
    return chapter.run_section(NAME, quiet=True, book=True)


@pytest.fixture(scope="module")
def spaces():
    """Each cell's namespace right after it ran (the objects a cell leaves), from a fresh state."""
    import mxnet as mx

    ns, after = {"__name__": "__main__"}, {}
    was_np = mx.util.is_np_array()
    with fresh_names():
        mx.random.seed(0)
        try:
            for cell in SECTION.cells:
                run_cell(cell.source, ns)
                after[cell.key] = {k: ns[k] for k in ("net", "x", "chimera", "_") if k in ns}
        finally:
            if not was_np:
                mx.npx.reset_np()
    return after


def _dense(layer, h, relu=False):
    y = h @ layer.weight.data().asnumpy().T.astype(onp.float64) + layer.bias.data().asnumpy()
    return onp.maximum(y, 0) if relu else y


def test_cells_are_the_books_fences():
    fences = book_cells(SECTION.book_file)
    assert len(fences) == len(SECTION.cells) == 8
    for i, (fence, cell) in enumerate(zip(fences, SECTION.cells), 1):
        assert cell.key == str(i) and cell.source == fence, f"cell {i} differs from the book"
    assert sc.SECTIONS[NAME] is SECTION and chapter.SECTIONS[0] == NAME


def test_replay_verified_and_identical_to_the_books_code(result):
    assert result.ok and result.identical, (result.failures, result.differing, result.book_error)
    assert list(result.outputs) == [str(i) for i in range(1, 9)]
    assert result.closing_line().endswith(claim(8))
    # every cell verifies several facts; the class-only cells 2, 4, 6 at least five
    assert all(result.checks[k] >= 5 for k in result.outputs), result.checks
    assert sum(result.checks.values()) >= 70


def test_outputs_shapes_and_bounds(result):
    out = result.outputs
    assert out["2"] == out["4"] == out["6"] == ""  # class definitions show nothing
    for key in "135":
        assert _shown(out[key]).shape == (2, 10), key
    for key in "78":
        value = _shown(out[key])
        assert value.shape == () and 0.5 < float(value) <= 1  # halved until sum |x| <= 1


def test_checks_neither_draw_nor_build(result):
    """Outputs with checks on equal those with checks off: the checks consume no random numbers."""
    unchecked = chapter.run_section(NAME, quiet=True, checks=False)
    assert unchecked.outputs == result.outputs and unchecked.checks == {}


def test_sequential_mlp_keys_names_and_output(spaces):
    net, x = spaces["1"]["net"], spaces["1"]["x"]
    assert {k: p.shape for k, p in named_parameters(net).items()} == dict(
        zip(["0.weight", "0.bias", "1.weight", "1.bias"], MLP_SHAPES))
    assert [p.name for p in named_parameters(net).values()] == [
        "dense0_weight", "dense0_bias", "dense1_weight", "dense1_bias"]
    want = _dense(net[1], _dense(net[0], x.asnumpy().astype(onp.float64), relu=True))
    assert onp.allclose(spaces["1"]["_"].asnumpy(), want, atol=1e-6)


def test_mlp_block_paths_are_attributes_names_are_global(spaces):
    net = spaces["3"]["net"]
    assert type(net).__name__ == "MLP" and net.name == "mlp0"
    assert list(named_parameters(net)) == ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
    # no name_scope() in the book's __init__: the counter continues after dense0, dense1
    assert (net.hidden.weight.name, net.output.bias.name) == ("dense2_weight", "dense3_bias")
    want = _dense(net.output, _dense(net.hidden, spaces["3"]["x"].asnumpy().astype(onp.float64), True))
    assert onp.allclose(spaces["3"]["_"].asnumpy(), want, atol=1e-6)


def test_my_sequential_keys_children_by_auto_name_in_order(spaces):
    net = spaces["5"]["net"]
    children = list(net._children.values())
    assert list(net._children) == ["dense4", "dense5"] and [b.weight.shape[0] for b in children] == [256, 10]
    assert list(named_parameters(net)) == ["dense4.weight", "dense4.bias", "dense5.weight", "dense5.bias"]
    want = _dense(children[1], _dense(children[0], spaces["5"]["x"].asnumpy().astype(onp.float64), True))
    assert onp.allclose(spaces["5"]["_"].asnumpy(), want, atol=1e-6)


def test_fixed_hidden_mlp_constant_and_loop(spaces):
    import mxnet as mx

    net = spaces["7"]["net"]
    assert {k: p.shape for k, p in named_parameters(net).items()} == {
        "rand_weight": (20, 20), "dense.weight": (20, 20), "dense.bias": (20,)}
    assert [p.name for p in named_parameters(net).values()] == [
        "fixedhiddenmlp0_rand_weight", "dense6_weight", "dense6_bias"]
    assert isinstance(net.rand_weight, mx.gluon.Constant) and net.rand_weight.grad_req == "null"
    h = _dense(net.dense, spaces["7"]["x"].asnumpy().astype(onp.float64), relu=True)
    h = _dense(net.dense, onp.maximum(h @ net.rand_weight.data().asnumpy() + 1, 0), relu=True)
    halvings = 0
    while onp.abs(h).sum() > 1:
        h, halvings = h / 2, halvings + 1
    value = float(spaces["7"]["_"])
    assert halvings > 0 and 0.5 < value <= 1 and abs(value - h.sum()) < 1e-6


def test_chimera_keys_and_count(spaces):
    chimera = spaces["8"]["chimera"]
    keys = list(named_parameters(chimera))
    assert keys == ["0.net.0.weight", "0.net.0.bias", "0.net.1.weight", "0.net.1.bias", "0.dense.weight",
                    "0.dense.bias", "1.weight", "1.bias", "2.rand_weight", "2.dense.weight", "2.dense.bias"]
    assert [b.name for b in chimera] == ["nestmlp0", "dense10", "fixedhiddenmlp1"]
    assert sum(p.data().size for p in named_parameters(chimera).values()) == 5112
    assert abs(float(spaces["8"]["_"])) <= 1


@pytest.mark.parametrize("key, old, new, failing, message", [
    ("1", "nn.Dense(256, activation='relu')", "nn.Dense(128, activation='relu')", ["1"],
     "structural paths and shapes"),
    ("2", "self.hidden = nn.Dense(256, activation='relu')", "self.hidden = nn.Dense(256)", ["3"],
     "net(x) = output(hidden(x)) returned"),
    ("4", "for block in self._children.values():", "for block in reversed(self._children.values()):", ["5"],
     "structural paths (child key = auto name)"),
    ("4", "self._children[block.name] = block", "self._children[str(len(self._children))] = block", ["5"],
     "children keyed by their own auto names"),
    ("6", "x /= 2", "x /= 4", ["7", "8"], "recomputed with the loop returned"),
    ("6", "self.params.get_constant(\n            'rand_weight', np.random.uniform(size=(20, 20)))",
     "self.params.get(\n            'rand_weight', shape=(20, 20))", ["7", "8"], "rand_weight is a Constant"),
    ("8", "nn.Dense(32, activation='relu'))", "nn.Dense(32))", ["8"], "chimera(x), recomputed"),
])
def test_a_changed_cell_fails_its_check(monkeypatch, key, old, new, failing, message):
    change_section_cell(monkeypatch, NAME, key, old, new)
    r = chapter.run_section(NAME, quiet=True)
    assert list(r.failures) == failing and message in r.failures[failing[0]], r.failures


# ----------------------------------------------------------------------------- the notebook

NOTEBOOK = ROOT / "notebooks" / "11-tang-va-khoi.ipynb"



@pytest.fixture(scope="module")
def notebook():
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(str(NOTEBOOK), as_version=4)


def test_notebook_stores_the_replay(notebook, result):
    """The stored outputs (another run, perhaps another CPU's digits) agree with the replay here."""
    shown = {c.metadata["book_cell"]: notebook_text(c) for c in notebook.cells if "book_cell" in c.metadata}
    assert list(shown) == [f"{NAME}/{k}" for k in result.outputs]
    for (key, stored), fresh in zip(shown.items(), result.outputs.values()):
        assert compare_printed(stored, fresh) == [], key
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code[0].source.startswith("import") and "import gluon_params_kit as gpk" in code[0].source
    assert code[1].metadata["book_cell"] == f"{NAME}/1"
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert prose.startswith("# Tầng và Khối (Layers and Blocks)")
    assert "## Tóm tắt (Summary)" in prose and "## Bài tập (Exercises)" in prose
    assert len([c for c in code if "book_cell" not in c.metadata and "assert " in c.source]) >= 4


def test_notebook_exercises_ran_and_show_their_facts(notebook):
    code = [c for c in notebook.cells if c.cell_type == "code" and "book_cell" not in c.metadata]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]

    def shown(marker):
        cells = [c for c in code if marker in c.source]
        assert len(cells) == 1, marker
        return notebook_text(cells[0])

    ex1 = shown("class HybridFixed")
    assert "AttributeError: mxnet.numpy.ndarray object has no attribute asscalar" in ex1
    assert "NotImplementedForSymbol" in ex1
    ex2 = shown("class ListSequential")
    assert "collect_params(): {} | named_parameters: {}" in ex2
    assert "RuntimeError: Parameter 'dense" in ex2 and "has not been initialized" in ex2
    assert "unregistered container with Blocks" in ex2
    assert "'list' object is not callable" in shown("class NestList")
    ex3 = shown("class Parallel")
    assert ex3.startswith("(2, 8)\n") and "net2.weight  (5, 20)" in ex3
    ex4 = shown("def make_block")
    assert "12 khoá, 1,696 tham số" in ex4 and "'2.1.bias'" in ex4
