"""Bad inputs to tree/ (paths, lookups, auto names, render_tree): the error type and what its message says.

Part of the bad-input suite (``tests/test_errors*.py``); ``tests/reliability/test_np_mode.py``
replays it in np mode, so arrays are made in the current mode.
"""
import mxnet as mx
import numpy as onp
import pytest
from fixtures import book_rgnet
from mxnet.gluon import nn

from gluon_params_kit.errors import ParamsKitError, PathError, PathTypeError, SelectionError, SelectionTypeError
from gluon_params_kit.select import select
from gluon_params_kit.tree import (
    fresh_names,
    get,
    legacy_names,
    match_legacy_names,
    named_blocks,
    named_parameters,
    parse_path,
    path_of,
    render_tree,
    walk,
)


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


def test_tree_select_not_a_block():
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
    bridge = legacy_names(net)  # the mapping holds only names that are unambiguous
    assert len(bridge) == 0 and "dense0_weight" not in bridge and dict(bridge) == {}
    assert bridge.ambiguous == {"dense0_weight": ["0.weight", "1.weight"],
                                "dense0_bias": ["0.bias", "1.bias"]}


def test_match_legacy_names_refuses_what_it_cannot_match():
    net = book_rgnet()
    names = [p.name for p in net.collect_params().values()]
    with pytest.raises(PathError, match=r"ambiguous\): 'dense#_bias': 16 given, 9 in the block"):
        match_legacy_names(net, names[:-1] + [f"dense{90 + i}_bias" for i in range(8)])
    with pytest.raises(PathError, match=r"names to match repeat: 'dense2_bias'"):
        match_legacy_names(net, names + ["dense2_bias"])
    with pytest.raises(PathTypeError, match=r"names must be a list of auto names \(str\), got str"):
        match_legacy_names(net, "dense2_bias")  # not read letter by letter


def test_render_tree_bad_depth():
    with pytest.raises(SelectionError, match=r"render_tree: max_depth must be None or an int >= 0, got -1"):
        render_tree(book_rgnet(), max_depth=-1)
    with pytest.raises(SelectionTypeError, match=r"render_tree: max_depth must be None or an int >= 0, got True"):
        render_tree(book_rgnet(), max_depth=True)
    with pytest.raises(SelectionTypeError, match=r"indent must be an int in 1\.\.64, got 'x'"):
        render_tree(book_rgnet(), indent="x")
    with pytest.raises(SelectionTypeError, match=r"params must be True or False, got 'no'"):
        render_tree(book_rgnet(), params="no")
    with pytest.raises(SelectionError, match=r"render_tree: indent must be an int in 1\.\.64, got 0") as info:
        render_tree(book_rgnet(), indent=0)
    assert not isinstance(info.value, TypeError)  # an int, out of range: a ValueError
    with pytest.raises(SelectionError, match=r"indent must be an int in 1\.\.64, got 10{30}$"):
        render_tree(book_rgnet(), indent=10 ** 30)  # was an OverflowError from str * int


@pytest.mark.parametrize("bad", [lambda: mx.nd.array([1, 0]), lambda: onp.array([True, False]),
                                 lambda: onp.bool_(True), lambda: "yes"])
def test_arrays_and_other_non_bools_as_flags_name_the_flag(bad):
    """An array where a flag is meant raised "The truth value of an NDArray is ambiguous"."""
    net = book_rgnet()
    shown = r"NDArray of shape \(2,\) float32|ndarray of shape \(2,\) bool|True|'yes'"  # bool_: repr
    for call, flag in ((lambda v: named_parameters(net, aliases=v), "aliases"),
                       (lambda v: named_blocks(net, aliases=v), "aliases"),
                       (lambda v: list(walk(net, depth_first=v)), "depth_first"),
                       (lambda v: path_of(net, net[0], all_paths=v), "all_paths"),
                       (lambda v: path_of(net, net[0], attributes=v), "attributes")):
        with pytest.raises(PathTypeError, match=rf"{flag} must be True or False, got ({shown})"):
            call(bad())
