"""Which GPUs the installed MXNet cannot use, and why: :func:`gpu_problems` and its probes.

Part of :mod:`gluon_params_kit.devices` (which re-exports :func:`gpu_problems`); kept apart
because the probes (``nvidia-smi``, ``libcuda`` through ctypes) share nothing with replicas.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any, List, Optional, Sequence, Tuple

from .._core.compat import MXNET_VERSION, mx
from .._core.validate import check_bool
from .._core.validate import shown as _shown
from ..errors import DeviceError, DeviceTypeError

__all__ = ["MXNET_191_CUDA_ARCHES", "gpu_problems"]

#: Kernel architectures (sm_XY) in MXNet 1.9.1's official CUDA wheels; no PTX, so no JIT.
MXNET_191_CUDA_ARCHES: Tuple[Tuple[int, int], ...] = (
    (5, 0), (5, 2), (6, 0), (6, 1), (7, 0), (7, 5), (8, 0), (8, 6))


def gpu_problems(*, gpus: Optional[Sequence[Tuple[str, Tuple[int, int]]]] = None,
                 cuda_build: Optional[bool] = None,
                 arches: Sequence[Tuple[int, int]] = MXNET_191_CUDA_ARCHES) -> List[str]:
    """Plain sentences, one per GPU that the installed MXNet cannot use, each with its fix.

    Compute capabilities come from ``nvidia-smi --query-gpu=name,compute_cap``, else the
    CUDA driver library (``libcuda``) through ctypes; every probe is guarded, so this
    never raises. A cubin built for sm_XY runs on a GPU of compute capability X.y with
    y >= Y only (no PTX in the wheels), so Hopper (9.0) cannot run MXNet 1.9.1's kernels.

    Args:
        gpus: ``[(name, (major, minor)), ...]`` to judge instead of probing (for tests).
        cuda_build: whether MXNet was built with CUDA; default: ``mx.runtime.Features()``.
        arches: the ``(major, minor)`` kernel architectures the build carries.

    Returns:
        An empty list when there is no GPU or every GPU is usable.

    Examples:
        >>> gpu_problems(gpus=[], cuda_build=True)
        []
        >>> print(gpu_problems(gpus=[('NVIDIA H100', (9, 0))], cuda_build=True)[0])
        ... # doctest: +ELLIPSIS
        GPU 0 (NVIDIA H100, compute capability 9.0) cannot run the installed MXNet ...
    """
    _check_options(gpus, cuda_build, arches)
    found = _probe_gpus() if gpus is None else list(gpus)
    if not found:
        return []
    if cuda_build is None:
        cuda_build = _mxnet_has_cuda()
    if not cuda_build:
        return [f"{len(found)} GPU(s) found ({', '.join(n for n, _ in found)}) but the installed "
                f"mxnet {MXNET_VERSION} is the CPU build. Fix: pip uninstall mxnet, then "
                f"pip install mxnet-cu112=={MXNET_VERSION} (never both at once)."]
    problems = []
    top = max(arches)
    for i, (name, (major, minor)) in enumerate(found):
        if any(a_major == major and a_minor <= minor for a_major, a_minor in arches):
            continue
        problems.append(
            f"GPU {i} ({name}, compute capability {major}.{minor}) cannot run the installed "
            f"MXNet {MXNET_VERSION}: its CUDA kernels go up to sm_{top[0]}{top[1]} and carry "
            f"no PTX, so every GPU operator fails with 'no kernel image is available'. Fix: "
            f"compute on CPU (mx.cpu(); try_gpu() falls back to it), use a GPU of compute "
            f"capability {top[0]}.x or lower, or build MXNet from source with "
            f"-DMXNET_CUDA_ARCH={major}.{minor} and a CUDA toolkit that supports it.")
    return problems


def _capability(value: Any) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value))


def _check_options(gpus: Any, cuda_build: Any, arches: Any) -> None:
    """Every option's form, before anything is probed (a wrong one is a DeviceTypeError)."""
    if gpus is not None and not (isinstance(gpus, (list, tuple)) and all(
            isinstance(g, tuple) and len(g) == 2 and isinstance(g[0], str) and _capability(g[1])
            for g in gpus)):
        raise DeviceTypeError(f"gpu_problems: gpus must be None (probe this machine) or a list of "
                              f"(name, (major, minor)) like [('NVIDIA H100', (9, 0))], got "
                              f"{_shown(gpus)}")
    check_bool(cuda_build, "cuda_build", DeviceError, where="gpu_problems", allow_none=True)
    if not (isinstance(arches, (list, tuple)) and arches and all(_capability(a) for a in arches)):
        raise DeviceTypeError(f"gpu_problems: arches must be a non-empty list of (major, minor) "
                              f"like {list(MXNET_191_CUDA_ARCHES[:2])}, got {_shown(arches)}")


def _mxnet_has_cuda() -> bool:
    try:
        return bool(mx.runtime.Features().is_enabled("CUDA"))
    except Exception:
        return False


def _probe_gpus() -> List[Tuple[str, Tuple[int, int]]]:
    return _gpus_from_nvidia_smi() or _gpus_from_libcuda()


def _gpus_from_nvidia_smi() -> List[Tuple[str, Tuple[int, int]]]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,compute_cap", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
        gpus = []
        for line in out.strip().splitlines():
            name, cap = (s.strip() for s in line.rsplit(",", 1))
            major, minor = cap.split(".")
            gpus.append((name, (int(major), int(minor))))
        return gpus
    except Exception:  # old drivers lack compute_cap; any failure means "ask libcuda"
        return []


def _gpus_from_libcuda() -> List[Tuple[str, Tuple[int, int]]]:
    try:
        import ctypes
        lib = ctypes.CDLL("libcuda.so.1" if os.name != "nt" else "nvcuda.dll")
        if lib.cuInit(0) != 0:
            return []
        count = ctypes.c_int()
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return []
        gpus = []
        for i in range(count.value):
            dev, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
            name = ctypes.create_string_buffer(100)
            lib.cuDeviceGet(ctypes.byref(dev), i)
            lib.cuDeviceGetName(name, 100, dev)
            lib.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)  # ..._COMPUTE_CAPABILITY_MAJOR
            lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)  # ..._COMPUTE_CAPABILITY_MINOR
            gpus.append((name.value.decode(errors="replace"), (major.value, minor.value)))
        return gpus
    except Exception:
        return []
