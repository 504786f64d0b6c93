"""The one place that imports mxnet, on first use: ``mx`` and ``gluon`` stand in until then.

``from .._core.compat import mx`` imports no mxnet: ``mx`` (and ``gluon``) are stand-ins
that import MXNet the first time one of their attributes is read (``mx.nd.array``), so a
module that needs mxnet only inside some functions imports without it, and the file layer
(``read_header``, ``read_array``, ``convert``, ``diff``, ``export_npz``, ``inspect``) runs
on numpy alone, numpy 1.x or 2.x, Python 3.8-3.13. Where MXNet cannot be imported (not
installed, numpy 2, Python 3.13, a broken install) that first use raises
:class:`~gluon_params_kit.errors.MXNetImportError`, one line naming the install command that
fits how the kit was installed (:func:`install_hint`).

MXNet 1.9.1 uses ``numpy.bool`` and friends, which numpy 1.24 removed. On numpy 1.24-1.26
the missing aliases are put back *before* mxnet is imported (``_shim``, run by the
package's import); numpy 2 is refused before mxnet is tried.
"""
from __future__ import annotations

import os
import sys
import types
from typing import Any, Optional

import numpy as _onp

from .._shim import NUMPY_VERSION, SHIMMED_ALIASES
from ..errors import MXNetImportError

__all__ = ["mx", "gluon", "is_np_array", "is_np_shape", "to_numpy", "cpu_buffer", "array_memory", "new_cpu_array",
           "SHIMMED_ALIASES",
           "MXNET_VERSION", "NUMPY_VERSION", "install_hint", "load_mxnet", "mxnet_imported"]

#: Why mxnet cannot be imported, once known (each use raises it anew, as one line).
_failure: Optional[str] = None


def mxnet_imported() -> bool:
    """Whether mxnet is imported (until it is, no NDArray or Block can exist).

    >>> mxnet_imported() in (True, False)
    True
    """
    return sys.modules.get("mxnet") is not None


def _installed_from_source() -> bool:
    """Whether the kit runs from a checkout (an editable install, or on ``sys.path``), not
    from an installed wheel (which lives in a ``site-packages`` folder)."""
    parts = os.path.normcase(os.path.abspath(__file__)).split(os.sep)
    return "site-packages" not in parts and "dist-packages" not in parts


def _mxnet_requirements() -> str:
    """mxnet and the numpy it can import with, on this Python (3.8-3.12)."""
    if sys.version_info >= (3, 12):
        return "'mxnet==1.9.1' 'numpy==1.26.*' setuptools"
    return "'mxnet==1.9.1' 'numpy<1.24'"


def install_hint() -> str:
    """What to install so that MXNet imports, as the kit was installed: one sentence.

    From a checkout (an editable install) that is mxnet and its numpy; from a wheel, the
    kit's ``cpu`` extra. Where MXNet 1.9.1 cannot run at all (Python 3.13+, numpy 2) it
    says to use another virtual environment.

    >>> 'pip install' in install_hint()
    True
    """
    extra = "pip install 'gluon_params_kit[cpu]'"
    if sys.version_info >= (3, 13):
        return (f"MXNet 1.9.1 does not run on Python {sys.version_info[0]}.{sys.version_info[1]} "
                f"(numpy<2 has no wheels there): in a virtual environment of Python 3.8-3.12: {extra}")
    command = f"pip install {_mxnet_requirements()}" if _installed_from_source() else extra
    if NUMPY_VERSION >= (2, 0):
        return (f"in a virtual environment of its own (mxnet needs numpy<2; this one keeps "
                f"numpy {_onp.__version__}): {command}")
    return (f"{command} (for CUDA, mxnet-cu112==1.9.1 instead of mxnet. Never install two mxnet "
            f"distributions side by side)")


def _one_line(text: Any) -> str:
    return " ".join(str(text).split())


def _fail() -> str:
    if sys.version_info >= (3, 13):
        why = "gluon_params_kit needs Apache MXNet 1.9.1 for this"
    elif NUMPY_VERSION >= (2, 0):
        why = f"gluon_params_kit needs numpy<2 for mxnet 1.9.1, found numpy {_onp.__version__}"
    else:
        why = "gluon_params_kit needs Apache MXNet 1.9.1"
    return (f"{why}: {install_hint()}. The file tools work without it (read_header, read_array, "
            f"convert, diff, export_npz; gluon-params inspect, diff, convert, export).")


def load_mxnet() -> types.ModuleType:
    """The ``mxnet`` module, imported now if it was not; or :class:`MXNetImportError`.

    >>> load_mxnet().__version__
    '1.9.1'
    """
    global _failure
    module = sys.modules.get("mxnet")
    if module is not None:
        return module
    if _failure is None and (sys.version_info >= (3, 13) or NUMPY_VERSION >= (2, 0)):
        _failure = _fail()  # refused before mxnet is tried: it cannot run here
    if _failure is not None:
        raise MXNetImportError(_failure)
    try:
        import mxnet
    except ImportError as exc:  # not installed (or blocked), or a broken install
        _failure = _fail() if getattr(exc, "name", None) == "mxnet" else (
            f"mxnet could not be imported ({_one_line(exc)}). Fix: {install_hint()}")
        raise MXNetImportError(_failure) from exc
    except (AttributeError, OSError) as exc:  # numpy lacks what mxnet uses; a missing library
        _failure = (f"mxnet could not import with numpy {_onp.__version__}: {_one_line(exc)}. "
                    f"Fix: {install_hint()}")
        raise MXNetImportError(_failure) from exc
    return mxnet


class _LazyModule(types.ModuleType):
    """``mxnet`` or one of its submodules, imported when an attribute is first read."""

    def __init__(self, name: str):
        super().__init__(name, f"Stand-in for {name}: imports it on first attribute access.")

    def _target(self) -> types.ModuleType:
        module = load_mxnet()
        for part in self.__name__.split(".")[1:]:
            module = getattr(module, part)
        return module

    def __getattr__(self, attr: str) -> Any:
        # Dunders are probes (doctest's unwrap, copy, pickle), never a use: they must not import.
        if attr.startswith("__") and attr not in ("__version__", "__file__", "__path__"):
            raise AttributeError(attr)
        return getattr(self._target(), attr)

    def __dir__(self):
        return dir(self._target()) if mxnet_imported() else []

    def __repr__(self) -> str:
        state = "imported" if mxnet_imported() else "not imported yet"
        return f"<lazy module {self.__name__!r} ({state})>"


#: ``mxnet``, imported on first use (``mx.nd.ones(2)``).
mx: Any = _LazyModule("mxnet")
#: ``mxnet.gluon``, imported on first use.
gluon: Any = _LazyModule("mxnet.gluon")


def __getattr__(name: str) -> Any:  # PEP 562: the version is read from mxnet, imported then
    if name == "MXNET_VERSION":
        return load_mxnet().__version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_np_array() -> bool:
    """Whether MXNet's np interface is on (``npx.set_np()``); False while mxnet is not imported.

    >>> is_np_array()
    False
    """
    return mxnet_imported() and bool(mx.util.is_np_array())


def is_np_shape() -> bool:
    """Whether MXNet's np shape semantics are on; False while mxnet is not imported.

    >>> is_np_shape()
    False
    """
    return mxnet_imported() and bool(mx.util.is_np_shape())


def to_numpy(array: Any) -> _onp.ndarray:
    """Return a host numpy copy of an ``mx.nd.NDArray``, ``mx.np.ndarray`` or array-like.

    >>> to_numpy(mx.nd.ones((2,))).tolist()
    [1.0, 1.0]
    """
    if hasattr(array, "asnumpy"):
        return array.asnumpy()
    return _onp.asarray(array)


def cpu_buffer(array: Any) -> Optional[memoryview]:
    """The bytes of a dense ``mx.nd.NDArray`` in CPU memory, read in place (no copy), or
    ``None`` for anything else (``mx.np``, sparse, GPU, bfloat16, empty or 0-d arrays).

    The array is waited for first (its pending writes land). The view borrows the
    array's memory: keep the array alive, and unchanged, while the view is used.

    >>> a = mx.nd.array([1, 2], dtype='int32')
    >>> bytes(cpu_buffer(a)), cpu_buffer(a.tostype('row_sparse'))
    (b'\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00', None)
    """
    if not mxnet_imported():  # no NDArray can exist yet
        return None
    if (type(array) is not mx.nd.NDArray or array.stype != "default" or array.size == 0
            or array.ndim == 0 or array.context.device_type != "cpu"
            or getattr(array.dtype, "names", None) or _onp.dtype(array.dtype).kind not in "biuf"):
        return None
    array.wait_to_read()
    memory = array_memory(array, array.size * _onp.dtype(array.dtype).itemsize)
    return None if memory is None else memoryview(memory).cast("B")


def array_memory(array: Any, nbytes: int) -> Any:
    """The ``nbytes`` bytes at a dense CPU ``mx.nd.NDArray``'s data pointer
    (``MXNDArrayGetData``: MXNet reorders an MKL-DNN layout to the default one first), as
    a ctypes ``char`` array; ``None`` where MXNet holds no memory. No check and no wait:
    the caller has made sure of the array, and waits for it where writes may be pending.

    >>> a = mx.nd.array([1, 2], dtype='int32')
    >>> bytes(array_memory(a, 8))
    b'\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00'
    """
    import ctypes
    mxnet = load_mxnet()  # the module itself: no stand-in lookups per array
    ptr = ctypes.c_void_p()
    mxnet.base.check_call(mxnet.base._LIB.MXNDArrayGetData(array.handle, ctypes.byref(ptr)))
    return (ctypes.c_char * nbytes).from_address(ptr.value) if ptr.value else None


def new_cpu_array(shape: Any, dtype: Any) -> Any:
    """A new dense ``mx.nd.NDArray`` on cpu(0) and a writable view of its bytes, for a
    reader to fill in place: ``(array, view)``, the view ``None`` where MXNet gave no
    memory. No other check or wait: nothing else can have written the array yet (per
    array this is a few microseconds, where :func:`cpu_buffer` asks MXNet for each property).

    >>> a, view = new_cpu_array((2,), 'int32')
    >>> view[:] = bytes([1, 0, 0, 0, 2, 0, 0, 0]); a.asnumpy().tolist()
    [1, 2]
    """
    import ctypes
    mxnet = load_mxnet()  # the module itself: no stand-in lookups per array
    array = mxnet.nd.empty(shape, ctx=mxnet.cpu(0), dtype=dtype)  # never the default context (a GPU)
    nbytes = _onp.dtype(dtype).itemsize
    for d in shape:
        nbytes *= d
    memory = array_memory(array, nbytes) if nbytes else None
    if memory is None:
        return array, None
    if nbytes >= _HUGE_FROM:
        _huge_pages(ctypes.addressof(memory), nbytes)
    return array, memoryview(memory).cast("B")


#: Arrays of at least this many bytes are asked to sit on huge pages (as numpy asks for its own
#: arrays of 4 MiB and more): a reader filling 1 GiB of fresh memory then takes 512 page faults,
#: not 262,144 (a third of a 1 GiB load's time otherwise).
_HUGE_FROM = 4 << 20
_MADVISE: Any = None


def _huge_pages(address: int, nbytes: int) -> None:
    """``madvise(MADV_HUGEPAGE)`` on the 2 MiB pages inside ``[address, address + nbytes)``:
    a hint, used where Linux's transparent huge pages are set to ``madvise``; nothing
    happens elsewhere or when the call fails."""
    global _MADVISE
    if _MADVISE is None:
        _MADVISE = False
        if sys.platform.startswith("linux"):
            import ctypes
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                _MADVISE = libc.madvise
                _MADVISE.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            except (OSError, AttributeError):
                _MADVISE = False
    if not _MADVISE:
        return
    huge = 2 << 20
    start = -(-address // huge) * huge
    end = (address + nbytes) // huge * huge
    if end > start:
        _MADVISE(start, end - start, 14)  # MADV_HUGEPAGE; a failure changes nothing
