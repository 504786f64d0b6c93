"""Benchmark devices.py against native MXNet / numpy, in the same run.

1. ``replica_report`` on a net replicated on [cpu(0), cpu(1)] (100M float32 values per
   replica; ``--quick``: 0.5M) against one numpy pass over every replica
   (``np.add.reduce`` of a zero-copy view of each: the memory-bandwidth limit of reading
   them once). Target: ratio <= 2. Its extra peak RSS, measured in a fresh process:
   <= 64 MiB.
2. ``sync_replicas`` on that net against ``copyto`` from the first replica to the other
   (what any sync has to do). Target: ratio <= 1.5.
3. ``broadcast`` of ~10M values (``--quick``: ~0.2M) on a loopback dist_sync cluster
   (scheduler, server, two workers, all processes of this script) against a raw
   ``kv.broadcast`` of the same arrays on the same store, in alternating rounds (fresh keys
   each round; the slower worker's time per round, the best round of each). Target: <= 2.

Samples alternate between the kit and the native call; the best of each is compared.
Usage: ``python benchmarks/bench_devices.py [--quick]``. Always exits 0.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
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
from _timing import alternate, extra_peak_rss, fmt_time, line  # noqa: E402  (sys.path[0])
from mxnet.gluon import nn  # noqa: E402

from gluon_params_kit._core.stats import _host_view  # noqa: E402
from gluon_params_kit.devices import broadcast, checksum, replica_report, sync_replicas  # noqa

MEMORY_LIMIT = 64 * 2**20


def square_net(width, layers=2):
    net = nn.Sequential()
    for _ in range(layers):
        net.add(nn.Dense(width, in_units=width, use_bias=False))
    return net


def replicated(width):
    net = square_net(width)
    net.initialize(mx.init.Normal(1.0), ctx=[mx.cpu(0), mx.cpu(1)])
    mx.nd.waitall()
    return net


# --------------------------------------------------------------------------- replicas

def bench_replicas(quick):
    width = 500 if quick else 7071  # 2 layers of width**2 values: 0.5M / 100M per replica
    net = replicated(width)
    params = list(net.collect_params().values())
    values = sum(p.data().size for p in params)
    views = [_host_view(d) for p in params for d in p.list_data()]

    def one_numpy_pass():
        for v in views:
            np.add.reduce(v, axis=None)

    def copyto():
        for p in params:
            first, *others = p.list_data()
            for other in others:
                first.copyto(other)
        mx.nd.waitall()

    def sync():
        sync_replicas(net)
        mx.nd.waitall()

    assert replica_report(net).consistent
    rounds = 3 if quick else 5
    t = alternate({"kit": lambda: replica_report(net), "native": one_numpy_pass}, rounds)
    size = f"2 x {values / 1e6:.3g}M float32"
    line(f"replica_report_2x{values / 1e6:.3g}M_vs_one_numpy_pass", t["kit"] / t["native"], 2.0,
         f"  ({size})", measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))
    t = alternate({"kit": sync, "native": copyto}, rounds)
    line(f"sync_replicas_2x{values / 1e6:.3g}M_vs_copyto", t["kit"] / t["native"], 1.5,
         f"  ({size})", measured=fmt_time(t["kit"]), native=fmt_time(t["native"]))
    del views, params, net
    setup = ("import sys; sys.path.insert(0, %r); sys.path.insert(0, %r)\n"
             "from bench_devices import replicated\n"
             "from gluon_params_kit.devices import replica_report\n"
             "net = replicated(%d)\n") % (str(ROOT / "benchmarks"), str(ROOT), width)
    extra = extra_peak_rss(setup, "report = replica_report(net)\nassert report.consistent")
    line(f"replica_report_2x{values / 1e6:.3g}M_extra_peak_rss_vs_64MiB", extra / MEMORY_LIMIT,
         1.0, f"  (fresh process; the replicas are {2 * values * 4 / 2**20:.0f} MiB)",
         measured=f"{extra / 2**20:.1f} MiB", native="64 MiB (limit)")


# --------------------------------------------------------------------------- broadcast (cluster)

def worker(out_path, width, rounds):
    kv = mx.kv.create("dist_sync")
    net = square_net(width)
    net.initialize(mx.init.Normal(1.0))
    params = list(net.collect_params().values())
    arrays = [p.data() for p in params]
    warm = mx.nd.ones((1000,))
    kv.broadcast(0, warm, out=warm)  # first traffic sets up connections: not timed
    mx.nd.waitall()
    native, kit = [], []
    for r in range(rounds):
        # native: raw int keys, fresh each round, far below the kit's reserved range
        keys = list(range(1 + r * len(arrays), 1 + (r + 1) * len(arrays)))
        kv._barrier()  # both workers start the clock together
        t0 = time.perf_counter()
        kv.broadcast(keys, arrays, out=arrays)
        mx.nd.waitall()
        native.append(time.perf_counter() - t0)
        mx.random.seed(7 + kv.rank + 10 * r)  # different values on each worker again
        net.initialize(mx.init.Normal(1.0), force_reinit=True)
        mx.nd.waitall()
        kv._barrier()
        t0 = time.perf_counter()
        broadcast(net, kv)
        kit.append(time.perf_counter() - t0)
    with open(out_path, "w") as f:
        json.dump({"rank": kv.rank, "native": native, "kit": kit,
                   "values": sum(a.size for a in arrays), "checksum": checksum(net).digest}, f)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_broadcast(quick, deadline=240):
    width = 300 if quick else 2236  # 2 * width**2 values: 0.18M / 10M
    port = _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="bench_devices_"))
    outs = [tmp / f"w{i}.json" for i in range(2)]
    base = dict(os.environ, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(port),
                DMLC_NODE_HOST="127.0.0.1", DMLC_NUM_SERVER="1", DMLC_NUM_WORKER="2",
                PYTHONPATH=str(ROOT))
    cmds = [("scheduler", [sys.executable, "-c", "import gluon_params_kit"]),
            ("server", [sys.executable, "-c", "import gluon_params_kit"])]
    rounds = 2 if quick else 7
    cmds += [("worker", [sys.executable, __file__, "--worker", str(o), str(width), str(rounds)])
             for o in outs]
    procs, logs = [], [tmp / f"{i}-{role}.log" for i, (role, _) in enumerate(cmds)]
    try:
        for (role, cmd), log in zip(cmds, logs):
            with open(log, "w") as f:  # a file, not a pipe: a full pipe would block the node
                procs.append(subprocess.Popen(cmd, env=dict(base, DMLC_ROLE=role),
                                              stdout=f, stderr=f, stdin=subprocess.DEVNULL,
                                              start_new_session=True))
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            codes = [p.poll() for p in procs]
            if all(c is not None for c in codes) or any(c not in (None, 0) for c in codes):
                break
            time.sleep(0.2)
        codes = [p.poll() for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
    if codes != [0, 0, 0, 0]:
        errs = "".join(log.read_text()[-800:] for log in logs)
        print(errs)
        line("broadcast_dist_sync_loopback_cluster", 1.0, 0.0, f"  (exit codes {codes})",
             measured="cluster failed", native="")
        return
    records = [json.loads(o.read_text()) for o in outs]
    same = len({r["checksum"] for r in records}) == 1
    # per round, the slower worker's time; then the best round of each
    t_kit = min(max(ts) for ts in zip(*(r["kit"] for r in records)))
    t_native = min(max(ts) for ts in zip(*(r["native"] for r in records)))
    values = records[0]["values"]
    line(f"broadcast_dist_sync_loopback_{values / 1e6:.3g}M_vs_kv_broadcast", t_kit / t_native, 2.0,
         f"  (2 workers, best of {len(records[0]['kit'])} alternating rounds; "
         f"workers identical after: {same})", measured=fmt_time(t_kit),
         native=fmt_time(t_native))
    if not same:
        line("broadcast_dist_sync_workers_identical", 1.0, 0.0, "  (checksums differ)",
             measured="differ", native="identical")


def main(argv):
    if argv[:1] == ["--worker"]:
        worker(argv[1], int(argv[2]), int(argv[3]))
        return 0
    quick = "--quick" in argv
    bench_replicas(quick)
    bench_broadcast(quick)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
