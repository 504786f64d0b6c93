"""select.py: matchers, select() as a real ParameterDict, freeze / unfreeze / set_multipliers."""
import re

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
import numpy as onp
import pytest
from fixtures import array, book_rgnet, fixed_hidden_mlp, initialized, nested_custom, tied_mlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mxnet import autograd, gluon
from mxnet.gluon import nn
from test_tree import architectures, build

from gluon_params_kit.errors import SelectionError
from gluon_params_kit.select import Changes, Selection, freeze, make_matcher, select, set_multipliers, unfreeze
from gluon_params_kit.tree import fresh_names, named_parameters

PROPS = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _names(selection):
    return [p.name for p in selection.values()]


# --------------------------------------------------------------------------- properties

def _regexes(net):
    """Patterns a user would write: pieces of real auto names and paths, and classics."""
    names = [p.name for p in named_parameters(net, aliases=True).values()]
    paths = list(named_parameters(net, aliases=True))
    pieces = st.sampled_from(names + paths).flatmap(
        lambda s: st.tuples(st.integers(0, len(s)), st.integers(0, len(s))).map(
            lambda ij: re.escape(s[min(ij):max(ij)])))
    classic = st.sampled_from([".*weight", ".*bias|.*scale", "dense", "dense1", "holder0_",
                               r"\d\.", "weight", r"^0\.", "scale$", "", "x1", "head"])
    return st.one_of(pieces, classic)


@PROPS
@given(st.data())
def test_match_on_name_is_collect_params(data):
    spec = data.draw(architectures())
    with fresh_names():
        net = build(spec)
    rx = data.draw(_regexes(net))
    ours = select(net, rx, mode="match", on="name", allow_empty=True)
    theirs = net.collect_params(rx)
    assert _names(ours) == list(theirs.keys())
    assert all(ours[k] is theirs[p.name] for k, p in ours.items())


@PROPS
@given(st.data())
def test_pattern_and_exclude_partition(data):
    spec = data.draw(architectures())
    with fresh_names():
        net = build(spec)
    everything = list(named_parameters(net))
    p1, p2 = data.draw(_regexes(net)), data.draw(_regexes(net))
    mode = data.draw(st.sampled_from(["search", "match", "fullmatch"]))
    kept = select(net, p1, mode=mode, allow_empty=True)
    dropped = select(net, exclude=p1, mode=mode, allow_empty=True)
    assert not set(kept) & set(dropped)
    assert [k for k in everything if k in kept or k in dropped] == everything
    both = select(net, p1, exclude=p2, mode=mode, allow_empty=True)
    not_p2 = select(net, exclude=p2, mode=mode, allow_empty=True)
    assert list(both) == [k for k in kept if k in not_p2]
    assert list(kept) == [k for k in everything if k in kept]  # save_parameters order


@PROPS
@given(architectures())
def test_select_all_holds_every_parameter_once(spec):
    with fresh_names():
        net = build(spec)
    sel = select(net)
    assert isinstance(sel, gluon.ParameterDict)
    assert dict(sel.items()) == dict(named_parameters(net))
    assert list(sel.by_name().keys()) == list(net.collect_params().keys())


# --------------------------------------------------------------------------- the chapter's nets

def test_rgnet_weight_selects_all_nine_weights():
    net = book_rgnet()
    sel = select(net, "weight")
    assert len(sel) == 9
    assert list(sel)[0] == "0.0.0.weight" and list(sel)[-1] == "1.weight"
    assert sel["0.1.0.weight"] is net[0][1][0].weight
    # Gluon's re.match on auto names selects nothing for the same word:
    assert list(net.collect_params("weight").keys()) == []


def test_prefix_path_selects_the_first_child():
    net = book_rgnet()
    sel = select(net, r"^0\.")
    assert len(sel) == 16
    assert "1.weight" not in sel and "0.3.1.bias" in sel
    assert list(select(net, r"^0\.3\.")) == ["0.3.0.weight", "0.3.0.bias",
                                              "0.3.1.weight", "0.3.1.bias"]


@pytest.mark.parametrize("pattern, mode, expected", [
    ("bias", "search", ["0.bias", "1.bias"]),
    ("bias", "match", []),
    ("1", "match", ["1.weight", "1.bias"]),
    ("1", "fullmatch", []),
    (r"1\.bias", "fullmatch", ["1.bias"]),
    ("*.w*", "glob", ["0.weight", "1.weight"]),
    ("?.bias", "glob", ["0.bias", "1.bias"]),
    ("[1]*", "glob", ["1.weight", "1.bias"]),
    (["^0", "bias"], "search", ["0.weight", "0.bias", "1.bias"]),
    (("1.*", "*.weight"), "glob", ["0.weight", "1.weight", "1.bias"]),
])
def test_modes(pattern, mode, expected):
    net = nn.Sequential()
    net.add(nn.Dense(3), nn.Dense(2))
    assert list(select(net, pattern, mode=mode, allow_empty=True)) == expected


def test_on_name_and_predicates():
    net = book_rgnet()
    assert list(select(net, "dense10_", on="name")) == ["1.weight", "1.bias"]
    assert list(select(net, "dense1", mode="match", on="name")) == ["1.weight", "1.bias"]  # dense10
    big = select(net, lambda path, p: p.shape[0] == 10)
    assert list(big) == ["1.weight", "1.bias"]
    m = make_matcher(lambda path, p: path.endswith("bias"))
    assert m("0.bias", None) and not m("0.weight", None)
    assert repr(make_matcher("w", mode="glob", on="name")) == "make_matcher('w', mode='glob', on='name')"
    assert make_matcher(None)("anything") is True
    assert make_matcher([])("anything") is False


def test_shared_parameter_selected_through_any_of_its_paths():
    net = tied_mlp()
    assert list(select(net, r"^2\.")) == ["1.weight", "1.bias"]  # layer 2 holds layer 1's
    assert list(select(net, r"^1\.|^2\.")) == ["1.weight", "1.bias"]  # once
    assert list(select(net, exclude=r"^2\.")) == ["0.weight", "0.bias", "3.weight", "3.bias"]


# --------------------------------------------------------------------------- a real ParameterDict

def test_trainer_trains_only_the_selection(mode):
    net = initialized(nested_custom(), mode=mode, hybridize=True)
    chosen = select(net, r"^1\.features\.")
    trainer = gluon.Trainer(chosen, "sgd", {"learning_rate": 0.5})
    before = {k: p.data().asnumpy().copy() for k, p in named_parameters(net).items()}
    with autograd.record():
        loss = (net(array((2, 5), mode)) ** 2).sum()
    loss.backward()
    trainer.step(2)
    changed = {k for k, p in named_parameters(net).items()
               if (p.data().asnumpy() != before[k]).any()}
    assert "1.features.0.weight" in changed and changed <= set(chosen)
    assert (net[1].head.weight.grad().asnumpy() != 0).any()  # it had a gradient, yet kept still


def test_selection_is_a_parameter_dict_with_parameterdict_methods(tmp_path):
    net = book_rgnet()
    sel = select(net, r"^1\.")
    assert isinstance(sel, Selection) and isinstance(sel, gluon.ParameterDict)
    assert sel.prefix == net.prefix
    sel.setattr("lr_mult", 0.25)
    assert net[1].weight.lr_mult == 0.25 and net[0][0][0].weight.lr_mult == 1.0
    sel.initialize(mx.init.Constant(2.0), ctx=mx.cpu())  # deferred: no shape yet
    select(net, exclude=r"^1\.").initialize(ctx=mx.cpu())
    net(mx.nd.ones((1, 7)))
    assert (net[1].weight.data().asnumpy() == 2.0).all()  # bias: its own zeros init
    fname = str(tmp_path / "head.params")
    sel.save(fname)
    assert sorted(mx.nd.load(fname)) == ["dense10_bias", "dense10_weight"]
    net[1].weight.set_data(mx.nd.zeros((10, 16)))
    sel.load(fname)
    assert (net[1].weight.data().asnumpy() == 2.0).all()
    assert list(sel.by_name().keys()) == ["dense10_weight", "dense10_bias"]
    text = repr(sel)
    assert text.splitlines()[0] == "Selection(2 of Sequential 'sequential1'):"
    assert "1.weight  Parameter dense10_weight (shape=(10, 16)" in text


def test_selection_get_returns_the_blocks_parameter_and_never_creates_one():
    net = book_rgnet()
    sel = select(net, r"^1\.")
    assert sel.get("1.weight") is net[1].weight
    assert sel.get("rgnet[1].bias") is sel.get((1, "bias")) is net[1].bias
    with pytest.raises(KeyError, match=r"no selected parameter at '0\.0\.0\.weight'"):
        sel.get("0.0.0.weight")  # in the net, but not selected
    assert list(sel) == ["1.weight", "1.bias"]  # ParameterDict.get would have added one
    fixed = select(fixed_hidden_mlp(), "rand")
    assert fixed.get_constant("rand_weight") is fixed["rand_weight"]


def test_update_with_another_selection_keeps_objects():
    net = book_rgnet()
    a, b = select(net, r"^0\.0\."), select(net, r"^1\.")
    a.update(b)
    assert list(a) == ["0.0.0.weight", "0.0.0.bias", "0.0.1.weight", "0.0.1.bias",
                       "1.weight", "1.bias"]
    assert a["1.bias"] is net[1].bias


# --------------------------------------------------------------------------- freezing

def test_freeze_dry_run_then_real(mode):
    net = initialized(nested_custom(), mode=mode, hybridize=True)
    preview = freeze(net, r"^1\.features\.", dry_run=True)
    assert isinstance(preview, Changes) and preview.dry_run
    assert list(preview) == ["1.features.0.weight", "1.features.0.bias",
                             "1.features.1.weight", "1.features.1.bias"]
    assert all(p.grad_req == "write" for p in named_parameters(net).values())
    done = freeze(net, r"^1\.features\.")
    assert done == preview and not done.dry_run
    assert str(done).splitlines()[:4] == ["changed 4 parameter(s)", "path                 grad_req",
                                          "-" * 38, "1.features.0.weight  'write' -> 'null'"]
    assert freeze(net, r"^1\.features\.") == {}  # already frozen: nothing changes
    # training leaves the frozen layers as they were
    frozen = {k: p.data().asnumpy().copy() for k, p in select(net, r"^1\.features\.").items()}
    head = net[1].head.weight.data().asnumpy().copy()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    with autograd.record():
        loss = (net(array((2, 5), mode)) ** 2).sum()
    loss.backward()
    trainer.step(2)
    for k, value in frozen.items():
        assert (named_parameters(net)[k].data().asnumpy() == value).all()
    assert (net[1].head.weight.data().asnumpy() != head).any()  # the unfrozen layer trained
    back = unfreeze(net, "features")
    assert {k: v["grad_req"] for k, v in back.items()} == {k: ("null", "write") for k in frozen}


def test_unfreeze_leaves_constants_alone():
    net = fixed_hidden_mlp()
    assert net.rand_weight.grad_req == "null"
    freeze(net)
    changes = unfreeze(net, grad_req="add")
    assert list(changes) == ["dense.weight", "dense.bias"]
    assert net.dense.weight.grad_req == "add" and net.rand_weight.grad_req == "null"


def test_set_multipliers_values_rules_and_first_match_wins():
    net = book_rgnet()
    changes = set_multipliers(net, lr_mult=0.5, pattern=r"^1\.")
    assert list(changes) == ["1.weight", "1.bias"]
    assert changes["1.weight"] == {"lr_mult": (1.0, 0.5)}
    rules = [(r"\.bias$", 0.0), ("weight", 2.0), ("bias", 9.0)]
    changes = set_multipliers(net, wd_mult=rules[:2], dry_run=True)
    assert len(changes) == 18 and net[0][0][0].bias.wd_mult == 1.0
    set_multipliers(net, wd_mult=dict(rules[:2]))
    assert net[0][0][0].bias.wd_mult == 0.0 and net[1].weight.wd_mult == 2.0
    assert set_multipliers(net, lr_mult=0.5, wd_mult=dict(rules[:2]), pattern=r"^1\.") == {}


def test_lr_mult_zero_stops_training_in_np_mode(mode):
    net = initialized(nested_custom(), mode=mode)
    set_multipliers(net, lr_mult={"head": 0.0})
    before = net[1].head.weight.data().asnumpy().copy()
    first = net[0].weight.data().asnumpy().copy()
    trainer = gluon.Trainer(select(net), "sgd", {"learning_rate": 1.0})
    with autograd.record():
        loss = (net(array((2, 5), mode)) ** 2).sum()
    loss.backward()
    trainer.step(2)
    assert (net[1].head.weight.data().asnumpy() == before).all()
    assert (net[0].weight.data().asnumpy() != first).any()  # lr_mult 1 still trains


def test_accumulate_gradients_adds_up_backward_passes_and_leaves_null_alone(mode):
    from mxnet import autograd

    from gluon_params_kit import accumulate_gradients
    net = nn.Sequential()
    net.add(nn.Dense(3, in_units=4), nn.BatchNorm(in_channels=3), nn.Dense(2, in_units=3))
    net.initialize()
    freeze(net, r"^2\.bias")
    preview = accumulate_gradients(net, dry_run=True)
    assert preview.dry_run and list(preview) == ["0.weight", "0.bias", "1.gamma", "1.beta",
                                                 "2.weight"]
    assert net[0].weight.grad_req == "write"
    with pytest.raises(SelectionError):
        accumulate_gradients(net, "no_such_path")
    with pytest.raises(SelectionError):
        accumulate_gradients(net, dry_run="yes")
    assert net[0].weight.grad_req == "write"  # nothing changed by the refused calls
    changes = accumulate_gradients(net)
    assert changes["0.weight"] == {"grad_req": ("write", "add")}
    assert net[1].running_mean.grad_req == "null" and net[2].bias.grad_req == "null"
    assert accumulate_gradients(net) == {}  # already accumulating: nothing to change
    x = array((2, 4), mode)
    grads = []
    for _ in range(2):
        with autograd.record():
            loss = net(x).sum()
        loss.backward()
        grads.append(net[0].weight.grad().asnumpy().copy())
    onp.testing.assert_allclose(grads[1], 2 * grads[0], rtol=1e-5)
