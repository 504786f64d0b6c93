"""A real ``kill -9`` in the middle of ``save``: the old file survives, temp files do not pile up."""
import json
import os
import subprocess
import sys
import time

import pytest

from gluon_params_kit._io.files import TEMP_SUFFIX, remove_stale_temps
from gluon_params_kit.checkpoint import save

from ._util import listing, small_net

HERE = os.path.dirname(os.path.abspath(__file__))


def test_twenty_kill_9s_mid_save_keep_the_old_file_and_leave_no_temp(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(HERE, "_kill_writer.py"), str(tmp_path),
                           "20", "5"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["kills"] == 20 and out["identical"] == 20, out  # byte-identical every time
    assert out["temps_seen_max"] <= 1, out  # each save removed the last victim's temp
    assert out["temps_before_next_save"] >= 1 and out["temps_after_next_save"] == 0, out
    assert out["files_after"] == ["big.params"]


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_save_removes_temps_of_dead_writers_only(tmp_path):
    target = tmp_path / "net.params"
    dead = tmp_path / f".net.params.{_dead_pid()}.abcd1234{TEMP_SUFFIX}"
    dead.write_bytes(b"half a file")
    alive = tmp_path / f".net.params.{os.getpid()}.efgh5678{TEMP_SUFFIX}"
    alive.write_bytes(b"a save in progress elsewhere")
    other = tmp_path / f".other.params.{_dead_pid()}.abcd1234{TEMP_SUFFIX}"
    other.write_bytes(b"another target's temp")
    unrelated = tmp_path / ".net.params.notes"
    unrelated.write_bytes(b"not ours")
    save(small_net(), target)
    assert listing(tmp_path) == sorted([alive.name, other.name, unrelated.name, "net.params"])
    old = time.time() - 2 * 3600  # a live pid that is two hours old: a reused pid
    os.utime(alive, (old, old))
    assert remove_stale_temps(str(target)) == 1
    assert listing(tmp_path) == sorted([other.name, unrelated.name, "net.params"])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_temp_whose_writer_holds_its_lock_is_kept(tmp_path):
    import fcntl
    target = tmp_path / "net.params"
    busy = tmp_path / f".net.params.{_dead_pid()}.ijkl9012{TEMP_SUFFIX}"
    busy.write_bytes(b"")
    with open(busy, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        assert remove_stale_temps(str(target)) == 0
        assert busy.exists()
    assert remove_stale_temps(str(target)) == 1 and not busy.exists()
