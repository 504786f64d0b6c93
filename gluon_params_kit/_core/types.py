"""The MXNet classes the kit names in its type hints, in one place.

MXNet 1.9.1 ships no type information: to a type checker its classes are ``Any``, and a
module-level alias such as ``Block = gluon.Block`` is a variable, not a type. Here the checker
sees classes whose attributes are ``Any`` and the running kit gets MXNet's real classes.
``PathLike`` (a file path argument) lives in the file layer (:mod:`.._io.files`), which
imports no mxnet; it is re-exported here for the modules that import MXNet's classes too.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._io.files import PathLike

__all__ = ["Block", "Context", "HybridBlock", "Initializer", "PathLike", "Parameter", "ParameterDict"]

if TYPE_CHECKING:  # classes (isinstance works) whose attributes are Any: MXNet ships no types
    class Block(Any): ...
    class HybridBlock(Block): ...
    class Context(Any): ...
    class Initializer(Any): ...
    class Parameter(Any): ...
    class ParameterDict(Any): ...
else:
    from .compat import gluon, mx

    Block = gluon.Block
    Context = mx.Context
    HybridBlock = gluon.HybridBlock
    Initializer = mx.init.Initializer
    Parameter = gluon.Parameter
    ParameterDict = gluon.ParameterDict
