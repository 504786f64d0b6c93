"""One selection path: every pattern-taking function selects, and fails, the same way.

``_core.patterns.selection`` decides what a pattern selects for ``select``, ``freeze``,
``unfreeze``, ``set_multipliers``, ``summary``, ``stats``, ``plot_histograms``, ``InitPlan``,
``reinitialize``, ``tie``, ``diff`` and the command line. These tests hold every one of them
to the same answer (a shared Parameter found through any of its spellings) and to the same
error (one class, one wording, the same hints) when nothing is selected.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import pytest
from mxnet.gluon import nn, rnn

import gluon_params_kit as gpk
from gluon_params_kit import fresh_names
from gluon_params_kit._core.patterns import selection
from gluon_params_kit.checkpoint import diff, save
from gluon_params_kit.cli import main
from gluon_params_kit.errors import SelectionError
from gluon_params_kit.initializers import InitPlan, reinitialize
from gluon_params_kit.tying import tie

try:
    import matplotlib  # noqa: F401
    HAVE_MPL = True
except ImportError:
    HAVE_MPL = False


def shared_net():
    """Blocks 0 and 1 share one Dense's Parameters: '1.weight' spells '0.weight'."""
    with fresh_names():
        net = nn.Sequential()
        d = nn.Dense(4, in_units=4)
        net.add(d, nn.Dense(4, in_units=4, params=d.params))
    net.initialize()
    return net


def plain_net():
    with fresh_names():
        net = nn.Sequential()
        net.add(nn.Dense(4, in_units=4), nn.Dense(4, in_units=4))
    net.initialize()
    return net


def source_net():
    """A net of the same structure whose Parameters are named src0_*, src1_*."""
    net = nn.Sequential(prefix="src_")
    net.add(nn.Dense(4, in_units=4, prefix="src0_"), nn.Dense(4, in_units=4, prefix="src1_"))
    net.initialize(mx.init.One())
    return net


# ----------------------------------------------------------------------------- a shared Parameter

def test_select_finds_a_shared_parameter_through_its_second_key():
    net = shared_net()
    assert list(gpk.named_parameters(net)) == ["0.weight", "0.bias"]
    chosen = gpk.select(net, r"^1\.")
    assert list(chosen) == ["0.weight", "0.bias"]
    assert chosen["0.weight"] is net[1].weight is net[0].weight


def test_tie_finds_a_shared_parameter_through_its_second_key():
    net, src = shared_net(), source_net()
    pairs = tie(net, src, pattern=r"^1\.")
    assert dict(pairs) == {"0.weight": "0.weight", "0.bias": "0.bias"}
    assert net[1].weight is src[0].weight and net[0].bias is src[0].bias


def test_every_function_selects_the_shared_parameter_through_its_second_key():
    net = shared_net()
    assert list(gpk.summary(net, pattern=r"^1\.weight")) == ["0.weight"]
    assert list(gpk.stats(net, r"^1\.weight")) == ["0.weight"]
    assert list(gpk.freeze(net, r"^1\.weight", dry_run=True)) == ["0.weight"]
    assert list(gpk.set_multipliers(net, lr_mult={r"^1\.weight": 0.5}, dry_run=True)) == ["0.weight"]
    assert InitPlan([(r"^1\.weight", "ones")]).preview(net)["0.weight"].rule == r"^1\.weight"
    report = reinitialize(net, "constant(3)", r"^1\.bias")
    assert list(report) == ["0.bias"] and net[1].bias.data().asnumpy().tolist() == [3.0] * 4
    assert list(diff(net, net, pattern=r"^1\.weight")) == ["0.weight"]


def test_an_attribute_alias_counts_everywhere():
    with fresh_names():
        net = nn.Sequential()
        net.add(rnn.LSTM(3, input_size=2))
    net.initialize()
    keys = list(gpk.named_parameters(net))
    key = next(k for k in keys if k.endswith("i2h_weight") and "_unfused" in k)  # Gluon's key
    assert list(gpk.select(net, r"\.l0_i2h_weight$")) == [key]
    assert list(gpk.summary(net, pattern=r"\.l0_i2h_weight$")) == [key]
    assert list(gpk.stats(net, r"\.l0_i2h_weight$")) == [key]
    assert list(diff(net, net, pattern=r"\.l0_i2h_weight$")) == [key]


def test_the_core_selects_plain_keys_with_their_aliases():
    keys = ["0.weight", "0.bias", "1.bias"]
    assert selection(keys, "*.bias", mode="glob", exclude="0*") == ["1.bias"]
    assert selection(keys, r"^2\.", aliases={"2.bias": "1.bias"}) == ["1.bias"]
    assert selection(keys) == keys
    assert selection([], "x", allow_empty=True) == []
    with pytest.raises(SelectionError, match=r"on='name' selects by a Parameter's auto name"):
        selection(keys, "dense", on="name")


# ----------------------------------------------------------------------------- one error

NOTHING = ("pattern 'zzz' selects nothing in Sequential 'sequential0' (mode='search', on='path'): "
           "existing paths are '0.weight', '0.bias', '1.weight', '1.bias'. "
           "Pass allow_empty=True to accept an empty selection.")

KEYS = re.compile(r"^pattern 'zzz' selects nothing in (.+) \(mode='search', on='path'\): "
                  r"existing keys are '0\.weight', '0\.bias', '1\.weight', '1\.bias'\. "
                  r"Pass allow_empty=True to accept an empty selection\.$")

ON_A_NET = {
    "select": lambda net: gpk.select(net, "zzz"),
    "freeze": lambda net: gpk.freeze(net, "zzz"),
    "unfreeze": lambda net: gpk.unfreeze(net, "zzz"),
    "accumulate_gradients": lambda net: gpk.accumulate_gradients(net, "zzz"),
    "set_multipliers": lambda net: gpk.set_multipliers(net, lr_mult=0.5, pattern="zzz"),
    "set_multipliers rule": lambda net: gpk.set_multipliers(net, lr_mult={"zzz": 0.5}),
    "summary": lambda net: gpk.summary(net, pattern="zzz"),
    "stats": lambda net: gpk.stats(net, "zzz"),
    "plot_histograms": lambda net: gpk.plot_histograms(net, "zzz"),
    "InitPlan.preview": lambda net: InitPlan([("zzz", "ones")]).preview(net),
    "InitPlan.apply": lambda net: InitPlan([("zzz", "ones")], default="zeros").apply(net),
    "reinitialize": lambda net: reinitialize(net, "ones", "zzz"),
    "tie": lambda net: tie(net, source_net(), pattern="zzz"),
}


@pytest.mark.parametrize("name", list(ON_A_NET))
def test_a_pattern_that_selects_nothing_is_one_error_with_one_wording(name):
    if name == "plot_histograms" and not HAVE_MPL:
        pytest.skip("matplotlib is not installed")
    net = plain_net()
    before = {k: p.data().asnumpy().tolist() for k, p in gpk.named_parameters(net).items()}
    with pytest.raises(SelectionError) as info:
        ON_A_NET[name](net)
    assert type(info.value) is SelectionError
    assert str(info.value) == NOTHING
    after = {k: p.data().asnumpy().tolist() for k, p in gpk.named_parameters(net).items()}
    assert after == before and all(p.grad_req == "write" and p.lr_mult == 1.0
                                   for p in gpk.named_parameters(net).values())


def test_diff_that_selects_nothing_is_the_same_error(tmp_path):
    a, b = tmp_path / "a.params", tmp_path / "b.safetensors"
    save(plain_net(), a)
    save(plain_net(), b)
    with pytest.raises(SelectionError) as info:
        diff(a, b, pattern="zzz")
    assert type(info.value) is SelectionError
    assert KEYS.match(str(info.value)).group(1) == f"the keys of {str(a)!r} and {str(b)!r}"
    with pytest.raises(SelectionError) as info:  # blocks: the same words (their keys)
        diff(plain_net(), plain_net(), pattern="zzz")
    assert KEYS.match(str(info.value)).group(1) == "the keys of Sequential and Sequential"


def _json(capsys):
    out, err = capsys.readouterr()
    return json.loads(out), err


@pytest.mark.parametrize("argv", [["inspect", "{a}"], ["diff", "{a}", "{b}"],
                                  ["diff", "--names", "{a}", "{b}"]])
def test_the_cli_raises_the_same_error_exit_2(argv, tmp_path, capsys):
    a, b = tmp_path / "a.params", tmp_path / "b.npz"
    save(plain_net(), a)
    save(plain_net(), b)
    args = [x.format(a=a, b=b) for x in argv] + ["--pattern", "zzz", "--json"]
    assert main(args) == 2
    record, err = _json(capsys)
    assert record["type"] == "SelectionError" and record["exit_code"] == 2
    owner = KEYS.match(record["error"]).group(1)
    assert owner == (f"file {str(a)!r}" if argv[0] == "inspect"
                     else f"the keys of {str(a)!r} and {str(b)!r}")
    assert record["error"] in err


def test_allow_empty_returns_empty_everywhere(tmp_path, capsys):
    net, kw = plain_net(), dict(allow_empty=True)
    assert len(gpk.select(net, "zzz", **kw)) == 0
    assert list(gpk.freeze(net, "zzz", **kw)) == []
    assert list(gpk.set_multipliers(net, lr_mult=0.5, pattern="zzz", **kw)) == []
    assert list(gpk.summary(net, pattern="zzz", **kw)) == []
    assert list(gpk.stats(net, "zzz", **kw)) == []
    if HAVE_MPL:
        assert gpk.plot_histograms(net, "zzz", **kw).axes == []
    assert InitPlan([("zzz", "ones")], default="zeros", **kw).preview(net).unmatched == []
    assert list(reinitialize(net, "ones", "zzz", **kw)) == []
    assert dict(tie(net, source_net(), pattern="zzz", **kw)) == {}
    assert net[0].weight is not None and gpk.named_parameters(net)["0.weight"] is net[0].weight
    assert list(diff(net, net, pattern="zzz", **kw)) == []
    a = tmp_path / "a.params"
    save(net, a)
    assert main(["inspect", str(a), "--pattern", "zzz", "--allow-empty", "--json"]) == 0
    assert _json(capsys)[0]["arrays"] == []


def test_without_a_pattern_an_empty_net_or_file_is_no_error(tmp_path):
    empty = nn.Sequential()
    assert list(gpk.summary(empty)) == [] and list(gpk.stats(empty)) == []
    assert list(diff({}, {})) == []
    with pytest.raises(SelectionError, match=r"^pattern None selects nothing in Sequential "
                                             r"'\w+' \(mode='search', on='path'\): it has no "
                                             r"parameters\. Pass allow_empty=True"):
        gpk.select(empty)  # select() has always refused to return nothing


# ----------------------------------------------------------------------------- hints

def test_a_glob_passed_as_a_regex_gets_the_glob_hint():
    net = plain_net()
    with pytest.raises(SelectionError, match=r"^invalid regular expression '\*\.bias': .*"
                                             r"\(for a glob, pass mode='glob'\)$"):
        gpk.select(net, "*.bias")
    with pytest.raises(SelectionError) as info:  # a valid regex that only a glob reads right
        gpk.summary(net, pattern="1.b?as")
    assert "Hint: for a glob, pass mode='glob'." in str(info.value)
    assert list(gpk.summary(net, pattern="1.b?as", mode="glob")) == ["1.bias"]
    with pytest.raises(SelectionError, match=r"for a glob, pass mode='glob'"):
        diff(net, net, pattern="?.bias")


def test_an_auto_name_passed_as_a_path_gets_the_on_name_hint():
    net = plain_net()
    hint = "Hint: 'dense0' matches 2 auto names: pass on='name'."
    for call in (lambda: gpk.select(net, "dense0"), lambda: gpk.stats(net, "dense0"),
                 lambda: tie(net, source_net(), pattern="dense0"),
                 lambda: reinitialize(net, "ones", "dense0")):
        with pytest.raises(SelectionError) as info:
            call()
        assert hint in str(info.value)
    with pytest.raises(SelectionError, match=r"'dense1_weight' matches 1 auto name: pass on='name'"):
        gpk.select(net, "dense1_weight")
    assert list(gpk.select(net, "dense0", on="name")) == ["0.weight", "0.bias"]
    with pytest.raises(SelectionError, match=r"'\^0\\\\\.' matches 2 paths: pass on='path'"):
        gpk.select(net, r"^0\.", on="name")


def test_the_exclude_that_removes_everything_is_said():
    with pytest.raises(SelectionError, match=r"^pattern 'bias' selects nothing in Sequential "
                                             r"'sequential0' \(mode='search', on='path', "
                                             r"exclude='\.'\): exclude removes all 2 parameters "
                                             r"it matches\. Pass allow_empty"):
        gpk.stats(plain_net(), "bias", exclude=".")


# ----------------------------------------------------------------------------- the new keywords

def test_summary_and_stats_take_exclude_mode_on():
    net = plain_net()
    assert list(gpk.summary(net)) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert list(gpk.summary(net, pattern="weight", exclude=r"^1\.")) == ["0.weight"]
    assert list(gpk.summary(net, pattern="*.bias", mode="glob")) == ["0.bias", "1.bias"]
    assert list(gpk.summary(net, pattern="dense1", on="name")) == ["1.weight", "1.bias"]
    assert list(gpk.summary(net, exclude="bias")) == ["0.weight", "1.weight"]
    assert list(gpk.stats(net, "weight", exclude=r"^0\.")) == ["1.weight"]
    assert list(gpk.stats(net, "0.*", mode="glob")) == ["0.weight", "0.bias"]
    assert list(gpk.stats(net, "dense0_weight", on="name", mode="fullmatch")) == ["0.weight"]
    with pytest.raises(SelectionError, match=r"unknown mode 'regex'"):
        gpk.stats(net, "weight", mode="regex")


def test_tie_takes_exclude_mode_on():
    net, src = plain_net(), source_net()
    assert dict(tie(net, src, exclude="bias")) == {"0.weight": "0.weight", "1.weight": "1.weight"}
    assert net[0].weight is src[0].weight and net[0].bias is not src[0].bias
    net, src = plain_net(), source_net()
    assert dict(tie(net, src, pattern="1.*", mode="glob")) == {"1.weight": "1.weight",
                                                               "1.bias": "1.bias"}
    assert net[1].bias is src[1].bias and net[0].weight is not src[0].weight
    net, src = plain_net(), source_net()
    assert dict(tie(net, src, pattern="dense0_bias", on="name")) == {"0.bias": "0.bias"}
    assert net[0].bias is src[0].bias and net[0].weight is not src[0].weight


def test_diff_takes_exclude_mode_on(tmp_path):
    a, b = plain_net(), source_net()
    assert list(diff(a, b)) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert list(diff(a, b, pattern="weight", exclude=r"^1\.")) == ["0.weight"]
    assert list(diff(a, b, pattern="?.bias", mode="glob")) == ["0.bias", "1.bias"]
    assert list(diff(a, b, pattern="dense0_", on="name")) == ["0.weight", "0.bias"]
    fa, fb = tmp_path / "a.params", tmp_path / "b.params"
    save(a, fa)
    save(b, fb)
    assert list(diff(fa, fb, pattern="?.weight", mode="glob", exclude="1*")) == ["0.weight"]
    with pytest.raises(SelectionError, match=r"on='name' selects by a Parameter's auto name"):
        diff(fa, fb, pattern="dense0", on="name")  # a file's keys have no auto names


def test_the_cli_takes_exclude_and_mode(tmp_path, capsys):
    a = tmp_path / "a.params"
    save(plain_net(), a)
    assert main(["inspect", str(a), "--pattern", "*.bias", "--mode", "glob", "--exclude", "0*",
                 "--json"]) == 0
    assert [r["name"] for r in _json(capsys)[0]["arrays"]] == ["1.bias"]
    assert main(["diff", str(a), str(a), "--pattern", "weight", "--exclude", "^0", "--json"]) == 0
    assert [r["key"] for r in _json(capsys)[0]["rows"]] == ["1.weight"]
    assert main(["diff", "--names", str(a), str(a), "--exclude", "weight", "--json"]) == 0
    assert [r["key"] for r in _json(capsys)[0]["rows"]] == ["0.bias", "1.bias"]


def test_the_cli_modes_are_the_cores():
    from gluon_params_kit._core.patterns import MODES
    from gluon_params_kit.cli import build_parser
    inspect = build_parser()._subparsers._group_actions[0].choices["inspect"]
    mode = next(a for a in inspect._actions if a.dest == "mode")
    assert tuple(mode.choices) == MODES


def test_init_plan_and_multiplier_rules_go_through_the_one_path():
    net = plain_net()
    plan = InitPlan([("bias", "zeros"), ("0.bias", "ones")], default="zeros")  # 2nd shadowed
    assert plan.preview(net)["0.bias"].rule == "bias"  # shadowed is not "selects nothing"
    with pytest.raises(SelectionError) as info:
        gpk.set_multipliers(net, lr_mult={"weight": 0.5}, pattern="weight", exclude=r"^1\.",
                            wd_mult={"zzz": 0.0})
    assert str(info.value).startswith(
        "pattern 'zzz' selects nothing in the 1 parameter(s) selected from Sequential "
        "'sequential0' (mode='search', on='path'): existing paths are '0.weight'.")
    assert net[0].weight.lr_mult == 1.0  # nothing changed


# ----------------------------------------------------------------------------- no mxnet

NO_MXNET = """
import sys
sys.modules['mxnet'] = None
import numpy as np
from gluon_params_kit._io.npz import write
from gluon_params_kit._core.patterns import selection
from gluon_params_kit.cli import main
write(sys.argv[1], {'0.weight': np.ones((2, 3), 'float32'), '1.bias': np.zeros(2, 'float32')})
print(selection(['0.weight', '1.bias'], '*.bias', mode='glob'))
assert main(['inspect', sys.argv[1], '--pattern', 'bias', '--exclude', 'zzz']) == 0
assert main(['inspect', sys.argv[1], '--pattern', 'zzz']) == 2
assert main(['diff', '--names', sys.argv[1], sys.argv[1], '--pattern', '*', '--mode', 'glob']) == 0
print(sys.modules['mxnet'] is None)
"""


def test_file_selection_needs_no_mxnet(tmp_path):
    package = Path(gpk.__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", NO_MXNET, str(tmp_path / "w.npz")],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path),
                          env={**os.environ, "PYTHONPATH": str(package)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "['1.bias']" and lines[-1] == "True"
    assert "pattern 'zzz' selects nothing in file" in proc.stderr
