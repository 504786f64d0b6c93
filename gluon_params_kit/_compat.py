"""The one place that imports mxnet: numpy alias shim, version checks, nd/np helpers.

MXNet 1.9.1 uses ``numpy.bool`` and friends, which numpy 1.24 removed. On numpy
1.24-1.26 the missing aliases are put back *before* mxnet is imported; on numpy>=2
(or without mxnet) importing the kit fails with an ImportError that says what to install.
"""
from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as _onp

# The aliases numpy 1.20 deprecated and 1.24 removed, with what they always meant.
_REMOVED_ALIASES = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "object": object,
    "str": str,
}

NUMPY_VERSION = tuple(int(p) for p in _onp.__version__.split(".")[:2])


def _numpy_pin() -> str:
    """The numpy requirement that works with mxnet 1.9.1 on this Python."""
    if sys.version_info >= (3, 12):
        return "numpy==1.26.* setuptools"
    return "numpy<1.24"


if NUMPY_VERSION >= (2, 0):
    raise ImportError(
        f"gluon_params_kit needs numpy<2 for mxnet 1.9.1, found numpy {_onp.__version__}. "
        f"Fix: pip install '{_numpy_pin()}' (in a virtual environment; `make test` creates one)."
    )



def _missing(name: str) -> bool:
    # numpy 1.20-1.23 still serve the aliases through a module __getattr__ (with a
    # DeprecationWarning); 1.24+ raise AttributeError. Only the latter need the shim.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            getattr(_onp, name)
        except AttributeError:
            return True
    return False


#: Names of the numpy aliases this module had to restore (empty when numpy < 1.24).
SHIMMED_ALIASES: tuple = tuple(name for name in _REMOVED_ALIASES if _missing(name))
for _name in SHIMMED_ALIASES:
    setattr(_onp, _name, _REMOVED_ALIASES[_name])

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
