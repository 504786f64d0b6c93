"""The errors module itself: the class hierarchy, its drawing, and the built-ins each class extends.

The bad inputs of each feature live beside it, in ``tests/test_errors_<feature>.py``
(tree, select, inspection, initializers, tying, devices, checkpoint); together they are the
bad-input suite that ``tests/reliability/test_np_mode.py`` replays in np mode.
"""
import importlib
import inspect
import re

import pytest
from mxnet import gluon

from gluon_params_kit import errors
from gluon_params_kit._core.validate import type_error_of
from gluon_params_kit.select import select
from gluon_params_kit.tree import get

#: Every module that raises kit errors: imported so that every error class is defined.
FEATURES = ["tree", "select", "inspection", "initializers", "tying", "checkpoint", "training",
            "devices", "cli"]
_LINE = re.compile(r"^(?P<indent>[│├└─ ]*)(?P<name>\w+) \((?P<bases>\w+(?:, \w+)*)\)$")


def drawn_hierarchy():
    """The tree drawn in ``errors.__doc__``: class name -> names of its bases, in order."""
    block = errors.__doc__.split("::\n", 1)[1]
    drawn, stack = {}, []
    for line in block.splitlines():
        if not line.strip():
            continue
        assert line.startswith("    "), f"the drawing ends the docstring; stray line {line!r}"
        m = _LINE.match(line[4:])
        assert m, f"cannot read the drawn line {line!r}"
        depth = len(m["indent"]) // 4
        del stack[depth:]
        assert len(stack) == depth, f"{m['name']} is drawn under no parent"
        name = m["name"]
        assert name not in drawn, f"{name} is drawn twice"
        drawn[name] = tuple(stack[-1:]) + tuple(m["bases"].split(", "))
        stack.append(name)
    return drawn


def real_hierarchy():
    """Every exception or warning class defined in ``errors``: name -> names of its bases."""
    return {name: tuple(b.__name__ for b in cls.__bases__)
            for name, cls in vars(errors).items()
            if inspect.isclass(cls) and issubclass(cls, BaseException)
            and cls.__module__ == errors.__name__}


def test_the_drawn_hierarchy_is_the_real_one():
    drawn, real = drawn_hierarchy(), real_hierarchy()
    assert set(drawn) == set(real), (f"drawn, not defined: {sorted(set(drawn) - set(real))}; "
                                     f"defined, not drawn: {sorted(set(real) - set(drawn))}")
    for name, bases in real.items():
        assert drawn[name] == bases, f"{name} is drawn with bases {drawn[name]}, defined with {bases}"


def test_every_error_class_is_in_all_and_in_errors():
    assert set(real_hierarchy()) <= set(errors.__all__)
    for feature in FEATURES:
        importlib.import_module(f"gluon_params_kit.{feature}")
    found, todo = set(), [errors.ParamsKitError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("gluon_params_kit"):
            found.add(cls)
    elsewhere = sorted(f"{c.__module__}.{c.__qualname__}" for c in found
                       if c.__module__ != errors.__name__)
    assert not elsewhere, f"error classes belong in errors.py: {elsewhere}"


def test_each_family_subclasses_a_builtin_and_has_one_type_error():
    families = errors.ParamsKitError.__subclasses__()
    assert families, "no error family"
    for base in families:
        if base is errors.MXNetImportError:  # the environment, not an argument: no type family
            assert base.__bases__ == (errors.ParamsKitError, ImportError) and not base.__subclasses__()
            continue
        builtins = [b for b in base.__bases__ if b is not errors.ParamsKitError]
        assert builtins and all(b.__module__ == "builtins" for b in builtins), base
        type_errors = [c for c in base.__subclasses__() if issubclass(c, TypeError)]
        assert len(type_errors) == 1, f"{base.__name__}: {type_errors}"
        assert type_errors[0].__name__ == base.__name__.replace("Error", "TypeError")
        assert type_error_of(base) is type_errors[0] and type_error_of(type_errors[0]) is type_errors[0]


def test_a_drawing_that_differs_is_caught(monkeypatch):
    """The check above would notice a class moved, added or left out of the drawing."""
    doc = errors.__doc__
    moved = doc.replace("    │   └── PathTypeError (TypeError)\n", "").replace(
        "    └── DeviceError (ValueError)\n", "    └── DeviceError (ValueError)\n        ├── PathTypeError (TypeError)\n")
    for wrong in (moved, doc.replace("SelectionTypeError (TypeError)", "SelectionTypeError (ValueError)"),
                  doc.replace("    LoadWarning (UserWarning)\n", "")):
        assert wrong != doc
        monkeypatch.setattr(errors, "__doc__", wrong)
        with pytest.raises(AssertionError):
            test_the_drawn_hierarchy_is_the_real_one()


def test_errors_are_catchable_as_builtins():
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(2))
    with pytest.raises(ValueError):
        select(net, "(")
    with pytest.raises(KeyError):
        get(net, "5")
