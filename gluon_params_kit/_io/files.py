"""Every file the kit reads or writes goes through here: path checks, safe opens, atomic writes.

- :func:`file_path` turns a path argument into a ``str`` (``bytes`` and ``os.PathLike``
  included) or raises a ``TypeError``-based kit error for ``None``, ints (an int would
  be taken as an open file descriptor) and other objects.
- :func:`open_source` opens a file for reading without ever blocking: a FIFO, a socket
  or a device is refused (opened non-blocking, then checked with ``fstat``, so there
  is no window between the check and the open).
- :func:`atomic_write` writes through a temporary file beside the target and renames it
  over the target. A target that is a symlink is written through (the link stays, the
  file it points at is replaced), unless another user planted the link (or one on the
  way) in a sticky world-writable folder such as ``/tmp``: that is refused, as the
  kernel's ``protected_symlinks`` would. A target that exists and is not a regular file (a
  character device such as ``/dev/null``, a FIFO, a socket, a folder) is refused before
  anything is opened. Temporary files carry a recognisable name and an ``flock`` held
  by their writer: one left by a writer that was killed (``kill -9``) is removed by the
  next write to the same target. A full disk is reported in words ("no space left on
  device"), before writing when the free space is known to be too small, and the old
  file is left as it was. A path that is not UTF-8 (bytes, or a str with surrogate
  escapes) is written like any other: writers that encode paths as UTF-8 (MXNet's) are
  handed a UTF-8 spelling of the same temporary file.
- :func:`copy_range` copies bytes between files inside the kernel, or by hand where the
  kernel refuses (another file system); :func:`write_behind` writes while the disk works.
"""
from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import time
from types import ModuleType
from typing import Any, Callable, Iterable, Optional, Tuple, Union

from ..errors import CheckpointError, CheckpointTypeError, CheckpointWriteError

__all__ = [
    "COPY_BUFFER", "GATHER_BYTES", "STALE_AFTER_S", "TEMP_SUFFIX", "WRITE_BEHIND_CHUNK", "PathArg", "PathLike", "atomic_write",
    "check_source", "check_target", "copy_range", "end_at", "file_path", "free_bytes", "open_source", "open_to_write", "remove_stale_temps",
    "start_writeback", "write_behind",
]

fcntl: Optional[ModuleType]
try:  # POSIX; elsewhere temp files are cleaned only when their writer's pid is gone
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

PathArg = Union[str, bytes, "os.PathLike[str]"]
#: A file path argument: a str or an os.PathLike.
PathLike = Union[str, "os.PathLike[str]"]

#: Suffix of the kit's temporary files: ``.<target name>.<writer pid>.<random>.gpk-tmp``.
TEMP_SUFFIX = ".gpk-tmp"
#: A stale temp file whose writer pid is alive (pid reuse) is removed after this long.
STALE_AFTER_S = 3600.0

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a folder"))


def file_path(path: Any, what: str = "path") -> str:
    """``path`` as a ``str``, or a kit error naming what is wrong with it.

    >>> import pathlib
    >>> file_path(pathlib.Path('a') / 'b.params'), file_path(b'c.params')
    ('a/b.params', 'c.params')
    >>> file_path(None)
    Traceback (most recent call last):
    ...
    gluon_params_kit.errors.CheckpointTypeError: path must be a file path (str, bytes or os.PathLike), got NoneType: None
    """
    if isinstance(path, bool) or not isinstance(path, (str, bytes, os.PathLike)):
        raise CheckpointTypeError(f"{what} must be a file path (str, bytes or os.PathLike), got "
                                  f"{type(path).__name__}: {path!r}")
    try:
        text = os.fspath(path)
    except TypeError as exc:  # an os.PathLike whose __fspath__ gives neither str nor bytes
        raise CheckpointTypeError(f"{what} {path!r:.80} is not a usable file path: {exc}") from None
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text:
        raise CheckpointError(f"{what} is an empty string; give a file name")
    if "\x00" in text:
        raise CheckpointError(f"{what} {text!r} contains a NUL byte; no file can have that name")
    try:  # a lone surrogate that is not an escaped byte (\udc80-\udcff) has no bytes
        os.fsencode(text)
    except UnicodeEncodeError as exc:
        raise CheckpointError(f"{what} {text!r} cannot be a file name here: "
                              f"{text[exc.start:exc.end]!r} has no encoding in the file "
                              f"system's {exc.encoding}") from None
    return text


def _kind(mode: int) -> Optional[str]:
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def open_source(path: Any, what: str = "checkpoint"):
    """Open a regular file for binary reading; refuse anything that could block or never end.

    Returns the open binary file object and its ``str`` path.

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp(); f = os.path.join(d, 'x'); _ = open(f, 'wb').write(b'hi')
    >>> fh, p = open_source(f); fh.read(), p == f
    (b'hi', True)
    >>> fh.close(); open_source(d)
    Traceback (most recent call last):
    ...
    gluon_params_kit.errors.CheckpointError: cannot read checkpoint ...: it is a folder, not a regular file
    """
    path = file_path(path)
    try:  # O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except IsADirectoryError:
        raise CheckpointError(f"cannot read {what} {path!r}: it is a folder, not a regular "
                              f"file") from None
    except OSError as exc:
        try:  # a socket cannot be opened at all (ENXIO): say what it is
            kind = _kind(os.stat(path).st_mode)
        except OSError:
            kind = None
        if kind is not None:
            raise CheckpointError(f"cannot read {what} {path!r}: it is {kind}, not a regular "
                                  f"file") from None
        raise CheckpointError(f"cannot open {what} {path!r}: {exc.strerror or exc}") from exc
    try:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise CheckpointError(f"cannot read {what} {path!r}: it is {kind}, not a regular "
                                  f"file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), path
    except BaseException:
        os.close(fd)
        raise


def check_source(path: Any, what: str = "checkpoint") -> str:
    """The ``str`` path of a regular file that can be read (see :func:`open_source`)."""
    f, text = open_source(path, what)
    f.close()
    return text


def _owner(uid: int) -> str:
    try:
        import pwd
        return f"{pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _check_links(absolute: str, text: str) -> None:
    """Refuse a symlink on the way to ``absolute`` (the path ``text``, made absolute) that
    another user planted in a shared folder.

    Walks the path as the kernel does, link by link; a link in a sticky, world-writable
    folder (``/tmp``) is followed only when the caller (euid) or the folder's owner owns
    it, as Linux's ``fs.protected_symlinks`` allows: otherwise whoever planted it would
    choose which file this write replaces.
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover  (no owners to compare)
        return
    euid = os.geteuid()
    pending = absolute.split(os.sep)
    resolved, hops = os.sep, 0
    while pending:
        name = pending.pop(0)
        if name in ("", "."):
            continue
        if name == "..":
            resolved = os.path.dirname(resolved)
            continue
        candidate = os.path.join(resolved, name)
        try:
            st = os.lstat(candidate)
        except OSError:  # the rest does not exist (yet): no link left to follow
            return
        if not stat.S_ISLNK(st.st_mode):
            resolved = candidate
            continue
        hops += 1
        if hops > 40:  # a loop: realpath and stat report it
            return
        try:
            folder = os.stat(resolved)
            target = os.readlink(candidate)
        except OSError:
            return
        shared = folder.st_mode & stat.S_ISVTX and folder.st_mode & stat.S_IWOTH
        if shared and st.st_uid not in (euid, folder.st_uid):
            raise CheckpointWriteError(
                f"cannot write {text!r}: {candidate!r} is a symbolic link owned by "
                f"{_owner(st.st_uid)} in the shared folder {resolved!r} (sticky and "
                f"world-writable, owned by {_owner(folder.st_uid)}); whoever planted it "
                f"chooses which file a write through it replaces, so it is not followed "
                f"(as the kernel's protected_symlinks does). Nothing was written; write to "
                f"the real path instead (the link points at {target!r})", errno.EACCES)
        if os.path.isabs(target):
            resolved = os.sep
        pending = target.split(os.sep) + pending


def check_target(path: Any) -> str:
    """The file a write to ``path`` replaces: ``path`` itself, or what its symlinks point at.

    Refuses (nothing opened, nothing written) a target that exists and is not a regular
    file, a folder that does not exist, and a symlink on the way that another user
    planted in a sticky world-writable folder such as ``/tmp`` (one the caller or the
    folder's owner owns is followed, as the kernel's ``protected_symlinks`` rule allows).

    >>> check_target('/dev/null')
    Traceback (most recent call last):
    ...
    gluon_params_kit.errors.CheckpointError: cannot write '/dev/null': it is a character device, not a regular file; nothing was written
    """
    text = file_path(path)
    try:
        absolute = os.path.abspath(text)
    except OSError as exc:  # a relative path, and the current folder was removed
        raise CheckpointWriteError(f"cannot write {text!r}: the current folder cannot be "
                                   f"found ({exc.strerror or exc}); give an absolute path",
                                   exc.errno) from None
    _check_links(absolute, text)
    real = os.path.realpath(absolute)  # follows every link; a dangling one gives its target
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as exc:  # a symlink loop, a permission problem
        raise CheckpointError(f"cannot write {text!r}: {exc.strerror or exc}") from exc
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise CheckpointError(f"cannot write {text!r}: it is a folder; give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"cannot write {text!r}: it is {_kind(st.st_mode)}, not a regular "
                              f"file; nothing was written")
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise CheckpointError(f"cannot write {text!r}: folder {folder!r} does not exist")
    return real


def free_bytes(folder: str) -> Optional[int]:
    """Bytes this process may still write in ``folder``'s file system (None if unknown)."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    blocks = st.f_bfree if hasattr(os, "geteuid") and os.geteuid() == 0 else st.f_bavail
    return blocks * st.f_frsize


def _no_space(path: str, folder: str, detail: str = "") -> CheckpointWriteError:
    return CheckpointWriteError(f"cannot write {path!r}: no space left on device in {folder!r}"
                                f"{detail}; the previous file is untouched", errno.ENOSPC)


def _is_no_space(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return True
    return "no space left" in str(exc).lower()


def _temp_base(base: str) -> str:
    """``base`` as it appears in its temp files' names: a name that is not valid UTF-8
    (bytes decoded with surrogate escapes) spelled with backslash escapes, so a temp
    path can be handed to writers that encode paths as UTF-8 (MXNet's ``nd.save``)."""
    return base.encode("utf-8", "backslashreplace").decode("utf-8")


def _writer_path(tmp: str) -> Tuple[str, Optional[int]]:
    """The path to hand a writer for ``tmp``, and a folder descriptor to close afterwards.

    ``tmp`` itself, or where its folder's name is not UTF-8 (which MXNet's and the
    safetensors library's writers cannot encode), the same file reached through an open
    descriptor of its folder, ``/proc/self/fd/N/<name>`` (Linux): a writer that makes its
    own temp file beside the target and renames it still writes into the right folder.
    """
    try:
        tmp.encode("utf-8")
        return tmp, None
    except UnicodeEncodeError:
        pass
    folder, name = os.path.split(tmp)
    try:
        dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return tmp, None
    path = f"/proc/self/fd/{dir_fd}/{name}"
    if os.path.exists(path):
        return path, dir_fd
    os.close(dir_fd)  # pragma: no cover  (no /proc: the writer gets the path as it is)
    return tmp, None


def _temp_pattern(base: str) -> "re.Pattern[str]":
    base = _temp_base(base)
    return re.compile(r"\." + re.escape(base) + r"\.(\d+)\.[A-Za-z0-9_]+" + re.escape(TEMP_SUFFIX) + "$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temps(target: str) -> int:
    """Remove temp files of earlier writes to ``target`` whose writer is gone; how many.

    A temp file is stale when no process holds its lock and its writer's pid is not
    running (or it is older than :data:`STALE_AFTER_S`, for a reused pid).
    """
    folder, base = os.path.split(target)
    pattern, removed = _temp_pattern(base), 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        m = pattern.match(entry.name)
        if m is None:
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                         | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # its writer is still at work
            if _pid_alive(int(m.group(1))) and time.time() - st.st_mtime < STALE_AFTER_S:
                continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
        finally:
            os.close(fd)
    return removed


def atomic_write(path: PathArg, write: Callable[[str], None], fsync: bool = True, *,
                 size_hint: Optional[int] = None,
                 verify: Optional[Callable[[str], None]] = None) -> str:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it over ``path``.

    The temporary file is flushed to disk first (``fsync``), takes the old file's
    permissions (or the umask's), and is removed if anything fails: ``path`` is either
    the old file or the complete new one, never a mix. ``size_hint`` (bytes about to be
    written) lets a full disk be refused before writing; ``verify(tmp)`` checks the
    written file (for writers, like MXNet's, that may lose a failed write silently).

    Returns:
        The file that was replaced (``path``, or the file its symlink points at).

    Raises:
        CheckpointError: A target that is not a regular file or a missing folder.
        CheckpointWriteError: No space left on the device (``errno.ENOSPC``), a symlink
            another user planted in a shared sticky folder (``errno.EACCES``, nothing
            written) or another failed write (also an ``OSError``); the previous file is
            untouched.

    Examples:
        >>> import os, tempfile
        >>> f = os.path.join(tempfile.mkdtemp(), 'note.txt')
        >>> _ = atomic_write(f, lambda tmp: open(tmp, 'w').write('hello'))
        >>> open(f).read(), sorted(os.listdir(os.path.dirname(f)))
        ('hello', ['note.txt'])
    """
    shown = file_path(path)
    real = check_target(path)
    folder, base = os.path.split(real)
    remove_stale_temps(real)
    free = free_bytes(folder)
    if size_hint is not None and free is not None and size_hint > free:
        raise _no_space(shown, folder, f" (about {size_hint} bytes needed, {free} free)")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{_temp_base(base)}.{os.getpid()}.",
                                   suffix=TEMP_SUFFIX)
    except OSError as exc:
        if _is_no_space(exc):
            raise _no_space(shown, folder) from exc
        raise CheckpointWriteError(f"cannot write {shown!r}: cannot create a file in {folder!r} "
                                   f"({exc.strerror or exc})", exc.errno) from exc
    writer_path, dir_fd = _writer_path(tmp)
    try:
        if fcntl is not None:  # held until the rename: tells cleaners this writer is alive
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            write(writer_path)
            if verify is not None:
                verify(writer_path)
            if fsync:
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
        except Exception as exc:
            left = free_bytes(folder)
            if _is_no_space(exc) or (left is not None and left < 4096):
                raise _no_space(shown, folder) from exc
            if isinstance(exc, OSError):
                raise CheckpointWriteError(f"cannot write {shown!r}: {exc.strerror or exc}; the "
                                           f"previous file is untouched", exc.errno) from exc
            if type(exc).__name__ == "MXNetError":
                last = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
                raise CheckpointWriteError(f"MXNet could not write {shown!r}: {last}; the "
                                           f"previous file is untouched") from exc
            raise
        _copy_mode(tmp, real, shown)
        try:
            os.replace(tmp, real)
        except OSError as exc:
            raise CheckpointWriteError(f"cannot write {shown!r} ({exc.strerror or exc}); "
                                       f"any previous file is untouched", exc.errno) from exc
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)
        if dir_fd is not None:
            os.close(dir_fd)
    if fsync:
        _fsync_folder(folder)
    return real


#: Bytes :func:`write_behind` copies before it starts writing them to disk.
WRITE_BEHIND_CHUNK = 8 << 20
_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range: Any = None  # resolved on first use: libc's function, or False


def _start_writeback() -> Any:
    """libc's ``sync_file_range`` (Linux), or ``False`` where there is none."""
    global _sync_file_range
    if _sync_file_range is None:
        _sync_file_range = False
        if hasattr(os, "uname") and os.uname().sysname == "Linux":
            try:
                import ctypes
                fn = ctypes.CDLL(None, use_errno=True).sync_file_range
                fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
                fn.restype = ctypes.c_int
                _sync_file_range = fn
            except (OSError, AttributeError):  # pragma: no cover  (an odd libc)
                pass
    return _sync_file_range


def start_writeback(fd: int, offset: int, nbytes: int) -> None:
    """Have the kernel start writing ``nbytes`` of ``fd`` from ``offset`` to disk, without
    waiting (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``; elsewhere nothing). A later
    ``fsync`` then finds those bytes written or on their way. Errors are ignored: it only
    changes when the bytes are written, never whether.

    >>> import os, tempfile
    >>> fd = os.open(os.path.join(tempfile.mkdtemp(), 'x'), os.O_WRONLY | os.O_CREAT)
    >>> os.write(fd, b'abc'), start_writeback(fd, 0, 3), os.close(fd)
    (3, None, None)
    """
    kick = _start_writeback()
    if kick and nbytes > 0:
        kick(fd, offset, nbytes, _SYNC_FILE_RANGE_WRITE)


def write_behind(path: str, pieces: Iterable[Any], chunk: int = WRITE_BEHIND_CHUNK, *,
                 writeback: bool = True) -> int:
    """Write ``pieces`` (bytes-like objects, in order) to ``path`` from byte 0, cutting what
    the file held past them; the bytes written.

    Pieces smaller than :data:`GATHER_BYTES` are gathered in one buffer of that size and
    written with it (one write for many small arrays, not one each); bigger ones are
    written straight from their memory (no copy in Python). With ``writeback`` (for a
    file about to be flushed, or renamed over another file, which ext4 flushes at the
    rename), each ``chunk`` bytes copied into the page cache are handed to the disk at
    once (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``: start writing, do not wait),
    so copying and writing to disk overlap instead of a later flush doing all the
    writing; without it (or where that call is missing) the kernel writes
    the file back when it likes, as any buffered write. Nothing is flushed or waited for:
    durability is the caller's ``fsync``. A failed write raises ``OSError`` (``ENOSPC``...).

    >>> import os, tempfile
    >>> f = os.path.join(tempfile.mkdtemp(), 'x.bin')
    >>> write_behind(f, [b'ab', memoryview(b'cdef')[1:]], chunk=2), open(f, 'rb').read()
    (5, b'abdef')
    """
    fd = open_to_write(path)
    gathered = memoryview(bytearray(min(chunk, GATHER_BYTES)))
    room = len(gathered)
    used = pos = started = 0

    def put(view: memoryview) -> None:
        nonlocal pos, started
        while view.nbytes:
            n = os.write(fd, view[:chunk])
            view, pos = view[n:], pos + n
            if writeback and pos - started >= chunk:
                start_writeback(fd, started, pos - started)
                started = pos

    try:
        for piece in pieces:
            view = memoryview(piece).cast("B")
            n = view.nbytes
            if n <= room - used:
                gathered[used:used + n] = view
                used += n
                continue
            if used:
                put(gathered[:used])
                used = 0
            if n < room:
                gathered[:n] = view
                used = n
            else:
                put(view)
        if used:
            put(gathered[:used])
        end_at(fd, pos)
        if writeback:
            start_writeback(fd, started, pos - started)
    finally:
        os.close(fd)
    return pos


def open_to_write(path: str) -> int:
    """A descriptor of ``path`` (created if missing) to write from byte 0, read and
    written positionally; the caller ends the file with :func:`end_at`.

    Not ``O_TRUNC``: ext4 flushes a file truncated to zero bytes when it is closed
    (``auto_da_alloc``), so a temporary file written through it would be handed to the
    disk twice, at the close and again at its rename over the target (which is what keeps
    a crash from exposing an empty file; that one stays).
    """
    return os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0),
                   0o666)


def end_at(fd: int, size: int) -> None:
    """Cut the file at ``size`` bytes if it holds more (old bytes past what was written)."""
    if os.fstat(fd).st_size > size:
        os.ftruncate(fd, size)


#: Bytes of the buffer :func:`write_behind` gathers small pieces in (bigger ones are
#: written on their own).
GATHER_BYTES = 1 << 20


#: Bytes :func:`copy_range` reads and writes at a time where the kernel cannot copy.
COPY_BUFFER = 1 << 20
#: ``copy_file_range`` errors that mean "not between these two files" (another file
#: system, a kernel or file system without it, a file it cannot take), not a failed write.
_NO_KERNEL_COPY = frozenset(getattr(errno, name) for name in (
    "EXDEV", "ENOSYS", "EOPNOTSUPP", "ENOTSUP", "EINVAL", "EBADF", "EPERM", "ETXTBSY",
    "EOVERFLOW") if hasattr(errno, name))


def copy_range(src_fd: int, dst_fd: int, src_offset: int, dst_offset: int, nbytes: int) -> int:
    """Copy ``nbytes`` of ``src_fd`` from ``src_offset`` to ``dst_fd`` at ``dst_offset``.

    Inside the kernel (``copy_file_range``, as ``cp`` does) where it can; where it cannot
    (another file system: "Invalid cross-device link", a kernel or file system without
    it), with ``pread``/``pwrite`` through a :data:`COPY_BUFFER`-byte buffer. Neither
    file's offset moves. Each piece written is handed to the disk at once
    (:func:`start_writeback`). Returns ``nbytes``; a source shorter than that is an
    ``OSError`` (``EIO``), a failed write the writer's own ``OSError`` (``ENOSPC``...).

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp(); a, b = os.path.join(d, 'a'), os.path.join(d, 'b')
    >>> _ = open(a, 'wb').write(b'0123456789')
    >>> src, dst = os.open(a, os.O_RDONLY), os.open(b, os.O_RDWR | os.O_CREAT)
    >>> copy_range(src, dst, 2, 0, 5), os.pread(dst, 10, 0)
    (5, b'23456')
    >>> os.close(src); os.close(dst)
    """
    left, src_pos, dst_pos = nbytes, src_offset, dst_offset
    kernel = getattr(os, "copy_file_range", None)
    while left and kernel is not None:
        try:
            n = kernel(src_fd, dst_fd, min(left, WRITE_BEHIND_CHUNK), src_pos, dst_pos)
        except InterruptedError:
            continue
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY:
                raise
            kernel = None  # copy the rest by hand, from where the kernel stopped
            break
        if n <= 0:  # some file systems copy nothing rather than refuse: check by hand
            kernel = None
            break
        start_writeback(dst_fd, dst_pos, n)  # the disk writes while the next piece copies
        left, src_pos, dst_pos = left - n, src_pos + n, dst_pos + n
    while left:
        piece = os.pread(src_fd, min(left, COPY_BUFFER), src_pos)
        if not piece:
            raise OSError(errno.EIO, f"the source ended {left} bytes before the {nbytes} "
                                     f"bytes to copy")
        view = memoryview(piece)
        while view.nbytes:
            n = os.pwrite(dst_fd, view, dst_pos)
            view, dst_pos = view[n:], dst_pos + n
        start_writeback(dst_fd, dst_pos - len(piece), len(piece))
        left, src_pos = left - len(piece), src_pos + len(piece)
    return nbytes


def _fsync_folder(folder: str) -> None:
    try:  # make the rename itself durable; not possible on every platform
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


#: ``chmod`` failures that mean "this file system does not keep modes" (vfat, some
#: network mounts): the new file keeps its temp file's mode (0600, never wider).
_MODE_NOT_KEPT = (errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EROFS,
                  getattr(errno, "ENOTSUP", errno.EPERM), getattr(errno, "EOPNOTSUPP", errno.EPERM))


def _copy_mode(tmp: str, real: str, shown: str) -> None:
    """Give the new file the old one's permissions (or the umask's).

    Where the file system refuses modes, the new file keeps 0600; any other failure is a
    :class:`CheckpointWriteError` (the caller removes the temp file, the old one stays).
    """
    try:
        os.chmod(tmp, _file_mode(real))
    except OSError as exc:
        if exc.errno in _MODE_NOT_KEPT:
            return
        raise CheckpointWriteError(f"cannot write {shown!r}: cannot set the new file's "
                                   f"permissions ({exc.strerror or exc}); the previous file is "
                                   f"untouched", exc.errno) from exc


def _file_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
