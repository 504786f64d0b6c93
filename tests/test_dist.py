"""A real dist_sync cluster on loopback: scheduler, server and two workers as processes.

Every process gets its own session (process group), a hard deadline, and is killed by
its own PID and group in ``finally``, so a stuck ps-lite node cannot hang the suite; on
Linux each node also dies with the test process (``PR_SET_PDEATHSIG``) if that is killed.
All nodes advertise 127.0.0.1 (DMLC_NODE_HOST), so traffic stays on loopback.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DEADLINE = 120  # seconds for the whole cluster


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill(proc) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: group id == pid
        except (ProcessLookupError, PermissionError):
            proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _env(role, port):
    env = dict(os.environ)
    env.update({
        "DMLC_ROLE": role,
        "DMLC_PS_ROOT_URI": "127.0.0.1",
        "DMLC_PS_ROOT_PORT": str(port),
        "DMLC_NODE_HOST": "127.0.0.1",
        "DMLC_NUM_SERVER": "1",
        "DMLC_NUM_WORKER": "2",
        "OMP_NUM_THREADS": "1",
        "MXNET_CPU_WORKER_NTHREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")]),
    })
    return env


# Linux: the node gets SIGKILL when this test process dies, even by SIGKILL (no finally).
DIE_WITH_PARENT = ("import ctypes, signal\n"
                   "try:\n    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG\n"
                   "except Exception:\n    pass\n")


def _run_cluster(tmp_path, worker="dist_worker.py", args=()):
    """Run scheduler, server and two ``worker`` processes (``worker OUT *args``); return
    the JSON each worker wrote to OUT."""
    port = _free_port()
    # importing mxnet with DMLC_ROLE set starts the node and returns when the job ends
    start = [sys.executable, "-c", DIE_WITH_PARENT + "import gluon_params_kit"]
    specs = [("scheduler", start), ("server", start)]
    outs = [tmp_path / f"worker{i}.json" for i in range(2)]
    specs += [("worker", [sys.executable, str(HERE / worker), str(o), *args]) for o in outs]
    procs, logs = [], []
    try:
        for i, (role, cmd) in enumerate(specs):
            log = open(tmp_path / f"{i}-{role}.log", "w+")
            logs.append(log)
            procs.append(subprocess.Popen(cmd, env=_env(role, port), stdout=log, stderr=log,
                                          stdin=subprocess.DEVNULL, start_new_session=True))
        end = time.monotonic() + DEADLINE
        codes = None
        while time.monotonic() < end:
            polled = [p.poll() for p in procs]
            if all(c is not None for c in polled) or any(c not in (None, 0) for c in polled):
                codes = polled  # all done, or one failed: the others would wait forever
                break
            time.sleep(0.2)
    finally:
        for proc in procs:
            _kill(proc)
        text = []
        for log in logs:
            log.seek(0)
            text.append(f"--- {log.name}\n{log.read()[-3000:]}")
            log.close()
    detail = "\n".join(text)
    assert codes is not None, f"cluster did not finish within {DEADLINE}s\n{detail}"
    assert codes == [0, 0, 0, 0], f"exit codes {codes} (None: killed)\n{detail}"
    return [json.loads(o.read_text()) for o in outs]


@pytest.mark.slow
def test_dist_sync_broadcast_then_train(tmp_path):
    records = sorted(_run_cluster(tmp_path), key=lambda r: r["rank"])
    r0, r1 = records
    assert [r0["rank"], r1["rank"]] == [0, 1] and r0["num_workers"] == 2
    # seeded differently: every parameter starts different on the two workers
    assert all(r0["initial"][k] != r1["initial"][k] for k in r0["initial"])
    assert list(r0["initial"]) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    # broadcast: both workers hold exactly rank 0's initial values
    assert r0["after_broadcast"] == r0["initial"]
    assert r1["after_broadcast"] == r0["initial"]
    # root=1: both hold rank 1's values of the second net
    assert r0["other_after_broadcast"] == r1["other_initial"] == r1["other_after_broadcast"]
    assert r0["other_initial"] != r1["other_initial"]
    # a deferred net is refused on every worker, before any traffic, naming the paths
    for r in records:
        assert "deferred" in r["deferred_error"] and "'weight'" in r["deferred_error"]
    # Trainer steps on the same store: still identical, and actually training
    assert len(r0["steps"]) == len(r1["steps"]) == 3
    for s0, s1 in zip(r0["steps"], r1["steps"]):
        assert s0 == s1
    assert r0["steps"][0]["0.weight"] != r0["initial"]["0.weight"]
    assert r0["steps"][2]["0.weight"] != r0["steps"][1]["0.weight"]
