"""The MXNet classes the kit names in its type hints, in one place.

MXNet 1.9.1 ships no type information: to a type checker its classes are ``Any``, and a
module-level alias such as ``Block = gluon.Block`` is a variable, not a type. Here the checker
sees classes whose attributes are ``Any``; the running kit gets stand-ins that import mxnet
only when used (``isinstance`` says False while mxnet is not imported, since no Block can
exist before it is), so a module that names them in signatures imports without mxnet.
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
    from .compat import load_mxnet, mxnet_imported

    class _MXNetClass:
        """Stands for an MXNet class without importing mxnet: ``isinstance`` is False while
        mxnet is not imported (no instance can exist yet); subclassing, calling or reading an
        attribute imports it and uses the real class (``class Foo(HybridBlock)`` subclasses
        ``gluon.HybridBlock`` itself)."""

        __slots__ = ("_where", "_cls")

        def __init__(self, where: str):
            self._where = where
            self._cls = None

        def _real(self):
            if self._cls is None:
                obj = load_mxnet()
                for part in self._where.split("."):
                    obj = getattr(obj, part)
                self._cls = obj
            return self._cls

        def __instancecheck__(self, obj) -> bool:
            return mxnet_imported() and isinstance(obj, self._real())

        def __subclasscheck__(self, cls) -> bool:
            return mxnet_imported() and issubclass(cls, self._real())

        def __mro_entries__(self, bases):
            return (self._real(),)

        def __call__(self, *args, **kwargs):
            return self._real()(*args, **kwargs)

        def __getattr__(self, name: str):
            if name in ("__name__", "__qualname__"):  # for messages: no import needed
                return self._where.rsplit(".", 1)[-1]
            if name.startswith("__"):
                raise AttributeError(name)  # a probe (doctest, copy), not a use
            return getattr(self._real(), name)

        def __repr__(self) -> str:
            return f"<MXNet class mxnet.{self._where}>"

    Block = _MXNetClass("gluon.Block")
    Context = _MXNetClass("Context")
    HybridBlock = _MXNetClass("gluon.HybridBlock")
    Initializer = _MXNetClass("init.Initializer")
    Parameter = _MXNetClass("gluon.Parameter")
    ParameterDict = _MXNetClass("gluon.ParameterDict")
