"""Checkpoint I/O: ``read_header`` vs ``mx.nd.load``; ``save``/``load`` vs Gluon's own.

1. ``read_header`` lists names, shapes and dtypes of a file of >= 1 GB (written by
   ``mx.nd.save`` in a temporary folder, deleted afterwards) without reading the data;
   ``mx.nd.load`` reads it all. Target: at least 50x faster.
2. ``save`` vs ``save_parameters`` with the same guarantee, and ``load`` (header checks
   first, then MXNet's loader) vs ``load_parameters``, on the same MLP in the same folder.
   Samples alternate; the best of each is compared. Target: ratio <= 1.2. ``save`` is
   atomic (temporary file, rename) and flushes to disk first (``fsync``) unless
   ``fsync=False``; ``save_parameters`` overwrites in place. So each ``save`` is compared
   with what a careful user writes by hand for its guarantee (``save_parameters`` to a
   temporary file, with or without ``fsync``, rename). Against plain ``save_parameters``
   the ratio follows the disk's write-back state, not the kit: on ext4 a rename over an
   existing file starts writing the new one out (``auto_da_alloc``), and an ``fsync``
   waits for the disk (1.0x to 1.9x on this machine); it is printed as information.

Usage: python benchmarks/bench_checkpoint.py [--quick]   (--quick: a 16 MB file, small net)
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx  # noqa: E402
from _timing import best, line  # noqa: E402  (this folder is sys.path[0])
from mxnet.gluon import nn  # noqa: E402

from gluon_params_kit.checkpoint import load, read_header, save  # noqa: E402

HEADER_TARGET = 50.0
IO_TARGET = 1.2


def bench_header(folder: Path, total_mb: int) -> None:
    per_array = 64 if total_mb >= 256 else 4  # MB per array
    n = max(1, total_mb // per_array)
    elems = per_array * 2**20 // 4
    path = folder / "big.params"
    arrays = {f"layers.{i}.weight": mx.nd.ones((elems // 1024, 1024)) for i in range(n)}
    mx.nd.save(str(path), arrays)
    del arrays
    size = path.stat().st_size
    header = read_header(path)  # warm the page cache for both sides alike
    assert len(header) == n and header.total_bytes == n * elems * 4
    t_header = best(lambda: read_header(path), 20)

    def nd_load():
        loaded = mx.nd.load(str(path))
        mx.nd.waitall()
        del loaded

    t_load = best(nd_load, 2 if total_mb >= 256 else 5)
    line("read_header_vs_nd_load", t_load / t_header, HEADER_TARGET,
         f"  ({size / 2**30:.2f} GiB, {n} arrays; ratio = how many times faster)",
         higher_is_better=True, fmt=".3g", measured=f"{t_header * 1e3:.2f} ms",
         native=f"{t_load * 1e3:.0f} ms")
    path.unlink()


def mlp(width: int, depth: int):
    net = nn.HybridSequential()
    for _ in range(depth):
        net.add(nn.Dense(width, activation="relu"))
    net.add(nn.Dense(10))
    net.initialize()
    net(mx.nd.ones((1, width)))
    return net


def bench_io(folder: Path, width: int, depth: int, samples: int) -> None:
    net = mlp(width, depth)
    kit_file, gluon_file = folder / "kit.params", folder / "gluon.params"
    t_save = {"kit": [], "gluon": [], "kit_nofsync": [], "gluon_atomic": [],
              "gluon_atomic_nofsync": []}
    atomic_file = folder / "gluon_atomic.params"

    def gluon_atomic(fsync=True):
        # What a careful user writes by hand for the same guarantee: save_parameters to a
        # temporary file, fsync it (and the folder), rename it over the target.
        tmp = folder / ".gluon_atomic.tmp"
        net.save_parameters(str(tmp))
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, atomic_file)
        if fsync:
            fd = os.open(folder, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
    t_load = {"kit": [], "gluon": []}
    for _ in range(samples):
        t_save["gluon"].append(best(lambda: net.save_parameters(str(gluon_file)), 1))
        t_save["kit"].append(best(lambda: save(net, kit_file), 1))
        t_save["kit_nofsync"].append(best(lambda: save(net, kit_file, fsync=False), 1))
        t_save["gluon_atomic"].append(best(gluon_atomic, 1))
        t_save["gluon_atomic_nofsync"].append(best(lambda: gluon_atomic(fsync=False), 1))
        t_load["gluon"].append(best(lambda: (net.load_parameters(str(gluon_file)),
                                             mx.nd.waitall()), 1))
        t_load["kit"].append(best(lambda: (load(net, kit_file), mx.nd.waitall()), 1))
    assert kit_file.read_bytes() == gluon_file.read_bytes()
    mb = kit_file.stat().st_size / 2**20
    kit, gluon = min(t_load["kit"]), min(t_load["gluon"])
    line("load_vs_load_parameters", kit / gluon, IO_TARGET, f"  ({mb:.1f} MiB)", fmt=".3g",
         measured=f"{kit * 1e3:.1f} ms", native=f"{gluon * 1e3:.1f} ms")
    gluon = min(t_save["gluon"])
    for name, kit, by_hand, how in (
            ("save_nofsync_vs_save_parameters_rename_by_hand", min(t_save["kit_nofsync"]),
             min(t_save["gluon_atomic_nofsync"]), "to a temporary file, rename; neither flushed"),
            ("save_vs_save_parameters_fsync_rename_by_hand", min(t_save["kit"]),
             min(t_save["gluon_atomic"]), "to a temporary file, fsync, rename")):
        line(name, kit / by_hand, IO_TARGET, f"  ({mb:.1f} MiB; native: save_parameters {how})",
             fmt=".3g", measured=f"{kit * 1e3:.1f} ms", native=f"{by_hand * 1e3:.1f} ms")
        print(f"information: the same save / plain save_parameters (in place, no rename, "
              f"not flushed) = {kit / gluon:.2f} ({kit * 1e3:.1f} ms vs {gluon * 1e3:.1f} ms)",
              flush=True)


def main(argv) -> int:
    quick = "--quick" in argv
    folder = Path(tempfile.mkdtemp(prefix="bench_checkpoint_"))
    try:
        bench_header(folder, 16 if quick else 1024)
        if quick:
            bench_io(folder, width=256, depth=2, samples=5)
        else:
            bench_io(folder, width=2048, depth=4, samples=25)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
