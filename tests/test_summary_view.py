"""Tests of how a summary looks: the HTML tree, text that fits a width, and example inputs.

``summary(net, *inputs)`` runs one forward pass; the tests here check that the net is left
exactly as it was (hybridization, cached op, values, gradients, deferred state, the random
generator's stream) and that output shapes and per-layer counts are Gluon's.
"""
import re
import warnings
from html.parser import HTMLParser

import mxnet as mx
import numpy as np
import pytest
from fixtures import array, book_mlp, book_rgnet, initialized, nested_custom, tied_mlp
from mxnet import autograd
from mxnet.gluon import nn

import gluon_params_kit as gpk
from gluon_params_kit._core import display
from gluon_params_kit.inspection import InspectionError, Summary, summary
from gluon_params_kit.inspection import _view as _summary_view


class Tree(HTMLParser):
    """The <details> nesting of a summary's HTML: (depth, open, first cell) per block."""

    def __init__(self):
        super().__init__()
        self.stack, self.blocks, self.rows, self._in_summary, self._cells = [], [], [], False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "details":
            self.stack.append("open" in attrs)
            self.blocks.append([len(self.stack) - 1, "open" in attrs, None])
        elif tag == "summary":
            self._in_summary, self._cells = True, []
        elif tag == "div" and attrs.get("class") == "gpk-row":
            self._cells = []
        elif tag == "span" and self._cells is not None:
            self._cells.append("")

    def handle_data(self, data):
        if self._cells:
            self._cells[-1] += data

    def handle_endtag(self, tag):
        if tag == "details":
            self.stack.pop()
        elif tag in ("summary", "div") and self._cells is not None:
            if tag == "summary":
                self.blocks[-1][2] = self._cells
            else:
                self.rows.append((len(self.stack), all(self.stack), self._cells))
            self._cells, self._in_summary = None, False


def parse(page):
    tree = Tree()
    tree.feed(page)
    return tree


# --------------------------------------------------------------------------- HTML

def _head_names(page):
    heads = re.findall(r'<div class="gpk-row gpk-th">(.*?)</div>', page)[0]
    return re.findall(r">([^<]*)</span>", heads)


def test_html_is_one_nested_tree_with_subtotals_and_block_statistics():
    net = initialized(book_rgnet(), (2, 20))
    page = summary(net, stats=True)._repr_html_()
    assert page.count("gpk-grid") == 2 and page.count("gpk-th") == 2  # one table, one header
    tree = parse(page)
    # down to depth 3: root, 0, 0.0 and its two Dense, 1; the three identical 0.1..0.3 are one row
    labels = [(d, cells[0]) for d, _, cells in tree.blocks]
    assert labels == [(0, "Sequential"), (1, "0"), (2, "0"), (3, "0"), (3, "1"), (1, "1")]
    # blocks whose children follow are open; a layer's parameter rows wait for a click
    assert [is_open for _, is_open, _ in tree.blocks] == [True, True, True, False, False, False]
    names = _head_names(page)
    size, shape, mean, l2 = (names.index(h) for h in ("size", "shape", "mean", "l2"))
    assert names[:4] == ["block / parameter", "type / name", "shape", "size"] and names[4] == "mean"
    root = tree.blocks[0][2]
    assert root[size] == "4,586" and tree.blocks[1][2][size] == "4,416"  # subtotals
    run = next(cells for _, _, cells in tree.rows if cells[0] == "1-3")
    assert run[1] == "3 x Sequential sequential4..sequential6" and run[size] == "3,216"
    assert run[shape] == "[12 tensors]"
    # block rows carry the statistics of all their parameters' values
    values = np.concatenate([p.data().asnumpy().ravel() for p in net.collect_params().values()])
    assert float(root[mean]) == pytest.approx(values.mean(), rel=1e-3, abs=1e-6)
    assert float(root[l2]) == pytest.approx(np.sqrt((values.astype(np.float64) ** 2).sum()), rel=1e-3)
    folded = np.concatenate([p.data().asnumpy().ravel() for i in (1, 2, 3)
                             for p in net[0][i].collect_params().values()])
    assert float(run[l2]) == pytest.approx(np.sqrt((folded.astype(np.float64) ** 2).sum()), rel=1e-3)
    params = [cells for _, _, cells in tree.rows if cells and cells[0] == "weight"]
    assert len(params) == 3 and "dense2_weight" in page and "dense4_weight" not in page  # only what is shown
    assert any(ch in page for ch in display.SPARK_LEVELS) and 'class="spark"' in page
    assert [row for row in tree.rows if row[1] and row[2][0] == "weight"] == []  # closed until a click
    assert "identical blocks folded: 0.1-3 = 3 x Sequential (fold=False shows each)" in page
    assert "Same in every row: dtype float32, ctx cpu(0), grad_req write, state initialized" in page


def test_html_holds_only_what_the_depth_shows():
    net = initialized(book_rgnet(), (2, 20))
    shallow = summary(net, depth=1)._repr_html_()
    tree = parse(shallow)
    assert [(d, o, cells[0]) for d, o, cells in tree.blocks] == [(0, True, "Sequential"), (1, False, "1")]
    names = _head_names(shallow)
    cut = next(cells for _, _, cells in tree.rows if cells[0] == "0")  # one subtotal row
    assert cut[names.index("size")] == "4,416" and cut[names.index("shape")] == "[16 tensors]"
    assert "dense2" not in shallow and "rows below depth 1 (depth=None shows all)" in shallow
    everything = summary(net, depth=None, fold=False)._repr_html_()
    rows = parse(everything).rows
    assert sum(1 for r in rows if r[2][0] in ("weight", "bias")) == 18 and "rows below depth" not in everything
    assert len(shallow) < len(summary(net)._repr_html_()) < len(everything)


def test_html_escapes_and_marks_shared_and_repeated_blocks():
    net = initialized(tied_mlp(), (2, 5))
    page = summary(net)._repr_html_()
    assert "shared with" in page and "2.weight" in page
    again = nn.Sequential()
    layer = nn.Dense(2, in_units=2)
    again.add(layer, layer)
    again.initialize()
    assert "same block as 0" in summary(again)._repr_html_()
    empty = Summary("<t>", [], summary(net).totals, show_init=False, stats=False, grads=False)
    assert "&lt;t&gt;" in empty._repr_html_()


def test_html_columns_have_fixed_widths_from_content():
    net = initialized(book_mlp(), (2, 20))
    page = summary(net)._repr_html_()
    template = re.search(r"--gpk-cols:([^']*)'", page).group(1).split()
    assert all(re.fullmatch(r"\d+ch", w) for w in template)
    # dtype, ctx, grad_req and state hold one value: said once under the table
    assert _head_names(page) == ["block / parameter", "type / name", "shape", "size", "bytes"]
    assert len(template) == 5 and "Same in every row: dtype float32" in page
    assert page.count("<details") == 3 and "padding-left:2.8ch" in page
    traced = summary(net, (2, 20))._repr_html_()
    assert _head_names(traced) == ["block / parameter", "type / name", "shape", "output", "size",
                                   "mult-adds", "activations", "bytes"]


# --------------------------------------------------------------------------- text width

def wide_net():
    with gpk.fresh_names():
        net = nn.HybridSequential()
        net.add(nn.Dense(300, in_units=200), nn.Dense(10))
    net.initialize(mx.init.Xavier())
    net(mx.nd.ones((2, 200)))
    return net


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 200])
def test_text_never_wider_than_width(width):
    net = wide_net()
    with autograd.record():
        loss = net(mx.nd.ones((2, 200))).sum()
    loss.backward()
    text = summary(net, stats=True, grads=True).to_string(width=width)
    assert max(map(len, text.splitlines())) <= width
    assert "0.weight" in text and "1.bias" in text


def test_stats_go_to_a_second_table_and_left_out_columns_are_named():
    net = wide_net()
    s = summary(net, stats=True)
    full = s.to_string(width=300)
    assert len(full.splitlines()[1]) > 120 and "Statistics" not in full
    text = s.to_string(width=100)
    lines = text.splitlines()
    assert "Statistics (by path)" in lines
    stats_head = lines[lines.index("Statistics (by path)") + 1].split()
    assert stats_head[0] == "path" and "hist" in stats_head and "mean" in stats_head
    assert text.count("0.weight") == 2  # once per table
    narrow = s.to_string(width=50)
    assert "Same in every row: " in narrow and "ctx cpu(0)" in narrow
    left = [ln for ln in narrow.splitlines() if ln.startswith("Left out to fit 50")]
    assert left and "name" in left[0]
    # the sparkline of 0.weight is still there, whole
    hist = gpk.stats(net)["0.weight"].sparkline
    assert hist.strip() and hist.rstrip() in narrow


def test_default_width_is_120_without_a_terminal(monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: False, raising=False)
    assert _summary_view.default_width() == 120
    net = wide_net()
    s = summary(net, stats=True)
    assert str(s) == s.to_string(width=120)
    assert max(map(len, str(s).splitlines())) <= 120
    assert summary(net, stats=True, width=60).to_string() == s.to_string(width=60)


@pytest.mark.parametrize("bad", [39, 0, "80", True, 80.0])
def test_bad_width_is_an_inspection_error(bad):
    with pytest.raises(InspectionError, match="width must be None or an int >= 40"):
        summary(book_mlp(), width=bad)
    with pytest.raises(InspectionError, match="width"):
        summary(book_mlp()).to_string(width=bad)


def test_long_paths_are_shortened_in_the_middle():
    net = nn.Sequential()
    inner = net
    for _ in range(12):
        child = nn.Sequential()
        inner.add(child)
        inner = child
    inner.add(nn.Dense(2, in_units=2))
    net.initialize()
    text = summary(net, depth=None).to_string(width=40)
    assert max(map(len, text.splitlines())) <= 40 and "…" in text


# --------------------------------------------------------------------------- example inputs

def snapshot(net):
    out = {}
    for path, p in gpk.named_parameters(net).items():
        out[path] = (p._shape, bool(p._deferred_init), None if p._data is None else
                     [d.asnumpy().copy() for d in p._data],
                     None if p._grad is None else [g.asnumpy().copy() for g in p._grad])
    for path, blk in gpk.named_blocks(net).items():
        out["block " + path] = (getattr(blk, "_active", None), id(getattr(blk, "_cached_op", None)),
                                len(blk._forward_hooks))
    return out


def same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        for x, y in zip(a[k], b[k]):
            if isinstance(x, list):
                assert all(np.array_equal(u, v) for u, v in zip(x, y)), k
            else:
                assert x == y, k


@pytest.mark.parametrize("hybridize", [False, True])
def test_inputs_add_output_shapes_and_layer_counts_like_gluon(hybridize, capsys):
    net = initialized(book_rgnet(), (2, 20))
    x = array((3, 20))
    capsys.readouterr()
    net.summary(x)  # Gluon's own, before hybridizing (it refuses hybridized nets)
    gluon_text = capsys.readouterr().out
    if hybridize:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.hybridize()
        net(x)
    before = snapshot(net)
    s = summary(net, x)
    same(before, snapshot(net))
    layers = {l["path"]: l for l in s.layers}
    assert layers[""]["outputs"] == [(3, 10)] and layers["0.0.0"]["outputs"] == [(3, 32)]
    assert layers["0"]["outputs"] == [(3, 16)] and layers["0.0.0"]["parameters"] == 20 * 32 + 32
    for m in re.finditer(r"(dense\d+)\(Dense\)\s+\((\d+), (\d+)\)\s+(\d+)", gluon_text):
        name, shape, count = m.group(1), (int(m.group(2)), int(m.group(3))), int(m.group(4))
        layer = next(l for l in s.layers if l["name"] == name + "_")
        assert layer["outputs"] == [shape] and layer["parameters"] == count
    text = s.to_string(width=120).splitlines()
    assert text[1].startswith("Layers") and "output shape" in text[2]


def test_inputs_on_a_deferred_hybridized_net_leave_it_deferred_and_draw_no_random():
    net = nested_custom()
    net.initialize()
    net.hybridize()
    before = snapshot(net)
    mx.random.seed(7)
    s = summary(net, array((2, 5)))
    same(before, snapshot(net))
    assert net[0].weight._deferred_init and net[0].weight.shape == (4, 0)
    assert s["0.weight"]["shape"] == (4, 5) and s["0.weight"]["state"] == "deferred"
    assert s.totals["pending"] == 0 and s.totals["parameters"] == 4 * 5 + 4 + 1 + 8 * 4 + 8 + 64 + 8 + 24 + 3
    after_summary = net(array((2, 5))).asnumpy()
    twin = nested_custom()
    twin.initialize()
    twin.hybridize()
    mx.random.seed(7)
    assert np.array_equal(twin(array((2, 5))).asnumpy(), after_summary)  # same random stream


def test_inputs_keep_gradients_and_values_and_train_nothing():
    with gpk.fresh_names():
        net = nn.HybridSequential()
        net.add(nn.Dense(4, in_units=3), nn.BatchNorm(in_channels=4), nn.Dropout(0.5))
    net.initialize()
    with autograd.record():
        loss = net(mx.nd.ones((2, 3))).sum()
    loss.backward()
    before = snapshot(net)
    s = summary(net, mx.nd.ones((2, 3)))
    same(before, snapshot(net))  # BatchNorm's running stats did not move, grads kept
    assert [l["outputs"] for l in s.layers] == [[(2, 4)]] * 4


def test_block_called_twice_lists_both_calls():
    net = nn.HybridSequential()
    layer = nn.Dense(3, in_units=3)
    net.add(layer, layer)
    net.initialize()
    s = summary(net, mx.nd.ones((1, 3)))
    assert [l["outputs"] for l in s.layers] == [[(1, 3)], [(1, 3), (1, 3)], None]
    assert s.layers[2]["same_as"] == "0" and "(1, 3) x2" in str(s)


def test_inputs_errors_name_the_problem_and_change_nothing():
    with pytest.raises(InspectionError, match=r"uninitialized parameters .*net.initialize\(\)"):
        summary(book_mlp(), mx.nd.ones((2, 20)))
    net = book_mlp()
    net.initialize()
    before = snapshot(net)
    with pytest.raises(InspectionError, match=r"forward pass .* failed .*the net is unchanged"):
        summary(net, mx.nd.ones((2, 20)), mx.nd.ones((2, 20)))  # one input too many
    same(before, snapshot(net))


def test_without_inputs_no_forward_runs(monkeypatch):
    net = book_mlp()
    net.initialize()
    monkeypatch.setattr(nn.Sequential, "forward", lambda *a: pytest.fail("forward ran"))
    s = summary(net)
    assert all(l["outputs"] is None for l in s.layers) and "Layers" not in str(s)


def _real_models():
    import real_models as R
    found = {}
    for group in (R.zoo_small(), R.recurrent(), R.contrib(), R.ecosystem()):
        found.update((k, v) for k, v in group.items() if k != "inception_v3")  # 4 s: the rest cover it
    return found


REAL = _real_models()


@pytest.mark.parametrize("name", sorted(REAL))
def test_inputs_on_real_models_leave_them_unchanged(name):
    """Model-zoo nets, fused recurrent layers (Gluon keys through private children),
    contrib blocks, a tied LM and a seq2seq: deferred, some hybridized."""
    net, inputs = REAL[name]()
    if inputs is None:  # cells take states: no single example input
        pytest.skip("an RNN cell: no example input")
    net.initialize()
    before = snapshot(net)
    s = summary(net, *inputs)
    same(before, snapshot(net))
    out = net(*inputs)  # the real first forward, after the summary's
    assert s.layers[0]["outputs"] == [_summary_view_shapes(out)]
    assert s.totals["pending"] == 0
    assert s.totals["parameters"] == sum(p.data().size for p in
                                         {id(p): p for p in net.collect_params().values()}.values())
    tree = parse(summary(net, *inputs, depth=None, fold=False)._repr_html_())
    shown = [r[2][1] for r in tree.rows if len(r[2]) > 1]  # the name column of plain rows
    assert sorted(n for n in shown if n in {r["name"] for r in s.values()}) == sorted(r["name"] for r in s.values())
    assert max(map(len, s.to_string(width=100).splitlines())) <= 100


def _summary_view_shapes(out):
    from gluon_params_kit.inspection._trace import shapes_of
    return shapes_of(out)
