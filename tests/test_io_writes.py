"""Writes that work everywhere and go only where asked (issue 32, items 2, 7 and 9's write parts).

- ``copy_range``/``export_npz`` across file systems: the kernel's ``copy_file_range``
  refused (``EXDEV``, ``ENOSYS``...) falls back to a bounded read/write copy, bit for bit;
  a real export to a tmpfs (``/dev/shm``) where there is one.
- A symlink another user planted in a sticky world-writable folder (``/tmp``) is not
  followed by a write, as the kernel's ``protected_symlinks`` rule; the caller's own
  links are. Simulated with a patched ``os.lstat``/``os.geteuid``, and for real as root
  (a link ``chown``-ed to ``nobody``).
- Non-UTF-8 paths and a failing ``os.chmod`` during a save.
"""
import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)

# isort: split
import errno
import os
import shutil
import stat
import tempfile

import numpy as onp
import pytest
from mxnet import gluon

from gluon_params_kit._io import files as F
from gluon_params_kit._io import npz as npz_mod
from gluon_params_kit.checkpoint import convert, export_npz, read_header, save
from gluon_params_kit.errors import CheckpointWriteError, PathTypeError
from gluon_params_kit.tree import format_path


@pytest.fixture(scope="module")
def net():
    block = gluon.nn.Sequential()
    block.add(gluon.nn.Dense(300, in_units=200), gluon.nn.Dense(7, in_units=300))
    block.initialize()
    return block


def values(block):
    return {k: p.data().asnumpy() for k, p in gluon_params_kit.named_parameters(block).items()}


def check_npz(path, expected):
    with onp.load(path, allow_pickle=False) as z:  # reading a member checks its CRC
        assert sorted(z.files) == sorted(expected)
        for k, v in expected.items():
            assert z[k].dtype == v.dtype and z[k].shape == v.shape
            assert z[k].tobytes() == v.tobytes(), k


def temps(folder):
    return [n for n in os.listdir(folder) if n.endswith(F.TEMP_SUFFIX)]


# --------------------------------------------------------------------------- copy_range

@pytest.fixture
def pair(tmp_path):
    data = bytes(range(256)) * 40  # 10240 bytes
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    s = os.open(src, os.O_RDONLY)
    d = os.open(tmp_path / "dst.bin", os.O_RDWR | os.O_CREAT)
    os.write(d, b"#" * 16)
    yield data, s, d
    os.close(s)
    os.close(d)


@pytest.mark.parametrize("code", ["EXDEV", "ENOSYS", "EOPNOTSUPP", "EINVAL"])
def test_copy_range_falls_back_where_the_kernel_refuses(pair, monkeypatch, code):
    data, s, d = pair
    calls = []

    def refuse(*args):
        calls.append(args)
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))
    monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    monkeypatch.setattr(F, "COPY_BUFFER", 1000)  # several pieces, the last one short
    assert F.copy_range(s, d, 100, 16, 9000) == 9000
    assert len(calls) == 1  # refused once, then copied by hand
    assert os.pread(d, 20000, 0) == b"#" * 16 + data[100:9100]
    assert os.lseek(s, 0, os.SEEK_CUR) == 0 and os.lseek(d, 0, os.SEEK_CUR) == 16  # offsets unmoved


def test_copy_range_continues_by_hand_where_the_kernel_stopped(pair, monkeypatch):
    data, s, d = pair
    real = os.copy_file_range
    calls = []

    def once_then_refuse(src, dst, n, src_pos, dst_pos):
        calls.append(n)
        if len(calls) > 2:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(src, dst, n, src_pos, dst_pos)
    monkeypatch.setattr(os, "copy_file_range", once_then_refuse)
    monkeypatch.setattr(F, "WRITE_BEHIND_CHUNK", 1024)
    writes = []
    real_pwrite = os.pwrite

    def short_pwrite(fd, view, pos):  # a writer may take fewer bytes than given
        writes.append(len(view))
        return real_pwrite(fd, bytes(view[:700]), pos)
    monkeypatch.setattr(os, "pwrite", short_pwrite)
    assert F.copy_range(s, d, 5, 0, 10000) == 10000
    assert calls == [1024, 1024, 1024] and len(writes) > 10
    assert os.pread(d, 20000, 0) == data[5:10005]


def test_copy_range_without_copy_file_range_and_when_it_copies_nothing(pair, monkeypatch):
    data, s, d = pair
    monkeypatch.delattr(os, "copy_file_range", raising=False)
    assert F.copy_range(s, d, 0, 0, 10240) == 10240
    assert os.pread(d, 20000, 0) == data
    monkeypatch.setattr(os, "copy_file_range", lambda *a: 0, raising=False)
    assert F.copy_range(s, d, 1, 0, 100) == 100
    assert os.pread(d, 100, 0) == data[1:101]


def test_copy_range_reports_real_failures(pair, monkeypatch):
    data, s, d = pair
    with pytest.raises(OSError) as short:  # the source ends before nbytes
        F.copy_range(s, d, 10000, 0, 1000)
    assert short.value.errno == errno.EIO and "ended 760 bytes before" in str(short.value)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "copy_file_range", full)  # a failed write is not a refusal
    with pytest.raises(OSError) as nospace:
        F.copy_range(s, d, 0, 0, 100)
    assert nospace.value.errno == errno.ENOSPC


def test_export_npz_is_exact_when_copy_file_range_is_refused(net, tmp_path, monkeypatch):
    src = tmp_path / "net.params"
    save(net, src)
    expected = values(net)
    refused = []

    def cross_device(*args):
        refused.append(args)
        raise OSError(errno.EXDEV, "Invalid cross-device link")
    monkeypatch.setattr(os, "copy_file_range", cross_device)
    monkeypatch.setattr(F, "COPY_BUFFER", 4096)  # the 240 kB weight in many pieces
    monkeypatch.setattr(npz_mod, "SMALL_MEMBER", 0)  # every member copied, none written whole
    assert export_npz(src, tmp_path / "out.npz") == list(expected)
    assert len(refused) == len(expected)  # every member tried the kernel, then copied by hand
    check_npz(tmp_path / "out.npz", expected)
    monkeypatch.undo()
    export_npz(src, tmp_path / "kernel.npz")  # the same arrays through the kernel's copy
    with onp.load(tmp_path / "out.npz") as a, onp.load(tmp_path / "kernel.npz") as b:
        assert all(a[k].tobytes() == b[k].tobytes() for k in expected)
    assert temps(tmp_path) == []


def test_export_npz_to_a_tmpfs(net, tmp_path):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm (a tmpfs) on this machine")
    if os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip(f"{shm} and {tmp_path} are on one file system: nothing crosses devices")
    src = tmp_path / "net.params"
    save(net, src)
    out_dir = tempfile.mkdtemp(dir=shm, prefix="gpk-test-")
    try:
        out = os.path.join(out_dir, "net.npz")
        assert export_npz(src, out) == list(values(net))
        check_npz(out, values(net))
        assert temps(out_dir) == []
    finally:
        shutil.rmtree(out_dir)


# --------------------------------------------------------------------------- planted symlinks

@pytest.fixture
def shared(tmp_path):
    """A sticky, world-writable folder like /tmp (owned by the caller), and a victim file
    outside it."""
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, 0o1777)
    victim = tmp_path / "victim.params"
    victim.write_bytes(b"precious")
    return folder, victim


def foreign(monkeypatch, link, uid):
    """``os.lstat`` of ``link`` reports owner ``uid`` (another user planted it)."""
    real = os.lstat

    def lstat(path, *args, **kwargs):
        st = real(path, *args, **kwargs)
        if os.fspath(path) == os.fspath(link):
            fields = list(st)[:10]
            fields[4] = uid
            return os.stat_result(fields)
        return st
    monkeypatch.setattr(os, "lstat", lstat)


def other_uid():
    return os.geteuid() + 4242


def test_own_link_in_a_sticky_folder_is_written_through(net, shared):
    folder, victim = shared
    link = folder / "ckpt.params"
    link.symlink_to(victim)
    save(net, link)
    assert link.is_symlink() and os.readlink(link) == str(victim)
    assert list(read_header(victim).names) == list(values(net))


def test_foreign_link_in_a_sticky_folder_is_refused(net, shared, monkeypatch):
    folder, victim = shared
    link = folder / "ckpt.params"
    link.symlink_to(victim)
    src = victim.parent / "src.safetensors"
    save(net, src)
    foreign(monkeypatch, link, other_uid())
    before = sorted(os.listdir(victim.parent)), sorted(os.listdir(folder))
    for write in (lambda: save(net, link), lambda: save(net, os.fsencode(link)),
                  lambda: convert(src, link)):
        with pytest.raises(CheckpointWriteError) as exc:
            write()
        message = str(exc.value)
        assert exc.value.errno == errno.EACCES
        assert f"{str(link)!r} is a symbolic link owned by uid {other_uid()}" in message
        assert f"in the shared folder {str(folder)!r} (sticky and world-writable" in message
        assert f"write to the real path instead (the link points at {str(victim)!r})" in message
    assert victim.read_bytes() == b"precious"
    assert (sorted(os.listdir(victim.parent)), sorted(os.listdir(folder))) == before


def test_export_through_a_foreign_link_is_refused(net, shared, monkeypatch):
    folder, victim = shared
    link = folder / "ckpt.npz"
    link.symlink_to(victim)
    src = victim.parent / "src.params"
    save(net, src)
    foreign(monkeypatch, link, other_uid())
    with pytest.raises(CheckpointWriteError, match="ckpt.npz' is a symbolic link owned by uid"):
        export_npz(src, link)
    assert victim.read_bytes() == b"precious" and temps(folder) == [] and temps(victim.parent) == []


def test_foreign_link_as_a_folder_on_the_way_is_refused(net, shared, tmp_path, monkeypatch):
    folder, _ = shared
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    link = folder / "runs"
    link.symlink_to(real_dir)
    foreign(monkeypatch, link, other_uid())
    with pytest.raises(CheckpointWriteError, match="runs' is a symbolic link owned by"):
        save(net, link / "sub" / ".." / "net.params")
    assert os.listdir(real_dir) == []


def test_links_the_kernel_would_follow_are_followed(net, shared, tmp_path, monkeypatch):
    folder, victim = shared
    # a link owned by the folder's owner, read by another user: followed
    link = folder / "owners.params"
    link.symlink_to(victim)
    uid = other_uid()
    monkeypatch.setattr(os, "geteuid", lambda: uid)
    save(net, link)
    assert list(read_header(victim).names) == list(values(net))
    monkeypatch.undo()
    # a foreign link in a folder that is not sticky (or not world-writable): followed
    plain = tmp_path / "plain"
    plain.mkdir()
    os.chmod(plain, 0o777)
    other = plain / "ckpt.params"
    other.symlink_to(victim)
    foreign(monkeypatch, other, other_uid())
    victim.write_bytes(b"old")
    save(net, other)
    assert victim.read_bytes()[:8] != b"old" and other.is_symlink()
    # a relative link resolved through ".."
    monkeypatch.undo()
    rel = folder / "rel.params"
    rel.symlink_to(os.path.join("..", victim.name))
    save(net, rel)
    assert list(read_header(victim).names) == list(values(net))


def test_real_foreign_link_is_refused_as_root(net, shared):
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("giving a link to another user (chown) needs root; simulated above")
    import pwd
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' to own the planted link")
    folder, victim = shared
    link = folder / "ckpt.params"
    link.symlink_to(victim)
    os.chown(link, nobody.pw_uid, nobody.pw_gid, follow_symlinks=False)
    assert os.lstat(link).st_uid == nobody.pw_uid != os.lstat(folder).st_uid
    with pytest.raises(CheckpointWriteError, match=r"owned by 'nobody' \(uid \d+\) in the shared folder"):
        save(net, link)
    src = victim.parent / "src.safetensors"
    save(net, src)
    with pytest.raises(CheckpointWriteError, match="is a symbolic link owned by 'nobody'"):
        convert(src, link)
    assert victim.read_bytes() == b"precious" and temps(folder) == [] and temps(victim.parent) == []


# --------------------------------------------------------------------------- non-UTF-8 paths, chmod

def test_non_utf8_paths_are_written(net, tmp_path):
    folder = os.fsencode(tmp_path) + b"/dir\xfa"
    os.mkdir(folder)
    expected = values(net)
    target = folder + b"/net\xff.params"
    save(net, target)  # bytes
    as_str = os.fsdecode(target)  # str with surrogate escapes
    save(net, as_str)
    for suffix in (b"\xfe.safetensors", b"\xfe.npz", b"\xfe.params"):
        out = os.fsdecode(folder + b"/out" + suffix)
        convert(as_str, out)  # .params goes through MXNet's nd.save: a UTF-8 path
        assert list(read_header(out).names) == list(expected)
    export_npz(as_str, os.fsdecode(folder + b"/exp\xfd.npz"))
    check_npz(folder + b"/exp\xfd.npz", expected)
    assert sorted(os.listdir(folder)) == sorted([b"net\xff.params", b"out\xfe.safetensors",
                                                 b"out\xfe.npz", b"out\xfe.params", b"exp\xfd.npz"])


def test_stale_temps_of_non_utf8_targets_are_cleaned(net, tmp_path):
    target = os.fsencode(tmp_path) + b"/net\xff.params"
    stale = os.fsencode(tmp_path) + b"/.net\\udcff.params.999999999.abc" + os.fsencode(F.TEMP_SUFFIX)
    open(stale, "wb").close()  # left by a writer that was killed (its pid is not running)
    save(net, target)
    assert os.listdir(os.fsencode(tmp_path)) == [b"net\xff.params"]


def test_a_path_like_that_gives_no_path():
    class Odd:
        def __fspath__(self):
            return 3
    with pytest.raises(gluon_params_kit.errors.CheckpointTypeError,
                       match="is not a usable file path: expected Odd.__fspath__.. to return str or bytes"):
        F.file_path(Odd())


def test_a_str_path_with_no_bytes_is_refused(net, tmp_path):
    bad = str(tmp_path / "x\ud800.params")  # a lone surrogate that stands for no byte
    for call in (lambda: save(net, bad), lambda: read_header(bad)):
        with pytest.raises(gluon_params_kit.errors.CheckpointError,
                           match=r"cannot be a file name here: '\\ud800' has no encoding"):
            call()
    assert os.listdir(tmp_path) == []


def test_messages_about_non_utf8_paths_encode(tmp_path):
    bad = os.fsdecode(os.fsencode(tmp_path) + b"/missing\xff/x.params")
    with pytest.raises(gluon_params_kit.errors.CheckpointError) as exc:
        F.check_target(bad)
    message = str(exc.value)
    message.encode("utf-8")  # no lone surrogate left in the message
    assert "missing\\udcff" in message


def test_format_path_names_its_argument():
    with pytest.raises(PathTypeError, match=r"format_path takes a sequence of path segments .* "
                                            r"got NoneType: None"):
        format_path(None)
    with pytest.raises(PathTypeError, match="got str: '0.bias'"):
        format_path("0.bias")
    assert format_path(["0", 1, "bias"]) == "0.1.bias"


@pytest.mark.parametrize("code", [errno.EPERM, errno.EOPNOTSUPP])
def test_chmod_refused_by_the_file_system_keeps_0600(net, tmp_path, monkeypatch, code):
    target = tmp_path / "net.params"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)

    def refuse(*args, **kwargs):
        raise PermissionError(code, os.strerror(code))
    monkeypatch.setattr(os, "chmod", refuse)
    save(net, target)
    monkeypatch.undo()
    assert list(read_header(target).names) == list(values(net))
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600  # never wider than asked
    assert temps(tmp_path) == []


def test_chmod_failing_otherwise_leaves_the_old_file(net, tmp_path, monkeypatch):
    target = tmp_path / "net.params"
    target.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(os, "chmod", broken)
    with pytest.raises(CheckpointWriteError) as exc:
        save(net, target)
    assert exc.value.errno == errno.EIO
    assert str(exc.value) == (f"cannot write {str(target)!r}: cannot set the new file's permissions "
                              f"(Input/output error); the previous file is untouched")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["net.params"]


def test_a_relative_path_when_the_current_folder_is_gone(net, tmp_path, monkeypatch):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(CheckpointWriteError, match=r"cannot write 'net.params': the current folder "
                                                   r"cannot be found \(No such file or directory\); "
                                                   r"give an absolute path"):
        save(net, "net.params")
