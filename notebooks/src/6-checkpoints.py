# %% [markdown]
# # Checkpoints that explain themselves
#
# After deferred initialization, the MXNet failures people report most are about checkpoints:
# `Parameter '0.0.weight' is missing in file` after wrapping a network one level deeper,
# `collect_params().save` writing auto names while `save_parameters` writes structural paths
# (and failing outright in np mode), a failed load that leaves the network half loaded, and a
# damaged file that gives an opaque error. This notebook walks through each one with
# `gluon_params_kit.checkpoint` and the `gluon-params` command line.
#
# It runs top to bottom in a fresh kernel; each claim is checked by an `assert`.

# %%
import os
import subprocess
import sys
import tempfile

import gluon_params_kit  # first: restores numpy aliases MXNet 1.9.1 needs on numpy >= 1.24
import mxnet as mx
import numpy as onp
from mxnet import np, npx
from mxnet.gluon import nn

from gluon_params_kit.chapter import mlp, rgnet
from gluon_params_kit.checkpoint import (Remap, convert, diff, export_npz, load, read_header,
                                         save)
from gluon_params_kit.errors import CheckpointError
from gluon_params_kit.tree import named_parameters

npx.set_np()
folder = tempfile.mkdtemp()
f = lambda name: os.path.join(folder, name)  # noqa: E731

net = rgnet()
net.initialize()
_ = net(np.random.uniform(size=(2, 4)))

# %% [markdown]
# ## Saving: the keys `save_parameters` writes, atomically
#
# `save` writes the structural paths (`0.1.0.weight`), byte for byte what `save_parameters`
# writes, in np mode as in nd mode. It writes a temporary file in the same folder, flushes it
# to disk and renames it over the target, so an interrupted save never leaves a torn file.

# %%
keys = save(net, f("rgnet.params"))
net.save_parameters(f("gluon.params"))
print(keys[:4], "...", len(keys), "keys")
assert open(f("rgnet.params"), "rb").read() == open(f("gluon.params"), "rb").read()

# %% [markdown]
# An error in the middle of a write leaves the previous file exactly as it was. Here the
# writer (MXNet's `nd.save`, which `save` calls in nd mode) is replaced by one that fails halfway:

# %%
before = open(f("rgnet.params"), "rb").read()
real_writer = mx.nd.save


def failing_writer(path, arrays):
    with open(path, "wb") as out:
        out.write(b"half a checkpoint")
    raise OSError("disk full")


mx.nd.save = failing_writer
try:
    save(net, f("rgnet.params"))
except OSError as exc:
    print("save failed:", exc)
finally:
    mx.nd.save = real_writer
assert open(f("rgnet.params"), "rb").read() == before
assert sorted(os.listdir(folder)) == ["gluon.params", "rgnet.params"]  # no temporary left

# %% [markdown]
# ## Reading a file without a model, or its data
#
# `read_header` parses the binary layout of the `.params` file (the list magic, then per
# array its shape, context, dtype, and where its data starts) and skips the data itself, so
# it takes milliseconds even on multi-GB files. Every count is checked against the file
# size: a damaged file gets a clear `CheckpointError`.

# %%
header = read_header(f("rgnet.params"))
print(header)
for info in list(header.values())[:3]:
    print(info.name, info.shape, info.dtype, "data at byte", info.offset)
assert header.names == keys and header.np_shape

with open(f("damaged.params"), "wb") as out:
    out.write(before[:300])
try:
    read_header(f("damaged.params"))
except CheckpointError as exc:
    print(exc)

# %% [markdown]
# ## A load that explains itself: the wrapped network
#
# Wrap the network one level deeper and Gluon can no longer load its own file:

# %%
wrapped = nn.Sequential()
wrapped.add(rgnet())
wrapped.initialize()
try:
    wrapped.load_parameters(f("rgnet.params"))
except AssertionError as exc:
    print("Gluon:", str(exc)[:160], "...")

# %% [markdown]
# `load` checks the whole file against the network first. The `LoadReport` it raises with
# lists what is missing and unexpected (repeated indices collapsed to `0.{0..3}.{0..1}.weight`)
# and, because the keys differ only by a prefix, suggests the remap that fixes it.

# %%
try:
    load(wrapped, f("rgnet.params"))
except CheckpointError as exc:
    report = exc.report
    print(report)
assert repr(report.suggestion) == "Remap.add_prefix('0.')" and not report.applied

# %%
report = load(wrapped, f("rgnet.params"), remap=report.suggestion)
print(len(report.loaded), "parameters loaded")
assert report.ok and diff(net, wrapped[0]).same

# %% [markdown]
# ## All or nothing
#
# When a file does not fit, Gluon loads the parameters that come before the problem and then
# stops: the network is left half loaded. Here the last layer of the file has another shape.

# %%
bad = {k: p.data() for k, p in named_parameters(net).items()}
bad["1.weight"] = np.ones((10, 7))
npx.save(f("bad.params"), bad)

victim = rgnet()
victim.initialize()
_ = victim(np.random.uniform(size=(2, 4)))
try:
    victim.load_parameters(f("bad.params"))
except AssertionError as exc:
    print("Gluon:", str(exc)[:120])
half = diff(victim, net)
print("after Gluon's failed load,", len(half.rows) - len(half.changed), "of", len(half.rows),
      "parameters came from the file")
assert 0 < len(half.rows) - len(half.changed) < len(half.rows)

# %%
victim = rgnet()
victim.initialize()
_ = victim(np.random.uniform(size=(2, 4)))
snapshot = {k: p.data().asnumpy().copy() for k, p in named_parameters(victim).items()}
try:
    load(victim, f("bad.params"))
except CheckpointError as exc:
    print(exc)
assert all(onp.array_equal(snapshot[k], p.data().asnumpy())
           for k, p in named_parameters(victim).items())

# %% [markdown]
# `strict=False` loads what fits and says exactly what it skipped:

# %%
report = load(victim, f("bad.params"), strict=False)
print(report.shape_mismatches)
assert report.loaded == [k for k in keys if k != "1.weight"]

# %% [markdown]
# ## Auto names, from this process or another one
#
# `collect_params().save()` writes auto names (`dense3_weight`) instead of paths, and in np
# mode it does not work at all:

# %%
try:
    net.collect_params().save(f("legacy.params"))
except TypeError as exc:
    print("Gluon:", exc)

# %% [markdown]
# Files with auto names exist anyway (older code, other tools). Their numbers depend on the
# process that wrote them; `remap='structural'` matches them to paths by structure. Here a
# "legacy" file is written by hand with auto names numbered as in a busier process, where ten
# more layers had been created before:

# %%
for _ in range(10):
    nn.Dense(1)
other = rgnet()  # its auto names continue this process's count
npx.save(f("legacy.params"), {p.name: named_parameters(net)[path].data()
                              for path, p in named_parameters(other).items()})
print(read_header(f("legacy.params")).names[:3])

fresh = rgnet()
try:
    load(fresh, f("legacy.params"))
except CheckpointError as exc:
    print(exc.report.suggestion)
assert load(fresh, f("legacy.params"), remap="structural").ok
assert diff(fresh, net).same

# %% [markdown]
# `convert` rewrites a file's keys once and for all (here: auto names to paths):

# %%
mapping = convert(f("legacy.params"), f("converted.params"), to="structural", block=rgnet())
print(list(mapping.items())[:2])
assert read_header(f("converted.params")).names == keys

# %% [markdown]
# ## Comparing and exporting
#
# `diff` compares blocks, files and mappings key by key: max |a-b|, relative L2, cosine.
# `export_npz` writes a `.npz` that `numpy.load(..., allow_pickle=False)` opens.

# %%
tweaked = rgnet()
load(tweaked, f("rgnet.params"))
tweaked[1].weight.set_data(tweaked[1].weight.data() * 1.01)
report = diff(net, tweaked, pattern=r"^1\.")
print(report)
assert report.changed == ["1.weight"] and abs(report["1.weight"]["rel_l2"] - 0.01) < 1e-6

export_npz(f("rgnet.params"), f("rgnet.npz"))
with onp.load(f("rgnet.npz"), allow_pickle=False) as z:
    assert z.files == keys
    assert onp.array_equal(z["1.weight"], net[1].weight.data().asnumpy())

# %% [markdown]
# ## The command line
#
# `gluon-params inspect | diff | convert | export` do the same from a shell; `--json` gives
# machine-readable output, and the exit code is 0 when all is well, 1 when differences or
# problems were found, 2 for usage errors.

# %%
cli = [sys.executable, "-m", "gluon_params_kit"]
out = subprocess.run(cli + ["inspect", f("rgnet.params")], capture_output=True, text=True)
print(out.stdout)
assert out.returncode == 0 and "total: 18 arrays" in out.stdout
