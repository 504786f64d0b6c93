"""``gluon-params check FILE --model MODULE:FUNCTION``: the load report and the suggested
remap as a dry run; nothing is written, the exit code says whether the load would succeed."""
import gluon_params_kit  # noqa: F401  (numpy shim)

# isort: split
import json
import os
import textwrap

import mxnet as mx
import pytest
from mxnet.gluon import nn

import gluon_params_kit as gpk
from gluon_params_kit import chapter
from gluon_params_kit.cli import main

MODEL = "gluon_params_kit.chapter:rgnet"


@pytest.fixture
def rg_files(tmp_path):
    net = chapter.rgnet()
    net.initialize()
    net(mx.nd.ones((2, 20)))
    gpk.save(net, tmp_path / "rg.params")
    wrapped = nn.Sequential()
    wrapped.add(net)
    gpk.save(wrapped, tmp_path / "wrapped.params")
    return tmp_path


def _snapshot(folder):
    return {p: (os.stat(folder / p).st_size, os.stat(folder / p).st_mtime_ns) for p in os.listdir(folder)}


def test_a_file_that_loads_exits_0_and_writes_nothing(rg_files, capsys):
    before = _snapshot(rg_files)
    assert main(["check", str(rg_files / "rg.params"), "--model", MODEL, "--input-shape", "2,20"]) == 0
    out = capsys.readouterr().out
    assert "would load" in out and "missing" not in out.split("\n")[0].replace("0 missing", "")
    assert out.strip().splitlines()[-1] == (f"check: {rg_files / 'rg.params'} would load into {MODEL} "
                                            f"(18 parameters); nothing was written")
    assert _snapshot(rg_files) == before


def test_a_file_that_does_not_load_shows_the_suggestion_and_exits_1(rg_files, capsys):
    before = _snapshot(rg_files)
    assert main(["check", str(rg_files / "wrapped.params"), "--model", MODEL]) == 1
    out = capsys.readouterr().out
    assert "suggested: remap=Remap.strip_prefix('0.') (matches 18 of the block's parameters)" in out
    assert "would NOT load" in out and "try remap=Remap.strip_prefix('0.')" in out
    assert _snapshot(rg_files) == before
    assert main(["check", str(rg_files / "wrapped.params"), "--model", MODEL, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["suggestion"] == "Remap.strip_prefix('0.')"
    assert report["suggestion_matches"] == 18 and len(report["unexpected"]) == 18


def test_exclude_for_transfer_learning(tmp_path, monkeypatch, capsys):
    (tmp_path / "heads.py").write_text(textwrap.dedent("""
        from mxnet.gluon import nn

        def net(classes=5):
            n = nn.HybridSequential()
            n.add(nn.Dense(4, in_units=3))
            n.output = nn.Dense(classes, in_units=4)
            return n
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import heads
    pretrained = heads.net(10)
    pretrained.initialize()
    gpk.save(pretrained, tmp_path / "pre.params")
    assert main(["check", str(tmp_path / "pre.params"), "--model", "heads:net", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert set(report["shape_mismatches"]) == {"output.weight", "output.bias"}
    assert main(["check", str(tmp_path / "pre.params"), "--model", "heads:net", "--exclude", "output",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["excluded"] == ["output.weight", "output.bias"]
    assert report["loaded"] == ["0.weight", "0.bias"] and report["missing"] == []
    assert main(["check", str(tmp_path / "pre.params"), "--model", "heads:net", "--exclude", "output"]) == 0
    assert "(2 parameters, 2 excluded); nothing was written" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--model", "no_such_module_xyz:f"], "--model 'no_such_module_xyz:f'"),
    (["--model", MODEL, "--input-shape", "2,x"], "--input-shape '2,x' must be integers"),
    (["--model", MODEL, "--exclude", "("], "invalid regular expression '('"),
])
def test_usage_errors_exit_2_in_one_line(rg_files, capsys, args, message):
    assert main(["check", str(rg_files / "rg.params")] + args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_model_is_required(rg_files, capsys):
    assert main(["check", str(rg_files / "rg.params")]) == 2
    assert "--model" in capsys.readouterr().err


def test_a_model_module_in_the_current_folder_is_found(tmp_path):
    """As ``python -m`` would: the console script's own path lacks the current folder."""
    import subprocess
    import sys
    (tmp_path / "my_nets_here.py").write_text(textwrap.dedent("""
        from mxnet.gluon import nn
        def build():
            net = nn.Sequential()
            net.add(nn.Dense(3, in_units=2))
            return net
    """))
    net = nn.Sequential()
    net.add(nn.Dense(3, in_units=2))
    net.initialize()
    gpk.save(net, tmp_path / "n.params")
    script = os.path.join(os.path.dirname(sys.executable), "gluon-params")
    proc = subprocess.run([script, "check", "n.params", "--model", "my_nets_here:build"], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "would load into my_nets_here:build (2 parameters)" in proc.stdout
    assert "my_nets_here" not in sys.modules  # imported in the subprocess only
