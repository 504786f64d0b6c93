"""Bad inputs to tree.py and select.py: the error type and what its message says."""
import math

import pytest

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)
from mxnet import gluon
from mxnet.gluon import nn

from fixtures import book_rgnet, tied_mlp
from gluon_params_kit.errors import ParamsKitError, PathError, SelectionError
from gluon_params_kit.select import (freeze, make_matcher, select, set_multipliers,
                                     unfreeze)
from gluon_params_kit.tree import (fresh_names, get, legacy_names, match_legacy_names,
                                   parse_path, path_of, render_tree)


def _state(net):
    return [(p.grad_req, p.lr_mult, p.wd_mult) for p in net.collect_params().values()]


# --------------------------------------------------------------------------- paths

def test_wrong_segment_says_where_what_exists_and_closest():
    net = book_rgnet()
    with pytest.raises(KeyError) as info:
        get(net, "0.1.0.bais")
    err = info.value
    assert isinstance(err, PathError) and isinstance(err, ParamsKitError)
    msg = str(err)
    assert "no 'bais' at 0.1.0 (Dense)" in msg
    assert "It has: 'act', 'weight', 'bias'." in msg
    assert "Did you mean 'bias'?" in msg


def test_wrong_index_lists_children():
    net = book_rgnet()
    with pytest.raises(PathError, match=r"no '7' at 0 \(Sequential\)\. It has: '0', '1', '2', '3'"):
        get(net, "[0][7]")


def test_path_through_a_parameter():
    with pytest.raises(PathError, match=r"'1\.weight' is a Parameter, it has no 'x' inside"):
        get(book_rgnet(), "1.weight.x")


@pytest.mark.parametrize("bad, says", [
    ("0..1", "has an empty segment"),
    ("0.1.", "has an empty segment"),
    (".weight", "has an empty segment"),
    ("[0]..bias", "has an empty segment"),
    ("0[1", "cannot parse path '0[1' at position 1"),
    ((0, "", 1), "has an empty segment"),
    (3.5, "path must be a str like '0.1.weight' or a tuple like (0, 1, 'weight'), got float"),
])
def test_unparsable_paths(bad, says):
    with pytest.raises(PathError) as info:
        parse_path(bad)
    assert says in str(info.value)


def test_not_a_block():
    with pytest.raises(PathError, match="block must be a mxnet.gluon.Block, got dict"):
        get({}, "0")
    with pytest.raises(PathError, match="block must be a mxnet.gluon.Block, got str"):
        select("net", "weight")
    with pytest.raises(PathError, match="got list"):
        render_tree([])


def test_path_of_foreign_and_wrong_type():
    net = book_rgnet()
    stranger = nn.Dense(2)
    with pytest.raises(PathError, match=r"Parameter '.*_weight' is not inside Sequential 'sequential1'"):
        path_of(net, stranger.weight)
    with pytest.raises(PathError, match="target must be a Block or Parameter, got str"):
        path_of(net, "1.weight")


# --------------------------------------------------------------------------- legacy names

def test_unknown_auto_name_suggests():
    bridge = legacy_names(book_rgnet())
    with pytest.raises(PathError, match=r"no parameter is named 'dense10_wieght'\. Did you mean 'dense10_weight'"):
        bridge.to_path("dense10_wieght")
    with pytest.raises(KeyError, match=r"no parameter at path '1\.wieght'\. Did you mean '1\.weight'"):
        bridge.to_name("1.wieght")


def test_ambiguous_auto_name_is_refused():
    with fresh_names():
        net = nn.Sequential()
        net.add(nn.Dense(2))
    with fresh_names():
        net.add(nn.Dense(2))  # a second 'dense0'
    with pytest.raises(PathError, match=r"auto name 'dense0_weight' is ambiguous: it names "
                                        r"'0\.weight', '1\.weight'; use a path instead"):
        legacy_names(net).to_path("dense0_weight")


def test_match_legacy_names_refuses_what_it_cannot_match():
    net = book_rgnet()
    names = [p.name for p in net.collect_params().values()]
    with pytest.raises(PathError, match=r"ambiguous\): 'dense#_bias': 16 given, 9 in the block"):
        match_legacy_names(net, names[:-1] + [f"dense{90 + i}_bias" for i in range(8)])
    with pytest.raises(PathError, match=r"names to match repeat: 'dense2_bias'"):
        match_legacy_names(net, names + ["dense2_bias"])


# --------------------------------------------------------------------------- select

def test_invalid_regex_names_pattern_and_error():
    with pytest.raises(SelectionError) as info:
        select(book_rgnet(), "dense(0")
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("invalid regular expression 'dense(0': missing ), "
                                      "unterminated subpattern")
    with pytest.raises(SelectionError, match=r"invalid regular expression '\*weight'"):
        make_matcher(["ok", "*weight"])


def test_bad_mode_and_on_list_choices():
    with pytest.raises(SelectionError, match=r"unknown mode 'regex'\. Expected one of 'search', "
                                             r"'match', 'fullmatch', 'glob'\."):
        select(book_rgnet(), "w", mode="regex")
    with pytest.raises(SelectionError, match=r"unknown on='auto'\. Expected one of 'path', 'name'"):
        make_matcher("w", on="auto")


def test_bad_pattern_type():
    with pytest.raises(SelectionError, match=r"pattern must be a str, a list or tuple of str, "
                                             r"a callable .* got int: 3"):
        select(book_rgnet(), 3)
    with pytest.raises(SelectionError, match=r"got list: \['a', 1\]"):
        select(book_rgnet(), exclude=["a", 1])


def test_empty_selection_lists_existing_paths_and_hints():
    net = book_rgnet()
    with pytest.raises(SelectionError) as info:
        select(net, "weight", mode="match")
    msg = str(info.value)
    assert "pattern 'weight' selects nothing in Sequential 'sequential1' (mode='match', on='path')" in msg
    assert "Existing paths: '0.0.0.weight', '0.0.0.bias'," in msg and "(+12 more)" in msg
    assert "mode='search' finds those" in msg and "allow_empty=True" in msg
    with pytest.raises(SelectionError, match=r"looks like an auto name: on='name' matches those"):
        select(net, "dense2_weight")
    with pytest.raises(SelectionError, match=r"Existing names: 'dense2_weight'"):
        select(net, "conv", on="name")
    assert len(select(net, "conv", allow_empty=True)) == 0


def test_exclude_that_removes_everything():
    with pytest.raises(SelectionError, match=r"pattern 'bias' selects 9 parameter\(s\) but "
                                             r"exclude '\.' removes them all"):
        select(book_rgnet(), "bias", exclude=".")


def test_block_without_parameters():
    with pytest.raises(SelectionError, match=r"Sequential '.*' has no parameters to select from"):
        select(nn.Sequential())


def test_failing_predicate_is_named_with_its_path():
    def picky(path, param):
        return param.shape[5] > 0

    with pytest.raises(SelectionError, match=r"predicate test_failing_predicate_is_named_with_its_path"
                                             r"\.<locals>\.picky raised IndexError on path "
                                             r"'0\.0\.0\.weight'") as info:
        select(book_rgnet(), picky)
    assert isinstance(info.value.__cause__, IndexError)


# --------------------------------------------------------------------------- changes: all or nothing

def test_freeze_with_bad_pattern_changes_nothing():
    net = book_rgnet()
    before = _state(net)
    with pytest.raises(SelectionError, match="invalid regular expression"):
        freeze(net, "bias", exclude="[")
    with pytest.raises(SelectionError, match="selects nothing"):
        freeze(net, "nothing-like-this")
    assert _state(net) == before


@pytest.mark.parametrize("value, says", [
    (-0.1, "lr_mult must be a finite number >= 0, got -0.1"),
    (math.nan, "lr_mult must be a finite number >= 0, got nan"),
    (math.inf, "lr_mult must be a finite number >= 0, got inf"),
    (True, "lr_mult must be a number, a dict pattern -> number or a list of (pattern, number) "
           "pairs, got bool: True"),
    ("0.1", "got str: '0.1'"),
    ({"weight": 0.5, "bias": "x"}, "lr_mult for rule 'bias' must be a finite number >= 0, got 'x'"),
])
def test_set_multipliers_bad_values_change_nothing(value, says):
    net = book_rgnet()
    before = _state(net)
    with pytest.raises(SelectionError) as info:
        set_multipliers(net, wd_mult=0.0, lr_mult=value)
    assert says in str(info.value)
    assert _state(net) == before


def test_set_multipliers_rule_that_matches_nothing_changes_nothing():
    net = tied_mlp()
    before = _state(net)
    with pytest.raises(SelectionError) as info:
        set_multipliers(net, lr_mult={"weight": 0.5, "bias": 0.1, "gamma": 2.0})
    msg = str(info.value)
    assert msg.startswith("lr_mult rule(s) 'gamma' match none of the 6 selected parameters")
    assert "'0.weight', '0.bias'" in msg
    assert _state(net) == before
    with pytest.raises(SelectionError, match=r"rule\(s\) 'w' match none"):  # shadowed rule
        set_multipliers(net, lr_mult=[("weight", 0.5), ("w", 0.1), ("bias", 0.2)])
    assert _state(net) == before


def test_set_multipliers_needs_a_multiplier():
    with pytest.raises(SelectionError, match=r"give lr_mult=\.\.\., wd_mult=\.\.\. or both"):
        set_multipliers(book_rgnet())


def test_unfreeze_rejects_null():
    with pytest.raises(SelectionError, match=r"grad_req='null'; expected one of 'write', 'add' "
                                             r"\(use freeze\(\) for 'null'\)"):
        unfreeze(book_rgnet(), grad_req="null")


def test_render_tree_bad_depth():
    with pytest.raises(SelectionError, match=r"max_depth must be an int >= 0 or None, got -1"):
        render_tree(book_rgnet(), max_depth=-1)


def test_errors_are_catchable_as_builtins():
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(2))
    with pytest.raises(ValueError):
        select(net, "(")
    with pytest.raises(KeyError):
        get(net, "5")
