"""One helper for the reports that build many small objects at once: :func:`paused`.

Building the report of a net with 10^5 Parameters allocates hundreds of thousands of small
dicts, lists and strings. Each allocation-triggered run of Python's cyclic garbage
collector walks every tracked object of the process (the net itself holds several per
Parameter), so in a big process those runs can cost as much as the report. The reports
create no reference cycles (reference counting frees them), so the collector is paused
while they are built and restored (to its previous state) afterwards.
"""
from __future__ import annotations

import functools
import gc
from typing import Callable, TypeVar

__all__ = ["paused"]

F = TypeVar("F", bound=Callable)


def paused(fn: F) -> F:
    """Decorate ``fn`` to run with the cyclic garbage collector paused (reentrant).

    >>> @paused
    ... def build():
    ...     return gc.isenabled()
    >>> build(), gc.isenabled()
    (False, True)
    """
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if not gc.isenabled():  # already paused (a nested report) or off by the user's choice
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()
    return run  # type: ignore[return-value]
