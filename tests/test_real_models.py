"""Paths are Gluon's own keys on real models: the model zoo, recurrent layers and cells,
contrib blocks, a tied language model and a seq2seq block with its own key scheme.

For each model, in nd and np modes: the kit's keys equal ``_collect_params_with_prefix()``,
every key and every attribute path resolves, ``gpk.save`` writes the bytes
``save_parameters`` writes, each loader reads the other's file, ``diff`` of the two files is
empty, ``summary`` counts each Parameter once, ``tied_groups`` finds the ties, and
``select(mode='match', on='name')`` equals ``collect_params(regex)``.
"""
from collections import OrderedDict

import mxnet as mx
import numpy as onp
import pytest
from mxnet import npx
from mxnet.base import MXNetError
from mxnet.gluon.model_zoo import vision
from mxnet.gluon.parameter import DeferredInitializationError
from mxnet.util import is_np_array
from real_models import CORPUS, TIES, ZOO_NAMES

import gluon_params_kit as gpk
from gluon_params_kit._core.gluon import join
from gluon_params_kit.tree import walk

REGEXES = [".*weight", ".*_bias$", ".*(gamma|beta|running_mean)", ".*l0_", ".*nothing_matches"]


def _unique(net):
    return list(OrderedDict((id(p), p) for p in net._collect_params_with_prefix().values()).values())


# MXNet 1.9.1 cannot run these forwards in np mode: HybridConcurrent calls the legacy
# concat operator, and a hybridized fused LSTM fails its deferred initialization there.
NP_FORWARD_FAILS = {"contrib_concurrent_shuffle_syncbn", "densenet", "inception_v3",
                    "lstm_bidir_hybridized", "mobilenet_v2", "squeezenet"}


def _ready(name, tmp_path=None):
    """The model initialized by a forward, and its inputs. In np mode, a model whose forward
    MXNet cannot run there is built and run in nd mode, then loaded by Gluon into an np-mode
    copy (inputs ``None``): the kit is still tested on np-mode Parameters."""
    net, inputs = CORPUS[name]()
    net.initialize()
    if inputs is None:
        return net, inputs
    if not is_np_array() or name not in NP_FORWARD_FAILS:
        net(*inputs)
        return net, inputs
    with pytest.raises((TypeError, ValueError, MXNetError, DeferredInitializationError)):
        net(*inputs)  # still a limitation of MXNet: else drop the name from the set
    npx.reset_np()
    try:
        donor, donor_inputs = CORPUS[name]()
        donor.initialize()
        donor(*donor_inputs)
        path = str(tmp_path / "donor.params")
        donor.save_parameters(path)
    finally:
        npx.set_np()
    net, _ = CORPUS[name]()
    net.load_parameters(path)
    return net, None


def _values(net):
    return {k: p.data().asnumpy() for k, p in net._collect_params_with_prefix().items()}


def _assert_same_values(a, b):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and onp.array_equal(a[k], b[k]), k


def _check_keys(net):
    gluon = net._collect_params_with_prefix()
    assert list(gpk.named_parameters(net, aliases=True)) == list(gluon)
    canonical = gpk.named_parameters(net)
    assert list(canonical.values()) == _unique(net)
    first = {}
    for key, param in gluon.items():
        first.setdefault(id(param), key)
        assert gpk.get(net, key) is param
    assert list(canonical) == list(first.values())
    params = list(canonical.values())
    for param in params[:3] + params[-3:]:  # path_of builds the index per call: a sample
        assert gpk.path_of(net, param) == first[id(param)]
    # all_paths lists Gluon's keys only; attribute paths (the names in _reg_params) stay
    # accepted as aliases, listed with attributes=True.
    sample = params[:3] + params[-3:]
    for param in sample:
        assert gpk.path_of(net, param, all_paths=True) == [k for k, p in gluon.items() if p is param]
    every = {id(p): gpk.path_of(net, p, attributes=True) for p in sample}
    for path, blk in walk(net):
        for attr, param in blk._reg_params.items():
            alias = join(path, attr)
            assert gpk.get(net, alias) is param
            assert alias in every.get(id(param), [alias])


@pytest.mark.parametrize("name", ZOO_NAMES)
def test_every_model_zoo_architecture_keys_are_gluons(name):
    with gpk.fresh_names():
        net = vision.get_model(name, pretrained=False, classes=10)
    _check_keys(net)  # deferred: nothing is initialized, no forward runs
    s = gpk.summary(net)
    assert s.totals["tensors"] == len(_unique(net))
    assert [r["path"] for r in s.to_records()] == list(gpk.named_parameters(net))
    assert len(gpk.tied_groups(net)) == 0


# Inception-v3 (87 MB) and VGG (67 MB, its 4096-wide dense layers are fixed) run in nd
# mode only, to keep the suite fast; every other model runs in both modes.
HEAVY = {"inception_v3", "vgg_bn"}


@pytest.mark.parametrize("name,mode", [(n, m) for n in sorted(CORPUS) for m in ("nd", "np")
                                       if m == "nd" or n not in HEAVY], indirect=["mode"])
def test_real_model_keys_files_and_reports(name, mode, tmp_path):
    net, inputs = _ready(name, tmp_path)
    _check_keys(net)

    ours, theirs = tmp_path / "kit.params", tmp_path / "gluon.params"
    written = gpk.save(net, str(ours))
    net.save_parameters(str(theirs))
    assert written == list(net._collect_params_with_prefix())
    assert ours.read_bytes() == theirs.read_bytes()
    assert gpk.read_header(str(ours)).names == written

    expected = _values(net)
    fresh, _ = CORPUS[name]()  # not initialized: both loaders take the file's shapes
    fresh.load_parameters(str(ours))
    _assert_same_values(_values(fresh), expected)
    fresh, _ = CORPUS[name]()
    report = gpk.load(fresh, str(theirs))
    assert report.loaded == list(gpk.named_parameters(fresh))
    assert not report.missing and not report.unexpected
    _assert_same_values(_values(fresh), expected)
    if inputs is not None:  # the loaded net computes what the original does
        onp.testing.assert_array_equal(_out(fresh(*inputs)), _out(net(*inputs)))

    d = gpk.diff(str(ours), str(theirs))
    assert d.same and not d.changed and not d.only_a and not d.only_b, str(d)

    unique = _unique(net)
    s = gpk.summary(net)
    assert s.totals["parameters"] == sum(p.data().size for p in unique)
    assert s.totals["tensors"] == len(unique)

    ties = gpk.tied_groups(net)
    assert [g.paths for g in ties.values()] == TIES.get(name, [])
    if inputs is not None:
        with_inputs = gpk.tied_groups(net, *inputs)
        assert [g.paths for g in with_inputs.values()][:len(ties)] == [g.paths for g in ties.values()] or \
            all(g.paths in [t.paths for t in with_inputs.values()] for g in ties.values())

    for regex in REGEXES:
        theirs_names = list(net.collect_params(regex).keys())
        chosen = gpk.select(net, regex, mode="match", on="name", allow_empty=True)
        assert sorted(chosen.by_name().keys()) == sorted(theirs_names), regex


def _out(y):
    y = y[0] if isinstance(y, (tuple, list)) else y
    return y.asnumpy()


def test_recurrent_keys_are_the_unfused_ones_and_attribute_paths_alias_them(mode):
    net, _ = _ready("lstm_bidir_hybrid_sequential")
    keys = list(gpk.named_parameters(net))
    assert keys[:3] == ["0.weight", "1._unfused.0.l_cell.i2h_weight", "1._unfused.0.l_cell.h2h_weight"]
    assert gpk.get(net, "1.l0_i2h_weight") is gpk.get(net, "1._unfused.0.l_cell.i2h_weight")
    assert gpk.get(net, "[1].r1_h2h_bias") is net[1].r1_h2h_bias
    assert gpk.path_of(net, net[1].r1_h2h_bias) == "1._unfused.1.r_cell.h2h_bias"
    assert gpk.path_of(net, net[1].r1_h2h_bias, all_paths=True) == ["1._unfused.1.r_cell.h2h_bias"]
    assert gpk.path_of(net, net[1].r1_h2h_bias, attributes=True) == [
        "1._unfused.1.r_cell.h2h_bias", "1.r1_h2h_bias"]
    # A selection, a summary row and a plan row are reached through either spelling.
    assert list(gpk.select(net, "l0_i2h")) == ["1._unfused.0.l_cell.i2h_weight",
                                               "1._unfused.0.l_cell.i2h_bias"]
    assert gpk.select(net).get("1.l0_i2h_weight") is net[1].l0_i2h_weight
    assert gpk.summary(net)["1.l0_h2h_weight"]["path"] == "1._unfused.0.l_cell.h2h_weight"
    preview = gpk.InitPlan([("h2h_weight", "zeros")]).preview(net)
    assert preview["1.l0_h2h_weight"].path == "1._unfused.0.l_cell.h2h_weight"
    assert gpk.legacy_names(net).to_name("1.l0_i2h_weight") == net[1].l0_i2h_weight.name
    tree = gpk.render_tree(net)
    assert "1._unfused.0.l_cell.i2h_weight" in tree


def test_own_key_scheme_is_followed_and_its_attributes_alias_it(mode):
    net, inputs = _ready("seq2seq_own_keys")
    keys = list(gpk.named_parameters(net))
    assert "encoder.attention.proj_query.weight" in keys
    assert "encoder.attention.query_weight" not in keys
    attention = net.encoder.attention
    assert gpk.get(net, "encoder.attention.query_weight") is attention.query_weight
    assert gpk.get(net, "encoder.attention.proj_query.weight") is attention.query_weight
    assert gpk.get(net, "encoder.attention.out.weight") is attention.out.weight
    with pytest.raises(gpk.PathError, match="proj_query.weight"):
        gpk.get(net, "encoder.attention.proj_qery.weight")  # the error lists Gluon's keys


def test_tied_reports_take_several_inputs(mode):
    net, (src, tgt) = _ready("seq2seq_own_keys")
    report = gpk.tied_groups(net, src, tgt)
    group = report["target_embed.weight"]
    assert group.paths == ("embed.weight", "target_embed.weight", "proj.weight")
    assert group.uses == 3 and group.shared_params == 2 * 12 * 8
    diffs = gpk.check_tied_gradients(net, src, tgt, loss_fn=lambda out: (out * out).sum())
    assert list(diffs)[0] == "embed.weight" and all(d < 1e-5 for d in diffs.values())
    # the positional form of one-input nets keeps working
    lm, (x,) = _ready("tied_language_model")
    diffs = gpk.check_tied_gradients(lm, x, lambda out: out.sum())
    assert list(diffs)[:1] == ["encoder.weight"]
    with pytest.raises(gpk.TieError, match="needs the block's input"):
        gpk.check_tied_gradients(lm, loss_fn=lambda out: out.sum())


def test_tied_groups_without_inputs_runs_nothing():
    net, _ = CORPUS["seq2seq_own_keys"]()
    net.initialize()  # deferred shapes stay deferred: no forward without inputs
    report = gpk.tied_groups(net)
    assert [g.paths for g in report.values()] == TIES["seq2seq_own_keys"]
    assert report[0].uses is None
    row = str(report).splitlines()[2]
    assert "(12, 8)" in row and "-1" not in row


def _save_attribute_paths(net, path):
    """A file keyed by attribute paths, as the kit wrote it before Gluon's keys (and as
    other MXNet versions name fused recurrent weights)."""
    arrays = {}
    for prefix, blk in walk(net):
        for attr, param in blk._reg_params.items():
            arrays[join(prefix, attr)] = param.data().as_nd_ndarray()
    mx.nd.save(str(path), arrays)
    return list(arrays)


def test_attribute_path_files_are_refused_with_the_remap_that_fixes_them(mode, tmp_path):
    source, _ = _ready("lstm_bidir_hybrid_sequential")
    old = tmp_path / "attribute.params"
    keys = _save_attribute_paths(source, old)
    assert "1.l0_i2h_weight" in keys
    target, _ = CORPUS["lstm_bidir_hybrid_sequential"]()
    with pytest.raises(gpk.CheckpointError, match=r"Try remap=Remap.to_gluon_keys\(\): it matches "
                                                  r"19 of 19 parameters") as info:
        gpk.load(target, str(old))
    report = info.value.report
    assert repr(report.suggestion) == "Remap.to_gluon_keys()"
    assert len(report.paired) == 16
    assert report.paired["1.r1_h2h_bias"] == "1._unfused.1.r_cell.h2h_bias"
    assert "paired: 16 unexpected key(s) pair one to one" in str(report)
    loaded = gpk.load(target, str(old), remap=report.suggestion)
    assert loaded.renamed["1.l0_i2h_weight"] == "1._unfused.0.l_cell.i2h_weight"
    _assert_same_values(_values(target), _values(source))
    # A non-strict load says loudly how much stays at its initial values.
    other, _ = CORPUS["lstm_bidir_hybrid_sequential"]()
    other.initialize()
    with pytest.warns(gpk.LoadWarning, match=r"16 parameter\(s\), an unknown number of values, "
                                             r"keep their initial values.*only 3 of 19"):
        gpk.load(other, str(old), strict=False)


def test_prefix_and_attribute_paths_combine_and_own_schemes_remap(mode, tmp_path):
    source, _ = _ready("lstm_bidir_hybrid_sequential")
    old = tmp_path / "attribute.params"
    _save_attribute_paths(source, old)
    wrapper = mx.gluon.nn.Sequential()
    inner, _ = CORPUS["lstm_bidir_hybrid_sequential"]()
    wrapper.add(inner)
    with pytest.raises(gpk.CheckpointError) as info:
        gpk.load(wrapper, str(old))
    assert repr(info.value.report.suggestion) == "Remap.add_prefix('0.') + Remap.to_gluon_keys()"
    gpk.load(wrapper, str(old), remap=info.value.report.suggestion)
    _assert_same_values(_values(inner), _values(source))

    seq2seq, _ = _ready("seq2seq_own_keys")
    attr_file = tmp_path / "seq2seq.params"
    _save_attribute_paths(seq2seq, attr_file)
    fresh, _ = CORPUS["seq2seq_own_keys"]()
    with pytest.raises(gpk.CheckpointError) as info:
        gpk.load(fresh, str(attr_file))
    report = info.value.report
    assert repr(report.suggestion) == "Remap.to_gluon_keys()"
    assert report.paired["encoder.attention.query_weight"] == "encoder.attention.proj_query.weight"
    gpk.load(fresh, str(attr_file), remap="gluon")
    _assert_same_values(_values(fresh), _values(seq2seq))


def test_keys_renamed_beyond_any_rule_pair_by_shape_in_order(mode, tmp_path):
    source, _ = _ready("gru_2layer_sequential")
    renamed = {f"param{i}": p.data().as_nd_ndarray()
               for i, p in enumerate(gpk.named_parameters(source).values())}
    path = tmp_path / "renamed.params"
    mx.nd.save(str(path), renamed)
    target, _ = CORPUS["gru_2layer_sequential"]()
    with pytest.raises(gpk.CheckpointError) as info:
        gpk.load(target, str(path))
    report = info.value.report
    assert list(report.paired) == list(renamed)
    assert list(report.paired.values()) == list(gpk.named_parameters(target))
    assert repr(report.suggestion).startswith("Remap.keys({'param0': '0._unfused.0.i2h_weight'")
    gpk.load(target, str(path), remap=report.suggestion)
    _assert_same_values(_values(target), _values(source))


def test_summary_tells_state_from_frozen_and_explains_gluons_shared_count(mode):
    net, _ = _ready("resnet_v1")
    s = gpk.summary(net)
    state = sum(p.data().size for k, p in gpk.named_parameters(net).items()
                if k.endswith(("running_mean", "running_var")))
    assert s.totals["state"] == state > 0 and s.totals["frozen"] == 0
    assert s.totals["trainable"] == s.totals["parameters"] - state
    assert f"non-trainable (state) {state:,}" in str(s)
    gpk.freeze(net, r"^output\.")
    frozen = gpk.summary(net).totals
    assert frozen["frozen"] == sum(p.data().size for p in gpk.select(net, r"^output\.").values())
    assert frozen["state"] == state
    assert s["features.1.0.body.1.running_mean"]["auxiliary"]
    assert not s["features.1.0.body.1.gamma"]["auxiliary"]

    dense = mx.gluon.nn.Dense(4, in_units=4)
    twice = mx.gluon.nn.Sequential()
    twice.add(mx.gluon.nn.Dense(4, in_units=3), dense, dense)
    twice.initialize()
    text = str(gpk.summary(twice))
    assert f"Gluon's summary() counts more shared params: it hooks a block once per place it " \
           f"is registered ({dense.name!r} at 1, 2)" in text
    assert "Gluon's summary()" not in str(gpk.summary(net))


def test_summary_folds_recurrent_keys_by_their_block(mode):
    net, _ = _ready("lstm_bidir_hybrid_sequential")
    keys = list(gpk.named_parameters(net))
    for depth in (1, 2, 3):  # leaf layers keep their rows: the LSTM's keys are not blocks
        assert [r["path"] for r in gpk.summary(net, depth=depth).to_records()] == keys
    wrapper = mx.gluon.nn.Sequential()
    wrapper.add(net)
    folded = gpk.summary(wrapper, depth=1).to_records()
    assert [(r["kind"], r["path"], r["count"]) for r in folded] == [("block", "0", 19)]
    folded = gpk.summary(wrapper, depth=2).to_records()
    assert [r["path"] for r in folded] == ["0." + k for k in keys]
    rows = gpk.summary(net).to_records()
    assert rows[1]["path"] == "1._unfused.0.l_cell.i2h_weight" and rows[1]["block_path"] == "1"
    assert rows[1]["block_type"] == "LSTM"


def test_every_reader_follows_gluons_keys_on_a_recurrent_model(mode, tmp_path):
    import json
    import subprocess
    import sys

    net, _ = _ready("lstm_bidir_hybrid_sequential")
    keys = list(gpk.named_parameters(net, aliases=True))
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    gpk.save(net, str(a))
    net.save_parameters(str(b))
    d = gpk.diff(net, str(b))
    assert d.same and [r["key"] for r in d.to_records()] == keys
    assert gpk.export_npz(net, str(tmp_path / "n.npz")) == keys
    assert onp.load(str(tmp_path / "n.npz"), allow_pickle=False).files == keys
    converted = gpk.convert(str(b), str(tmp_path / "c.params"))
    assert list(converted) == keys and (tmp_path / "c.params").read_bytes() == b.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "gluon_params_kit", "diff", str(a), str(b), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["same"] is True

    replicated, inputs = CORPUS["lstm_bidir_hybrid_sequential"]()
    replicated.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    replicated(*[x.as_in_context(mx.cpu(0)) for x in inputs])
    report = gpk.replica_report(replicated)
    assert list(report) == list(gpk.named_parameters(replicated)) and report.consistent


def test_init_plan_on_a_net_holding_an_uninitialized_constant(mode):
    """Issue 32.11: a gluon.Constant (a position table) is kept by InitPlan in both modes, as
    native initialize() keeps it, and the rules reach everything else."""
    net, inputs = CORPUS["constant_position_encoder"]()
    table = net.position.value.asnumpy()
    plan = gpk.InitPlan([(r"weight$", "xavier")], default="zeros")
    assert plan.preview(net)["position"].rule == "constant"
    plan.apply(net)
    onp.testing.assert_array_equal(net.position.data().asnumpy(), table)
    assert isinstance(net.position.data(), mx.np.ndarray) == (mode == "np")
    assert onp.abs(net.proj.weight.data().asnumpy()).sum() > 0
    assert not net.proj.bias.data().asnumpy().any()
    native, _ = CORPUS["constant_position_encoder"]()
    native.initialize()
    onp.testing.assert_array_equal(native.position.data().asnumpy(), table)
    assert net(*inputs).shape == (2, 5, 12)
