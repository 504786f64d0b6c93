"""Save targets and read sources that are not regular files, symlinks, and path arguments.

Writers must refuse a FIFO, a socket or a device (nothing written, the node left as it
was), write *through* a symlink (the link stays, the file it points at is replaced
atomically), and readers must refuse anything that could block (a FIFO) instead of
hanging. /dev/null itself is only ever passed to calls that refuse before opening it.
"""
import os
import stat
import tempfile

import numpy as onp
import pytest

from gluon_params_kit import checkpoint
from gluon_params_kit._io.files import check_target
from gluon_params_kit.checkpoint import Remap, convert, diff, export_npz, load, read_header, save
from gluon_params_kit.cli import main
from gluon_params_kit.errors import CheckpointError, ParamsKitError

from ._util import fifo, listing, no_hang, small_net, unix_socket


@pytest.fixture
def params_file(tmp_path):
    path = tmp_path / "src.params"
    save(small_net(), path)
    return path


def _writers(params_file):
    """Every writer of the kit, as ``name -> write(target)``."""
    net = small_net()
    return {
        "save": lambda target: save(net, target),
        "export_npz": lambda target: export_npz(net, target),
        "convert": lambda target: convert(params_file, target, remap=Remap.add_prefix("m.")),
        "save_safetensors": lambda target: save(net, target, format="safetensors"),
        "save_npz": lambda target: save(net, target, format="npz"),
        "convert_to_safetensors": lambda target: convert(params_file, target, format="safetensors"),
    }


WRITERS = ["save", "export_npz", "convert", "save_safetensors", "save_npz",
           "convert_to_safetensors"]


def _char_device(folder):
    """A character device node like /dev/null (1, 3), made in our own temp folder."""
    path = os.path.join(str(folder), "null.params")
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here: {exc}")
    return path


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("kind", ["fifo", "socket", "chardev"])
def test_writers_refuse_non_regular_targets_and_leave_them_alone(tmp_path, params_file,
                                                                 writer, kind):
    folder = tmp_path / "out"
    folder.mkdir()
    if kind == "fifo":
        target = fifo(folder)
        ctx = None
    elif kind == "socket":
        ctx = unix_socket(folder)
        target = ctx.__enter__()
    else:
        target = _char_device(folder)
        ctx = None
    try:
        mode = os.lstat(target).st_mode
        with no_hang(), pytest.raises(CheckpointError, match="not a regular file; nothing was "
                                                             "written") as info:
            _writers(params_file)[writer](target)
        assert isinstance(info.value, ValueError) and repr(target)[1:-1] in str(info.value)
        assert os.lstat(target).st_mode == mode  # still the same FIFO / socket / device
        assert listing(folder) == [os.path.basename(target)]  # no temp file left
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)


def test_dev_null_is_refused_before_anything_is_opened(monkeypatch):
    """As root, replacing /dev/null would break the machine: guard every way of doing it."""
    def guard_replace(src, dst, *a, **k):
        raise AssertionError(f"would replace {dst!r}")

    def guard_mkstemp(*a, **k):
        raise AssertionError("would create a temporary file next to /dev/null")

    monkeypatch.setattr(os, "replace", guard_replace)
    monkeypatch.setattr(tempfile, "mkstemp", guard_mkstemp)
    net = small_net()
    for write in (lambda: save(net, "/dev/null"), lambda: export_npz(net, "/dev/null"),
                  lambda: check_target("/dev/null")):
        with pytest.raises(CheckpointError, match="'/dev/null': it is a character device, not "
                                                  "a regular file; nothing was written"):
            write()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_folder_as_target_is_refused_for_every_writer(tmp_path, params_file):
    (tmp_path / "run").mkdir()
    for name, write in _writers(params_file).items():
        with pytest.raises(CheckpointError, match="it is a folder; give a file name"):
            write(tmp_path / "run")
    assert os.listdir(tmp_path / "run") == []


@pytest.mark.parametrize("writer", WRITERS)
def test_writers_write_through_a_symlink_and_keep_it(tmp_path, params_file, writer):
    real_dir, link_dir = tmp_path / "real", tmp_path / "links"
    real_dir.mkdir()
    link_dir.mkdir()
    real = real_dir / "model.bin"
    real.write_bytes(b"old contents")
    os.chmod(real, 0o640)
    link = link_dir / "current"
    os.symlink(os.path.relpath(real, link_dir), link)
    _writers(params_file)[writer](link)
    assert os.path.islink(link) and os.readlink(link) == os.path.relpath(real, link_dir)
    assert real.read_bytes() != b"old contents"
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o640  # the file keeps its permissions
    if writer == "export_npz":
        assert sorted(onp.load(link, allow_pickle=False).files) == ["0.bias", "0.weight",
                                                                   "1.bias", "1.weight"]
    else:
        assert read_header(link).names[0] in ("0.weight", "m.0.weight")
    assert listing(real_dir) == ["model.bin"] and listing(link_dir) == ["current"]


def test_a_chain_of_links_and_a_dangling_link_are_followed(tmp_path):
    net = small_net()
    final = tmp_path / "final.params"
    os.symlink("final.params", tmp_path / "b")
    os.symlink("b", tmp_path / "a")
    save(net, tmp_path / "a")  # dangling chain: creates the file it ends at
    assert os.path.islink(tmp_path / "a") and os.path.islink(tmp_path / "b")
    assert read_header(final).names == ["0.weight", "0.bias", "1.weight", "1.bias"]
    report = load(small_net(), tmp_path / "a")
    assert report.applied and len(report.loaded) == 4


def test_a_symlink_to_a_fifo_or_a_loop_is_refused(tmp_path):
    target = fifo(tmp_path)
    os.symlink(target, tmp_path / "link")
    with no_hang(), pytest.raises(CheckpointError, match="FIFO"):
        save(small_net(), tmp_path / "link")
    assert stat.S_ISFIFO(os.stat(target).st_mode)
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    with pytest.raises(CheckpointError, match="cannot write"):
        save(small_net(), tmp_path / "loop1")


READERS = {
    "read_header": lambda src, tmp: read_header(src),
    "load": lambda src, tmp: load(small_net(), src),
    "diff": lambda src, tmp: diff(src, src),
    "export_npz": lambda src, tmp: export_npz(src, os.path.join(tmp, "out.npz")),
    "convert": lambda src, tmp: convert(src, os.path.join(tmp, "out.params"),
                                        remap=Remap.add_prefix("x.")),
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("name", ["pipe.params", "pipe.npz", "pipe.safetensors"])
def test_readers_refuse_a_fifo_instead_of_hanging(tmp_path, reader, name):
    src = fifo(tmp_path, name)
    with no_hang(), pytest.raises(CheckpointError, match="FIFO") as info:
        READERS[reader](src, str(tmp_path))
    assert "not a regular file" in str(info.value)
    assert listing(tmp_path) == [name]


@pytest.mark.parametrize("reader", sorted(READERS))
def test_readers_refuse_sockets_and_folders(tmp_path, reader):
    with unix_socket(tmp_path) as src, no_hang():
        with pytest.raises(CheckpointError, match="socket, not a regular file"):
            READERS[reader](src, str(tmp_path))
    with pytest.raises(CheckpointError, match="folder"):
        READERS[reader](str(tmp_path), str(tmp_path))


def test_cli_refuses_a_fifo_input(tmp_path, capsys):
    src = fifo(tmp_path)
    for argv in (["inspect", src], ["inspect", src, "--stats"], ["diff", src, src],
                 ["export", src, str(tmp_path / "o.npz")]):
        with no_hang():
            assert main(argv) == 2
        assert "is not a regular file" in capsys.readouterr().err


BAD_PATHS = [None, 3, 2.5, ["a.params"], object()]


@pytest.mark.parametrize("bad", BAD_PATHS, ids=lambda b: type(b).__name__)
def test_path_arguments_of_the_wrong_type_are_type_errors(bad, params_file, tmp_path):
    net = small_net()
    calls = [lambda: read_header(bad), lambda: load(net, bad), lambda: save(net, bad),
             lambda: export_npz(net, bad), lambda: convert(bad, tmp_path / "o.params",
                                                           remap=Remap.add_prefix("x.")),
             lambda: convert(params_file, bad, remap=Remap.add_prefix("x.")),
             lambda: export_npz(params_file, bad)]
    for call in calls:
        with pytest.raises(TypeError) as info:
            call()
        assert isinstance(info.value, ParamsKitError), repr(info.value)
        assert type(bad).__name__ in str(info.value)
    with pytest.raises(TypeError, match="must be a Block, a file path or a mapping"):
        diff(bad, params_file)
    assert listing(tmp_path) == ["src.params"]


def test_bytes_and_pathlike_paths_work_everywhere(tmp_path):
    net = small_net()
    target = os.fsencode(str(tmp_path / "net.params"))
    assert save(net, target) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert read_header(target).names == read_header(tmp_path / "net.params").names
    assert load(small_net(), target).applied
    assert diff(target, tmp_path / "net.params").same
    export_npz(target, os.fsencode(str(tmp_path / "net.npz")))
    assert onp.load(tmp_path / "net.npz").files == ["0.weight", "0.bias", "1.weight", "1.bias"]
    convert(target, os.fsencode(str(tmp_path / "b.params")), remap=Remap.add_prefix("m."))
    assert read_header(tmp_path / "b.params").names[0] == "m.0.weight"


def test_a_nul_byte_or_an_empty_path_is_refused(tmp_path):
    for bad in ("a\x00b.params", ""):
        for call in (lambda: read_header(bad), lambda: save(small_net(), bad)):
            with pytest.raises(CheckpointError, match="NUL byte|empty"):
                call()
    assert checkpoint.read_header is read_header
