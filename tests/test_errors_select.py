"""Bad inputs to select.py (patterns, freeze, set_multipliers): the error type and what its message says.

Part of the bad-input suite (``tests/test_errors*.py``); ``tests/reliability/test_np_mode.py``
replays it in np mode, so arrays are made in the current mode.
"""
import math

import pytest
from fixtures import book_rgnet, tied_mlp
from mxnet.gluon import nn

from gluon_params_kit.errors import PathError, SelectionError, SelectionTypeError
from gluon_params_kit.select import (
    freeze,
    make_matcher,
    select,
    set_multipliers,
    unfreeze,
)


def _state(net):
    return [(p.grad_req, p.lr_mult, p.wd_mult) for p in net.collect_params().values()]


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
    assert "existing paths are '0.0.0.weight', '0.0.0.bias'," in msg and "(+12 more)" in msg
    assert "mode='search' finds those" in msg and "allow_empty=True" in msg
    with pytest.raises(SelectionError, match=r"Hint: 'dense2_weight' matches 1 auto name: pass on='name'"):
        select(net, "dense2_weight")
    with pytest.raises(SelectionError, match=r"existing auto names are 'dense2_weight'"):
        select(net, "conv", on="name")
    assert len(select(net, "conv", allow_empty=True)) == 0


def test_exclude_that_removes_everything():
    with pytest.raises(SelectionError, match=r"pattern 'bias' selects nothing in Sequential '\w+' "
                                             r"\(mode='search', on='path', exclude='\.'\): "
                                             r"exclude removes all 9 parameters it matches"):
        select(book_rgnet(), "bias", exclude=".")


def test_selection_get_refuses_to_create_parameters():
    sel = select(book_rgnet(), r"^1\.")
    with pytest.raises(PathError, match=r"no selected parameter at '1\.wieght'\. Selected: "
                                        r"'1\.weight', '1\.bias'\. Did you mean '1\.weight'"):
        sel.get("1.wieght")
    with pytest.raises(SelectionError, match=r"does not create or change Parameters; got "
                                             r"keyword arguments 'shape'"):
        sel.get("1.weight", shape=(3,))
    with pytest.raises(SelectionError, match=r"get_constant\('c', value\): a selection does "
                                             r"not create Parameters"):
        sel.get_constant("c", [1.0])
    assert list(sel) == ["1.weight", "1.bias"]


def test_block_without_parameters():
    with pytest.raises(SelectionError, match=r"pattern None selects nothing in Sequential '.*' "
                                             r"\(mode='search', on='path'\): it has no parameters"):
        select(nn.Sequential())


def test_failing_predicate_is_named_with_its_path():
    def picky(path, param):
        return param.shape[5] > 0

    with pytest.raises(SelectionError, match=r"predicate test_failing_predicate_is_named_with_its_path"
                                             r"\.<locals>\.picky raised IndexError on path "
                                             r"'0\.0\.0\.weight'") as info:
        select(book_rgnet(), picky)
    assert isinstance(info.value.__cause__, IndexError)


def test_freeze_with_bad_pattern_changes_nothing():
    net = book_rgnet()
    before = _state(net)
    with pytest.raises(SelectionError, match="invalid regular expression"):
        freeze(net, "bias", exclude="[")
    with pytest.raises(SelectionError, match="selects nothing"):
        freeze(net, "nothing-like-this")
    with pytest.raises(SelectionError, match=r"dry_run must be True or False, got 'no'"):
        freeze(net, "bias", dry_run="no")  # a truthy string must not silently mean a dry run
    with pytest.raises(SelectionError, match=r"dry_run must be True or False, got 1"):
        set_multipliers(net, lr_mult=0.5, dry_run=1)
    with pytest.raises(SelectionError, match=r"allow_empty must be True or False, got 'yes'"):
        select(net, "gamma", allow_empty="yes")
    assert _state(net) == before


@pytest.mark.parametrize("value, says, wrong_type", [
    (-0.1, "lr_mult must be a finite number >= 0, got -0.1", False),
    (math.nan, "lr_mult must be a finite number >= 0, got nan", False),
    (math.inf, "lr_mult must be a finite number >= 0, got inf", False),
    (True, "lr_mult must be a number, a dict pattern -> number or a list of (pattern, number) "
           "pairs, got bool: True", True),
    ("0.1", "got str: '0.1'", True),
    ({"weight": 0.5, "bias": "x"}, "lr_mult for rule 'bias' must be a finite number >= 0, got 'x'", True),
    ({"weight": 0.5, "bias": math.nan}, "lr_mult for rule 'bias' must be a finite number >= 0, got nan",
     False),
    ([("weight", False)], "lr_mult for rule 'weight' must be a finite number >= 0, got False", True),
])
def test_set_multipliers_bad_values_change_nothing(value, says, wrong_type):
    net = book_rgnet()
    before = _state(net)
    with pytest.raises(SelectionError) as info:
        set_multipliers(net, wd_mult=0.0, lr_mult=value)
    assert says in str(info.value)
    assert isinstance(info.value, SelectionTypeError) is wrong_type
    assert isinstance(info.value, TypeError) is wrong_type
    assert _state(net) == before


def test_set_multipliers_rule_that_matches_nothing_changes_nothing():
    net = tied_mlp()
    before = _state(net)
    with pytest.raises(SelectionError) as info:
        set_multipliers(net, lr_mult={"weight": 0.5, "bias": 0.1, "gamma": 2.0})
    msg = str(info.value)
    assert msg.startswith("pattern 'gamma' selects nothing in Sequential")
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
