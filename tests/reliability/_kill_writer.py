"""kill -9 a process in the middle of ``save``, again and again; run as a script.

The driver imports the kit once, then for each round forks a child that saves a ~32 MB
network over the same target and kills it with SIGKILL while its temporary file exists
(after a random extra delay). A round counts when its temporary file is still there
after the kill: the rename never happened, so the target must be byte-identical to the
old file. Finally one ordinary save must leave no temporary file behind. Prints one
JSON line. Usage: python _kill_writer.py FOLDER KILLS SEED
"""
import hashlib
import json
import os
import random
import signal
import sys
import time

import gluon_params_kit  # noqa: F401  (numpy shim first)

# isort: split
from mxnet.gluon import nn

from gluon_params_kit.checkpoint import read_header, save


def temps(folder, base):
    """Temporary files of writes to ``base`` (any name starting ``.base.``, ours end in
    TEMP_SUFFIX; other writers' are counted too, so a pile-up is never missed)."""
    return sorted(n for n in os.listdir(folder) if n.startswith(f".{base}."))


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main(folder, kills, seed):
    rng = random.Random(seed)
    net = nn.Sequential()
    net.add(nn.Dense(2048, in_units=4096), nn.Dense(10, in_units=2048))
    net.initialize()
    target = os.path.join(folder, "big.params")
    save(net, target)
    old = digest(target)
    out = dict(kills=0, completed=0, identical=0, attempts=0, temps_seen_max=0)
    while out["kills"] < kills and out["attempts"] < 4 * kills:
        out["attempts"] += 1
        net[0].bias.set_data(net[0].bias.data() + 1)  # something new to write
        earlier = set(temps(folder, "big.params"))
        pid = os.fork()
        if pid == 0:  # the writer
            try:
                save(net, target)
            finally:
                os._exit(0)
        deadline = time.monotonic() + 10
        while not set(temps(folder, "big.params")) - earlier:
            if time.monotonic() > deadline or os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.03))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        left = temps(folder, "big.params")
        out["temps_seen_max"] = max(out["temps_seen_max"], len(left))
        if set(left) - earlier:  # killed before the rename: its temp file is still there
            out["kills"] += 1
            out["identical"] += digest(target) == old
        else:  # it finished first: the new file is complete, and it is the new baseline
            out["completed"] += 1
            assert len(read_header(target)) == 4
            old = digest(target)
    out["temps_before_next_save"] = len(temps(folder, "big.params"))
    save(net, target)
    out["temps_after_next_save"] = len(temps(folder, "big.params"))
    out["files_after"] = sorted(os.listdir(folder))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
