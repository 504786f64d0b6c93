"""Import time of gluon_params_kit over plain `import mxnet`, in fresh interpreters.

The package loads its names on first use, so "the kit" here is `import gluon_params_kit`
plus the first use of every public name, which imports mxnet and every module.

Each sample starts a new Python process; samples alternate between the two imports so
that disk cache and machine load hit both alike. Reports medians and their ratio
(target <= 1.05: the kit adds almost nothing to importing mxnet itself).
"""
import statistics
import subprocess
import sys

from _timing import line  # this folder is sys.path[0]

TARGET = 1.05
KIT = "import gluon_params_kit as g; [getattr(g, n) for n in g.__all__]"


def sample(stmt: str) -> float:
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def self_time(n: int) -> float:
    """Median ratio (mxnet + kit) / mxnet from `python -X importtime` (cumulative microseconds).

    Wall-clock samples of whole interpreters are noisy on a shared machine; the import
    system's own accounting separates the kit's modules from mxnet's in one process.
    """
    ratios = []
    for _ in range(n):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import numpy, mxnet; " + KIT],
                             capture_output=True, text=True, check=True).stderr
        mxnet = kit = 0
        for text in err.splitlines():
            parts = text.split("|")
            if len(parts) == 3 and parts[1].strip().isdigit():
                name = parts[2][1:]  # one space, then two per nesting level
                if name == "mxnet":
                    mxnet = int(parts[1])
                elif name.startswith("gluon_params_kit"):  # the package and each lazy load
                    kit += int(parts[1])
        ratios.append((mxnet + kit) / mxnet)
    return statistics.median(ratios)


def compile_kit() -> None:
    """Byte-compile the kit as `pip install` does for mxnet (an editable install, or
    PYTHONDONTWRITEBYTECODE=1 as set on some machines, would otherwise leave the kit
    compiling its sources at every import while mxnet loads .pyc files)."""
    import compileall
    from pathlib import Path
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "gluon_params_kit"), quiet=1)


def main(argv):
    n = 3 if "--quick" in argv else 15
    compile_kit()
    # numpy is imported first in both, so the measured difference is the kit's own cost
    # (the kit must import numpy before mxnet to apply its alias shim).
    plain, kit = [], []
    sample("import numpy, mxnet")  # warm the disk cache
    for _ in range(n):
        plain.append(sample("import numpy, mxnet"))
        kit.append(sample("import numpy; " + KIT))
    mp, mk = statistics.median(plain), statistics.median(kit)
    ratio = mk / mp
    print(f"import mxnet: median {mp * 1e3:.0f} ms over {n} fresh processes")
    print(f"import gluon_params_kit: median {mk * 1e3:.0f} ms")
    print(f"import_kit_vs_mxnet_wallclock: ratio {ratio:.3f} (noisy; informational)")
    r = self_time(n)
    line("import_kit_vs_mxnet", r, TARGET, "  (-X importtime: mxnet + kit modules over mxnet "
         "alone, median)", fmt=".3f", measured="mxnet + kit", native="mxnet")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
