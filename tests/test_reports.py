"""Every printed report against its golden file, and the one Mapping behaviour they share.

Goldens live in ``tests/golden/``; ``GPK_REGEN_GOLDEN=1 pytest tests/test_reports.py``
rewrites them after an intended change (review the diff before committing it).
"""
from collections.abc import Mapping

import mxnet as mx
import pytest
from fixtures import book_rgnet, tied_mlp
from mxnet.gluon import nn

import gluon_params_kit as gpk
from gluon_params_kit.errors import PathError
from gluon_params_kit.tree import fresh_names


def _tied_net():
    net = tied_mlp()
    net.initialize(mx.init.Constant(0.5))
    return net


def _reports():
    """Name -> (report, one path it holds in another spelling, the key that spelling means)."""
    net = _tied_net()
    x = mx.nd.ones((2, 20))
    # ^2\. selects nothing in rgnet (a rule for tied nets): allowed, so the golden stays as it was
    plan = gpk.InitPlan([(r"bias$", "zeros"), (r"^2\.", "ones")], default="xavier", allow_empty=True)
    rgnet = book_rgnet()
    return {
        "summary": (gpk.summary(net), "[2].weight", "1.weight"),
        "tied_groups": (gpk.tied_groups(net, x), "net[2].weight", "1.weight"),
        "init_preview": (plan.preview(rgnet, seed=0), "rgnet[0][1][0].bias", "0.1.0.bias"),
        "init_report": (gpk.reinitialize(net, "ones", r"^0\."), (0, "bias"), "0.bias"),
    }


@pytest.mark.parametrize("name", ["summary", "tied_groups", "init_preview", "init_report"])
def test_reports_are_mappings_with_one_lookup(name):
    report, spelling, key = _reports()[name]
    assert isinstance(report, Mapping)
    keys = list(report)
    assert keys and all(isinstance(k, str) for k in keys)  # iteration yields keys
    assert len(report) == len(keys) == len(report.to_records())
    assert [report[k] for k in keys] == list(report.values())  # for k in r: r[k] works
    assert spelling in report and report[spelling] == report[key]
    with pytest.raises(PathError, match="no .* 'nowhere.weight' in this"):
        report["nowhere.weight"]
    assert "nowhere.weight" not in report


def test_printed_reports_match_goldens(golden):
    reports = _reports()
    golden("report_tied_groups", str(reports["tied_groups"][0]))
    golden("report_init_preview", str(reports["init_preview"][0]))
    golden("report_init_report", str(reports["init_report"][0]))


def test_printed_changes_and_tree_match_goldens(golden):
    net = _tied_net()
    golden("report_freeze_dry_run", str(gpk.freeze(net, "bias", dry_run=True)))
    golden("report_set_multipliers", str(gpk.set_multipliers(net, lr_mult={"weight": 0.1})))
    golden("render_tree_tied_mlp", gpk.render_tree(net))


def test_report_html_is_the_same_table():
    report = _reports()["tied_groups"][0]
    html = report._repr_html_()
    assert html.count("<tr>") == len(report) + 1  # header row + one per group
    assert "1.weight" in html and "2.weight" in html
    assert str(report).splitlines()[-1] in html  # the footer line, in both renderings


def test_tied_groups_still_look_up_by_position_and_auto_name():
    with fresh_names():
        net = nn.Sequential()
        shared = nn.Dense(4, in_units=4)
        net.add(shared, nn.Dense(4, in_units=4, params=shared.params))
    net.initialize()
    report = gpk.tied_groups(net)
    assert list(report) == ["0.weight", "0.bias"]
    assert report[0] is report["1.weight"] is report[shared.weight.name]
    assert report[-1].canonical == "0.bias"
    with pytest.raises(PathError, match="tied group 2 out of range: this report has 2"):
        report[2]
