# %% [markdown]
# # 7. Devices and workers: replicas that stay consistent
#
# A Parameter initialized on several contexts holds one copy, a *replica*, per context.
# Gluon keeps them equal as long as every change goes through a `Trainer`; anything else
# (the book's `net[0].weight.data()[:] += 1`) edits one replica and leaves the others
# behind, without a word. This notebook shows how `gluon_params_kit` finds and repairs that
# drift, moves a network between devices, and starts every worker of a distributed job from
# the same values through MXNet's own kvstore.
#
# This machine has no GPU, so two CPU contexts, `cpu(0)` and `cpu(1)`, stand in for two
# GPUs: the replica logic is exactly the same.

# %%
import gluon_params_kit as kit  # before mxnet: the numpy shim
import mxnet as mx
from mxnet import autograd, gluon
from mxnet.gluon import nn

from gluon_params_kit.devices import (available_contexts, broadcast, checksum, gpu_problems,
                                      move, replica_report, set_data_everywhere, sync_replicas,
                                      try_all_gpus, try_gpu)
from gluon_params_kit.chapter import mlp

print("try_gpu():", try_gpu(), " try_all_gpus():", try_all_gpus())
print("available_contexts():", available_contexts())
print("GPU problems:", gpu_problems() or "none")

# %% [markdown]
# `try_gpu()` falls back to the CPU when there is no GPU, or when the GPU cannot run the
# installed MXNet's kernels. `gpu_problems()` says why in a sentence, with the fix. MXNet
# 1.9.1's CUDA wheels carry kernels up to sm_86 and no PTX, so a Hopper GPU (H100, compute
# capability 9.0) cannot run them. Here is the verdict for such a GPU, with the
# capability passed in instead of probed:

# %%
for sentence in gpu_problems(gpus=[("NVIDIA H100 80GB HBM3", (9, 0))], cuda_build=True):
    print(sentence)
assert gpu_problems(gpus=[("NVIDIA A100", (8, 0))], cuda_build=True) == []

# %% [markdown]
# ## Replicas after initialization
#
# The book's MLP, initialized on two contexts; one forward pass on each finishes the
# deferred initialization. Every parameter has two replicas, and they are identical.

# %%
ctxs = [mx.cpu(0), mx.cpu(1)]
with kit.fresh_names():
    net = mlp()
net.initialize(ctx=ctxs)
x = mx.nd.random.uniform(shape=(2, 20))
for c in ctxs:
    net(x.as_in_context(c))
report = replica_report(net)
print(report)
assert report.consistent

# %% [markdown]
# ## The book's edit desynchronizes the replicas
#
# `data()` returns the replica on the *default* context, so `[:] += 1` changes only that one.
# The report names the parameter by its path and says by how much the replicas differ.

# %%
net[0].weight.data()[:] += 1
report = replica_report(net)
print(report)
assert report.out_of_sync == ["0.weight"] and report["0.weight"].max_abs_diff == 1.0

# %% [markdown]
# `sync_replicas` copies one replica over the others (the first context's by default,
# or `source=`):

# %%
print(sync_replicas(net, source=mx.cpu(0)))
assert replica_report(net).consistent

# %% [markdown]
# The safe form of the book's cell edits every replica at once. The new value can be an
# array, a scalar, or a function of the current value:

# %%
before = net[0].weight.data().copy()
set_data_everywhere(net, "0.weight", lambda w: w + 1)
print(replica_report(net).verdict())
expected = before.asnumpy() + 1
assert all((w.asnumpy() == expected).all() for w in net[0].weight.list_data())

# %% [markdown]
# ## Training keeps replicas equal
#
# A `Trainer` with `kvstore='device'` (or `'local'`) sums the gradients of all replicas and
# writes the same update to each.

# %%
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore="device")
with autograd.record():
    losses = [(net(x.as_in_context(c)) ** 2).sum() for c in ctxs]
autograd.backward(losses)
trainer.step(4)
print(replica_report(net).verdict())
assert replica_report(net).consistent

# %% [markdown]
# ## "Parameter was not initialized on context cpu(2)"
#
# Feeding data on a context the parameters do not live on is one of the most common
# errors. `move` puts every parameter, and its gradient buffer, on the contexts you name
# (deferred ones included) and reports what it did. Values come from the first replica,
# exactly (Gluon's `reset_ctx` averages the replicas).

# %%
try:
    net(x.as_in_context(mx.cpu(2)))
except (RuntimeError, mx.base.MXNetError) as err:
    print(type(err).__name__, str(err).splitlines()[0][:120])

print(move(net, [mx.cpu(1), mx.cpu(2)]))
y = net(x.as_in_context(mx.cpu(2)))
assert y.context == mx.cpu(2) and replica_report(net).consistent

# %% [markdown]
# ## Workers: the same initial values everywhere
#
# In a distributed job every worker initializes its own copy with its own random state.
# `broadcast(net, kvstore)` makes every replica on every worker equal to the root worker's
# values, through MXNet's kvstore, with keys from a range that a `Trainer`'s keys never
# reach (one kvstore cannot mix integer and string keys, and reusing a Trainer's key on a
# `dist_sync` store crashes the server). On one machine, `'local'` or `'device'` stores copy
# the first replica everywhere. `checksum(net)` gives a digest per parameter to compare
# workers cheaply (log `dict(checksum(net))` on each worker).

# %%
net[1].bias.data(mx.cpu(2))[:] = 42  # drift on one replica
kv = mx.kv.create("device")
print(broadcast(net, kv))
print(checksum(net))
assert replica_report(net).consistent
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1}, kvstore=kv)

# %% [markdown]
# On a cluster the same two calls run on every worker, with one `dist_sync` store made
# once and handed to both `broadcast` and the `Trainer` (see docs/devices.md, "A cluster"
# for the launch recipe; `tests/test_dist.py` runs a real loopback cluster):
#
# ```python
# kv = mx.kv.create("dist_sync")
# net.initialize(ctx=ctx); net(x)          # finish deferred init first
# broadcast(net, kv)                       # everyone now holds rank 0's values
# trainer = gluon.Trainer(net.collect_params(), "sgd", {...}, kvstore=kv)
# ```
#
# Deferred parameters have no shape yet, so they cannot be sent: `broadcast` refuses them
# on every worker before any traffic (so no worker waits forever for the others), naming them.

# %%
with kit.fresh_names():
    fresh = mlp()
fresh.initialize()
try:
    broadcast(fresh, "local")
except kit.DeviceError as err:
    print(err)
fresh(x)
assert broadcast(fresh, "local") == ["0.weight", "0.bias", "1.weight", "1.bias"]
