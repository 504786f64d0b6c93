"""The chunk kernel of the statistics in C, for processes that do not load numba.

``inspect --stats`` reads a checkpoint of gigabytes and measures it chunk by chunk. The
numpy kernel makes six passes over each chunk (two BLAS dot products, min, max, a
comparison and a count); numba's compiled loops make two, but loading numba costs a
command 0.6 s, more than the whole read of a 2 GiB file. ``stats_native.c`` is those two
loops in C (the row of ``stats_kernels._part``, by the same arithmetic): built once per
machine by its C compiler (``$CC``, else ``cc``) into a cache folder, loaded in a
millisecond afterwards, called through ctypes (which lets other threads run meanwhile).

It is optional in every way: no compiler, a failed build, ``GPK_NATIVE=0`` in the
environment, or a cache folder that is not the user's own, and :func:`kernel` returns None;
the numpy kernel then measures the same statistics (counts, extremes and histograms the
same; mean, std and l2 up to float rounding). The library is checked on known values
before it is used.

The cache folder is ``$GPK_CACHE_DIR``, else ``$XDG_CACHE_HOME/gluon_params_kit``, else
``~/.cache/gluon_params_kit`` (made private to the user); the file's name holds a hash of
the source, the compiler and the flags, so an edited source or another compiler builds
anew, and a build is written under a temporary name and renamed into place (two processes
building at once do not see half a file).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import threading
from typing import Callable, Optional, Tuple

import numpy as np

__all__ = ["kernel"]

_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stats_native.c")
_VERSION = 1  # gpk_native_version() of the source above
_FLAGS = ("-O3", "-shared", "-fPIC", "-fno-math-errno", "-fassociative-math", "-fno-signed-zeros",
          "-fno-trapping-math", "-ffp-contract=off")
#: Tried in order: per-CPU clones (x86-64 with a recent GCC or clang), then plain.
_VARIANTS = (("-DGPK_CLONES",), ())

_lock = threading.Lock()
_kernels: Optional[dict] = None  # dtype -> function, {} when unavailable

Row = Tuple[float, float, float, float, float, float, float]


def kernel(dtype) -> Optional[Callable[[np.ndarray], Row]]:
    """The C kernel for contiguous 1-D arrays of ``dtype`` (float32 or float64), or None.

    ``kernel(dtype)(x)`` is ``(min, max, centre, sum of v - centre, sum of (v - centre)**2,
    sum of v**2, zeros)`` of ``x``'s values, as floats; with a NaN or Inf among them the
    sums are not finite.

    >>> import numpy as np
    >>> k = kernel(np.float32)
    >>> x = np.array([3, -1, 0, 2], np.float32)
    >>> k is None or k(x)[:3] + k(x)[6:] == (-1.0, 3.0, 1.0, 1.0)
    True
    """
    global _kernels
    if _kernels is None:
        with _lock:
            if _kernels is None:
                _kernels = _load()
    return _kernels.get(np.dtype(dtype))


def _load() -> dict:
    if os.environ.get("GPK_NATIVE", "1") == "0":
        return {}
    try:
        lib = ctypes.CDLL(_built())
        if lib.gpk_native_version() != _VERSION:
            return {}
        made: dict = {np.dtype(np.float32): _bind(lib, "gpk_parts_f32"),
                      np.dtype(np.float64): _bind(lib, "gpk_parts_f64")}
        probe = np.array([3.0, -1.0, 0.0, -0.0, 2.0])
        for dtype, fn in made.items():
            row = fn(probe.astype(dtype))
            if row[:3] + row[5:] != (-1.0, 3.0, 1.0, 14.0, 2.0) or row[3] != -1.0 or row[4] != 11.0:
                return {}  # a compiler that got the arithmetic wrong: the numpy kernel
        return made
    except (OSError, AttributeError, subprocess.SubprocessError, ValueError):
        return {}


def _bind(lib: ctypes.CDLL, name: str) -> Callable[[np.ndarray], Row]:
    # a prototype taking plain ints: converting arguments is most of a small call's cost
    call = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)((name, lib))

    def row(x: np.ndarray) -> Row:
        if x.ndim != 1 or not x.flags.c_contiguous:
            raise ValueError("the C kernel takes contiguous 1-D arrays")
        out = np.empty(7)
        call(x.ctypes.data, x.size, out.ctypes.data)
        return tuple(out.tolist())  # type: ignore[return-value]  # seven floats
    return row


def _cache_dir() -> str:
    env = os.environ.get("GPK_CACHE_DIR")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gluon_params_kit")


def _private(folder: str) -> bool:
    """Whether ``folder`` is a directory of this user that nobody else can write to."""
    st = os.stat(folder)
    uid = os.getuid() if hasattr(os, "getuid") else st.st_uid
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _built() -> str:
    """The path of the library for this source and compiler, built now if missing."""
    cc = shutil.which(os.environ.get("CC") or "cc")
    if cc is None:
        raise OSError("no C compiler")
    with open(_SOURCE, "rb") as f:
        source = f.read()
    folder = _cache_dir()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    if not _private(folder):
        raise OSError(f"{folder!r} is not private to this user: no library is loaded from it")
    for extra in _VARIANTS:
        flags = _FLAGS + extra
        key = hashlib.sha256(b"\0".join([source, cc.encode(), platform.machine().encode(), *map(str.encode, flags)]))
        path = os.path.join(folder, f"stats_native-{key.hexdigest()[:20]}.so")
        if os.path.exists(path):
            return path
        fd, tmp = tempfile.mkstemp(prefix=".stats_native-", suffix=".so", dir=folder)
        os.close(fd)
        try:
            done = subprocess.run([cc, *flags, "-o", tmp, _SOURCE], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=120, check=False)
            if done.returncode == 0:
                os.replace(tmp, path)
                return path
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise OSError("the C kernel did not build")
