"""gluon_params_kit: exact, Gluon-compatible tools for a network's parameters (MXNet 1.9.1).

Import it next to mxnet; every function takes and returns real ``mxnet.gluon`` objects.
"""
from . import _compat  # noqa: F401  (numpy shim before anything imports mxnet)
from .errors import CheckpointError
from .errors import DeviceError
from .errors import InitializerError
from .errors import ParamsKitError
from .errors import PathError
from .errors import SelectionError
from .errors import TieError
from .tree import LegacyNames
from .tree import PathLike
from .tree import format_path
from .tree import fresh_names
from .tree import get
from .tree import legacy_names
from .tree import match_legacy_names
from .tree import named_blocks
from .tree import named_parameters
from .tree import parse_path
from .tree import path_of
from .tree import render_tree
from .tree import walk
from .select import Changes
from .select import Selection
from .select import freeze
from .select import make_matcher
from .select import select
from .select import set_multipliers
from .select import unfreeze
from .select import MODES
from .select import ONS
from .select import Pattern

__version__ = "0.1.0"

__all__ = sorted([
    "Changes",
    "MODES",
    "ONS",
    "Pattern",
    "Selection",
    "freeze",
    "make_matcher",
    "render_tree",
    "select",
    "set_multipliers",
    "unfreeze",
    "CheckpointError",
    "DeviceError",
    "InitializerError",
    "LegacyNames",
    "PathLike",
    "ParamsKitError",
    "PathError",
    "SelectionError",
    "TieError",
    "format_path",
    "fresh_names",
    "get",
    "legacy_names",
    "match_legacy_names",
    "named_blocks",
    "named_parameters",
    "parse_path",
    "path_of",
    "walk",
])
