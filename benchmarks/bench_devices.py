"""Benchmark devices.py against native MXNet, in the same run.

1. ``replica_report`` on a net replicated on [cpu(0), cpu(1)] (~50M values per replica;
   ``--quick``: ~0.5M) against one native pass over all replicas (``mx.nd.sum`` of every
   replica). Target: ratio <= 3.
2. ``broadcast`` of ~10M values (``--quick``: ~0.2M) on a loopback dist_sync cluster
   (scheduler, server, two workers, all processes of this script) against a raw
   ``kv.broadcast`` of the same arrays on the same store. Times are reported; target:
   ratio <= 2.

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

from _timing import best, line  # noqa: E402  (this folder is sys.path[0])
import gluon_params_kit  # noqa: E402,F401  (numpy shim before mxnet)
import mxnet as mx  # noqa: E402
from mxnet.gluon import nn  # noqa: E402

from gluon_params_kit.devices import broadcast, checksum, replica_report  # noqa: E402




def square_net(width, layers=2):
    net = nn.Sequential()
    for _ in range(layers):
        net.add(nn.Dense(width, in_units=width))
    return net




# --------------------------------------------------------------------------- replica_report

def bench_replica_report(quick):
    width = 500 if quick else 5000  # 2 layers of width**2 values: 0.5M / 50M per replica
    net = square_net(width)
    net.initialize(ctx=[mx.cpu(0), mx.cpu(1)])
    params = list(net.collect_params().values())
    values = sum(p.data().size for p in params)

    def native_one_pass():
        for p in params:
            for d in p.list_data():
                mx.nd.sum(d)
        mx.nd.waitall()

    native_one_pass()
    report = replica_report(net)
    assert report.consistent
    t_native = best(native_one_pass)
    t_kit = best(lambda: replica_report(net))
    line(f"replica_report_2ctx_{values / 1e6:.1f}M_vs_one_pass", t_kit / t_native, 3.0,
         f"  [kit {t_kit * 1e3:.0f} ms, native {t_native * 1e3:.0f} ms]")


# --------------------------------------------------------------------------- broadcast (cluster)

def worker(out_path, width):
    kv = mx.kv.create("dist_sync")
    mx.random.seed(7 + kv.rank)
    net = square_net(width)
    net.initialize(mx.init.Normal(1.0))
    params = list(net.collect_params().values())
    arrays = [p.data() for p in params]
    start_sum = checksum(net)
    warm = mx.nd.ones((1000,))
    kv.broadcast(len(arrays), warm, out=warm)  # first traffic sets up connections: not timed
    mx.nd.waitall()
    kv._barrier()  # both workers start the clock together
    t0 = time.perf_counter()
    kv.broadcast(list(range(len(arrays))), arrays, out=arrays)  # native: raw int keys
    mx.nd.waitall()
    t_native = time.perf_counter() - t0
    net.initialize(mx.init.Normal(1.0), force_reinit=True)
    mx.nd.waitall()
    kv._barrier()
    t0 = time.perf_counter()
    broadcast(net, kv)
    t_kit = time.perf_counter() - t0
    with open(out_path, "w") as f:
        json.dump({"rank": kv.rank, "native": t_native, "kit": t_kit,
                   "values": sum(a.size for a in arrays), "checksum": checksum(net).digest,
                   "initial": start_sum.digest}, f)


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
    cmds += [("worker", [sys.executable, __file__, "--worker", str(o), str(width)]) for o in outs]
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
        print(f"broadcast_dist_sync_loopback: cluster failed (exit codes {codes}) MISSED\n{errs}")
        return
    records = [json.loads(o.read_text()) for o in outs]
    same = len({r["checksum"] for r in records}) == 1
    t_kit = max(r["kit"] for r in records)
    t_native = max(r["native"] for r in records)
    values = records[0]["values"]
    line(f"broadcast_dist_sync_loopback_{values / 1e6:.1f}M_vs_kv_broadcast", t_kit / t_native, 2.0,
         f"  [kit {t_kit:.3f} s, native {t_native:.3f} s, workers identical: {same}]")


def main(argv):
    if argv[:1] == ["--worker"]:
        worker(argv[1], int(argv[2]))
        return 0
    quick = "--quick" in argv
    bench_replica_report(quick)
    bench_broadcast(quick)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
