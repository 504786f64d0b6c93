"""The command line under bad input: JSON errors with --json, a closed pipe, FIFOs, damage."""
import json
import os
import subprocess
import sys

import mxnet as mx
import pytest

from gluon_params_kit.checkpoint import save
from gluon_params_kit.cli import main

from ._util import fifo, small_net


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "net.params"
    save(small_net(), path)
    return path


def _json_error(capsys, code, kind, words):
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["type"] == kind and record["exit_code"] == code, record
    assert words in record["error"]
    assert words in err  # still on stderr too
    return record


def test_json_usage_errors_are_json_on_stdout_with_the_same_exit_code(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.params"), "--json"]) == 2
    rec = _json_error(capsys, 2, "UsageError", "no such file")
    assert rec["command"] == "inspect"
    assert main(["diff", "a.params", "--json"]) == 2  # argparse's own error
    _json_error(capsys, 2, "UsageError", "the following arguments are required: B")
    assert main(["diff", str(tmp_path), str(tmp_path), "--json", "--pattern", "("]) == 2
    _json_error(capsys, 2, "SelectionError", "invalid regular expression '('")  # before any read


def test_json_kit_errors_are_json_on_stdout_with_exit_code_1(tmp_path, net_file, capsys):
    bad = tmp_path / "bad.params"
    bad.write_bytes(net_file.read_bytes()[:100])
    assert main(["inspect", str(bad), "--json"]) == 1
    _json_error(capsys, 1, "CheckpointError", "is not a valid MXNet .params file")
    target = fifo(tmp_path, "out.npz")
    assert main(["export", str(net_file), target, "--json"]) == 1
    _json_error(capsys, 1, "CheckpointError", "not a regular file; nothing was written")
    assert main(["convert", str(net_file), str(tmp_path / "c.params"), "--add-prefix", "m.",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] == 4


def test_without_json_errors_stay_on_stderr(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "missing.params")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "no such file" in err


def test_diff_into_a_closed_pipe_exits_quietly(tmp_path):
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    mx.nd.save(str(a), {f"layer{i}.weight": mx.nd.ones(3) * i for i in range(3000)})
    mx.nd.save(str(b), {f"layer{i}.weight": mx.nd.ones(3) * (i + 1) for i in range(3000)})
    cmd = (f"{sys.executable} -m gluon_params_kit diff {a} {b} | head -1; "
           f"echo \"status=${{PIPESTATUS[0]}}\"")
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONWARNINGS="ignore"))
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith(f"diff {str(a)!r} vs {str(b)!r}: 3000 keys, 3000 differ")
    assert lines[-1] == "status=141"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
