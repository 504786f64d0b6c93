"""The one place that imports mxnet: numpy alias shim, version checks, nd/np helpers.

MXNet 1.9.1 uses ``numpy.bool`` and friends, which numpy 1.24 removed. On numpy
1.24-1.26 the missing aliases are put back *before* mxnet is imported (``_shim``, run by
the package's import); on numpy>=2 (or without mxnet) importing a module that needs mxnet
fails with an ImportError that says what to install.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as _onp

from .._shim import NUMPY_VERSION, SHIMMED_ALIASES
from .._shim import numpy_pin as _numpy_pin

if NUMPY_VERSION >= (2, 0):
    raise ImportError(
        f"gluon_params_kit needs numpy<2 for mxnet 1.9.1, found numpy {_onp.__version__}. "
        f"Fix: pip install '{_numpy_pin()}' (in a virtual environment; `make test` creates one)."
    )

try:
    import mxnet as mx  # noqa: E402
except ImportError as exc:  # mxnet missing, or a broken install
    raise ImportError(
        "gluon_params_kit needs Apache MXNet 1.9.1: pip install 'mxnet==1.9.1' "
        "(CPU; or `pip install -e .[cpu]`), or mxnet-cu112==1.9.1 for CUDA. "
        f"Never install two mxnet distributions side by side. Original error: {exc}"
    ) from exc
except AttributeError as exc:  # numpy removed something mxnet uses that the shim lacks
    raise ImportError(
        f"mxnet could not import with numpy {_onp.__version__}: {exc}. "
        f"Fix: pip install '{_numpy_pin()}'."
    ) from exc

from mxnet import gluon  # noqa: E402
from mxnet.util import is_np_array  # noqa: E402

MXNET_VERSION: str = mx.__version__

__all__ = ["mx", "gluon", "is_np_array", "to_numpy", "cpu_buffer", "SHIMMED_ALIASES",
           "MXNET_VERSION", "NUMPY_VERSION"]


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
    if (type(array) is not mx.nd.NDArray or array.stype != "default" or array.size == 0
            or array.ndim == 0 or array.context.device_type != "cpu"
            or getattr(array.dtype, "names", None) or _onp.dtype(array.dtype).kind not in "biuf"):
        return None
    import ctypes
    array.wait_to_read()
    ptr = ctypes.c_void_p()
    mx.base.check_call(mx.base._LIB.MXNDArrayGetData(array.handle, ctypes.byref(ptr)))
    if not ptr.value:
        return None
    nbytes = array.size * _onp.dtype(array.dtype).itemsize
    return memoryview((ctypes.c_char * nbytes).from_address(ptr.value)).cast("B")
