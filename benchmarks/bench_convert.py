"""``convert`` streams file -> file: time against ``cp`` of the same bytes, and peak memory (issue 29).

Rows (each call in a fresh subprocess, alternating with its baseline; the best time of
``--repeat`` rounds is compared; "extra memory" is that process's peak RSS over the call,
imports and the header read excluded):

1. ``convert`` of a 1 GiB ``.params`` (sixteen 64 MiB float32 arrays) to ``.safetensors``
   vs ``cp`` of the file and an ``fsync`` of the copy (the kit flushes before its rename:
   like for like). Reading plus writing the bytes once is the floor; ``cp`` copies inside
   the kernel and so does the kit for big dense arrays. Target: ratio <= 1.5, extra
   memory <= 64 MiB.
2. The same to ``.npz`` (a zip of stored members: the kit reads the data once more for
   the CRC-32). Target: ratio <= 1.5, extra memory <= 64 MiB.

Usage: python benchmarks/bench_convert.py [--quick] [--repeat N] [--dir DIR]
(--quick: a 128 MiB file, to check the script itself).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import best_of, line, warm_file  # noqa: E402  (this folder is sys.path[0])

MiB = 2 ** 20

def write_params(path: Path, total_bytes: int) -> None:
    """A ``.params`` file of float32 arrays of 64 MiB (or smaller), written by the kit's byte
    writer (the bytes ``mx.nd.save`` writes), one array in memory at a time."""
    import numpy as np

    from gluon_params_kit._io.params import dense_pieces
    per = min(64 * MiB, total_bytes)
    n = max(1, total_bytes // per)
    base = np.random.RandomState(0).standard_normal(per // 4).astype(np.float32)
    records = [(f"layers.{i}.weight", (per // 4 // 1024, 1024), 1, 0, "float32", base) for i in range(n)]
    with open(path, "wb") as f:
        for piece in dense_pieces(records):
            f.write(piece)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    size = (128 if args.quick else 1024) * MiB
    folder = Path(tempfile.mkdtemp(prefix="gpk_bench_convert_", dir=args.dir))
    try:
        src = folder / "src.params"
        write_params(src, size)
        setup = ("import gluon_params_kit as gpk\n"
                 f"gpk.read_header({str(src)!r})  # imports done before the call\n")
        copy = folder / "copy.params"
        cp_fsync = ("import os, subprocess",
                    f"subprocess.run(['cp', {str(src)!r}, {str(copy)!r}], check=True)\n"
                    f"fd = os.open({str(copy)!r}, os.O_RDONLY)\nos.fsync(fd); os.close(fd)")
        for suffix in (".safetensors", ".npz"):
            out = folder / ("out" + suffix)
            r = best_of({"kit": (setup, f"gpk.convert({str(src)!r}, {str(out)!r})"), "cp": cp_fsync},
                        args.repeat, before=warm_file(src))
            name = f"convert_params_to_{suffix[1:]}_{size // MiB}MiB"
            kit, base = r["kit"], r["cp"]
            line(name + "_vs_cp_fsync", kit["seconds"] / base["seconds"], 1.5,
                 f"  ({size / 2**30:.2f} GiB, both flushed to disk)",
                 measured=f"{kit['seconds']:.2f} s", native=f"cp {base['seconds']:.2f} s")
            line(name + "_extra_memory_MiB", kit["extra"] / MiB, 64.0,
                 "  (peak RSS over the call, in a fresh process)", fmt=".0f",
                 measured=f"+{kit['extra'] / MiB:.0f} MiB", native=f"cp +{base['extra'] / MiB:.0f} MiB")
            out.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
