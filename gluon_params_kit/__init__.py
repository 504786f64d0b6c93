"""gluon_params_kit: exact, Gluon-compatible tools for a network's parameters (MXNet 1.9.1).

Import it next to mxnet; every function takes and returns real ``mxnet.gluon`` objects.
One module per concept around one backbone, structural paths (``tree``); this module
re-exports each module's public names.
"""
from . import _compat  # noqa: F401  (numpy shim before anything imports mxnet)
from .errors import CheckpointError
from .errors import DeviceError
from .errors import InitializerError
from .errors import LoadWarning
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
from .select import MODES
from .select import ONS
from .select import Pattern
from .select import Selection
from .select import accumulate_gradients
from .select import freeze
from .select import make_matcher
from .select import select
from .select import set_multipliers
from .select import unfreeze
from .inspection import InspectionError
from .inspection import ParamStats
from .inspection import Summary
from .inspection import plot_histograms
from .inspection import stats
from .inspection import summary
from .initializers import InitPlan
from .initializers import InitPreview
from .initializers import PlannedInit
from .initializers import derive_seed
from .initializers import get_initializer
from .initializers import list_initializers
from .initializers import provenance
from .initializers import register_initializer
from .initializers import reinitialize
from .tying import TiedGroup
from .tying import TiedGroups
from .tying import TransposedDense
from .tying import check_tied_gradients
from .tying import repeat_tied
from .tying import tie
from .tying import tied_copy
from .tying import tied_groups
from .checkpoint import ArrayInfo
from .checkpoint import DiffReport
from .checkpoint import Header
from .checkpoint import LoadReport
from .checkpoint import Remap
from .checkpoint import collapse_keys
from .checkpoint import convert
from .checkpoint import diff
from .checkpoint import export_npz
from .checkpoint import load
from .checkpoint import read_header
from .checkpoint import save
from .devices import Checksums
from .devices import MoveReport
from .devices import ReplicaReport
from .devices import available_contexts
from .devices import broadcast
from .devices import checksum
from .devices import gpu_problems
from .devices import move
from .devices import replica_report
from .devices import set_data_everywhere
from .devices import sync_replicas
from .devices import try_all_gpus
from .devices import try_gpu

__version__ = "0.1.0"

__all__ = [
    "ArrayInfo",
    "Changes",
    "CheckpointError",
    "Checksums",
    "DeviceError",
    "DiffReport",
    "Header",
    "InitPlan",
    "InitPreview",
    "InitializerError",
    "InspectionError",
    "LegacyNames",
    "LoadReport",
    "LoadWarning",
    "MODES",
    "MoveReport",
    "ONS",
    "ParamStats",
    "ParamsKitError",
    "PathError",
    "PathLike",
    "Pattern",
    "PlannedInit",
    "Remap",
    "ReplicaReport",
    "Selection",
    "SelectionError",
    "Summary",
    "TieError",
    "TiedGroup",
    "TiedGroups",
    "TransposedDense",
    "accumulate_gradients",
    "available_contexts",
    "broadcast",
    "check_tied_gradients",
    "checksum",
    "collapse_keys",
    "convert",
    "derive_seed",
    "diff",
    "export_npz",
    "format_path",
    "freeze",
    "fresh_names",
    "get",
    "get_initializer",
    "gpu_problems",
    "legacy_names",
    "list_initializers",
    "load",
    "make_matcher",
    "match_legacy_names",
    "move",
    "named_blocks",
    "named_parameters",
    "parse_path",
    "path_of",
    "plot_histograms",
    "provenance",
    "read_header",
    "register_initializer",
    "reinitialize",
    "render_tree",
    "repeat_tied",
    "replica_report",
    "save",
    "select",
    "set_data_everywhere",
    "set_multipliers",
    "stats",
    "summary",
    "sync_replicas",
    "tie",
    "tied_copy",
    "tied_groups",
    "try_all_gpus",
    "try_gpu",
    "unfreeze",
    "walk",
]
