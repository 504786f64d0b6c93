"""Per-array overhead: ``diff`` and ``export_npz`` of files of 1k, 10k and 100k small arrays.

Every file holds N float32 arrays of 16 values (``layer{i}.weight``), so the time is the
per-array work, not the bytes. Samples alternate kit / baseline; the best of each is kept.

1. ``diff`` of two ``.safetensors`` files (b = a with one array in ten changed) vs what a
   user writes by hand with the safetensors library: ``safetensors.numpy.load_file`` of
   both, then ``max|a-b|`` per key with numpy. Target: ratio <= 2 (the kit also computes
   the relative L2 distance and cosine, in float64, and reads each file from one open
   file, checked not to change meanwhile).
2. ``diff`` of ``.params`` vs ``.npz`` (numpy-only readers: no ``mx.nd.load``) vs reading
   both files' bytes (``open().read()``) and ``safetensors`` loading the same values from a
   ``.safetensors`` twin: printed as information with the per-array time.
3. ``export_npz`` of the ``.safetensors`` file (``fsync=False``) vs ``numpy.savez`` of
   ``load_file``'s arrays (what a user writes). Target: ratio <= 2.
4. Flatness: the kit's CPU time per array (``time.process_time``, best of 2: on a shared
   box wall time follows the neighbours' load) at the largest N over the smallest.
   Target <= 1.5 (issue 33: per-array work flat from 1k to 100k arrays).

Usage: python benchmarks/bench_per_array.py [--quick]   (--quick: 1k and 5k arrays)
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
import numpy as onp  # noqa: E402
from _timing import alternate, fmt_time, line  # noqa: E402  (this folder is sys.path[0])
from safetensors.numpy import load_file, save_file  # noqa: E402

from gluon_params_kit._io import params as _params  # noqa: E402
from gluon_params_kit.checkpoint import diff, export_npz  # noqa: E402

RATIO_TARGET = 2.0
FLAT_TARGET = 1.5
VALUES = 16


def _files(folder: Path, n: int):
    a = {f"layer{i}.weight": onp.full(VALUES, i, "float32") for i in range(n)}
    b = {k: (v + 1 if i % 10 == 0 else v) for i, (k, v) in enumerate(a.items())}
    paths = {"a.safetensors": folder / f"a{n}.safetensors", "b.safetensors": folder / f"b{n}.safetensors",
             "a.params": folder / f"a{n}.params", "b.npz": folder / f"b{n}.npz"}
    save_file(a, str(paths["a.safetensors"]))
    save_file(b, str(paths["b.safetensors"]))
    with open(paths["a.params"], "wb") as f:  # what nd.save writes, without n NDArrays
        for piece in _params.dense_pieces([(k, (VALUES,), 1, 0, "float32", v) for k, v in a.items()]):
            f.write(piece)
    onp.savez(paths["b.npz"], **b)
    return paths


def _by_hand(pa: Path, pb: Path) -> dict:
    a, b = load_file(str(pa)), load_file(str(pb))
    return {k: float(onp.abs(a[k].astype("f8") - b[k]).max()) for k in a if k in b}


def _read_bytes(*paths: Path) -> int:
    total = 0
    for p in paths:
        with open(p, "rb") as f:
            total += len(f.read())
    return total


def _cpu(fn, repeat: int = 3) -> float:  # best of 3: a preempted 1.3 s run loses its caches
    times = []
    for _ in range(repeat):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return min(times)


def bench(folder: Path, sizes) -> bool:
    ok = True
    per_array = {"diff": {}, "export": {}}
    rounds = 3
    for n in sizes:
        p = _files(folder, n)
        out_kit, out_np = folder / "kit.npz", folder / "np.npz"
        report = diff(p["a.safetensors"], p["b.safetensors"])
        assert len(report.changed) == -(-n // 10), report.title
        t = alternate({
            "kit": lambda: diff(p["a.safetensors"], p["b.safetensors"]),
            "hand": lambda: _by_hand(p["a.safetensors"], p["b.safetensors"]),
        }, rounds)
        per_array["diff"][n] = _cpu(lambda: diff(p["a.safetensors"], p["b.safetensors"])) / n
        ok &= line(f"diff per array, {n} arrays (.safetensors, vs load_file + numpy)", t["kit"] / t["hand"],
                   RATIO_TARGET, measured=f"{fmt_time(t['kit'] / n)}/array",
                   native=f"{fmt_time(t['hand'] / n)}/array")
        t2 = alternate({
            "kit": lambda: diff(p["a.params"], p["b.npz"]),
            "bytes": lambda: _read_bytes(p["a.params"], p["b.npz"]),
        }, rounds)
        print(f"  diff .params vs .npz, {n} arrays: {fmt_time(t2['kit'] / n)}/array "
              f"(reading both files' bytes: {fmt_time(t2['bytes'] / n)}/array)", flush=True)
        t = alternate({
            "kit": lambda: export_npz(p["a.safetensors"], out_kit, fsync=False),
            "hand": lambda: onp.savez(out_np, **load_file(str(p["a.safetensors"]))),
        }, rounds)
        per_array["export"][n] = _cpu(lambda: export_npz(p["a.safetensors"], out_kit, fsync=False)) / n
        ok &= line(f"export_npz per array, {n} arrays (vs numpy.savez of load_file)", t["kit"] / t["hand"],
                   RATIO_TARGET, measured=f"{fmt_time(t['kit'] / n)}/array",
                   native=f"{fmt_time(t['hand'] / n)}/array")
        for path in p.values():
            path.unlink()
    small, large = min(sizes), max(sizes)
    for what, times in per_array.items():
        ok &= line(f"{what} per-array CPU time, {large} over {small} arrays", times[large] / times[small],
                   FLAT_TARGET, measured=f"{fmt_time(times[large])}/array at {large}",
                   native=f"{fmt_time(times[small])}/array at {small}")
    return ok


def main(argv) -> int:
    sizes = (1000, 5000) if "--quick" in argv else (1000, 10000, 100000)
    folder = Path(tempfile.mkdtemp(prefix="gpk_per_array_"))
    try:
        return 0 if bench(folder, sizes) else 1
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
