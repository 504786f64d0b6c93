"""gluon_params_kit: exact, Gluon-compatible tools for a network's parameters (MXNet 1.9.1).

Import it next to mxnet; every function takes and returns real ``mxnet.gluon`` objects.
One module per concept around one backbone, structural paths (``tree``); this module
re-exports each module's public names.

The names are loaded on first use (PEP 562): ``import gluon_params_kit as gpk`` imports
only numpy and restores the numpy aliases MXNet 1.9.1 needs (so ``import mxnet`` after it
works on numpy 1.26); ``gpk.summary`` or ``from gluon_params_kit import summary`` imports
the module that defines the name, and mxnet when that module uses it. The file tools
(``read_header``, ``read_array``, ``convert``, ``diff``, ``export_npz``; ``gluon-params
inspect``, ``diff``, ``convert``, ``export``) never import mxnet: they start fast and work
where mxnet cannot run (numpy 2, Python 3.13); only ``convert`` to a ``.params`` file still
writes it through mxnet. Where mxnet is needed and missing, the first
use raises :class:`~gluon_params_kit.errors.MXNetImportError`, one line naming the install.
"""
import importlib as _importlib
import os as _os
import sys as _sys
import types as _types
from typing import TYPE_CHECKING as _TYPE_CHECKING

from . import _shim  # noqa: F401  (numpy aliases before anything imports mxnet)

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    # errors
    "CheckpointError": "errors",
    "DeviceError": "errors",
    "InitializerError": "errors",
    "LoadWarning": "errors",
    "ParamsKitError": "errors",
    "PathError": "errors",
    "SelectionError": "errors",
    "TieError": "errors",
    # tree
    "LegacyNames": "tree",
    "ParamPath": "tree",
    "format_path": "tree",
    "fresh_names": "tree",
    "get": "tree",
    "legacy_names": "tree",
    "match_legacy_names": "tree",
    "named_blocks": "tree",
    "named_parameters": "tree",
    "parse_path": "tree",
    "path_of": "tree",
    "PathIndex": "tree",
    "render_tree": "tree",
    "walk": "tree",
    # select
    "Changes": "select",
    "MODES": "select",
    "MATCH_ON": "select",
    "Pattern": "select",
    "Selection": "select",
    "accumulate_gradients": "select",
    "freeze": "select",
    "make_matcher": "select",
    "matching_groups": "select",
    "select": "select",
    "set_multipliers": "select",
    "unfreeze": "select",
    # inspection
    "InspectionError": "errors",
    "ParamStats": "inspection",
    "Summary": "inspection",
    "plot_histograms": "inspection",
    "stats": "inspection",
    "StatsReport": "inspection",
    "summary": "inspection",
    "trace_outputs": "inspection",
    # initializers
    "InitPlan": "initializers",
    "InitPreview": "initializers",
    "InitReport": "initializers",
    "PlannedInit": "initializers",
    "derive_seed": "initializers",
    "get_initializer": "initializers",
    "list_initializers": "initializers",
    "provenance": "initializers",
    "ProvenanceReport": "initializers",
    "register_initializer": "initializers",
    "reinitialize": "initializers",
    # tying
    "TieReport": "tying",
    "TiedGradientCheck": "tying",
    "TiedGroup": "tying",
    "TiedGroups": "tying",
    "TransposedDense": "tying",
    "check_tied_gradients": "tying",
    "repeat_tied": "tying",
    "tie": "tying",
    "tied_copy": "tying",
    "tied_groups": "tying",
    # checkpoint
    "ArrayInfo": "checkpoint",
    "DiffReport": "checkpoint",
    "Header": "checkpoint",
    "LoadReport": "checkpoint",
    "Remap": "checkpoint",
    "collapse_keys": "checkpoint",
    "convert": "checkpoint",
    "diff": "checkpoint",
    "export_npz": "checkpoint",
    "load": "checkpoint",
    "read_array": "checkpoint",
    "read_header": "checkpoint",
    "save": "checkpoint",
    "split_key": "checkpoint",
    # devices
    "Checksums": "devices",
    "MoveReport": "devices",
    "ReplicaReport": "devices",
    "available_contexts": "devices",
    "broadcast": "devices",
    "checksum": "devices",
    "gpu_problems": "devices",
    "num_gpus": "devices",
    "move": "devices",
    "replica_report": "devices",
    "set_data_everywhere": "devices",
    "sync_replicas": "devices",
    "try_all_gpus": "devices",
    "try_gpu": "devices",
    # interop (optional extras: torch, onnx)
    "Divergence": "interop",
    "ONNX_WORKS": "interop",
    "OutputComparison": "interop",
    "OutputDiff": "interop",
    "PairedKey": "interop",
    "TorchPairing": "interop",
    "compare_outputs": "interop",
    "export_onnx": "interop",
    "from_torch": "interop",
    "to_torch": "interop",
    # training
    "TrainingReport": "training",
    "load_training": "training",
    "read_training": "training",
    "save_training": "training",
}
#: modules reachable as attributes without an explicit import (``gpk.chapter.rgnet``)
_SUBMODULES = ("checkpoint", "chapter", "cli", "devices", "errors", "exercises", "initializers",
               "inspection", "interop", "select", "training", "tree", "tying")

__all__ = [
    "ArrayInfo",
    "Changes",
    "CheckpointError",
    "Checksums",
    "DeviceError",
    "DiffReport",
    "Divergence",
    "Header",
    "InitPlan",
    "InitPreview",
    "InitReport",
    "InitializerError",
    "InspectionError",
    "LegacyNames",
    "LoadReport",
    "LoadWarning",
    "MATCH_ON",
    "MODES",
    "MoveReport",
    "ONNX_WORKS",
    "OutputComparison",
    "OutputDiff",
    "PairedKey",
    "ParamPath",
    "ParamStats",
    "ParamsKitError",
    "PathError",
    "PathIndex",
    "Pattern",
    "PlannedInit",
    "ProvenanceReport",
    "Remap",
    "ReplicaReport",
    "Selection",
    "SelectionError",
    "StatsReport",
    "Summary",
    "TieError",
    "TieReport",
    "TiedGradientCheck",
    "TiedGroup",
    "TiedGroups",
    "TorchPairing",
    "TrainingReport",
    "TransposedDense",
    "accumulate_gradients",
    "available_contexts",
    "broadcast",
    "check_tied_gradients",
    "checksum",
    "collapse_keys",
    "compare_outputs",
    "convert",
    "derive_seed",
    "diff",
    "export_npz",
    "export_onnx",
    "format_path",
    "freeze",
    "fresh_names",
    "from_torch",
    "get",
    "get_initializer",
    "gpu_problems",
    "legacy_names",
    "list_initializers",
    "load",
    "load_training",
    "make_matcher",
    "match_legacy_names",
    "matching_groups",
    "move",
    "named_blocks",
    "named_parameters",
    "num_gpus",
    "parse_path",
    "path_of",
    "plot_histograms",
    "provenance",
    "read_array",
    "read_header",
    "read_training",
    "register_initializer",
    "reinitialize",
    "render_tree",
    "repeat_tied",
    "replica_report",
    "save",
    "save_training",
    "select",
    "set_data_everywhere",
    "set_multipliers",
    "split_key",
    "stats",
    "summary",
    "sync_replicas",
    "tie",
    "tied_copy",
    "tied_groups",
    "to_torch",
    "trace_outputs",
    "try_all_gpus",
    "try_gpu",
    "unfreeze",
    "walk",
]


if _TYPE_CHECKING:  # the same names, statically, for editors and type checkers (run time: __getattr__)
    from .checkpoint import (
        ArrayInfo,
        DiffReport,
        Header,
        LoadReport,
        Remap,
        collapse_keys,
        convert,
        diff,
        export_npz,
        load,
        read_array,
        read_header,
        save,
        split_key,
    )
    from .devices import (
        Checksums,
        MoveReport,
        ReplicaReport,
        available_contexts,
        broadcast,
        checksum,
        gpu_problems,
        move,
        num_gpus,
        replica_report,
        set_data_everywhere,
        sync_replicas,
        try_all_gpus,
        try_gpu,
    )
    from .errors import (
        CheckpointError,
        DeviceError,
        InitializerError,
        InspectionError,
        LoadWarning,
        ParamsKitError,
        PathError,
        SelectionError,
        TieError,
    )
    from .initializers import (
        InitPlan,
        InitPreview,
        InitReport,
        PlannedInit,
        ProvenanceReport,
        derive_seed,
        get_initializer,
        list_initializers,
        provenance,
        register_initializer,
        reinitialize,
    )
    from .inspection import ParamStats, StatsReport, Summary, plot_histograms, stats, summary, trace_outputs
    from .interop import (
        ONNX_WORKS,
        Divergence,
        OutputComparison,
        OutputDiff,
        PairedKey,
        TorchPairing,
        compare_outputs,
        export_onnx,
        from_torch,
        to_torch,
    )
    from .select import (
        MATCH_ON,
        MODES,
        Changes,
        Pattern,
        Selection,
        accumulate_gradients,
        freeze,
        make_matcher,
        matching_groups,
        select,
        set_multipliers,
        unfreeze,
    )
    from .training import TrainingReport, load_training, read_training, save_training
    from .tree import (
        LegacyNames,
        ParamPath,
        PathIndex,
        format_path,
        fresh_names,
        get,
        legacy_names,
        match_legacy_names,
        named_blocks,
        named_parameters,
        parse_path,
        path_of,
        render_tree,
        walk,
    )
    from .tying import (
        TiedGradientCheck,
        TiedGroup,
        TiedGroups,
        TieReport,
        TransposedDense,
        check_tied_gradients,
        repeat_tied,
        tie,
        tied_copy,
        tied_groups,
    )


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'gluon_params_kit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


class _Package(_types.ModuleType):
    def __setattr__(self, name, value):
        # Importing the submodule `select` sets the package's attribute `select` to that
        # module; the public name is the function select.select, as it always was.
        if name in _EXPORTS and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package


# Importing mxnet with DMLC_ROLE=scheduler or server runs that node of a dist_sync cluster
# (docs/devices.md, the cluster section): `python -c "import gluon_params_kit"` has always started one.
if _os.environ.get("DMLC_ROLE") in ("scheduler", "server"):
    from ._core.compat import load_mxnet as _load_mxnet  # noqa: E402

    _load_mxnet()
