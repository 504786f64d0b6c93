"""Start-up time of the header-only CLI commands against `python -c "import numpy"`.

`gluon-params --help`, `--version`, `inspect FILE` (no --stats) and `diff --names A B`
read at most file headers (measured as whole processes, start-up included), with numpy: they must not import mxnet (about 0.7 s on the
CI machine). Each sample is a fresh process; samples alternate with the numpy baseline
so that disk cache and machine load hit both alike. Target: median <= 2x the baseline.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _timing import line

TARGET = 2.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sample(code: str) -> float:
    """Wall-clock seconds of a whole `python -c code` process, start-up included."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                   cwd=ROOT)
    return time.perf_counter() - start


def cli(argv) -> str:
    # what the `gluon-params` console script runs, with its output swallowed
    return ("import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n"
            "    from gluon_params_kit.cli import main\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass")


def make_files(folder: str):
    import mxnet as mx

    import gluon_params_kit  # noqa: F401  (numpy shim)
    a, b = os.path.join(folder, "a.params"), os.path.join(folder, "b.params")
    arrays = {f"{i}.weight": mx.nd.ones((64, 64)) for i in range(50)}
    mx.nd.save(a, arrays)
    arrays["0.weight"] = mx.nd.ones((64, 32))
    mx.nd.save(b, arrays)
    return a, b


def main(argv):
    n = 3 if "--quick" in argv else 11
    import compileall
    compileall.compile_dir(os.path.join(ROOT, "gluon_params_kit"), quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = make_files(tmp)
        commands = {"--help": ["--help"], "--version": ["--version"], "inspect": ["inspect", a],
                    "diff --names": ["diff", "--names", a, b]}
        sample("import numpy")  # warm the disk cache
        base, times = [], {k: [] for k in commands}
        for _ in range(n):
            base.append(sample("import numpy"))
            for name, args in commands.items():
                times[name].append(sample(cli(args)))
        mb = statistics.median(base)
        print(f"import numpy: median {mb * 1e3:.0f} ms over {n} fresh processes")
        for name, ts in times.items():
            mt = statistics.median(ts)
            line(f"gluon-params {name} vs import numpy", mt / mb, TARGET,
                 "  (medians of whole processes)", measured=f"{mt * 1e3:.0f} ms",
                 native=f"{mb * 1e3:.0f} ms")
        leak = subprocess.run([sys.executable, "-c", cli(["inspect", a])
                               + "\nimport sys; print('mxnet' in sys.modules)"],
                              capture_output=True, text=True, check=True, cwd=ROOT)
        print(f"inspect imported mxnet: {leak.stdout.strip().splitlines()[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
