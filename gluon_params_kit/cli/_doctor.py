"""``gluon-params doctor``: what this environment has, and the fix for each problem found.

It runs where it is needed most: without mxnet, with numpy 2, or with a broken mxnet,
it still prints its diagnosis and the fix (mxnet is imported inside :func:`diagnose`,
and its failure is one of the problems found).
"""
from __future__ import annotations

import json
import platform
import sys
from types import ModuleType
from typing import Dict, List, Optional, Tuple

from .. import _shim

__all__ = ["diagnose", "main"]

SUPPORTED_MXNET = "1.9.1"


def _mxnet_distributions() -> List[str]:
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return []
    names = set()
    for dist in metadata.distributions():
        meta = dist.metadata  # typeshed's PackageMetadata has no .get before Python 3.12
        name = (meta["Name"] if "Name" in meta else "").lower()
        if name == "mxnet" or name.startswith(("mxnet-cu", "mxnet-mkl", "mxnet-native")):
            names.add(f"{name}=={dist.version}")
    return sorted(names)


def _import_mxnet() -> Tuple[Optional[ModuleType], Optional[str]]:
    """(the kit's mxnet, None), or (None, why it cannot be imported, with the fix)."""
    try:
        from .._core.compat import load_mxnet
        mx = load_mxnet()
    except ImportError as exc:
        return None, str(exc)
    except Exception as exc:  # a broken build can fail in many ways: report, do not crash
        return None, (f"mxnet fails to import ({type(exc).__name__}: {exc}). Fix: pip install "
                      f"--force-reinstall 'mxnet=={SUPPORTED_MXNET}' '{_shim.numpy_pin()}'.")
    return mx, None


def _features(mx) -> Dict[str, bool]:
    try:
        feats = mx.runtime.Features()
        return {k: bool(feats.is_enabled(k)) for k in ("CUDA", "CUDNN", "NCCL", "DIST_KVSTORE", "MKLDNN")}
    except Exception:  # an old or broken build: report nothing rather than crash
        return {}


def diagnose() -> dict:
    """Collect versions, features and problems (each with its fix) into one dict.

    Returns:
        ``python``, ``numpy``, ``mxnet`` (``None`` when it cannot be imported), ``shim``
        (aliases restored), ``features``, ``gpus``, ``mxnet_distributions`` and
        ``problems`` (a list of sentences that each end with the fix). ``ok`` is True
        when there are no problems.

    Examples:
        >>> report = diagnose()
        >>> report['mxnet'], isinstance(report['problems'], list)
        ('1.9.1', True)
    """
    import numpy

    problems: List[str] = []
    py = sys.version_info
    if py >= (3, 13):
        problems.append(f"Python {py.major}.{py.minor}: MXNet 1.9.1 cannot run here (numpy<2 has no "
                        "wheels); the file tools (inspect, diff, convert, export) work. "
                        "Fix: use Python 3.11 (or 3.10/3.12) for the rest.")
    if _shim.NUMPY_VERSION >= (2, 0) and py < (3, 13):  # on 3.13 the Python line says it all
        problems.append(f"numpy {numpy.__version__} is installed; mxnet 1.9.1 needs numpy<2. "
                        f"Fix: pip install '{_shim.numpy_pin()}'.")
    mx, failure = _import_mxnet()
    dists = _mxnet_distributions()
    if mx is None and not dists and py < (3, 13):
        problems.append(f"mxnet is not installed. Fix: pip install 'mxnet=={SUPPORTED_MXNET}' "
                        f"(CPU; or the kit with its extra, gluon_params_kit[cpu]), or "
                        f"mxnet-cu112=={SUPPORTED_MXNET} for CUDA.")
    elif failure is not None and _shim.NUMPY_VERSION < (2, 0):  # with numpy 2, that is the cause
        problems.append(failure)
    elif mx is not None and mx.__version__ != SUPPORTED_MXNET:
        problems.append(f"mxnet {mx.__version__} is installed; the kit is built and tested on "
                        f"{SUPPORTED_MXNET}. Fix: pip install 'mxnet=={SUPPORTED_MXNET}'.")
    if len(dists) > 1:
        problems.append(f"several MXNet distributions are installed ({', '.join(dists)}); they "
                        "overwrite each other's files. Fix: pip uninstall all of them, then "
                        "install exactly one.")
    if _shim.SHIMMED_ALIASES and py < (3, 12):
        problems.append(f"numpy {numpy.__version__} lacks aliases mxnet uses; the kit restored "
                        f"{', '.join(_shim.SHIMMED_ALIASES)}, but plain `import mxnet` fails "
                        "elsewhere. Fix: pip install 'numpy<1.24'.")
    features: Dict[str, bool] = {}
    gpus = 0
    if mx is not None:
        from ..devices import gpu_problems, num_gpus
        features = _features(mx)
        gpus = num_gpus()
        if features.get("CUDA") and gpus == 0:
            problems.append("this MXNet build has CUDA but sees no GPU. Fix: check the NVIDIA "
                            "driver (nvidia-smi), or install the CPU build 'mxnet==1.9.1'.")
        problems.extend(gpu_problems())
    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "mxnet": mx.__version__ if mx is not None else None,
        "shim": list(_shim.SHIMMED_ALIASES),
        "features": features,
        "gpus": gpus,
        "mxnet_distributions": dists,
        "problems": problems,
        "ok": not problems,
    }


def main(as_json: bool = False) -> int:
    """Print the diagnosis (text or JSON); return 0 when healthy, 1 when problems were found."""
    report = diagnose()
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0 if report["ok"] else 1
    shim = ", ".join(report["shim"]) if report["shim"] else "not needed"
    feats = ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in report["features"].items()) or "unknown"
    lines = [
        f"python   {report['python']}",
        f"numpy    {report['numpy']}  (alias shim: {shim})",
        f"mxnet    {report['mxnet'] or 'cannot be imported'}  "
        f"({', '.join(report['mxnet_distributions']) or 'no mxnet distribution installed'})",
        f"features {feats}",
        f"gpus     {report['gpus']}",
    ]
    if report["ok"]:
        lines.append("verdict  ok: nothing to fix")
    else:
        lines.append(f"verdict  {len(report['problems'])} problem(s):")
        lines += [f"  - {p}" for p in report["problems"]]
    from .._core.display import printable  # a broken install's messages and names, shown safely
    print("\n".join(map(printable, lines)))
    return 0 if report["ok"] else 1
