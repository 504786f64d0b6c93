"""Bad inputs to inspection.py: the error type and what its message says."""
import pytest

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)
from mxnet.gluon import nn

from fixtures import book_mlp, book_rgnet, initialized
from gluon_params_kit.errors import ParamsKitError, PathError, SelectionError
from gluon_params_kit.inspection import InspectionError, plot_histograms, stats, summary


@pytest.mark.parametrize("flag", ["stats", "grads"])
def test_summary_flag_must_be_bool(flag):
    with pytest.raises(InspectionError, match=rf"{flag} must be True or False, got 'yes'") as info:
        summary(book_mlp(), **{flag: "yes"})
    assert isinstance(info.value, ValueError) and isinstance(info.value, ParamsKitError)


def test_stats_grads_must_be_bool():
    with pytest.raises(InspectionError, match=r"grads must be True or False, got 1"):
        stats(book_mlp(), grads=1)


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


def test_not_a_block():
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
