"""ONNX export through ``mx.onnx`` with its traps handled, checked in onnxruntime.

Private: :func:`export_onnx` is re-exported by :mod:`gluon_params_kit.interop`.
"""
from __future__ import annotations

import json
import logging
import warnings
from collections import OrderedDict
from typing import Any, Dict, List, Tuple

from .._core.compat import gluon, mx
from .._core.validate import check_number
from .._io.files import atomic_write, check_target, file_path
from ..errors import CheckpointError, CheckpointTypeError
from ._compare import OutputComparison, OutputDiff, comparison, run_other
from ._layers import as_numpy, check_inputs, gluon_layers
from ._torch import check_net

__all__ = ["ONNX_WORKS", "check_onnx", "export_onnx", "fix_gamma_inputs"]

#: The onnx version ``mx.onnx`` of MXNet 1.9.1 is known to work with.
ONNX_WORKS = "1.15.0"


def check_onnx() -> str:
    """The installed onnx version, or an ImportError that says which one works."""
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(f"export_onnx needs onnx (the kit's optional 'onnx' extra): "
                          f"pip install onnx=={ONNX_WORKS}") from exc
    version = getattr(onnx, "__version__", "?")
    if not hasattr(onnx, "mapping"):
        raise ImportError(
            f"mx.onnx in MXNet 1.9.1 needs onnx.mapping, which onnx {version} no longer has (it would "
            f"fail with 'Onnx and protobuf need to be installed'); onnx {ONNX_WORKS} works: "
            f"pip install onnx=={ONNX_WORKS}")
    return version


def fix_gamma_inputs(symbol: Any) -> List[str]:
    """Names of the gamma inputs of every BatchNorm that ignores gamma (``fix_gamma``
    true, the operator's default when the attribute is absent)."""
    graph = json.loads(symbol.tojson())
    nodes = graph["nodes"]
    names = []
    for node in nodes:
        if node["op"] != "BatchNorm":
            continue
        attrs = node.get("attrs", node.get("param", {})) or {}
        if str(attrs.get("fix_gamma", "True")).lower() in ("true", "1"):
            names.append(nodes[node["inputs"][1][0]]["name"])
    return names


def _graph(net: Any, n_inputs: int) -> Tuple[Any, List[str]]:
    names = ["data"] if n_inputs == 1 else [f"data{i}" for i in range(n_inputs)]
    if isinstance(net, gluon.SymbolBlock):
        names = [s.name for s in net._cached_graph[0]] if net._cached_graph else names
    try:
        out = net(*[mx.sym.var(n) for n in names])
    except Exception as exc:  # a block that cannot run on symbols (not hybridizable)
        raise CheckpointError(f"cannot export {type(net).__name__} to ONNX: calling it on symbols failed "
                              f"({type(exc).__name__}: {exc}); every block must be a HybridBlock") from exc
    if isinstance(out, (list, tuple)):
        out = mx.sym.Group(list(out))
    return out, names


def export_onnx(net: Any, path: Any, *example_inputs: Any, atol: float = 1e-5) -> OutputComparison:
    version = check_onnx()
    if not isinstance(net, gluon.HybridBlock):
        raise CheckpointTypeError(f"net must be a Gluon HybridBlock (or SymbolBlock), not {type(net).__name__}")
    check_net(net)
    path = file_path(path, "export_onnx: path")
    check_number(atol, "atol", CheckpointError, minimum=0, where="export_onnx")
    if not example_inputs:
        raise CheckpointError("export_onnx needs one example input per net input (their shapes and dtypes "
                              "are the model's)")
    check_inputs(example_inputs, "export_onnx", "example_inputs")
    check_target(path)  # a folder that is missing, a target that is no regular file: before any work
    mine = gluon_layers(net, example_inputs, record=True, where="export_onnx")  # the inputs fit: before writing
    inputs = [as_numpy(x) for x in example_inputs]
    symbol, _ = _graph(net, len(inputs))
    wanted = set(symbol.list_arguments()) | set(symbol.list_auxiliary_states())
    params: Dict[str, Any] = {}
    for p in net.collect_params().values():
        if p.name in wanted:
            params[p.name] = p.data(p.list_ctx()[0])
    folded = [n for n in fix_gamma_inputs(symbol) if n in params]
    for name in folded:
        params[name] = mx.nd.ones_like(params[name])

    def write(tmp: str) -> None:
        level = logging.getLogger().level
        try:
            logging.getLogger().setLevel(max(level, logging.WARNING))
            with warnings.catch_warnings():  # its shape inference warns about the unnamed input's type
                warnings.simplefilter("ignore", UserWarning)
                mx.onnx.export_model(symbol, params, in_shapes=[x.shape for x in inputs],
                                     in_types=[x.dtype for x in inputs], onnx_file_path=tmp)
        except Exception as exc:  # written to a temporary file: removed, path untouched
            raise CheckpointError(f"mx.onnx could not export {type(net).__name__} to {path!r} "
                                  f"({type(exc).__name__}: {exc}); nothing was written") from exc
        finally:
            logging.getLogger().setLevel(level)

    atomic_write(path, write)
    lines = [f"onnx {version}; fix_gamma folded (gamma exported as 1): {len(folded)} BatchNorm"
             f"{'' if len(folded) == 1 else 's'}"]
    title = f"ONNX export of {type(net).__name__} to {path!r}"
    try:
        import onnxruntime
    except ImportError:
        lines.append("onnxruntime is not installed: the file was not run (pip install onnxruntime)")
        rows = OrderedDict((f"output {i}", OutputDiff(tuple(a.shape), (), None, None, None, None))
                           for i, a in enumerate(mine.final or []))
        return OutputComparison(rows, title=f"{title}: not run", lines=lines, path=path, folded=folded)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # mx.onnx lists initializers as inputs: one warning each
    try:
        session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        theirs = run_other(session, example_inputs, record=False, where="export_onnx")
    except Exception as exc:  # the file is written; what onnxruntime says is the answer
        lines.append(f"onnxruntime {onnxruntime.__version__} cannot run the file: {type(exc).__name__}: {exc}")
        rows = OrderedDict((f"output {i}", OutputDiff(tuple(a.shape), (), None, None, None, False))
                           for i, a in enumerate(mine.final or []))
        return OutputComparison(rows, title=f"{title}: onnxruntime FAILS", lines=lines, path=path, folded=folded)
    return comparison(net, session, mine, theirs, atol=atol, rtol=1e-5, layer_rtol=0.0,
                      title=f"{title}, MXNet vs onnxruntime {onnxruntime.__version__}", lines=lines,
                      path=path, folded=folded)
