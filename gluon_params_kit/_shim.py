"""What must happen before mxnet is imported, with the standard library and numpy only.

Private. Importing the package runs this (and nothing heavier): it refuses to run from
inside the package's own folder, whose ``select.py`` would shadow the standard library's
``select`` (and break ``subprocess``, ``asyncio`` and mxnet's own import with a misleading
error), and it restores the numpy aliases MXNet 1.9.1 uses (``numpy.bool`` ...) that numpy
1.24 removed, so that ``import gluon_params_kit`` followed by ``import mxnet`` works on
numpy 1.26. It never raises for numpy 2: ``gluon-params doctor`` must still run there.
"""
from __future__ import annotations

import os
import sys
import warnings

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
#: Modules of the package whose names are also standard-library modules.
SHADOWING = ("select",)


def shadowing_entry(path=None):
    """The ``sys.path`` entry that is the package's own folder, or ``None``.

    >>> shadowing_entry(["/usr/lib/python3", PACKAGE_DIR]) == PACKAGE_DIR
    True
    >>> shadowing_entry(["/usr/lib/python3"]) is None
    True
    """
    for entry in sys.path if path is None else path:
        try:
            here = os.path.abspath(entry or os.getcwd())
        except OSError:  # the working folder was deleted
            continue
        if here == PACKAGE_DIR:
            return here
    return None


def inside_package_message(entry: str) -> str:
    return (f"Python is running with the gluon_params_kit package folder itself on its path "
            f"({entry}): its module {', '.join(m + '.py' for m in SHADOWING)} shadows the standard "
            f"library's module of the same name, which breaks subprocess, asyncio and mxnet. "
            f"Fix: run Python from another folder (for example the repository root: "
            f"cd {os.path.dirname(entry)}), and do not run the package's files as scripts "
            f"(use python -m gluon_params_kit or gluon-params).")


_entry = shadowing_entry()
if _entry is not None:
    raise ImportError(inside_package_message(_entry))

import numpy as _onp  # noqa: E402

__all__ = [
    "NUMPY_VERSION", "PACKAGE_DIR", "SHADOWING", "SHIMMED_ALIASES", "inside_package_message",
    "numpy_pin", "shadowing_entry",
]

# The aliases numpy 1.20 deprecated and 1.24 removed, with what they always meant.
_REMOVED_ALIASES = {
    "bool": bool,
    "int": int,
    "float": float,
    "complex": complex,
    "object": object,
    "str": str,
}

NUMPY_VERSION = tuple(int(p) for p in _onp.__version__.split(".")[:2] if p.isdigit())


def numpy_pin() -> str:
    """The numpy requirement that works with mxnet 1.9.1 on this Python."""
    if sys.version_info >= (3, 12):
        return "numpy==1.26.* setuptools"
    return "numpy<1.24"


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


#: Names of the numpy aliases restored (empty when numpy < 1.24, and on numpy 2, where
#: mxnet 1.9.1 cannot run anyway and the aliases would mean something else).
SHIMMED_ALIASES: tuple = (() if NUMPY_VERSION >= (2, 0) else
                          tuple(name for name in _REMOVED_ALIASES if _missing(name)))
for _name in SHIMMED_ALIASES:
    setattr(_onp, _name, _REMOVED_ALIASES[_name])
