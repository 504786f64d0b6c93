"""The one place that imports mxnet: numpy alias shim, version checks, nd/np helpers.

MXNet 1.9.1 uses ``numpy.bool`` and friends, which numpy 1.24 removed. On numpy
1.24-1.26 the missing aliases are put back *before* mxnet is imported (``_shim``, run by
the package's import); on numpy>=2 (or without mxnet) importing a module that needs mxnet
fails with an ImportError that says what to install.
"""
from __future__ import annotations

from typing import Any

import numpy as _onp

from ._shim import NUMPY_VERSION, SHIMMED_ALIASES
from ._shim import numpy_pin as _numpy_pin

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

__all__ = ["mx", "gluon", "is_np_array", "to_numpy", "nd_or_np", "SHIMMED_ALIASES",
           "MXNET_VERSION", "NUMPY_VERSION"]


def to_numpy(array: Any) -> _onp.ndarray:
    """Return a host numpy copy of an ``mx.nd.NDArray``, ``mx.np.ndarray`` or array-like.

    >>> to_numpy(mx.nd.ones((2,))).tolist()
    [1.0, 1.0]
    """
    if hasattr(array, "asnumpy"):
        return array.asnumpy()
    return _onp.asarray(array)


def nd_or_np():
    """The array namespace of the current mode: ``mx.np`` after ``npx.set_np()``, else ``mx.nd``.

    >>> nd_or_np() is mx.nd
    True
    """
    return mx.np if is_np_array() else mx.nd
