"""``load`` in each format at the speed of the disk, in the memory it needs.

Nets: ``big`` (16 ``Dense(4096, in_units=4096)``: 1 GiB of float32 values; ``--quick``:
``Dense(1024)``, 64 MiB), ResNet-50 v1 (``model_zoo``, 299 tensors, initialized by one forward
then re-initialized, so every array is in MXNet's default layout) and a BERT-large-size
encoder stack (24 layers of 16 tensors, hidden 1024: 384 tensors, 302M values; ``--quick``:
hidden 256). Each net is saved by the kit as ``.params``, ``.safetensors`` and ``.npz``
(stored members) in a temporary folder, deleted afterwards; the page cache holds them warm,
written out to the disk (``os.sync``, untimed) before the first sample, and read whole
(untimed, ``_timing.warm_file``) before every sample: these VMs' DAMON drops file pages
that are only ever read after about a minute.

Rows, per net and format, from the best of alternating samples in one run:

- time: ``gpk.load(net, f)`` against the larger of the native loader and the byte-read
  limit. Native: ``net.load_parameters`` for ``.params``; the library a user would pick for
  the others: ``safetensors.numpy.load_file`` and ``numpy.load`` with every member read
  (values only: neither puts them into a net). The limit: the file read into one buffer
  allocated beforehand (``readinto``). Target <= 1.5 (the issue's).
- memory (the ``big`` net and the BERT stack): the extra peak RSS of ``load`` in a fresh
  process holding the initialized net, divided by the bytes of the loaded values. Target
  <= 1.1: the values are read once into fresh arrays (needed to leave the net unchanged on
  any error), then copied into the Parameters' own memory.

Usage: ``python benchmarks/bench_load.py [--quick] [NET ...]`` (NET: big, resnet50, bert).
Always exits 0. Prints the load average with the figures.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)

# isort: split
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from _timing import alternate, extra_peak_rss, fmt_time, line, warm_file  # noqa: E402  (sys.path[0])

from gluon_params_kit._io.formats import SETTLE_NS  # noqa: E402
from gluon_params_kit.checkpoint import load, save  # noqa: E402

TIME_TARGET = 1.5
MEMORY_TARGET = 1.1
FORMATS = (".params", ".safetensors", ".npz")

NETS_SOURCE = '''
import gluon_params_kit
import mxnet as mx
from mxnet.gluon import nn


class _Encoder(nn.HybridBlock):
    def __init__(self, hidden, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.q = nn.Dense(hidden, in_units=hidden, flatten=False)
            self.k = nn.Dense(hidden, in_units=hidden, flatten=False)
            self.v = nn.Dense(hidden, in_units=hidden, flatten=False)
            self.o = nn.Dense(hidden, in_units=hidden, flatten=False)
            self.ln1 = nn.LayerNorm(in_channels=hidden)
            self.ffn1 = nn.Dense(4 * hidden, in_units=hidden, flatten=False)
            self.ffn2 = nn.Dense(hidden, in_units=4 * hidden, flatten=False)
            self.ln2 = nn.LayerNorm(in_channels=hidden)

    def hybrid_forward(self, F, x):
        x = self.ln1(x + self.o(self.q(x) + self.k(x) + self.v(x)))
        return self.ln2(x + self.ffn2(self.ffn1(x)))


def build(name, quick):
    if name == "big":
        width = 1024 if quick else 4096
        net = nn.Sequential()
        for _ in range(16):
            net.add(nn.Dense(width, in_units=width))
        net.initialize(mx.init.Uniform())
    elif name == "bert":
        net = nn.HybridSequential()
        for _ in range(24):
            net.add(_Encoder(256 if quick else 1024))
        net.initialize(mx.init.Uniform())
    else:
        from mxnet.gluon.model_zoo import vision
        net = vision.resnet50_v1()
        net.initialize()
        net(mx.nd.zeros((1, 3, 224, 224)))
        net.initialize(mx.init.Xavier(), force_reinit=True)
    mx.nd.waitall()
    return net
'''
_nets: dict = {}
exec(compile(NETS_SOURCE, "<bench_load nets>", "exec"), _nets)
build = _nets["build"]


def values_bytes(net) -> int:
    return sum(int(np.prod(p.shape)) * np.dtype(p.dtype).itemsize for p in net.collect_params().values())


def native(path: Path, net):
    if path.suffix == ".params":
        return lambda: (net.load_parameters(str(path)), mx.nd.waitall())
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file
        return lambda: load_file(str(path))

    def np_load():
        with np.load(str(path)) as z:
            return {k: z[k] for k in z.files}
    return np_load


def byte_limit(path: Path):
    buf = bytearray(path.stat().st_size)
    view = memoryview(buf)

    def read_all():
        with open(path, "rb", buffering=0) as f:
            got = 0
            while got < len(buf):
                n = f.readinto(view[got:])
                if not n:
                    break
                got += n
    return read_all


def bench_net(name: str, quick: bool, folder: Path, rounds: int) -> None:
    net = build(name, quick)
    nbytes = values_bytes(net)
    files = {}
    for suffix in FORMATS:
        files[suffix] = folder / f"{name}{suffix}"
        save(net, files[suffix], fsync=False)
    # the files' dirty pages written out first (untimed): else the first samples allocate
    # the loaded arrays while the kernel writes 3.4 GB back, and wait for it (0.2 s or 0.9 s)
    os.sync()
    time.sleep(SETTLE_NS / 1e9 + 0.1)  # a file loaded moments after it was written is parsed twice
    # short samples: more of them. A long one can still land on fresh memory: these VMs' host
    # backs memory the guest freed a while ago only when it is touched again (~25 us a page
    # fault; a 1 GiB load took 0.16 s or 0.75 s by that alone), so every side gets 8 tries
    rounds = 2 * rounds if nbytes > 2**28 else 3 * rounds
    for suffix, path in files.items():
        def kit(path=path):
            load(net, path)
            mx.nd.waitall()
        t = alternate({"kit": kit, "native": native(path, net), "limit": byte_limit(path)}, rounds,
                      before=warm_file(path))
        ref = max(t["native"], t["limit"])
        who = "load_parameters" if suffix == ".params" else (
            "load_file" if suffix == ".safetensors" else "np.load")
        line(f"load_{name}{suffix}_vs_max_native_limit", t["kit"] / ref, TIME_TARGET,
             f"  ({nbytes / 2**20:,.0f} MiB of values; {who} {fmt_time(t['native'])}, byte read "
             f"{fmt_time(t['limit'])}; load avg {os.getloadavg()[0]:.1f})",
             measured=fmt_time(t["kit"]), native=fmt_time(ref))
    if name == "resnet50":
        return
    for suffix, path in files.items():
        setup = NETS_SOURCE + (f"\nnet = build({name!r}, {quick!r})\nfrom gluon_params_kit.checkpoint "
                               f"import load\n")
        extra = extra_peak_rss(setup, f"load(net, {str(path)!r}); mx.nd.waitall()", cwd=str(ROOT))
        line(f"load_{name}{suffix}_extra_peak_over_values", extra / nbytes, MEMORY_TARGET,
             f"  (+{extra / 2**20:,.0f} MiB peak RSS for {nbytes / 2**20:,.0f} MiB of values)",
             measured=f"{extra / 2**20:,.0f} MiB", native=f"{nbytes / 2**20:,.0f} MiB")


def main(argv) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("-")] or ["big", "resnet50", "bert"]
    folder = Path(tempfile.mkdtemp(prefix="gpk_bench_load_"))
    print(f"load average {os.getloadavg()}, {os.cpu_count()} cores", flush=True)
    try:
        for name in names:
            bench_net(name, quick, folder, 3 if quick else 4)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
