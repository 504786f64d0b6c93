"""The whole bad-input suite once more after ``npx.set_np()``, in its own process.

``tests/test_errors*.py`` (the bad inputs of every feature) and every reliability test
(except this one, the kill -9 loop and the fuzz run, which do not depend on the array mode)
run with the ``np_mode_plugin`` fixture switching np mode on around each test.
"""
import glob
import os
import re
import subprocess
import sys

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_bad_input_suite_passes_in_np_mode():
    env = dict(os.environ, PYTHONPATH=TESTS + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
         "reliability.np_mode_plugin", *sorted(glob.glob(os.path.join(TESTS, "test_errors*.py"))),
         os.path.join(TESTS, "reliability"), "-k",
         "not np_mode and not kill_9 and not fuzzed and not closed_pipe", "-W",
         "ignore::DeprecationWarning"],
        capture_output=True, text=True, timeout=900, cwd=os.path.dirname(TESTS), env=env)
    tail = proc.stdout[-4000:]
    assert proc.returncode == 0, tail + proc.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", tail).group(1))
    assert passed > 150 and "failed" not in tail, tail
