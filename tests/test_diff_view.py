"""``diff`` shows what differs, suggests the remap between naming schemes, and stays
per-array flat: the batched comparison of small arrays gives the per-array answers.

Issues 29 ("What people do with such files": ``diff``) and 33 (per-array overhead).
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import json
import random
import zipfile

import mxnet as mx
import numpy as onp
import pytest
from mxnet.gluon import nn
from safetensors.numpy import save_file

from gluon_params_kit.checkpoint import Remap, diff, export_npz, read_header, save
from gluon_params_kit.checkpoint._pairing import crosses_roles
from gluon_params_kit.cli import main
from gluon_params_kit.errors import CheckpointError, CheckpointTypeError

F32 = "float32"


def _arrays(n, seed=0, size=3):
    rng = onp.random.default_rng(seed)
    return {f"layer{i}.weight": rng.standard_normal(size).astype(F32) for i in range(n)}


def _conv_bn():
    net = nn.HybridSequential()
    net.add(nn.Conv2D(4, 3, in_channels=3), nn.BatchNorm(in_channels=4))
    net.initialize()
    for i, p in enumerate(net.collect_params().values()):  # every value tells its role apart
        p.set_data(mx.nd.array(onp.random.default_rng(i).standard_normal(p.shape) + 10 * i))
    return net


def _torch_names(net):
    """The net's values under PyTorch's names (a norm layer's weight/bias/running_*)."""
    names = {"gamma": "weight", "beta": "bias", "running_mean": "running_mean",
             "running_var": "running_var", "weight": "weight", "bias": "bias"}
    out = {}
    for key, p in gluon_params_kit.named_parameters(net).items():
        layer, _, role = key.rpartition(".")
        out[f"{layer}.{names[role]}"] = p.data().asnumpy()
    return out


# --------------------------------------------------------------------------- the view

def test_text_lists_what_differs_and_counts_the_identical_keys():
    a = _arrays(5)
    b = dict(a, **{"layer1.weight": a["layer1.weight"] + 1, "extra": onp.zeros(2, F32)})
    del b["layer4.weight"]
    report = diff(a, b)
    text = str(report)
    lines = text.splitlines()
    assert lines[0] == "diff mapping vs mapping: 6 keys, 1 differ, 1 only in a, 1 only in b"
    shown = [line.split()[0] for line in lines[3:6]]
    assert shown == ["layer1.weight", "layer4.weight", "extra"]
    assert [line.split()[1] for line in lines[3:6]] == ["changed", "only_a", "only_b"]
    assert lines[6] == "3 keys identical (all=True / --all shows them)"
    assert "layer0.weight" not in text and len(lines) == 7
    # records, the mapping and every key are complete whatever the view
    assert len(report) == 6 and len(report.to_records()) == 6 and report["layer0.weight"]["status"] == "same"
    assert report.identical == ["layer0.weight", "layer2.weight", "layer3.weight"]
    full = report.view(all=True).to_string()
    assert "layer0.weight" in full and "identical" not in full
    assert str(diff(a, b, all=True)) == full
    assert str(report) == text  # view(all=True) leaves the report's own view alone
    assert "layer1.weight" in report._repr_html_() and "layer3.weight" not in report._repr_html_()


def test_show_prints_and_all_must_be_a_bool(capsys):
    report = diff({"w": onp.ones(2, F32)}, {"w": onp.ones(2, F32)})
    report.show()
    assert capsys.readouterr().out.splitlines()[-1] == "1 key identical (all=True / --all shows them)"
    report.show(all=True)
    out = capsys.readouterr().out.splitlines()
    assert out[-1].split()[:2] == ["w", "same"]
    with pytest.raises(CheckpointTypeError, match="all"):
        diff({"w": onp.ones(2, F32)}, {"w": onp.ones(2, F32)}, all="yes")
    with pytest.raises(CheckpointTypeError, match="all"):
        report.view(all=1)


def test_nothing_identical_means_no_count_line():
    report = diff({"w": onp.ones(2, F32)}, {"w": onp.zeros(2, F32)})
    assert "identical" not in str(report) and report.changed == ["w"]


# --------------------------------------------------------------------------- suggestions

@pytest.mark.parametrize("prefix_on", ["b", "a"])
def test_a_prefix_is_suggested_and_applied(prefix_on):
    a = _arrays(4)
    b = {"net." + k: v for k, v in a.items()}
    if prefix_on == "a":
        a, b = b, a
    report = diff(a, b)
    expected = Remap.strip_prefix("net.") if prefix_on == "b" else Remap.add_prefix("net.")
    assert repr(report.suggestion) == repr(expected) and report.suggestion_matches == 4
    assert f"with remap={expected!r}, 4 of b's keys are a's" in str(report)
    again = diff(a, b, remap=report.suggestion)
    assert again.same and list(again) == list(a) and again.suggestion is None
    assert f"b's keys renamed by remap={expected!r}" in str(again)


def test_pytorch_names_of_a_norm_layer_pair_by_role_never_across():
    """Issue 29's repro: a sorted safetensors file under PyTorch's names."""
    net = _conv_bn()
    torch_named = _torch_names(net)
    report = diff(net, torch_named)  # a mapping: written in the net's order
    assert report.suggestion is not None
    mapping = report.suggestion(list(torch_named), net)
    assert mapping["1.weight"] == "1.gamma" and mapping["1.bias"] == "1.beta"
    assert diff(net, torch_named, remap=report.suggestion).same


def test_sorted_safetensors_file_and_two_equal_norm_layers(tmp_path):
    net = nn.HybridSequential()
    net.add(nn.BatchNorm(in_channels=4), nn.BatchNorm(in_channels=4))
    net.initialize()
    for i, p in enumerate(net.collect_params().values()):
        p.set_data(mx.nd.array(onp.full(p.shape, i, F32)))
    path = tmp_path / "t.safetensors"
    save_file(_torch_names(net), str(path))  # sorted by the library: no order evidence
    report = diff(net, path)
    # same-named layers pair by name (their roles by the table): no guess needed
    assert report.suggestion is not None
    assert diff(net, path, remap=report.suggestion).same
    renamed = {f"x{k}": v for k, v in _torch_names(net).items()}  # names that agree no more
    save_file(renamed, str(tmp_path / "r.safetensors"))
    report = diff(net, tmp_path / "r.safetensors")
    if report.suggestion is not None:  # a prefix is fine; a role crossing never
        m = report.suggestion(list(read_header(tmp_path / "r.safetensors")), net)
        assert not any(crosses_roles(old, new) for old, new in m.items() if new)
        assert diff(net, tmp_path / "r.safetensors", remap=report.suggestion).same


def test_auto_names_against_paths_with_a_block(tmp_path):
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.Dense(5, in_units=3))
    net.initialize()
    net.collect_params().save(str(tmp_path / "legacy.params"))  # auto names
    report = diff(net, tmp_path / "legacy.params")
    assert report.only_a and report.only_b and report.suggestion is not None
    assert diff(net, tmp_path / "legacy.params", remap=report.suggestion).same
    assert diff(net, tmp_path / "legacy.params", remap="structural").same


@pytest.mark.parametrize("seed", range(6))
def test_shuffled_and_renamed_keys_never_get_a_role_crossing_suggestion(seed):
    rnd = random.Random(seed)
    net = nn.HybridSequential()
    for _ in range(3):
        net.add(nn.Conv2D(4, 1, in_channels=4), nn.BatchNorm(in_channels=4))
    net.initialize()
    for i, p in enumerate(net.collect_params().values()):
        p.set_data(mx.nd.array(onp.random.default_rng(i).standard_normal(p.shape)))
    items = list(_torch_names(net).items())
    rnd.shuffle(items)
    prefix = rnd.choice(["", "model.", "backbone.features."])
    b = {prefix + k: v for k, v in items}
    report = diff(net, b)
    assert report.suggestion is not None and report.suggestion_matches == len(b)
    m = report.suggestion(list(b), net)
    assert not any(crosses_roles(old, new) for old, new in m.items() if new), m
    assert diff(net, b, remap=report.suggestion).same  # values land on the right paths


def test_a_bad_remap_is_refused_before_anything_is_read():
    with pytest.raises(CheckpointError, match="unknown remap"):
        diff({"w": onp.ones(1, F32)}, {"w": onp.ones(1, F32)}, remap="sideways")


# --------------------------------------------------------------------------- the CLI

def test_cli_diff_shows_differences_counts_the_rest_and_suggests(tmp_path, capsys):
    a = _arrays(4)
    save_file(a, str(tmp_path / "a.safetensors"))
    b = dict(a, **{"layer2.weight": a["layer2.weight"] * 2})
    onp.savez(tmp_path / "b.npz", **b)
    code = main(["diff", str(tmp_path / "a.safetensors"), str(tmp_path / "b.npz")])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert [line.split()[0] for line in out[3:-1]] == ["layer2.weight"]
    assert out[-1] == "3 keys identical (all=True / --all shows them)"
    code = main(["diff", str(tmp_path / "a.safetensors"), str(tmp_path / "b.npz"), "--all"])
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out[3:]] == list(a)
    onp.savez(tmp_path / "p.npz", **{"net." + k: v for k, v in a.items()})
    code = main(["diff", str(tmp_path / "a.safetensors"), str(tmp_path / "p.npz")])
    out = capsys.readouterr().out
    assert code == 1 and "with remap=Remap.strip_prefix('net.'), 4 of b's keys are a's" in out
    code = main(["diff", str(tmp_path / "a.safetensors"), str(tmp_path / "p.npz"), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["suggestion"] == "Remap.strip_prefix('net.')" and len(data["rows"]) == 8
    code = main(["diff", str(tmp_path / "a.safetensors"), str(tmp_path / "b.npz"), "--names", "--all"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("4 keys, 0 differ (headers only: values not compared)") and len(out) == 7


# --------------------------------------------------------------------------- batched = per array

def test_batched_small_arrays_give_the_per_array_answers(tmp_path):
    """Small arrays are compared in batches; NaN, infinities, bfloat16-free dtypes and
    sizes across a batch boundary give what a plain numpy computation gives."""
    rng = onp.random.default_rng(3)
    a, b = {}, {}
    for i in range(300):
        shape = (int(rng.integers(1, 400)),) if i % 7 else (3, 5)
        dtype = ["float32", "float16", "float64", "int32"][i % 4]
        x = (rng.standard_normal(shape) * 8).astype(dtype)
        y = x.copy()
        if i % 3 == 0:
            y.reshape(-1)[0] += 1
        a[f"k{i}"], b[f"k{i}"] = x, y
    a["nan_same"] = b["nan_same"] = onp.array([1, onp.nan, 2], F32)
    a["inf_differs"], b["inf_differs"] = onp.array([onp.inf, 1], F32), onp.array([1, 1], F32)
    a["big"], b["big"] = onp.ones(5000, F32), onp.ones(5000, F32) * 2  # per array
    save_file(a, str(tmp_path / "a.safetensors"))
    onp.savez(tmp_path / "b.npz", **b)
    for left, right in ((a, b), (tmp_path / "a.safetensors", tmp_path / "b.npz")):
        report = diff(left, right)
        for key in a:
            x, y = a[key].astype("f8").reshape(-1), b[key].astype("f8").reshape(-1)
            row = report[key]
            with onp.errstate(invalid="ignore"):
                d = onp.where((x == y) | (onp.isnan(x) & onp.isnan(y)), 0.0, x - y)
            assert row["max_abs"] == (float(onp.abs(d).max()) if onp.isfinite(d).all() else row["max_abs"])
            expected = "same" if (d == 0).all() else "changed"
            assert row["status"] == expected, key
            if onp.isfinite(d).all() and onp.isfinite(x).all() and (x != 0).any():
                assert row["rel_l2"] == pytest.approx(onp.linalg.norm(d) / onp.linalg.norm(x), rel=1e-9)
    assert report["inf_differs"]["max_abs"] == float("inf")
    assert report["nan_same"]["status"] == "same"


def test_a_damaged_small_npz_member_is_an_error_in_diff_and_export(tmp_path):
    a = _arrays(50)
    onp.savez(tmp_path / "a.npz", **a)
    raw = bytearray((tmp_path / "a.npz").read_bytes())
    info = read_header(tmp_path / "a.npz")["layer20.weight"]
    raw[info.offset + 1] ^= 0xFF
    (tmp_path / "d.npz").write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="'layer20.weight.npy' is damaged"):
        diff(tmp_path / "d.npz", a)
    with pytest.raises(CheckpointError, match="'layer20.weight.npy' is damaged"):
        export_npz(tmp_path / "d.npz", tmp_path / "e.npz")
    assert not (tmp_path / "e.npz").exists()


@pytest.mark.parametrize("fmt", ["params", "safetensors", "npz"])
def test_export_npz_of_many_small_arrays_reads_back_in_numpy(tmp_path, fmt):
    net = nn.HybridSequential()
    for _ in range(40):
        net.add(nn.Dense(3, in_units=3))
    net.initialize()
    src = tmp_path / f"n.{fmt}"
    save(net, src)
    keys = export_npz(src, tmp_path / "o.npz")
    with onp.load(tmp_path / "o.npz", allow_pickle=False) as z:
        assert z.files == keys and len(keys) == 80
        for k in keys:
            assert onp.array_equal(z[k], gluon_params_kit.get(net, k).data().asnumpy())
    with zipfile.ZipFile(tmp_path / "o.npz") as z:
        assert z.testzip() is None
    # from the block (arrays in memory): 0-d, bool, Fortran order too
    out = export_npz(net, tmp_path / "m.npz")
    assert diff(net, tmp_path / "m.npz").same and len(out) == 80


def test_export_npz_small_members_keep_odd_arrays(tmp_path):
    odd = {"s": onp.array(3.5), "b": onp.array([True, False]), "f": onp.asfortranarray(onp.arange(6.).reshape(2, 3)),
           "be": onp.arange(4, dtype=">i4"), "z": onp.zeros((0, 3), F32)}
    onp.savez(tmp_path / "odd.npz", **odd)
    export_npz(tmp_path / "odd.npz", tmp_path / "copy.npz")
    with onp.load(tmp_path / "copy.npz", allow_pickle=False) as z:
        for k, v in odd.items():
            assert z[k].shape == v.shape and z[k].dtype == v.dtype.newbyteorder("=") and onp.array_equal(z[k], v), k
        assert z["f"].flags.f_contiguous


def test_export_progress_moves_per_4_mib_not_per_array():
    from gluon_params_kit.checkpoint._diff import _Ticker

    class Bar:
        def __init__(self):
            self.updates, self.closed = [], False

        def update(self, n):
            self.updates.append(n)

        def close(self):
            self.closed = True

    bar = Bar()
    ticker = _Ticker(bar)
    for _ in range(100000):  # 10^5 arrays of 64 bytes
        ticker.update(64)
    ticker.close()
    assert sum(bar.updates) == 6400000 and len(bar.updates) == 2 and bar.closed


def test_many_keys_under_a_prefix_get_the_plain_rule():
    a = {f"layer{i}.weight": onp.full(2, i, F32) for i in range(5000)}
    report = diff(a, {"net." + k: v for k, v in a.items()})
    assert repr(report.suggestion) == "Remap.strip_prefix('net.')" and report.suggestion_matches == 5000
    unrelated = {f"blk{i}_w.weight": v for i, v in enumerate(a.values())}  # beyond the pairing's limit
    assert diff(a, unrelated).suggestion is None


def test_two_files_auto_names_against_paths_pair_by_layer_order(tmp_path):
    net = nn.HybridSequential()
    net.add(nn.Dense(3, in_units=2), nn.Dense(5, in_units=3), nn.BatchNorm(in_channels=5))
    net.initialize()
    net.collect_params().save(str(tmp_path / "legacy.params"))  # dense0_weight, batchnorm0_gamma...
    save(net, tmp_path / "paths.params")
    report = diff(tmp_path / "paths.params", tmp_path / "legacy.params")  # no Block: by order
    assert report.suggestion_matches == 8
    legacy = read_header(tmp_path / "legacy.params").names  # numbered by this process: dense7_weight...
    m = report.suggestion(legacy)
    assert list(m.values()) == ["0.weight", "0.bias", "1.weight", "1.bias", "2.gamma", "2.beta",
                                "2.running_mean", "2.running_var"]
    assert legacy[4].endswith("_gamma") and legacy[5].endswith("_beta")
    assert diff(tmp_path / "paths.params", tmp_path / "legacy.params", remap=report.suggestion).same
