"""The command line never sends a file's control characters to the terminal (issue 32, item 10).

Keys and metadata values from hostile files (ESC sequences, BEL, a C1 CSI, a newline in a
name) are printed escaped (``\\x1b``) by ``inspect``, ``diff``, ``diff --names``,
``convert``, ``export`` and in error messages; ordinary Unicode is printed as it is. The
commands run as a user runs them, in a subprocess, and their raw output bytes are checked.
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import json
import os
import re
import subprocess
import sys

import mxnet as mx
import numpy as onp
import pytest
from safetensors.numpy import save_file

from gluon_params_kit._core.display import printable, printable_rows
from gluon_params_kit.checkpoint import read_header

#: Bytes a terminal acts on: C0 but for the newlines between lines, DEL, and C1 (as UTF-8).
RAW = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")

KEYS = {"\x1b[31mRED": "\\x1b[31mRED", "bell\x07.weight": "bell\\x07.weight",
        "line\nbreak\tand tab": "line\\nbreak\\tand tab", "c1\x9b2J.bias": "c1\\u009b2J.bias",
        "lớp.trọng_số": "lớp.trọng_số"}
TITLE = "\x1b]0;title\x07"


def run(*args, cwd):
    """``gluon-params ARGS`` in a new process: exit code, raw stdout, raw stderr."""
    proc = subprocess.run([sys.executable, "-m", "gluon_params_kit", *map(str, args)],
                          capture_output=True, cwd=cwd, timeout=300,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    return proc.returncode, proc.stdout, proc.stderr


def clean(*outputs: bytes) -> str:
    for out in outputs:
        assert not RAW.search(out), RAW.search(out)
    return b"".join(outputs).decode("utf-8")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("escape")
    arrays = {k: onp.full((i + 1,), i, onp.float32) for i, k in enumerate(KEYS)}
    save_file(arrays, str(d / "evil.safetensors"), metadata={"note": TITLE, "k\x1bey": "v"})
    mx.nd.save(str(d / "evil.params"), {k: mx.nd.array(v) for k, v in arrays.items()})
    save_file({k: v + 1 for k, v in list(arrays.items())[:2]}, str(d / "other.safetensors"))
    return d


def test_printable_escapes_controls_only():
    for raw, shown in KEYS.items():
        assert printable(raw) == shown
    assert printable(TITLE) == "\\x1b]0;title\\x07"
    assert printable("\x00\x7f\x80\x9f\u2028\u202e\u2066x\udcff") == \
        "\\x00\\x7f\\u0080\\u009f\\u2028\\u202e\\u2066x\\udcff"
    assert printable("ẞ 中文 🙂 a\\b") == "ẞ 中文 🙂 a\\b"
    assert printable(3) == "3"
    rows = [["a", "b"]]
    assert printable_rows(rows) == rows
    assert printable_rows([["\x1b", "b"]]) == [["\\x1b", "b"]]


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.params"])
def test_inspect(files, name):
    code, out, err = run("inspect", name, "--stats", cwd=files)
    text = clean(out, err)
    assert code == 0, text
    for shown in KEYS.values():
        assert f"\n{shown}  " in text
    assert "line\\nbreak\\tand tab" in text and "lớp.trọng_số" in text
    if name.endswith("safetensors"):
        assert "metadata: k\\x1bey=v, note=\\x1b]0;title\\x07" in text or \
            "metadata: note=\\x1b]0;title\\x07, k\\x1bey=v" in text
    rows = text.splitlines()
    assert len(rows) == 3 + len(KEYS) + (2 if name.endswith("safetensors") else 1)
    widths = {len(r) for r in rows[1:3 + len(KEYS)]}  # one name per line, columns aligned
    assert len(widths) == 1, rows


def test_inspect_json_is_escaped_json(files):
    code, out, err = run("inspect", "evil.safetensors", "--json", cwd=files)
    clean(out, err)
    assert code == 0
    doc = json.loads(out)
    assert [a["name"] for a in doc["arrays"]] == list(read_header(str(files / "evil.safetensors")).names)
    assert doc["metadata"]["note"] == TITLE


def test_diff_and_diff_names(files):
    code, out, err = run("diff", "evil.safetensors", "other.safetensors", cwd=files)
    text = clean(out, err)
    assert code == 1
    assert any(line.startswith("\\x1b[31mRED ") and " changed " in line for line in text.splitlines())
    for shown in KEYS.values():
        assert shown in text
    code, out, err = run("diff", "--names", "evil.safetensors", "other.safetensors", cwd=files)
    text = clean(out, err)
    assert code == 1
    assert "only_a  c1\\u009b2J.bias" in text and "only_a  line\\nbreak\\tand tab" in text


def test_convert_and_export(files, tmp_path):
    code, out, err = run("convert", files / "evil.safetensors", tmp_path / "out.npz",
                         "--add-prefix", "net.", cwd=files)
    text = clean(out, err)
    assert code == 0, text
    assert "\\x1b[31mRED -> net.\\x1b[31mRED\n" in text
    assert "line\\nbreak\\tand tab -> net.line\\nbreak\\tand tab\n" in text
    assert text.endswith(f"wrote {tmp_path / 'out.npz'}: {len(KEYS)} keys, {len(KEYS)} changed\n")
    assert sorted(read_header(str(tmp_path / "out.npz")).names) == sorted("net." + k for k in KEYS)
    code, out, err = run("export", files / "evil.params", tmp_path / "exp.npz", cwd=files)
    assert code == 0 and clean(out, err) == f"wrote {tmp_path / 'exp.npz'}: {len(KEYS)} arrays\n"


def test_error_messages_and_paths(files, tmp_path):
    code, out, err = run("inspect", "evil.safetensors", "--pattern", "zzz", cwd=files)
    text = clean(out, err)
    assert code == 2 and "'\\x1b[31mRED'" in text
    code, out, err = run("convert", "evil.safetensors", "x.params", "--rename", ".*", "same",
                         cwd=files)
    text = clean(out, err)
    assert code == 1 and "repeated keys" in text and not (files / "x.params").exists()
    # a file whose own name holds control characters and bytes that are not UTF-8
    odd = os.fsencode(tmp_path) + b"/\x1b[2Jodd\xff.params"
    os.link(files / "evil.params", odd)
    code, out, err = run("inspect", os.fsdecode(odd), cwd=files)
    text = clean(out, err)
    assert code == 0 and "\\x1b[2Jodd\\udcff.params: dict of 5 arrays" in text
    code, out, err = run("export", os.fsdecode(odd), os.fsdecode(odd + b".npz"), cwd=files)
    assert code == 0 and "\\x1b[2Jodd\\udcff.params.npz: 5 arrays" in clean(out, err)
