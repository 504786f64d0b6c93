"""Bad inputs to inspection/: the error type and what its message says.

Part of the bad-input suite (``tests/test_errors*.py``); ``tests/reliability/test_np_mode.py``
replays it in np mode, so arrays are made in the current mode.
"""
import pytest
from fixtures import book_mlp, book_rgnet
from fixtures import initialized_in_current_mode as initialized
from mxnet.gluon import nn

from gluon_params_kit.errors import InspectionTypeError, ParamsKitError, PathError, SelectionError
from gluon_params_kit.inspection import InspectionError, plot_histograms, stats, summary


@pytest.mark.parametrize("flag", ["stats", "grads"])
def test_summary_flag_must_be_bool(flag):
    with pytest.raises(InspectionError, match=rf"{flag} must be True or False, got 'yes'") as info:
        summary(book_mlp(), **{flag: "yes"})
    assert isinstance(info.value, ValueError) and isinstance(info.value, ParamsKitError)
    assert isinstance(info.value, InspectionTypeError) and isinstance(info.value, TypeError)


def test_stats_grads_must_be_bool():
    with pytest.raises(InspectionError, match=r"grads must be True or False, got 1"):
        stats(book_mlp(), grads=1)
    with pytest.raises(InspectionError, match=r"grads must be True or False, got 'no'"):
        plot_histograms(book_mlp(), grads="no")


def test_summary_provenance_choices():
    for bad in (1.5, 1, 0, "yes"):  # 1 == True, but it is not a bool
        with pytest.raises(InspectionTypeError, match=rf"provenance must be None, True or False, got {bad!r}"):
            summary(book_mlp(), provenance=bad)


@pytest.mark.parametrize("depth", [-1, 1.5, True, "2"])
def test_summary_bad_depth(depth):
    with pytest.raises(InspectionError, match=r"depth must be None or an int >= 0 \(0 folds the "
                                              r"whole net into one row\), got " + repr(depth)[:2]) as info:
        summary(book_mlp(), depth=depth)
    assert isinstance(info.value, TypeError) is (depth != -1)


@pytest.mark.parametrize("bins, wrong_type", [(0, False), (-3, False), (2.0, True), (None, True),
                                               (True, True), ("10", True)])
def test_bad_bins_everywhere(bins, wrong_type):
    for call in (lambda: summary(book_mlp(), stats=True, bins=bins),
                 lambda: stats(book_mlp(), bins=bins),
                 lambda: plot_histograms(book_mlp(), bins=bins)):
        with pytest.raises(InspectionError, match=rf"bins must be an int in 1\.\.10000, got {bins!r}") as info:
            call()
        assert isinstance(info.value, TypeError) is wrong_type  # InspectionTypeError
        assert isinstance(info.value, InspectionTypeError) is wrong_type


def test_bad_hist_sample_and_cols():
    with pytest.raises(InspectionError, match=r"hist_sample must be an int >= 1, got 0"):
        stats(book_mlp(), hist_sample=0)
    with pytest.raises(InspectionError, match=r"cols must be an int >= 1, got 0"):
        plot_histograms(book_mlp(), cols=0)


def test_pattern_that_selects_nothing_lists_paths_and_closest():
    net = book_rgnet()
    for call in (summary, stats, plot_histograms):
        with pytest.raises(SelectionError) as info:
            call(net, pattern="1.wieght")
        msg = str(info.value)
        assert "pattern '1.wieght' selects nothing in Sequential 'sequential1'" in msg
        assert "'0.0.0.weight', '0.0.0.bias'" in msg and "(+12 more)" in msg
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


def test_arrays_as_options_name_the_option():
    """An NDArray where an option is meant raised "The truth value of an NDArray is
    ambiguous" (allow_empty) or "type <class 'str'> not supported" (on)."""
    import mxnet as mx
    import numpy as onp

    from gluon_params_kit.errors import SelectionTypeError
    flag = mx.nd.array([1, 0])
    with pytest.raises(SelectionTypeError, match=r"allow_empty must be True or False, got NDArray of shape \(2,\)"):
        stats(book_mlp(), allow_empty=flag)
    with pytest.raises(SelectionTypeError, match=r"allow_empty must be True or False, got ndarray of shape \(2,\)"):
        summary(book_mlp(), allow_empty=onp.array([True, False]))
    with pytest.raises(SelectionTypeError, match=r"unknown on=NDArray of shape \(2,\) float32\. Expected one of "
                                                 r"'path', 'name'"):
        stats(book_mlp(), on=flag)
    with pytest.raises(InspectionTypeError, match=r"stats must be True or False, got NDArray of shape \(2,\)"):
        summary(book_mlp(), stats=flag)
    with pytest.raises(InspectionTypeError, match=r"bins must be an int in 1\.\.10000, got NDArray of shape \(1,\)"):
        stats(book_mlp(), bins=mx.nd.array([4]))
