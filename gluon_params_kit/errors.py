"""Every error class of the kit, and the helpers that word its messages.

One base, :class:`ParamsKitError`; each specific error also subclasses the matching
built-in, so ``except KeyError`` around ``get(net, '0.9.weight')`` works, and so does
``except ParamsKitError`` around anything the kit does.

The argument's concern picks the class, whatever function receives it: a context is a
``DeviceError``, a pattern a ``SelectionError``, a path a ``PathError``; an argument of
the wrong type raises its family's ``*TypeError``, which is also a ``TypeError``.

The whole hierarchy (built-ins in brackets; ``tests/test_errors.py`` checks it against
the classes)::

    ParamsKitError (Exception)
    ├── PathError (KeyError)
    │   └── PathTypeError (TypeError)
    ├── SelectionError (ValueError)
    │   └── SelectionTypeError (TypeError)
    ├── InspectionError (ValueError)
    │   └── InspectionTypeError (TypeError)
    ├── InitializerError (ValueError)
    │   └── InitializerTypeError (TypeError)
    ├── TieError (ValueError)
    │   └── TieTypeError (TypeError)
    ├── CheckpointError (ValueError)
    │   ├── CheckpointTypeError (TypeError)
    │   └── CheckpointWriteError (OSError)
    ├── DeviceError (ValueError)
    │   └── DeviceTypeError (TypeError)
    └── MXNetImportError (ImportError)

    LoadWarning (UserWarning)
"""
from __future__ import annotations

import difflib
from typing import Iterable, List, Sequence

__all__ = [
    "CheckpointError", "CheckpointTypeError", "CheckpointWriteError", "DeviceError", "DeviceTypeError",
    "InitializerError", "InitializerTypeError", "InspectionError", "InspectionTypeError", "LoadWarning",
    "MXNetImportError", "ParamsKitError", "PathError", "PathTypeError", "SelectionError", "SelectionTypeError",
    "TieError", "TieTypeError", "closest", "did_you_mean", "listing",
]


class ParamsKitError(Exception):
    """Base class of every error gluon_params_kit raises on purpose.

    Each specific error also subclasses the built-in a caller would expect:

    >>> issubclass(PathError, KeyError), issubclass(CheckpointError, ValueError)
    (True, True)
    """


class PathError(ParamsKitError, KeyError):
    """A structural path, auto name or tuple that does not resolve in a block.

    >>> str(PathError("no '5' at 0"))  # shown as written, not repr()'d as KeyError does
    "no '5' at 0"
    """

    def __str__(self) -> str:  # KeyError would repr() the message; show it as written
        return str(self.args[0]) if self.args else ""


class SelectionError(ParamsKitError, ValueError):
    """A pattern that is invalid or selects nothing, or a bad selection option."""


class InspectionError(ParamsKitError, ValueError):
    """A bad option passed to ``summary``, ``stats`` or ``plot_histograms``."""


class InitializerError(ParamsKitError, ValueError):
    """An unknown initializer name, bad spec or arguments, or an init plan that cannot apply."""


class TieError(ParamsKitError, ValueError):
    """Parameters that cannot be tied (shape, dtype, grad_req, missing path, self-tie)."""


class CheckpointError(ParamsKitError, ValueError):
    """A checkpoint that cannot be read, or cannot be loaded into a block as asked.

    >>> CheckpointError("2 missing keys", report=None).report is None
    True
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        #: The ``LoadReport`` behind a failed load, when there is one.
        self.report = report


class CheckpointWriteError(CheckpointError, OSError):
    """A file that cannot be written: no space left on the device, no permission...

    Also an ``OSError`` (with ``errno``, e.g. ``errno.ENOSPC``); the previous file is
    always left as it was.

    >>> import errno
    >>> e = CheckpointWriteError("cannot write 'a': no space left on device", errno.ENOSPC)
    >>> str(e), e.errno == errno.ENOSPC, isinstance(e, OSError)
    ("cannot write 'a': no space left on device", True, True)
    """

    def __init__(self, message: str, errno: "int | None" = None):
        super().__init__(message)
        self.errno = errno

    def __str__(self) -> str:  # OSError would print "[Errno 28] None"
        return str(self.args[0]) if self.args else ""


class DeviceError(ParamsKitError, ValueError):
    """A context, replica or kvstore operation that cannot be done as asked.

    Every bad context argument is a ``DeviceError``, whatever function receives it
    (``load(..., ctx=...)`` and ``InitPlan.apply(..., ctx=...)`` as much as ``move``).
    """


class MXNetImportError(ParamsKitError, ImportError):
    """MXNet is needed and cannot be imported here (not installed, numpy 2, Python 3.13+, a
    broken install): one line that names the install command (``gluon-params``: exit code 2).

    The file tools never raise it: they need numpy only.

    >>> issubclass(MXNetImportError, ImportError)
    True
    """


# An argument of the wrong type is a TypeError as well as its module's error, so both
# ``except TypeError`` and ``except CheckpointError`` (etc.) catch it.

class PathTypeError(PathError, TypeError):
    """A block or path argument of the wrong type (not a Block, not a path form).

    >>> isinstance(PathTypeError("block must be a Block"), TypeError)
    True
    """


class SelectionTypeError(SelectionError, TypeError):
    """A selection argument of the wrong type (a multiplier that is not a number, a flag
    that is not a bool...)."""


class InspectionTypeError(InspectionError, TypeError):
    """An inspection option of the wrong type (``bins='10'``, ``stats='yes'``...)."""


class InitializerTypeError(InitializerError, TypeError):
    """An initializer argument of the wrong type (a spec argument, a block)."""


class TieTypeError(TieError, TypeError):
    """A tying argument of the wrong type (``layer``, ``target``, ``source`` or ``root`` not a
    Block, ``times`` not an int...)."""


class CheckpointTypeError(CheckpointError, TypeError):
    """A checkpoint argument of the wrong type: a ``None`` or int file path, a non-Block.

    >>> issubclass(CheckpointTypeError, TypeError), issubclass(CheckpointTypeError, ValueError)
    (True, True)
    """


class DeviceTypeError(DeviceError, TypeError):
    """A device argument of the wrong type: a context that is not an ``mx.Context``, a
    tolerance that is not a number...

    >>> issubclass(DeviceTypeError, DeviceError), issubclass(DeviceTypeError, TypeError)
    (True, True)
    """


class LoadWarning(UserWarning):
    """A ``load(..., strict=False)`` left Parameters at their initial values (how many, and
    how many values, is in the message and in ``LoadReport.not_loaded``)."""


def closest(word: str, choices: Iterable[str], n: int = 3) -> List[str]:
    """The choices nearest to ``word`` (difflib ratio), best first, for "did you mean" hints.

    >>> closest('dense0_wieght', ['dense0_weight', 'dense0_bias', 'dense1_weight'])
    ['dense0_weight', 'dense1_weight', 'dense0_bias']
    """
    return difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.5)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` naming the closest choices, or ``''`` when none is close.

    >>> did_you_mean('dense0_wieght', ['dense0_weight', 'conv3_bias'])
    " Did you mean 'dense0_weight'?"
    """
    hint = closest(word, choices)
    return f" Did you mean {listing(hint)}?" if hint else ""


def listing(items: Sequence[str], limit: int = 8) -> str:
    """Comma-separated, quoted, cut to ``limit`` items with a count of the rest.

    >>> listing(['a', 'b', 'c'], limit=2)
    "'a', 'b' (+1 more)"
    """
    items = list(items)
    shown = ", ".join(repr(i) for i in items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")
