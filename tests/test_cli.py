"""The ``gluon-params`` checkpoint commands on real files.

The main paths run as a user would, ``python -m gluon_params_kit`` in a subprocess; help
texts and usage errors call ``cli.main`` in-process (each subprocess pays MXNet's import).
Exit codes: 0 ok, 1 differences or problems found, 2 usage errors.
"""
import json
import subprocess
import sys

import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx
import numpy as onp
import pytest
from fixtures import book_rgnet, initialized

from gluon_params_kit.checkpoint import read_header, save
from gluon_params_kit.cli import main


def run(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "gluon_params_kit", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def run_here(capsys, *args):
    """``cli.main`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    net = initialized(book_rgnet(), x_shape=(2, 4))
    save(net, d / "rg.params")
    net.collect_params().save(str(d / "legacy.params"))
    other = initialized(book_rgnet(), x_shape=(2, 4))
    save(other, d / "other.params")
    return d


def test_inspect_table_and_totals(files):
    code, out, err = run("inspect", files / "rg.params")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"{files / 'rg.params'}: dict of 18 arrays"
    assert lines[1].split() == ["name", "shape", "dtype", "elements", "bytes", "offset"]
    row = lines[3].split()
    first = read_header(files / "rg.params")[0]
    assert row[0] == "0.0.0.weight" and row[-1] == str(first.offset)
    assert lines[-1].startswith("total: 18 arrays, ")


def test_inspect_json_with_stats(files, capsys):
    code, out, _ = run_here(capsys, "inspect", files / "rg.params", "--stats", "--json", "--pattern", "bias$")
    assert code == 0
    data = json.loads(out)
    assert data["format"] == "dict" and data["total"]["count"] == 9
    assert all(a["name"].endswith("bias") for a in data["arrays"])
    last = data["arrays"][-1]
    assert last["name"] == "1.bias" and last["shape"] == [10] and last["stats"]["max"] == 0.0


def test_inspect_damaged_and_missing_files(files, tmp_path, capsys):
    (tmp_path / "cut.params").write_bytes((files / "rg.params").read_bytes()[:200])
    code, out, err = run("inspect", tmp_path / "cut.params")
    assert code == 1 and out == ""
    assert "is not a valid MXNet .params file" in err and "truncated" in err
    code, _, err = run_here(capsys, "inspect", tmp_path / "absent.params")
    assert code == 2 and "no such file" in err


def test_diff_exit_codes_and_json(files, capsys):
    code, out, _ = run_here(capsys, "diff", files / "rg.params", files / "rg.params")
    assert code == 0 and "0 differ" in out
    code, out, _ = run("diff", files / "rg.params", files / "other.params", "--json")
    assert code == 1
    data = json.loads(out)
    assert not data["same"] and "0.0.0.weight" in data["changed"]
    assert {r["key"] for r in data["rows"]} == set(read_header(files / "rg.params").names)
    code, _, err = run_here(capsys, "diff", files / "rg.params", files / "other.params",
                            "--pattern", "[")
    assert code == 2 and "invalid regular expression '['" in err  # the kit's SelectionError


def _strict_json(text):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_diff_nonfinite_values_json_and_exit_codes(tmp_path, capsys):
    a, b = tmp_path / "a.params", tmp_path / "b.params"
    mx.nd.save(str(a), {"w": mx.nd.zeros((2,)), "n": mx.nd.array([float("nan"), 1])})
    mx.nd.save(str(b), {"w": mx.nd.ones((2,)), "n": mx.nd.array([float("nan"), 1])})
    code, out, _ = run_here(capsys, "diff", a, a)
    assert code == 0 and "0 differ" in out  # the NaN in 'n' is at the same place
    code, out, _ = run_here(capsys, "diff", a, b, "--json")
    data = _strict_json(out)
    assert code == 1 and data["changed"] == ["w"]
    rows = {r["key"]: r for r in data["rows"]}
    assert rows["w"]["rel_l2"] == "Infinity" and rows["w"]["max_abs"] == 1.0
    assert rows["n"]["status"] == "same" and rows["n"]["cosine"] == "NaN"
    for atol in ("-1", "nan", "inf"):  # the kit's one number check, as for diff(atol=...)
        code, _, err = run_here(capsys, "diff", a, b, "--atol", atol)
        assert code == 2 and "--atol must be a finite number >= 0, got " in err
    code, out, _ = run_here(capsys, "inspect", a)
    assert code == 0  # the header alone cannot see the values
    code, out, _ = run_here(capsys, "inspect", a, "--stats")
    assert code == 1 and out.splitlines()[-1] == "1 array(s) hold NaN or infinity: n"
    code, out, _ = run_here(capsys, "inspect", b, "--stats", "--json", "--pattern", "^w$")
    assert code == 0 and _strict_json(out)["nonfinite"] == []
    code, out, _ = run_here(capsys, "inspect", b, "--stats", "--json")
    data = _strict_json(out)
    assert code == 1 and data["nonfinite"] == ["n"] and data["arrays"][1]["stats"]["nonfinite"] == 1


def test_convert_legacy_to_structural_and_back(files, tmp_path, capsys):
    model = "gluon_params_kit.chapter:rgnet"
    code, out, err = run("convert", files / "legacy.params", tmp_path / "s.params",
                         "--to", "structural", "--model", model)
    assert code == 0, err
    assert out.splitlines()[-1] == f"wrote {tmp_path / 's.params'}: 18 keys, 18 changed"
    assert read_header(tmp_path / "s.params").names == read_header(files / "rg.params").names
    code, _, _ = run_here(capsys, "diff", tmp_path / "s.params", files / "rg.params")
    assert code == 0
    code, out, _ = run_here(capsys, "convert", tmp_path / "s.params", tmp_path / "l.params", "--to", "legacy",
                       "--model", model, "--json")
    mapping = json.loads(out)["mapping"]
    assert code == 0 and mapping["1.bias"] == "dense8_bias"  # rgnet alone: dense0..dense8


def test_convert_prefix_rules(files, tmp_path, capsys):
    code, _, err = run_here(capsys, "convert", files / "rg.params", tmp_path / "p.params",
                       "--add-prefix", "net.", "--rename", r"^net\.1\.", "net.head.")
    assert code == 0, err
    names = read_header(tmp_path / "p.params").names
    assert names[0] == "net.0.0.0.weight" and names[-1] == "net.head.bias"


def test_convert_usage_errors(files, tmp_path, capsys):
    src, dst = files / "rg.params", tmp_path / "x.params"
    code, _, err = run_here(capsys, "convert", src, dst, "--to", "legacy")
    assert code == 2 and "--to legacy needs --model" in err
    code, _, err = run_here(capsys, "convert", src, dst)
    assert code == 2 and "nothing to do" in err
    code, _, err = run_here(capsys, "convert", src, dst, "--to", "legacy",
                            "--model", "no_such_module:f")
    assert code == 2 and "No module named 'no_such_module'" in err
    code, _, err = run_here(capsys, "convert", src, dst, "--to", "legacy", "--model", "json")
    assert code == 2 and "must look like 'package.module:function'" in err
    code, _, err = run_here(capsys, "convert", src, dst, "--to", "legacy", "--model", "json:dumps")
    assert code == 2 and "dumps() missing 1 required positional argument" in err
    code, _, err = run_here(capsys, "convert", src, dst, "--to", "sideways")
    assert code == 2 and "invalid choice: 'sideways'" in err
    code, _, err = run_here(capsys, "convert", src, dst, "--rename", "[", "x")
    assert code == 2 and "--rename: remap pattern '[' is not a valid regex" in err
    code, _, err = run_here(capsys, "convert", src, dst, "--rename", "(w)", r"\2")
    assert code == 2 and "invalid group reference 2" in err
    assert not dst.exists()


def test_convert_onto_a_folder_is_a_problem_not_a_crash(files, tmp_path, capsys):
    code, out, err = run_here(capsys, "convert", files / "rg.params", tmp_path, "--add-prefix", "x.")
    assert code == 1 and out == "" and "it is a folder; give a file name" in err
    assert list(tmp_path.iterdir()) == []


def test_convert_that_cannot_match_is_a_problem(files, tmp_path, capsys):
    code, _, err = run_here(capsys, "convert", files / "legacy.params", tmp_path / "x.params",
                       "--to", "structural", "--model", "gluon_params_kit.chapter:mlp")
    assert code == 1 and "cannot match auto names by structure" in err
    assert not (tmp_path / "x.params").exists()


def test_export_npz(files, tmp_path):
    code, out, _ = run("export", files / "rg.params", tmp_path / "o.npz", "--json")
    assert code == 0 and json.loads(out)["keys"] == read_header(files / "rg.params").names
    loaded = mx.nd.load(str(files / "rg.params"))
    with onp.load(tmp_path / "o.npz", allow_pickle=False) as z:
        assert all(onp.array_equal(z[k], loaded[k].asnumpy()) for k in loaded)


@pytest.mark.parametrize("command", ["inspect", "diff", "convert", "export"])
def test_help_for_every_command(command, capsys):
    code, out, _ = run_here(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: gluon-params {command}")
    assert "--json" in out


def test_unknown_command_is_a_usage_error(capsys):
    code, _, err = run_here(capsys, "inspekt")
    assert code == 2 and "invalid choice: 'inspekt'" in err
