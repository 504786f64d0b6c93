"""Streaming checkpoint readers against the machine's limit, time and peak memory (issue 17).

Rows (each call runs in a fresh subprocess, alternating with its baseline; the best time of
``--repeat`` rounds is compared; "extra memory" is that process's peak RSS minus its RSS just
before the call, so imports do not count):

1. ``diff`` of two 1 GiB ``.params`` files (b = a + noise in one array in four) vs a numpy
   streaming pass that computes the same report by hand: both files read in 4 MiB pieces,
   each piece in float64, max|a-b|, |a-b|, |a|, |b| and a.b summed (``np.dot``).
   Target: ratio <= 1.5, extra memory <= 64 MiB.
2. ``gluon-params inspect --stats`` on a 2 GiB file vs a numpy memmap pass (``np.add.reduce``
   of each array's memmap). Target: ratio <= 2, extra memory <= 64 MiB.
3. ``export_npz`` of the 2 GiB file vs ``cp`` of it, like for like: the kit's default
   (flushed to disk before the rename) vs ``cp`` and an ``fsync`` of the copy, and
   ``fsync=False`` vs plain ``cp`` (neither flushed). ``cp`` copies inside the kernel; the kit
   copies the same way but reads the data once more for the zip CRC. A flushed export
   against an unflushed ``cp`` would time the disk's writeback against the page cache, not
   the kit. Target: ratio <= 1.5 for both, extra memory <= 64 MiB.
4. ``load`` peak memory vs Gluon's ``load_parameters`` on the same 512 MiB net (both read the
   whole file before assigning). Target: ratio <= 1.05 (no worse than native).

Files are written in a temporary folder under ``--dir`` (default: the system's) and deleted.
Usage: python benchmarks/bench_streaming.py [--quick] [--repeat N] [--dir DIR] [--rows R,...]
(--quick: 64 MiB and 128 MiB files, to check the script itself; --rows: a subset of
diff, inspect, export, load, default all).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _timing import best_of, line, run_fresh, warm_file  # noqa: E402  (this folder is sys.path[0])

MiB = 2 ** 20
ROWS = ("diff", "inspect", "export", "load")

def write_params(path: Path, total_bytes: int, seed: int, noise_every: int = 0) -> None:
    """A .params file of float32 arrays of 64 MiB (or smaller), deterministic values."""
    import mxnet as mx
    import numpy as np

    import gluon_params_kit  # noqa: F401  (numpy shim before mxnet)
    per = min(64 * MiB, total_bytes)
    n = max(1, total_bytes // per)
    rng = np.random.RandomState(seed)
    base = rng.standard_normal(per // 4).astype(np.float32)
    arrays = {}
    for i in range(n):
        values = np.roll(base, i)
        if noise_every and i % noise_every == 0:
            values = values + np.float32(1e-3) * rng.standard_normal(values.size).astype(np.float32)
        arrays[f"layers.{i}.weight"] = mx.nd.array(values.reshape(-1, 1024))
    mx.nd.save(str(path), arrays)


STREAM_PASS = r'''
import numpy as np
from gluon_params_kit._io.params import read_header
def stream_pass(pa, pb, chunk=4 << 20):
    ha, hb = read_header(pa), read_header(pb)
    ba, bb = bytearray(chunk), bytearray(chunk)
    with open(pa, "rb") as fa, open(pb, "rb") as fb:
        out = {}
        for name, ia in ha.items():
            ib = hb[name]
            fa.seek(ia.offset); fb.seek(ib.offset)
            left, top, dd, xx, yy, xy = ia.nbytes, 0.0, 0.0, 0.0, 0.0, 0.0
            while left:
                n = min(left, chunk)
                fa.readinto(memoryview(ba)[:n]); fb.readinto(memoryview(bb)[:n])
                x = np.frombuffer(ba, np.float32, n // 4).astype(np.float64)
                y = np.frombuffer(bb, np.float32, n // 4).astype(np.float64)
                d = x - y
                top = max(top, float(np.max(np.abs(d))))
                dd += float(d @ d); xx += float(x @ x); yy += float(y @ y); xy += float(x @ y)
                left -= n
            out[name] = (top, dd ** 0.5 / xx ** 0.5, xy / (xx * yy) ** 0.5)
    return out
'''

MEMMAP_PASS = r'''
import numpy as np
from gluon_params_kit._io.params import read_header
def memmap_pass(path):
    out = {}
    for name, info in read_header(path).items():
        mm = np.memmap(path, dtype=np.float32, mode="r", offset=info.offset, shape=(info.size,))
        out[name] = float(np.add.reduce(mm))
        del mm
    return out
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--rows", default=",".join(ROWS),
                    help=f"comma-separated subset of {', '.join(ROWS)} (default: all)")
    args = ap.parse_args()
    rows = set(args.rows.split(","))
    if not rows <= set(ROWS):
        ap.error(f"unknown rows {sorted(rows - set(ROWS))}; choose from {', '.join(ROWS)}")
    diff_size, big_size, load_size = ((64 * MiB, 128 * MiB, 32 * MiB) if args.quick
                                      else (1024 * MiB, 2048 * MiB, 512 * MiB))
    folder = Path(tempfile.mkdtemp(prefix="gpk-bench-", dir=args.dir))
    try:
        a, b, big = folder / "a.params", folder / "b.params", folder / "big.params"
        if "diff" in rows:
            write_params(a, diff_size, 0)
            write_params(b, diff_size, 0, noise_every=4)
        if rows & {"inspect", "export"}:
            write_params(big, big_size, 1)
        py = "import gluon_params_kit, gluon_params_kit.checkpoint as ck\n"

        if "diff" in rows:
            r = best_of({
                "kit": (py + "from gluon_params_kit.checkpoint import diff",
                        f"report = diff({str(a)!r}, {str(b)!r}); assert not report.same"),
                "numpy": (STREAM_PASS, f"stream_pass({str(a)!r}, {str(b)!r})"),
            }, args.repeat, before=warm_file(a, b))
            _report("diff_1GiB_vs_numpy_stream", r, 1.5, diff_size)

        if "inspect" in rows:
            cli = ("import io, contextlib\nfrom gluon_params_kit.cli import main\n"
                   "import gluon_params_kit._core.file_stats\nsink = io.StringIO()\n")
            r = best_of({
                "kit": (cli, "with contextlib.redirect_stdout(sink):\n"
                             f"    assert main(['inspect', {str(big)!r}, '--stats', '--json']) == 0"),
                "numpy": (MEMMAP_PASS, f"memmap_pass({str(big)!r})"),
            }, args.repeat, before=warm_file(big))
            _report("inspect_stats_2GiB_vs_memmap", r, 2.0, big_size)

        if "export" in rows:
            out_npz, out_cp = folder / "out.npz", folder / "out.copy"
            cp = f"subprocess.run(['cp', {str(big)!r}, {str(out_cp)!r}], check=True)"
            cp_fsync = (cp + f"\nfd = os.open({str(out_cp)!r}, os.O_RDONLY)\n"
                        "os.fsync(fd); os.close(fd)")
            r = best_of({
                "kit": (py + "from gluon_params_kit.checkpoint import export_npz",
                        f"export_npz({str(big)!r}, {str(out_npz)!r})"),
                "numpy": ("import os, subprocess", cp_fsync),
            }, args.repeat, before=warm_file(big))
            _report("export_npz_2GiB_vs_cp_fsync", r, 1.5, big_size)
            r = best_of({
                "kit": (py + "from gluon_params_kit.checkpoint import export_npz",
                        f"export_npz({str(big)!r}, {str(out_npz)!r}, fsync=False)"),
                "numpy": ("import subprocess", cp),
            }, args.repeat, before=warm_file(big))
            line("export_npz_no_fsync_2GiB_vs_cp", r["kit"]["seconds"] / r["numpy"]["seconds"],
                 1.5, f"  ({big_size / 2**30:.2f} GiB, neither flushed)",
                 measured=f"{r['kit']['seconds']:.2f} s", native=f"cp {r['numpy']['seconds']:.2f} s")
            out_npz.unlink()
            out_cp.unlink()

        if "load" in rows:
            net_file = folder / "net.params"
            build = ("import gluon_params_kit as gpk, mxnet as mx\nfrom mxnet.gluon import nn\n"
                     f"net = nn.Sequential()\nfor _ in range({max(1, load_size // (64 * MiB))}):\n"
                     f"    net.add(nn.Dense({min(4096, load_size // 4 // 4096)}, in_units=4096))\n"
                     "net.initialize(mx.init.Zero()); mx.nd.waitall()\n")
            run_fresh(build, f"net.save_parameters({str(net_file)!r})")
            r = best_of({
                "kit": (build, f"gpk.load(net, {str(net_file)!r}); mx.nd.waitall()"),
                "numpy": (build, f"net.load_parameters({str(net_file)!r}); mx.nd.waitall()"),
            }, args.repeat, before=warm_file(net_file))
            ratio = r["kit"]["extra"] / max(r["numpy"]["extra"], 1)
            line("load_peak_memory_vs_load_parameters", ratio, 1.05,
                 f"  ({load_size // MiB} MiB file; time {r['kit']['seconds']:.2f} s vs "
                 f"{r['numpy']['seconds']:.2f} s)",
                 measured=f"+{r['kit']['extra'] / MiB:.0f} MiB",
                 native=f"load_parameters +{r['numpy']['extra'] / MiB:.0f} MiB")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _report(name: str, r: dict, target: float, size: int) -> None:
    kit, base = r["kit"], r["numpy"]
    extra = kit["extra"] / MiB
    line(name, kit["seconds"] / base["seconds"], target, f"  ({size / 2**30:.2f} GiB)",
         measured=f"{kit['seconds']:.2f} s", native=f"{base['seconds']:.2f} s")
    line(name.split("_")[0] + "_extra_memory_MiB", extra, 64.0,
         "  (peak RSS over the call, in a fresh process)", fmt=".0f",
         measured=f"+{extra:.0f} MiB", native=f"baseline +{base['extra'] / MiB:.0f} MiB")


if __name__ == "__main__":
    main()
