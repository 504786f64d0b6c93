"""Every bad input the kit refuses, in one place: the error type and what its message says.

One section per module. Each test feeds a bad input and checks the exception class (the
kit's own and the matching built-in) and the words that make the message actionable:
the input named, the valid choices or closest matches listed, and nothing half-changed.
"""
import math
import struct

import mxnet as mx
import numpy as onp
import pytest
from fixtures import CPU2, book_mlp, book_rgnet, tied_mlp
from fixtures import array as _array
from fixtures import initialized as _initialized
from mxnet import gluon
from mxnet.gluon import nn

import gluon_params_kit
from gluon_params_kit._core.compat import to_numpy
from gluon_params_kit._core.kvstore import KEY_BASE, KEY_LIMIT, _next_key
from gluon_params_kit.checkpoint import Remap, convert, diff, export_npz, load, read_header, save
from gluon_params_kit.devices import (
    broadcast,
    checksum,
    move,
    replica_report,
    set_data_everywhere,
    sync_replicas,
)
from gluon_params_kit.errors import (
    CheckpointError,
    DeviceError,
    InitializerError,
    ParamsKitError,
    PathError,
    SelectionError,
    TieError,
)
from gluon_params_kit.initializers import (
    InitPlan,
    get_initializer,
    provenance,
    register_initializer,
    reinitialize,
)
from gluon_params_kit.inspection import InspectionError, plot_histograms, stats, summary
from gluon_params_kit.select import freeze, make_matcher, select, set_multipliers, unfreeze
from gluon_params_kit.tree import (
    fresh_names,
    get,
    legacy_names,
    match_legacy_names,
    named_parameters,
    parse_path,
    path_of,
    render_tree,
)
from gluon_params_kit.tying import (
    TransposedDense,
    check_tied_gradients,
    repeat_tied,
    tie,
    tied_copy,
    tied_groups,
)


def _mode():
    """The current array mode: tests/reliability/test_np_mode.py replays this file in np mode."""
    return "np" if mx.util.is_np_array() else "nd"


def array(shape, mode=None):
    return _array(shape, mode or _mode())


def initialized(net, x_shape=(2, 5), ctx=None, mode=None, hybridize=False):
    return _initialized(net, x_shape, ctx=ctx, mode=mode or _mode(), hybridize=hybridize)


# ============================================================================
# tree_select: Bad inputs to tree.py and select.py: the error type and what its message says.
# ============================================================================

def _state(net):
    return [(p.grad_req, p.lr_mult, p.wd_mult) for p in net.collect_params().values()]


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
    with pytest.raises(PathError, match=r"names must be a list of auto names \(str\), got str"):
        match_legacy_names(net, "dense2_bias")  # not read letter by letter


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
    with pytest.raises(SelectionError, match=r"render_tree: max_depth must be None or an int >= 0, got -1"):
        render_tree(book_rgnet(), max_depth=-1)
    with pytest.raises(SelectionError, match=r"render_tree: max_depth must be None or an int >= 0, got True"):
        render_tree(book_rgnet(), max_depth=True)
    with pytest.raises(SelectionError, match=r"indent must be an int >= 1, got 'x'"):
        render_tree(book_rgnet(), indent="x")
    with pytest.raises(SelectionError, match=r"params must be True or False, got 'no'"):
        render_tree(book_rgnet(), params="no")


def test_errors_are_catchable_as_builtins():
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(2))
    with pytest.raises(ValueError):
        select(net, "(")
    with pytest.raises(KeyError):
        get(net, "5")


# ============================================================================
# inspection: Bad inputs to inspection.py: the error type and what its message says.
# ============================================================================

@pytest.mark.parametrize("flag", ["stats", "grads"])
def test_summary_flag_must_be_bool(flag):
    with pytest.raises(InspectionError, match=rf"{flag} must be True or False, got 'yes'") as info:
        summary(book_mlp(), **{flag: "yes"})
    assert isinstance(info.value, ValueError) and isinstance(info.value, ParamsKitError)


def test_stats_grads_must_be_bool():
    with pytest.raises(InspectionError, match=r"grads must be True or False, got 1"):
        stats(book_mlp(), grads=1)
    with pytest.raises(InspectionError, match=r"grads must be True or False, got 'no'"):
        plot_histograms(book_mlp(), grads="no")


def test_summary_provenance_choices():
    with pytest.raises(InspectionError, match=r"provenance must be None, True or False, got 1\.5"):
        summary(book_mlp(), provenance=1.5)


@pytest.mark.parametrize("depth", [-1, 1.5, True, "2"])
def test_summary_bad_depth(depth):
    with pytest.raises(InspectionError, match=r"depth must be None or an int >= 0 \(0 folds the "
                                              r"whole net into one row\), got " + repr(depth)[:2]):
        summary(book_mlp(), depth=depth)


@pytest.mark.parametrize("bins", [0, -3, 2.0, None])
def test_bad_bins_everywhere(bins):
    for call in (lambda: summary(book_mlp(), stats=True, bins=bins),
                 lambda: stats(book_mlp(), bins=bins),
                 lambda: plot_histograms(book_mlp(), bins=bins)):
        with pytest.raises(InspectionError, match=rf"bins must be an int >= 1, got {bins!r}"):
            call()


def test_bad_hist_sample_and_cols():
    with pytest.raises(InspectionError, match=r"hist_sample must be an int >= 1, got 0"):
        stats(book_mlp(), hist_sample=0)
    with pytest.raises(InspectionError, match=r"cols must be an int >= 1, got 0"):
        plot_histograms(book_mlp(), cols=0)


def test_pattern_that_selects_nothing_lists_paths_and_closest():
    net = book_rgnet()
    for call in (summary, stats, plot_histograms):
        with pytest.raises(InspectionError) as info:
            call(net, pattern="1.wieght")
        msg = str(info.value)
        assert "pattern '1.wieght' selects no parameter of Sequential 'sequential1'" in msg
        assert "'0.0.0.weight', '0.0.0.bias'" in msg and "(+10 more)" in msg
        assert "Did you mean '1.weight'" in msg


def test_invalid_regular_expression_is_a_selection_error():
    with pytest.raises(SelectionError, match=r"invalid regular expression '\(\['"):
        summary(book_mlp(), pattern="([")


def test_inspection_not_a_block():
    with pytest.raises(PathError, match=r"block must be a mxnet.gluon.Block, got dict"):
        summary({"w": 1})
    with pytest.raises(PathError, match=r"block must be a mxnet.gluon.Block, got list"):
        stats([1, 2])


def test_unknown_summary_row_names_rows_and_closest():
    s = summary(initialized(book_mlp(), (2, 20)))
    with pytest.raises(KeyError) as info:
        s["1.wieght"]
    assert isinstance(info.value, PathError)
    assert str(info.value) == ("no row '1.wieght' in this summary. Rows: '0.weight', '0.bias', "
                               "'1.weight', '1.bias'. Did you mean '1.weight', '0.weight'?")


def test_plot_of_a_net_without_parameters():
    with pytest.raises(InspectionError, match=r"Sequential '\w+' has no parameter to plot"):
        plot_histograms(nn.Sequential())


# ============================================================================
# initializers: Bad input to the initializer registry, specs, plans and reinitialize: type and message.
# ============================================================================

def initialized_mlp():
    net = book_mlp()
    net.initialize()
    _ = net(array((2, 20)))
    return net


def snapshot_initializers(net):
    return {k: to_numpy(p.data()).copy() for k, p in named_parameters(net).items()}


def assert_unchanged(net, before):
    for k, v in snapshot_initializers(net).items():
        onp.testing.assert_array_equal(v, before[k])


def test_unknown_name_lists_registered_and_closest():
    with pytest.raises(InitializerError) as info:
        get_initializer("xavierr")
    msg = str(info.value)
    assert "unknown initializer 'xavierr'" in msg
    assert "Did you mean 'xavier'" in msg
    assert "'normal'" in msg and "'myinit'" in msg and "register_initializer" in msg


def test_unknown_name_in_call_string_and_json():
    with pytest.raises(InitializerError, match=r"unknown initializer 'gaussian'"):
        get_initializer("gaussian(sigma=1)")
    with pytest.raises(InitializerError, match=r"unknown initializer 'normall'.*'normal'"):
        get_initializer('["normall", {"sigma": 1}]')


def test_bad_keyword_names_initializer_and_accepted_arguments():
    with pytest.raises(InitializerError) as info:
        get_initializer("normal(sgma=0.1)")
    msg = str(info.value)
    assert "'normal' (Normal)" in msg and "sgma" in msg and "It accepts: sigma=0.01" in msg
    with pytest.raises(InitializerError, match=r"'xavier'.*rnd_type='uniform', factor_type='avg', "
                                               r"magnitude=3"):
        get_initializer("xavier(1, 2, 3, 4)")
    with pytest.raises(InitializerError, match=r"'constant'.*value \(required\)"):
        get_initializer("constant")


def test_call_strings_are_never_evaluated(capsys):
    with pytest.raises(InitializerError, match=r"argument \"print\('pwned'\)\" is not a literal"):
        get_initializer("normal(sigma=print('pwned'))")
    with pytest.raises(InitializerError, match=r"is not a literal"):
        get_initializer("normal(__import__('os').getpid())")
    assert capsys.readouterr().out == ""
    with pytest.raises(InitializerError, match=r"\*args and \*\*kwargs are not allowed"):
        get_initializer("normal(**{'sigma': 1})")
    with pytest.raises(InitializerError, match=r"must be a registered name or a call"):
        get_initializer("1 + 2")


def test_unparsable_text_json_and_types():
    with pytest.raises(InitializerError, match=r"cannot parse initializer spec 'normal\('"):
        get_initializer("normal(")
    with pytest.raises(InitializerError, match=r"is not valid JSON"):
        get_initializer('["normal", {"sigma": 1}')
    with pytest.raises(InitializerError, match=r"JSON must be \[name, \{kwargs\}\]"):
        get_initializer('["normal", 1, 2]')
    with pytest.raises(InitializerError, match=r"spec must be an Initializer.*got int: 3"):
        get_initializer(3)
    with pytest.raises(InitializerError, match=r"spec is empty"):
        get_initializer("  ")


def test_initializer_rejecting_its_arguments_is_named():
    with pytest.raises(InitializerError, match=r"'msraprelu' \(MSRAPrelu\) rejected spec "
                                               r"\"msraprelu\(slope='steep'\)\": TypeError"):
        get_initializer("msraprelu(slope='steep')")
    with pytest.raises(InitializerError, match=r"unknown initializer 'nope' in spec 'nope'"):
        get_initializer("fusedrnn(init='nope', num_hidden=1, num_layers=1, mode='lstm')")


def test_register_initializer_bad_inputs():
    with pytest.raises(InitializerError, match=r"needs a subclass of mx.init.Initializer, "
                                               r"got 'int'"):
        register_initializer(int)
    with pytest.raises(InitializerError, match=r"must be Python identifiers.*'not valid'"):
        register_initializer(aliases="not valid")(type("Good", (mx.init.Initializer,), {}))
    with pytest.raises(InitializerError, match=r"aliases must be a str or a list/tuple of str, "
                                               r"got int: 5"):
        register_initializer(aliases=5)
    with pytest.raises(InitializerError, match=r"replace must be True or False, got 'yes'"):
        register_initializer(type("Good", (mx.init.Initializer,), {}), replace="yes")
    assert "good" not in gluon_params_kit.list_initializers()  # nothing was registered

    class Xavier(mx.init.Initializer):  # clashes with MXNet's own 'xavier'
        pass

    with pytest.raises(InitializerError, match=r"'xavier' is already registered to "
                                               r"mxnet.initializer.Xavier.*replace=True"):
        register_initializer(Xavier)
    assert type(get_initializer("xavier")) is mx.init.Xavier  # nothing was replaced


def test_plan_construction_errors():
    with pytest.raises(InitializerError, match=r"rules must be a list of \(pattern, spec\) pairs"):
        InitPlan("weight")
    with pytest.raises(InitializerError, match=r"rule 1 must be a \(pattern, spec\) pair, "
                                               r"got 'bias'"):
        InitPlan([("weight", "ones"), "bias"])
    with pytest.raises(InitializerError, match=r"unknown initializer 'onez'"):
        InitPlan([("weight", "onez")])
    with pytest.raises(InitializerError, match=r"respect_layer_defaults must be True or False"):
        InitPlan([], default="ones", respect_layer_defaults="yes")
    with pytest.raises(SelectionError, match=r"\("):
        InitPlan([("(", "ones")])
    with pytest.raises(SelectionError, match=r"regex"):
        InitPlan([("weight", "ones")], mode="regex")


def test_apply_unmatched_lists_them_and_changes_nothing():
    net = initialized_mlp()
    before = snapshot_initializers(net)
    with pytest.raises(InitializerError) as info:
        InitPlan([("weight", "ones")], respect_layer_defaults=False).apply(net, seed=1)
    msg = str(info.value)
    assert "leaves 2 of 4 parameter(s)" in msg and "'0.bias', '1.bias'" in msg
    assert "Nothing was changed" in msg and "respect_layer_defaults=False" in msg
    assert_unchanged(net, before)
    assert all(r is None for r in provenance(net).values())


def test_failing_initializer_names_parameter_and_rolls_back():
    net = initialized_mlp()
    before = snapshot_initializers(net)
    with pytest.raises(InitializerError) as info:
        InitPlan([], default="xavier", respect_layer_defaults=False).apply(net)
    msg = str(info.value)
    assert "initializing '0.bias' (shape (256,))" in msg and "rule 'default'" in msg
    assert "requires at least 2D" in msg and "Nothing was changed" in msg
    assert_unchanged(net, before)


def test_bad_seed_ctx_and_block():
    net = nn.Dense(2, in_units=2)
    plan = InitPlan([], default="ones")
    with pytest.raises(InitializerError, match=r"seed must be None or an int, got '1'"):
        plan.apply(net, seed="1")
    with pytest.raises(InitializerError, match=r"seed must be None or an int, got True"):
        plan.preview(net, seed=True)
    with pytest.raises(DeviceError, match=r"ctx must be None, an mx.Context.*'cpu'"):
        plan.apply(net, ctx="cpu")
    with pytest.raises(DeviceError, match=r"got \[\]"):
        plan.apply(net, ctx=[])
    with pytest.raises(InitializerError, match=r"block must be a mxnet.gluon.Block, got dict"):
        plan.apply({})
    with pytest.raises(InitializerError, match=r"block must be a mxnet.gluon.Block, got str"):
        provenance("net")
    assert net.weight._data is None  # nothing initialized by the failed calls


def test_unknown_shape_that_cannot_defer():
    class Fixed(nn.Block):
        def __init__(self):
            super().__init__()
            self.w = self.params.get("w", shape=(0, 3), allow_deferred_init=False)

    with pytest.raises(InitializerError, match=r"'w' has an unknown shape \((0|-1), 3\) and does not "
                                               r"allow deferred initialization"):
        InitPlan([], default="ones").apply(Fixed())


def test_preview_unknown_row_names_rows_and_closest():
    preview = InitPlan([], default="ones").preview(book_mlp())
    with pytest.raises(KeyError) as info:
        preview["1.wieght"]
    assert isinstance(info.value, PathError)
    assert str(info.value) == ("no parameter '1.wieght' in this preview. Rows: '0.weight', "
                               "'0.bias', '1.weight', '1.bias'. Did you mean '1.weight', "
                               "'0.weight'?")


def test_reinitialize_selecting_nothing_lists_paths():
    net = initialized_mlp()
    before = snapshot_initializers(net)
    with pytest.raises(SelectionError) as info:
        reinitialize(net, "ones", "gamma")
    msg = str(info.value)
    assert "pattern 'gamma'" in msg and "selects no parameter" in msg
    assert "'0.weight', '0.bias', '1.weight', '1.bias'" in msg
    with pytest.raises(InitializerError, match=r"unknown initializer 'onesies'"):
        reinitialize(net, "onesies", "weight")
    assert_unchanged(net, before)


def test_mixed_and_load_get_a_hint():
    with pytest.raises(InitializerError, match=r"got Mixed.*use InitPlan rules"):
        get_initializer(mx.init.Mixed([".*"], [mx.init.One()]))
    with pytest.raises(InitializerError, match=r"got Mixed.*use InitPlan rules"):
        InitPlan([], default=mx.init.Mixed([".*"], [mx.init.One()]))


def test_plan_options_are_checked_even_without_rules():
    with pytest.raises(SelectionError, match=r"'regexp'.*'search', 'match', 'fullmatch', 'glob'"):
        InitPlan([], default="ones", mode="regexp")
    with pytest.raises(SelectionError, match=r"'paths'"):
        InitPlan([], default="ones", on="paths")


# ============================================================================
# tying: Bad input to tying.py: each error names the input, lists every problem, and changes nothing.
# ============================================================================

def snapshot_tying(block):
    """Everything tie() could change: who holds which Parameter, and each ParameterDict."""
    holders = {path: id(p) for path, p in named_parameters(block, aliases=True).items()}
    dicts = {name: list(b._params._params.items()) for name, b in block._children.items()}
    attrs = {name: {a: id(getattr(b, a)) for a in b._reg_params} for name, b in block._children.items()}
    return holders, dicts, attrs


def pair(a, b):
    with fresh_names():
        net = nn.Sequential()
        net.add(a, b)
    return net


def test_tie_shape_mismatch_lists_both_and_changes_nothing():
    net = pair(nn.Dense(4, in_units=3), nn.Dense(5, in_units=3))
    before = snapshot_tying(net)
    with pytest.raises(TieError) as info:
        tie(net[1], net[0])
    msg = str(info.value)
    assert "'weight': shape (5, 3) vs source (4, 3)" in msg and "'bias': shape (5,) vs source (4,)" in msg
    assert "2 mismatch(es)" in msg and "nothing was changed" in msg
    assert snapshot_tying(net) == before
    assert isinstance(info.value, ValueError) and isinstance(info.value, ParamsKitError)


def test_tie_dtype_and_grad_req_mismatches_all_listed():
    net = pair(nn.Dense(4, in_units=3), nn.Dense(4, in_units=3, dtype="float16"))
    net[1].bias.grad_req = "null"
    before = snapshot_tying(net)
    with pytest.raises(TieError) as info:
        tie(net[1], net[0])
    msg = str(info.value)
    assert "'weight': dtype float16 vs source float32" in msg
    assert "'bias': dtype float16 vs source float32" in msg
    assert "'bias': grad_req 'null' vs source 'write'" in msg
    assert "3 mismatch(es)" in msg
    assert snapshot_tying(net) == before


def test_tie_missing_path_names_closest_and_changes_nothing():
    with fresh_names():
        a = nn.HybridSequential()
        a.add(nn.Dense(4, in_units=3))
        b = nn.HybridSequential()
        b.add(nn.Dense(4, in_units=3), nn.Dense(4, in_units=4))
    held = [id(p) for p in named_parameters(b).values()]
    with pytest.raises(TieError) as info:
        tie(b, a)
    msg = str(info.value)
    assert "'1.weight': missing in source" in msg and "'1.bias': missing in source" in msg
    assert "Did you mean '0.weight'?" in msg
    assert [id(p) for p in named_parameters(b).values()] == held


def test_tie_block_to_itself():
    net = tied_mlp()
    before = snapshot_tying(net)
    with pytest.raises(TieError, match=f"cannot tie block '{net[1].name}' to itself: target and "
                                       f"source are the same Dense"):
        tie(net[1], net[1])
    with pytest.raises(TieError, match="to itself"):
        tie("1", "1", root=net)
    assert snapshot_tying(net) == before


def test_tie_name_clash_between_two_fresh_names_nets():
    with fresh_names():
        a = nn.Dense(4, in_units=3)
    with fresh_names():
        net = nn.Sequential()
        net.add(nn.Dense(4, in_units=3), nn.Dense(4, in_units=3))  # dense0, dense1
    with pytest.raises(TieError, match="would be named 'dense0_weight'"):
        tie(net[1], a, root=net)
    assert net[1].weight is not a.weight


def test_tie_pattern_errors():
    net = pair(nn.Dense(4, in_units=3), nn.Dense(4, in_units=3))
    with pytest.raises(TieError, match=f"pattern 'gamma' selects no parameter of '{net[1].name}'; "
                                       f"its paths: 'weight', 'bias'"):
        tie(net[1], net[0], pattern="gamma")
    with pytest.raises(TieError, match=r"invalid regular expression '\('"):
        tie(net[1], net[0], pattern="(")
    with pytest.raises(TieError, match="pattern must be a str, a list or tuple of str, a callable"):
        tie(net[1], net[0], pattern=3)
    assert net[1].weight is not net[0].weight


def test_tie_bad_blocks_and_paths():
    net = tied_mlp()
    with pytest.raises(TieError, match="target must be a mxnet.gluon.Block .* got str"):
        tie("1", net[0])
    with pytest.raises(TieError, match="names a Parameter in root, not a block"):
        tie("1.weight", "0", root=net)
    with pytest.raises(PathError, match="no '7'"):
        tie("7", "0", root=net)
    with pytest.raises(TieError, match="root must be a mxnet.gluon.Block, got int"):
        tie("1", "0", root=5)


def test_tied_copy_errors():
    class Opaque(nn.HybridBlock):
        def __init__(self, hidden, **kwargs):
            super().__init__(**kwargs)
            with self.name_scope():
                self.body = nn.Dense(hidden)

        def hybrid_forward(self, F, x):
            return self.body(x)

    class NoParams(nn.Block):
        def __init__(self):
            super().__init__()

    with pytest.raises(TieError, match=r"cannot recover Opaque's constructor argument\(s\) 'hidden'.*"
                                       r"tied_copy\(layer, hidden=\.\.\.\)"):
        tied_copy(Opaque(3))
    assert tied_copy(Opaque(3), hidden=3).body.weight.shape[0] == 3
    with pytest.raises(TieError, match="NoParams's constructor takes no `params=`"):
        tied_copy(NoParams())
    with pytest.raises(TieError, match=r"Dense takes no argument 'unit'; it takes: 'units'"):
        tied_copy(nn.Dense(3), unit=4)
    with pytest.raises(TieError, match="layer must be a mxnet.gluon.Block, got int"):
        tied_copy(3)
    with pytest.raises(TieError, match="while building a tied copy of Dense"):
        tied_copy(nn.Dense(3, in_units=2), units=5)  # Gluon refuses the conflicting shape


def test_repeat_tied_bad_times():
    for bad in (0, -1, 2.0, True):
        with pytest.raises(TieError, match=r"times must be an int >= 1, got"):
            repeat_tied(nn.Dense(2), bad)


def test_transposed_dense_bad_embedding():
    with pytest.raises(TieError, match="embedding must be an nn.Embedding .* got Dropout"):
        TransposedDense(nn.Dropout(0.5))
    with pytest.raises(TieError, match=r"must be 2-D \(vocab, dim\) with a known vocab size, got shape \(4,\)"):
        TransposedDense(nn.Dense(4).bias)
    with pytest.raises(TieError, match="row_sparse gradient.*sparse_grad=False"):
        TransposedDense(nn.Embedding(10, 4, sparse_grad=True))


def test_report_and_gradient_check_errors():
    net = tied_mlp()
    with pytest.raises(TieError, match="block must be a mxnet.gluon.Block, got list"):
        tied_groups([net])
    with pytest.raises(TieError, match="is not initialized .* call block.initialize"):
        check_tied_gradients(net, mx.nd.ones((2, 4)), lambda o: o.sum())
    net.initialize()
    with pytest.raises(TieError, match="loss_fn must be a callable"):
        check_tied_gradients(net, mx.nd.ones((2, 4)), "mse")
    report = tied_groups(net)
    with pytest.raises(PathError, match=r"no tied group '2.wieght' in this tied-groups report.*Did you mean '2.weight'"):
        report["2.wieght"]
    with pytest.raises(KeyError):
        report["0.weight"]
    trainer = gluon.Trainer(net.collect_params(), "sgd")
    assert len(trainer._params) == 6


def test_tie_context_mismatch():
    net = pair(nn.Dense(4, in_units=3), nn.Dense(4, in_units=3))
    net[0].initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    net[1].initialize(ctx=mx.cpu(0))
    before = snapshot_tying(net)
    with pytest.raises(TieError, match=r"'weight': contexts \[cpu\(0\)\] vs source \[cpu\(0\), cpu\(1\)\]"):
        tie(net[1], net[0])
    assert snapshot_tying(net) == before


# ============================================================================
# devices: Bad input to devices.py: each error's type and what its message tells the user.
# ============================================================================

def _replicas(param):
    return [d.asnumpy() for d in param.list_data()]


@pytest.mark.parametrize("ctx", ["cpu", [], None, [mx.cpu(0), "gpu"]])
def test_move_rejects_non_contexts(ctx):
    net = initialized(book_mlp(), x_shape=(2, 20))
    with pytest.raises(DeviceError, match=r"ctx must be an mx.Context or a non-empty list") as err:
        move(net, ctx)
    assert "mx.cpu()" in str(err.value) and isinstance(err.value, ValueError)
    assert net[0].weight.list_ctx() == [mx.cpu(0)]


def test_move_rejects_repeated_and_missing_contexts():
    net = initialized(book_mlp(), x_shape=(2, 20))
    with pytest.raises(DeviceError, match=r"lists a context twice"):
        move(net, [mx.cpu(0), mx.cpu(0)])
    with pytest.raises(DeviceError) as err:
        move(net, [mx.cpu(0), mx.gpu(7)])
    text = str(err.value)
    assert "'gpu(7)' not available" in text and "Available:" in text and "'cpu(0)'" in text
    assert net[0].weight.list_ctx() == [mx.cpu(0)]  # nothing moved


def test_sync_replicas_source_missing_changes_nothing():
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2)
    net[0].weight.data(mx.cpu(1))[:] = 2
    before = _replicas(net[0].weight)
    with pytest.raises(DeviceError) as err:
        sync_replicas(net, source=mx.cpu(2))
    text = str(err.value)
    assert "source cpu(2) holds no replica of" in text and "0.weight (on cpu(0), cpu(1))" in text
    for a, b in zip(before, _replicas(net[0].weight)):
        onp.testing.assert_array_equal(a, b)
    with pytest.raises(DeviceError, match=r"source must be an mx.Context"):
        sync_replicas(net, source="cpu(1)")


def test_set_data_everywhere_bad_inputs():
    net = initialized(book_mlp(), x_shape=(2, 20), ctx=CPU2)
    with pytest.raises(DeviceError, match=r"new value for '1.bias' has shape \(3,\), "
                                          r"the parameter has \(10,\)"):
        set_data_everywhere(net, "1.bias", mx.nd.ones((3,)))
    with pytest.raises(DeviceError, match=r"path '0' is a block \(Dense\), not a parameter"):
        set_data_everywhere(net, "0", 1.0)
    with pytest.raises(PathError, match=r"no 'bais' at 1 \(Dense\).*Did you mean 'bias'"):
        set_data_everywhere(net, "1.bais", 1.0)
    fresh = book_mlp()
    fresh.initialize()
    with pytest.raises(DeviceError, match=r"'0.weight' is deferred \(run one forward first\)"):
        set_data_everywhere(fresh, "0.weight", 1.0)
    with pytest.raises(DeviceError, match=r"'0.weight' is not initialized"):
        set_data_everywhere(book_mlp(), "0.weight", 1.0)


def test_broadcast_refuses_deferred_before_any_traffic():
    net = book_mlp()
    net.initialize(ctx=CPU2)
    kv = mx.kv.create("local")
    with pytest.raises(DeviceError) as err:
        broadcast(net, kv)
    text = str(err.value)
    assert text.startswith("cannot broadcast: deferred (shape unknown until the first forward): "
                           "'0.weight', '1.weight'.")
    assert "Run one forward pass, net(x), on every worker" in text and "Nothing was sent." in text
    assert kv not in _next_key  # no key was taken


def test_broadcast_refuses_uninitialized_and_bad_root():
    kv = mx.kv.create("local")
    with pytest.raises(DeviceError, match=r"not initialized: '0.weight', '0.bias', '1.weight', "
                                          r"'1.bias'. Call net.initialize\(\) first"):
        broadcast(book_mlp(), kv)
    net = initialized(book_mlp(), x_shape=(2, 20))
    for root in (1, -1, True, "0"):
        with pytest.raises(DeviceError, match=r"root must be a worker rank in 0..0 \(kvstore "
                                              r"'local' has 1 worker\(s\)\)"):
            broadcast(net, kv, root=root)


def test_broadcast_bad_kvstore():
    net = initialized(book_mlp(), x_shape=(2, 20))
    with pytest.raises(DeviceError) as err:
        broadcast(net, "dist_sync")
    assert "mx.kv.create('dist_sync')" in str(err.value)
    assert "gluon.Trainer(..., kvstore=kv)" in str(err.value)
    with pytest.raises(DeviceError, match=r"kvstore must be an mx.kv.KVStore or one of "
                                          r"'local', 'device', got int: 3"):
        broadcast(net, 3)


def test_broadcast_key_range_exhausted():
    net = initialized(book_mlp(), x_shape=(2, 20))
    kv = mx.kv.create("local")
    _next_key[kv] = KEY_LIMIT - 2
    with pytest.raises(DeviceError, match=r"reserved kvstore keys 100000..214999 are used up"):
        broadcast(net, kv)
    assert _next_key[kv] == KEY_LIMIT - 2 and KEY_BASE == 100_000


def test_checksum_and_report_bad_inputs():
    net = book_mlp()
    net.initialize()
    with pytest.raises(DeviceError, match=r"no values to checksum for '0.weight', '1.weight' "
                                          r"\(deferred or not initialized\)"):
        checksum(net)
    with pytest.raises(DeviceError, match=r"atol must be a number >= 0, got -1"):
        replica_report(net, atol=-1)
    with pytest.raises(PathError, match=r"block must be a mxnet.gluon.Block, got str"):
        replica_report("net")


def test_device_errors_are_kit_errors():
    assert issubclass(DeviceError, ParamsKitError) and issubclass(DeviceError, ValueError)
    with pytest.raises(ValueError):
        move(nn.Dense(2), "cpu")


# ============================================================================
# checkpoint: Bad inputs to checkpoint.py and the header reader: the error type and what it says.
# ============================================================================

MLP_X = (2, 20)


@pytest.fixture
def mlp_file(tmp_path):
    net = initialized(book_mlp(), x_shape=MLP_X)
    save(net, tmp_path / "mlp.params")
    return tmp_path / "mlp.params"


def test_save_refuses_deferred_parameters(tmp_path):
    net = book_mlp()
    net.initialize()  # deferred until a forward pass
    with pytest.raises(CheckpointError, match=r"2 parameters are not initialized yet "
                                              r"\('\{0..1\}.weight'\); run a forward pass"):
        save(net, tmp_path / "x.params")
    assert not (tmp_path / "x.params").exists()


def test_save_into_missing_folder(tmp_path):
    with pytest.raises(CheckpointError, match="folder .*nope.* does not exist"):
        save(initialized(book_mlp(), x_shape=MLP_X), tmp_path / "nope" / "x.params")


def test_save_and_load_need_a_block(mlp_file):
    with pytest.raises(PathError, match="block must be a mxnet.gluon.Block, got str"):
        save("net", mlp_file)
    with pytest.raises(PathError, match="got dict"):
        load({}, mlp_file)


def test_load_unknown_dtype_policy(mlp_file):
    with pytest.raises(CheckpointError, match=r"unknown dtype policy 'float16'; expected one of "
                                              r"'check', 'cast', 'saved'"):
        load(book_mlp(), mlp_file, dtype="float16")


def test_load_bad_remaps(mlp_file):
    with pytest.raises(CheckpointError, match="unknown remap 'structurel'; expected one of "
                                              "'gluon', 'legacy', 'structural'"):
        load(book_mlp(), mlp_file, remap="structurel")
    with pytest.raises(CheckpointError, match="remap must be a Remap, .* got int"):
        load(book_mlp(), mlp_file, remap=3)
    with pytest.raises(CheckpointError, match="sends both '0.weight' and '0.bias' to 'w'"):
        load(book_mlp(), mlp_file, remap=Remap.rename(r"^0\.\w+$", "w"))


def test_bad_regex_in_rename():
    with pytest.raises(CheckpointError, match=r"remap pattern '\(' is not a valid regex"):
        Remap.rename("(", "x")
    with pytest.raises(CheckpointError, match=r"remap replacement '\\\\2' is not valid for "
                                              r"pattern '\(w\)': invalid group reference 2"):
        Remap.rename("(w)", r"\2")


def test_load_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="cannot open checkpoint .*none.params"):
        load(book_mlp(), tmp_path / "none.params")


def test_load_list_file_says_it_has_no_names(tmp_path):
    mx.nd.save(str(tmp_path / "l.params"), [mx.nd.ones((2,))])
    with pytest.raises(CheckpointError, match="unnamed list of arrays"):
        load(book_mlp(), tmp_path / "l.params")


def test_load_ctx_conflict_changes_nothing(mlp_file):
    net = initialized(book_mlp(), x_shape=MLP_X)
    before = net[0].weight.data().asnumpy().copy()
    with pytest.raises(CheckpointError, match=r"parameter '0.weight' lives on \[cpu\(0\)\], "
                                              r"not on ctx="):
        load(net, mlp_file, ctx=CPU2)
    assert onp.array_equal(net[0].weight.data().asnumpy(), before)


@pytest.mark.parametrize("ctx, message", [
    (ctx, r"ctx must be an mx.Context or a non-empty list of distinct ones, like mx.cpu\(\)")
    for ctx in ["cpu", [], [mx.cpu(0), "gpu"], 0]
] + [([mx.cpu(1), mx.cpu(1)], r"ctx lists a context twice: \[cpu\(1\), cpu\(1\)\]")])
def test_load_bad_ctx_changes_nothing(mlp_file, ctx, message):
    net = book_mlp()
    with pytest.raises(CheckpointError, match=message):
        load(net, mlp_file, ctx=ctx)
    assert all(p._data is None for p in net.collect_params().values())


def test_header_wrong_magic(tmp_path):
    (tmp_path / "x.params").write_bytes(struct.pack("<QQQ", 0x113, 0, 0) + b"\0" * 8)
    with pytest.raises(CheckpointError, match=r"wrong list magic number 0x113 \(expected 0x112\)"):
        read_header(tmp_path / "x.params")


def test_header_too_short(tmp_path):
    (tmp_path / "x.params").write_bytes(b"\x12\x01")
    with pytest.raises(CheckpointError, match="too short to hold the 16-byte list header"):
        read_header(tmp_path / "x.params")


def test_header_truncated_data(mlp_file, tmp_path):
    blob = mlp_file.read_bytes()
    (tmp_path / "t.params").write_bytes(blob[:1000])
    with pytest.raises(CheckpointError, match=r"array 0 data \(float32, shape \(256, 20\)\) needs "
                                              r"20480 bytes but only 936 are left \(truncated\?\)"):
        read_header(tmp_path / "t.params")


def test_header_hostile_count(tmp_path):
    (tmp_path / "x.params").write_bytes(struct.pack("<QQQ", 0x112, 0, 2**62) + b"\0" * 64)
    with pytest.raises(CheckpointError, match=f"claims {2**62} arrays, more than the 64 bytes left"):
        read_header(tmp_path / "x.params")


def test_header_hostile_ndim_and_dtype(tmp_path):
    rec = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iii", 0xF993FAC9, 0, 10**6)
    (tmp_path / "x.params").write_bytes(rec + b"\0" * 16)
    with pytest.raises(CheckpointError, match="impossible number of dimensions 1000000"):
        read_header(tmp_path / "x.params")
    rec = (struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Iiiq", 0xF993FAC9, 0, 1, 2)
           + struct.pack("<iii", 1, 0, 99))
    (tmp_path / "y.params").write_bytes(rec + b"\0" * 16)
    with pytest.raises(CheckpointError, match=r"unknown dtype flag 99 \(known: \[0, 1, 2"):
        read_header(tmp_path / "y.params")
    rec = struct.pack("<QQQ", 0x112, 0, 1) + struct.pack("<Ii", 0xF993FAC9, 7)
    (tmp_path / "z.params").write_bytes(rec + b"\0" * 16)
    with pytest.raises(CheckpointError, match=r"unknown storage type 7 \(known: \[0, 1, 2\]\)"):
        read_header(tmp_path / "z.params")


def test_header_names_count_and_utf8(tmp_path, mlp_file):
    blob = bytearray(mlp_file.read_bytes())
    names_at = read_header(mlp_file)[-1].offset + read_header(mlp_file)[-1].nbytes
    bad = blob[:names_at] + struct.pack("<Q", 3) + blob[names_at + 8:]
    (tmp_path / "n.params").write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="it has 4 arrays but 3 names"):
        read_header(tmp_path / "n.params")
    bad = blob[:names_at + 16] + b"\xff" + blob[names_at + 17:]
    (tmp_path / "u.params").write_bytes(bytes(bad))
    with pytest.raises(CheckpointError, match="name 0 is not valid UTF-8"):
        read_header(tmp_path / "u.params")


def test_convert_errors(mlp_file, tmp_path):
    with pytest.raises(CheckpointError, match="unknown key scheme to='auto'; expected "
                                              "'structural' or 'legacy'"):
        convert(mlp_file, tmp_path / "o.params", to="auto")
    with pytest.raises(CheckpointError, match=r"Remap.to_legacy\(\) needs the target block"):
        convert(mlp_file, tmp_path / "o.params", to="legacy")
    with pytest.raises(CheckpointError, match="gives repeated keys 'x'; nothing was written"):
        convert(mlp_file, tmp_path / "o.params", remap=Remap.keys(lambda k: "x"))
    assert not (tmp_path / "o.params").exists()
    other = nn.Sequential()
    other.add(nn.Dense(3))
    with pytest.raises(CheckpointError, match=r"Remap.to_legacy\(\): no parameter at path "
                                              r"'1.weight'"):
        convert(mlp_file, tmp_path / "o.params", to="legacy", block=other)


def test_to_structural_that_cannot_match(tmp_path):
    mx.nd.save(str(tmp_path / "l.params"), {"dense7_weight": mx.nd.ones((2, 2)),
                                            "conv0_weight": mx.nd.ones((2, 2))})
    with pytest.raises(CheckpointError, match="cannot convert 2 auto names to paths of Sequential: "
                                              "cannot match auto names by structure"):
        load(book_mlp(), tmp_path / "l.params", remap="structural")


def test_diff_errors(mlp_file, tmp_path):
    with pytest.raises(CheckpointError, match=r"diff pattern '\[' is not a valid regex"):
        diff(mlp_file, mlp_file, pattern="[")
    with pytest.raises(CheckpointError, match="a must be a Block, a file path or a mapping of "
                                              "arrays, got int"):
        diff(3, mlp_file)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot read .*bad.npz.* as .npz"):
        diff(tmp_path / "bad.npz", mlp_file)


def test_diff_negative_atol(mlp_file):
    with pytest.raises(CheckpointError, match=r"diff atol must be a number >= 0, got -1"):
        diff(mlp_file, mlp_file, atol=-1)


def test_export_uninitialized_block(tmp_path):
    with pytest.raises(CheckpointError, match=r"export source: parameters not initialized yet: "
                                              r"'\{0..1\}.weight'"):
        export_npz(book_mlp(), tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
