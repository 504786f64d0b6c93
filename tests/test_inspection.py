"""Tests of gluon_params_kit.inspection: summary tables, statistics, sparklines, plots.

Golden files: the printed tables of the chapter's nets are compared with
``tests/golden/*.txt``. After an intended change of the table format, regenerate them
on purpose with ``GPK_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_inspection.py``
and review the diff of ``tests/golden/`` before committing it.
"""
import math
import re
import sys

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
import numpy as np
import pytest
from fixtures import CPU2, array, book_mlp, book_rgnet, fixed_hidden_mlp, initialized, nested_custom, tied_mlp
from mxnet import autograd
from mxnet.gluon import nn

from gluon_params_kit._core import display as _display
from gluon_params_kit._core import stats as _stats
from gluon_params_kit.inspection import PROVENANCE_ATTR, ParamStats, plot_histograms, stats, summary

RECORD_KEYS = {"kind", "path", "name", "block_type", "shape", "dtype", "size", "bytes",
               "contexts", "grad_req", "lr_mult", "wd_mult", "state", "shared_with",
               "provenance", "stats", "grad_stats", "count", "block_path", "auxiliary"}


def set_values(param, values):
    param.set_data(mx.nd.array(values, dtype=param.dtype).reshape(param.shape))


def np_stats(values):
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    f = v[np.isfinite(v)]
    return dict(mean=f.mean(), std=f.std(), min=f.min(), max=f.max(),
                l2=np.sqrt((f * f).sum()), zero_fraction=np.count_nonzero(v == 0) / v.size,
                nan=int(np.isnan(v).sum()), inf=int(np.isinf(v).sum()))


def assert_matches_numpy(record, values, bins=16, rel=1e-6):
    want = np_stats(values)
    for key in ("mean", "std", "min", "max", "l2"):
        scale = max(abs(want[key]), 1e-30)
        if key == "mean":  # a mean near 0 is relative to the values' spread
            scale = max(scale, np.abs(np.asarray(values, np.float64)[np.isfinite(values)]).mean())
        assert abs(getattr(record, key) - want[key]) <= rel * scale, (key, record, want)
    assert record.zero_fraction == pytest.approx(want["zero_fraction"], rel=1e-12)
    assert (record.nan, record.inf) == (want["nan"], want["inf"])


# --------------------------------------------------------------------------- goldens

def test_golden_mlp_before_initialize(golden):
    golden("mlp_uninitialized", str(summary(book_mlp())))


def test_golden_mlp_deferred_same_in_both_modes(mode, golden):
    net = book_mlp()
    net.initialize()
    text = str(summary(net))
    assert "(256, ?)" in text and "deferred" in text
    golden("mlp_deferred", text)


def test_golden_mlp_initialized(golden):
    golden("mlp", str(summary(initialized(book_mlp(), (2, 20)))))


def test_golden_rgnet_and_depth_folding(golden):
    net = initialized(book_rgnet(), (2, 20))
    golden("rgnet", str(summary(net, fold=False)))  # every row
    golden("rgnet_folded", str(summary(net)))  # 0.1-3: three identical blocks, one row
    golden("rgnet_depth1", str(summary(net, depth=1)))


def test_golden_tied_mlp(golden):
    golden("tied_mlp", str(summary(initialized(tied_mlp(), (2, 5)))))


# --------------------------------------------------------------------------- summary

def gluon_unique_total(net, x, capsys):
    capsys.readouterr()
    net.summary(x)
    out = capsys.readouterr().out
    return int(re.search(r"Unique parameters in model: (\d+)", out).group(1))


@pytest.mark.parametrize("build, shape", [(book_mlp, (2, 20)), (book_rgnet, (2, 20)),
                                          (tied_mlp, (2, 5)), (fixed_hidden_mlp, (2, 20))])
def test_total_agrees_with_gluon_summary(build, shape, capsys):
    net = initialized(build(), shape)
    ours = summary(net).totals
    assert ours["pending"] == 0
    assert ours["parameters"] == gluon_unique_total(net, array(shape), capsys)
    unique = {id(p): p for p in net.collect_params().values()}
    assert ours["parameters"] == sum(p.data().size for p in unique.values())


def test_tied_parameters_counted_once_with_aliases():
    net = initialized(tied_mlp(), (2, 5))
    s = summary(net)
    paths = [r["path"] for r in s.to_records()]
    assert paths == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    assert s["1.weight"]["shared_with"] == ["2.weight"]
    assert s["2.weight"] == s["[1].weight"]  # an alias path finds the one row
    assert s.totals["shared"] == 8 * 8 + 8 and s.totals["shared_tensors"] == 2
    assert "shared with" in str(s).splitlines()[1]


def test_records_fields_of_an_initialized_mlp(mode):
    net = initialized(book_mlp(), (2, 20), mode=mode)
    recs = summary(net).to_records()
    assert all(set(r) == RECORD_KEYS for r in recs)
    w = recs[0]
    assert (w["path"], w["name"], w["shape"], w["dtype"]) == ("0.weight", "dense0_weight",
                                                              (256, 20), "float32")
    assert (w["size"], w["bytes"], w["contexts"], w["state"]) == (5120, 20480, ["cpu(0)"],
                                                                  "initialized")
    assert (w["grad_req"], w["lr_mult"], w["wd_mult"], w["shared_with"]) == ("write", 1.0, 1.0, [])
    assert w["provenance"] is None and w["stats"] is None and w["kind"] == "parameter"
    assert [r["size"] for r in recs] == [5120, 256, 2560, 10]
    t = summary(net).totals
    assert (t["parameters"], t["trainable"], t["frozen"], t["bytes"]) == (7946, 7946, 0, 31784)
    assert t["bytes_by_dtype"] == {"float32": 31784}


def test_deferred_counts_pending_without_forward(mode):
    net = book_rgnet()
    net.initialize()
    s = summary(net)
    assert s.totals["pending"] == 9 and s.totals["parameters"] == 4 * (32 + 16) + 10
    assert s["0.0.0.weight"]["shape"] == (32, None) and s["0.0.0.weight"]["size"] is None
    assert s["0.0.0.weight"]["state"] == "deferred"
    assert s["rgnet[0][0][0].weight"] == s[(0, 0, 0, "weight")] == s["0.0.0.weight"]
    assert net[1].weight._deferred_init  # summary did not run a forward pass
    assert "Pending: 9 tensors of unknown shape" in str(s)


def test_hybridized_net_same_rows_as_imperative():
    plain = summary(initialized(nested_custom(), (2, 5))).to_records()
    hybrid = summary(initialized(nested_custom(), (2, 5), hybridize=True)).to_records()
    assert plain == hybrid
    assert [r["path"] for r in plain][:3] == ["0.weight", "0.bias", "1.scale"]
    assert plain[2]["block_type"] == "Custom"


def test_multi_context_and_multipliers_and_frozen():
    net = initialized(book_mlp(), (2, 20), ctx=CPU2)
    net[0].weight.lr_mult = 0.5
    net[1].weight.grad_req = "null"
    s = summary(net)
    assert s["0.weight"]["contexts"] == ["cpu(0)", "cpu(1)"]
    assert s.totals["frozen"] == 2560 and s.totals["trainable"] == 7946 - 2560
    lines = str(s).splitlines()
    assert "lr/wd" in lines[1] and "0.5/1" in lines[3] and "cpu(0),cpu(1)" in lines[3]


def test_depth_folds_into_subtotals():
    net = initialized(book_rgnet(), (2, 20))
    full = summary(net)
    one = summary(net, depth=1).to_records()
    assert [r["path"] for r in one] == ["0", "1.weight", "1.bias"]
    assert one[0]["kind"] == "block" and one[0]["count"] == 16
    assert one[0]["size"] == sum(r["size"] for r in full.to_records()[:16])
    root = summary(net, depth=0).to_records()
    assert len(root) == 1 and root[0]["size"] == full.totals["parameters"]
    assert summary(net, depth=5).to_records() == full.to_records()
    assert summary(net, depth=0).totals == full.totals


def test_depth_fold_counts_a_blocks_own_parameters():
    net = initialized(nested_custom(), (2, 5))  # 1 = Custom: own 'scale' + features + head
    full = summary(net).to_records()
    one = summary(net, depth=1).to_records()
    assert [r["path"] for r in one] == ["0.weight", "0.bias", "1"]
    assert one[2]["count"] == 7 and one[2]["block_type"] == "Custom"
    assert one[2]["size"] == sum(r["size"] for r in full if r["path"].startswith("1."))
    root = summary(net, depth=0).to_records()
    assert len(root) == 1 and root[0]["count"] == 9
    # a Dense whose only child is its activation is a leaf layer: it keeps its rows
    with_act = nn.Sequential()
    with_act.add(nn.Dense(3, in_units=2, activation="relu"))
    assert [r["path"] for r in summary(with_act, depth=1).to_records()] == ["0.weight",
                                                                          "0.bias"]


def test_pattern_reaches_a_tied_parameter_through_its_alias():
    net = initialized(tied_mlp(), (2, 5))
    assert [r["path"] for r in summary(net, pattern=r"^2\.").values()] == ["1.weight", "1.bias"]
    assert list(stats(net, pattern=r"^2\.")) == ["1.weight", "1.bias"]


def test_pattern_selects_rows_and_totals():
    net = initialized(book_rgnet(), (2, 20))
    s = summary(net, pattern=r"weight$")
    assert all(r["path"].endswith("weight") for r in s.values()) and len(s) == 9
    assert s.totals["parameters"] == sum(r["size"] for r in s.values())
    by_call = summary(net, pattern=lambda path, p: path.startswith("1."))
    assert [r["path"] for r in by_call.values()] == ["1.weight", "1.bias"]
    assert "matching 'weight$'" in s.title


def test_provenance_column():
    net = initialized(book_mlp(), (2, 20))
    assert "init" not in str(summary(net)).splitlines()[1].split()
    setattr(net[0].weight, PROVENANCE_ATTR, {"rule": r"\.weight$", "spec": "normal(sigma=0.01)",
                                             "seed": 3})
    s = summary(net)
    assert s["0.weight"]["provenance"] == {"rule": r"\.weight$", "spec": "normal(sigma=0.01)",
                                           "seed": 3}
    assert s["0.bias"]["provenance"] is None
    lines = str(s).splitlines()
    assert lines[1].split()[-1] == "init"
    assert "normal(sigma=0.01) (rule \\.weight$)" in lines[3]
    assert lines[4].rstrip().endswith("-")
    assert "init" not in str(summary(net, provenance=False)).splitlines()[1].split()
    assert "init" in str(summary(book_mlp(), provenance=True)).splitlines()[1].split()


def test_summary_with_stats_and_grads(mode):
    net = initialized(book_mlp(), (2, 20), mode=mode)
    x = array((4, 20), mode)
    with autograd.record():
        loss = net(x).sum()
    loss.backward()
    s = summary(net, stats=True, grads=True)
    w = net[0].weight
    assert_matches_numpy(ParamStats(**s["0.weight"]["stats"]), w.data().asnumpy())
    assert_matches_numpy(ParamStats(**s["0.weight"]["grad_stats"]), w.grad().asnumpy())
    assert s["0.weight"]["stats"]["hist"] == list(stats(net)["0.weight"].hist)
    head = s.to_string(width=400).splitlines()[1].split()
    assert {"mean", "std", "hist", "grad", "l2"} <= set(head)


def test_summary_of_a_net_without_parameters():
    s = summary(nn.Sequential())
    assert len(s) == 0 and s.totals["parameters"] == 0 and s.totals["tensors"] == 0
    assert "Parameters: 0 in 0 tensors" in str(s) and stats(nn.Sequential()) == {}


# --------------------------------------------------------------------------- stats

def test_stats_match_numpy_one_chunk_and_many():
    rng = np.random.RandomState(0)
    net = nn.Sequential()
    net.add(nn.Dense(300, in_units=700), nn.Dense(3, in_units=300))  # 210,000 > one chunk
    net.initialize()
    big = rng.normal(0.1, 2.0, size=(300, 700)).astype(np.float32)
    big[::7] = 0
    set_values(net[0].weight, big)
    small = rng.uniform(-1, 1, size=(3, 300)).astype(np.float32)
    set_values(net[1].weight, small)
    out = stats(net, bins=10, hist_sample=None)
    assert list(out) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert_matches_numpy(out["0.weight"], big)
    assert_matches_numpy(out["1.weight"], small)
    for values, rec in ((big, out["0.weight"]), (small, out["1.weight"])):
        counts, edges = np.histogram(values, bins=10, range=(values.min(), values.max()))
        assert rec.hist == tuple(counts) and np.allclose(rec.edges, edges)
        assert rec.hist_values == values.size and rec.size == values.size
    assert out["0.bias"].zero_fraction == 1.0 and out["0.bias"].std == 0.0


def test_stats_histogram_sample_is_an_even_stride():
    net = nn.Dense(1000, in_units=300)
    net.initialize()
    values = np.random.RandomState(1).uniform(size=(1000, 300)).astype(np.float32)
    set_values(net.weight, values)
    rec = stats(net, hist_sample=1000)["weight"]
    step = -(-values.size // 1000)
    sample = values.reshape(-1)[::step]
    assert rec.hist_values == sample.size and sum(rec.hist) == sample.size
    assert rec.hist == tuple(np.histogram(sample, 16, (values.min(), values.max()))[0])
    assert_matches_numpy(rec, values)  # the moments still use every value


def test_stats_std_keeps_digits_with_a_large_mean():
    net = nn.Dense(400, in_units=500)
    net.initialize()
    values = np.random.RandomState(2).normal(1000.0, 0.01, size=(400, 500)).astype(np.float32)
    set_values(net.weight, values)
    assert_matches_numpy(stats(net)["weight"], values)


def test_nan_and_inf_planted_are_counted_and_excluded():
    net = initialized(book_mlp(), (2, 20))
    values = net[1].weight.data().asnumpy()
    values[0, :3] = np.nan
    values[1, 0] = np.inf
    values[2, 0] = -np.inf
    set_values(net[1].weight, values)
    rec = stats(net)["1.weight"]
    assert (rec.nan, rec.inf) == (3, 2)
    assert_matches_numpy(rec, values)
    assert sum(rec.hist) == values.size - 5
    s = summary(net, stats=True)
    assert (s.totals["nan"], s.totals["inf"]) == (3, 2)
    assert "Non-finite values: 3 NaN, 2 Inf" in str(s)


def test_stats_of_deferred_uninitialized_and_frozen_never_crash():
    assert {p: r.state for p, r in stats(book_mlp()).items()} == dict.fromkeys(
        ["0.weight", "0.bias", "1.weight", "1.bias"], "uninitialized")
    net = book_mlp()
    net.initialize()
    got = stats(net)
    assert got["0.weight"].state == "deferred" and got["0.weight"].mean is None
    assert got["0.bias"].state == "ok"  # its shape is known: initialized already
    text = str(summary(net, stats=True))
    assert text.count("deferred") >= 4
    fixed = initialized(fixed_hidden_mlp(), (2, 20))
    grads = stats(fixed, grads=True)
    assert grads["rand_weight"].state == "no grad" and grads["dense.weight"].state == "ok"


def test_grad_stats_match_numpy(mode):
    net = initialized(book_mlp(), (2, 20), mode=mode)
    with autograd.record():
        loss = (net(array((3, 20), mode)) ** 2).sum()
    loss.backward()
    out = stats(net, grads=True)
    assert_matches_numpy(out["0.weight"], net[0].weight.grad().asnumpy())
    assert_matches_numpy(out["1.bias"], net[1].bias.grad().asnumpy())


def test_sparse_gradient_is_measured_as_dense():
    """``row_sparse`` gradients exist in mx.nd mode only (MXNet refuses them under set_np)."""
    net = nn.Embedding(10, 4, sparse_grad=True)
    net.initialize()
    with autograd.record():
        loss = net(mx.nd.array([1, 2, 2])).sum()
    loss.backward()
    assert net.weight.grad().stype == "row_sparse"
    rec = stats(net, grads=True)["weight"]
    assert_matches_numpy(rec, net.weight.grad().asnumpy())
    assert rec.zero_fraction == 0.8 and rec.max == 2.0
    assert summary(net, grads=True)["weight"]["grad_stats"]["l2"] == rec.l2


def test_row_sparse_parameter_stats():
    class Sparse(nn.Block):
        def __init__(self):
            super().__init__()
            self.w = self.params.get("w", shape=(4, 3), stype="row_sparse")

    net = Sparse()
    net.initialize(mx.init.One())
    rec = stats(net)["w"]  # list_data() refuses a row_sparse Parameter; stats does not
    assert (rec.state, rec.size, rec.mean, rec.l2) == ("ok", 12, 1.0, math.sqrt(12))


def test_other_dtypes():
    net = nn.Dense(5, in_units=4, dtype="float16")
    net.initialize(mx.init.Uniform(2))
    rec = stats(net)["weight"]
    assert_matches_numpy(rec, net.weight.data().asnumpy())  # float64 sums of float16 values
    assert summary(net)["weight"]["bytes"] == 40
    mixed = nn.Sequential()
    mixed.add(nn.Dense(5, in_units=4, dtype="float16"), nn.Dense(2, in_units=5))
    mixed.initialize()
    s = summary(mixed)
    assert s.totals["bytes_by_dtype"] == {"float16": 50, "float32": 48}
    assert str(s).splitlines()[-1] == "Memory: 98 B per device (float16 50 B, float32 48 B)"
    ints = _stats.array_stats(mx.nd.array([0, 2, 4, 6], dtype="int32"), 2, None)
    assert (ints.mean, ints.min, ints.max, ints.hist) == (3.0, 0.0, 6.0, (2, 2))


def test_host_view_is_zero_copy():
    arr = mx.nd.zeros((4, 3))
    view = _stats._host_view(arr)
    arr[:] = 7
    arr.wait_to_read()  # the write is asynchronous: without this the check races it
    assert not view.flags.writeable and float(view.sum()) == 84.0


@pytest.mark.parametrize("values", [
    np.random.RandomState(3).normal(size=5000),
    np.array([2.5] * 40),
    np.array([0, 1, np.nan, -np.inf, 3, 0, np.inf, 2]),
])
def test_device_kernel_matches_numpy(values, mode):
    """The GPU path's MXNet ops, run on CPU here, agree with numpy and the host path."""
    arr = mx.nd.array(values, dtype="float32")
    if mode == "np":
        arr = arr.as_np_ndarray()
    dev = _stats._device_stats(arr, 8)
    host = _stats.array_stats(arr, 8, None)
    assert_matches_numpy(dev, values.astype(np.float32))
    assert dev.hist == host.hist and dev.hist_values == host.hist_values
    assert np.allclose(dev.edges, host.edges)


@pytest.mark.gpu
def test_stats_on_gpu_match_numpy():
    net = nn.Dense(64, in_units=32)
    net.initialize(ctx=mx.gpu(0))
    rec = stats(net)["weight"]
    assert_matches_numpy(rec, net.weight.data().asnumpy(), rel=1e-5)


def test_param_stats_record():
    rec = ParamStats(state="ok", size=4, mean=1.0, std=0.0, min=1.0, max=1.0, l2=2.0,
                     zero_fraction=0.0, hist=(0, 4), edges=(0.5, 1.0, 1.5), hist_values=4)
    assert rec.sparkline == " █" and rec.as_dict()["hist"] == [0, 4]
    assert str(rec).startswith("mean=1 std=0") and str(ParamStats("deferred")) == \
        "ParamStats(deferred)"


# --------------------------------------------------------------------------- display

def test_sparkline_heights():
    assert _display.sparkline([1, 2, 4, 8]) == "▁▂▄█"
    assert _display.sparkline([0, 0]) == "  "
    assert _display.sparkline([100, 1]) == "█▁"  # a non-empty bin never vanishes


def test_text_table_alignment():
    lines = _display.text_table(["name", "size"], [["a", "1"], ["bbb", "1,000"]],
                                [False, True])
    assert lines == ["name   size", "-----------", "a         1", "bbb   1,000"]


# --------------------------------------------------------------------------- plots

def test_plot_histograms(monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    net = book_mlp()
    net.initialize()
    fig = plot_histograms(net, cols=2)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["0.weight (256 x ?)", "0.bias (256)", "1.weight (10 x ?)", "1.bias (10)"]
    assert fig.axes[0].texts[0].get_text() == "deferred"
    assert len(fig.axes[1].patches) == 50
    fig = plot_histograms(initialized(book_mlp(), (2, 20)), pattern="weight", bins=7)
    assert [len(ax.patches) for ax in fig.axes] == [7, 7]


def test_plot_histograms_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'matplotlib<3.9'"):
        plot_histograms(book_mlp())


def test_golden_rgnet_with_example_input_and_narrow_width(golden):
    net = initialized(book_rgnet(), (2, 20))
    golden("rgnet_layers", summary(net, array((3, 20))).to_string(width=120))
    golden("rgnet_width60", summary(net, depth=2).to_string(width=60))


def test_summary_row_of_a_parameter_made_with_a_list_shape():
    p = mx.gluon.Parameter("w", shape=[2, 3])
    p.initialize()
    block = nn.Block()
    block.w = p
    row = summary(block)["w"]
    assert (row["shape"], row["size"], row["bytes"]) == ((2, 3), 6, 24)
