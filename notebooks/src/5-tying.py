# %% [markdown]
# # Tied parameters with `gluon_params_kit`
#
# Gluon 1.9 shares parameters only through `params=other.params` at construction. This tour
# shows the kit's tying tools on the chapter's tied MLP, trains it (the chapter's exercise 4)
# with the shared gradient checked at every step, ties layers that already exist, and ties a
# language model's output layer to its embedding.

# %%
import contextlib
import io
import re

import gluon_params_kit  # before mxnet: numpy shim
import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np
from mxnet import autograd, gluon
from mxnet.gluon import nn
from matplotlib_inline.backend_inline import set_matplotlib_formats

from gluon_params_kit import fresh_names
from gluon_params_kit.chapter import shared_mlp
from gluon_params_kit.tree import named_parameters
from gluon_params_kit.tying import (TransposedDense, check_tied_gradients, repeat_tied, tie,
                                    tied_copy, tied_groups)

set_matplotlib_formats("png")  # else the kernel's first figure comes out as text only

mx.random.seed(0)
np.random.seed(0)

# %% [markdown]
# ## The chapter's tied MLP and its tie report
#
# `shared_mlp()` builds the book's net: layers 1 and 2 are built with `params=shared.params`.
# `tied_groups` lists each shared Parameter with every structural path it has, how often one
# forward uses it, and what sharing saves.

# %%
with fresh_names():
    net = shared_mlp()
net.initialize()
X = mx.nd.random.uniform(shape=(2, 20))
report = tied_groups(net, X)
print(report)

# %%
assert net[1].weight is net[2].weight
assert report["2.weight"].paths == ("1.weight", "2.weight") and report["2.weight"].uses == 2
net[1].weight.data()[0, 0] = 100  # a change through one path is seen through the other
assert net[2].weight.data()[0, 0].asscalar() == 100

# %% [markdown]
# The report's total is exactly the "Shared params" line of Gluon's own `summary()`:

# %%
buf = io.StringIO()
with contextlib.redirect_stdout(buf):
    net.summary(X)
gluon_shared = int(re.search(r"Shared params in forward computation graph: (\d+)",
                             buf.getvalue()).group(1))
print("summary():", gluon_shared, " tied_groups():", report.shared_params)
assert gluon_shared == report.shared_params

# %% [markdown]
# ## Exercise 4: train the tied MLP and watch the gradients
#
# At every step we record the loss, the gradient norm of each layer, and the result of
# `check_tied_gradients`: the largest difference between the shared weight's gradient and
# the sum of its two per-use gradients (computed on an untied copy with the same values).

# %%
with fresh_names():
    net = shared_mlp()
net.initialize(mx.init.Xavier())
features = mx.nd.random.normal(shape=(64, 20))
labels = mx.nd.array(np.random.randint(0, 10, size=64))
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
history = []
for step in range(10):
    with autograd.record():
        loss = loss_fn(net(features), labels).mean()
    loss.backward()
    grads = {i: net[i].weight.grad().norm().asscalar() for i in range(4)}
    gap = check_tied_gradients(net, features, lambda out: loss_fn(out, labels).mean())
    trainer.step(1)
    history.append((loss.asscalar(), grads, gap["1.weight"]))
    print(f"step {step}: loss {loss.asscalar():.4f}  |grad| layer0 {grads[0]:.4f}  "
          f"shared {grads[1]:.4f}  layer3 {grads[3]:.4f}  tied-vs-sum gap {gap['1.weight']:.1e}")

# %%
assert all(gap < 1e-6 for _, _, gap in history)
assert history[-1][0] < history[0][0]
assert all(g[1] == g[2] for _, g, _ in history)  # one Parameter, one gradient

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
ax1.plot([h[0] for h in history], marker="o")
ax1.set(title="training loss", xlabel="step")
for layer, label in [(0, "layer 0"), (1, "shared layers 1+2"), (3, "layer 3")]:
    ax2.plot([h[1][layer] for h in history], marker="o", label=label)
ax2.set(title="gradient norm per layer", xlabel="step")
ax2.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Tying layers that already exist, and building tied copies
#
# `tie(target, source)` rebinds an existing block after validating every pair of
# Parameters (shape, dtype, grad_req, ...): on a mismatch nothing changes and the error lists
# all of them. `root=` clears the cached graph of a hybridized parent.

# %%
with fresh_names():
    net = nn.HybridSequential()
    net.add(nn.Dense(8, activation="relu"), nn.Dense(8, activation="relu"),
            nn.Dense(8, activation="relu"), nn.Dense(3))
net.initialize()
net.hybridize()
x = mx.nd.random.uniform(shape=(2, 5))
net(x)
print(dict(tie(net[2], net[1], root=net)))
print(tied_groups(net, x))

# %%
assert net[2].weight is net[1].weight
np.testing.assert_allclose(net(x).asnumpy(), net[3](net[1](net[1](net[0](x)))).asnumpy(),
                           rtol=1e-5)
try:
    tie(net[3], net[0])
except gluon_params_kit.TieError as err:
    print(err)
assert net[3].weight is not net[0].weight

# %% [markdown]
# `tied_copy(layer)` reads the layer's configuration back (no repeated arguments) and
# `repeat_tied(layer, n)` stacks n uses of one layer:

# %%
conv = nn.Conv2D(4, kernel_size=3, padding=1, activation="relu", in_channels=4)
twin = tied_copy(conv)
print(conv, "\n", twin)
assert twin.weight is conv.weight and repr(twin)[6:] == repr(conv)[6:]
deep = repeat_tied(nn.Dense(16, activation="relu", in_units=16), 4)
print(tied_groups(deep))
assert len(tied_groups(deep)[0].paths) == 4

# %% [markdown]
# ## Transposed tying: a tiny language model
#
# `TransposedDense(embedding)` computes `x @ E.T (+ bias)` with the Embedding's weight `E`
# (vocab x dim): the input and output embeddings are one Parameter, and its gradient sums
# both uses. The model learns to predict the next token id on synthetic data.

# %%
vocab, dim = 16, 8
with fresh_names():
    lm = nn.HybridSequential()
    emb = nn.Embedding(vocab, dim)
    lm.add(emb, nn.Dense(dim, flatten=False, activation="tanh"), TransposedDense(emb))
lm.initialize(mx.init.Xavier())
lm.hybridize()
tokens = np.random.randint(0, vocab, size=(16, 6)).astype("float32")
x, y = mx.nd.array(tokens), mx.nd.array((tokens + 1) % vocab)
trainer = gluon.Trainer(lm.collect_params(), "adam", {"learning_rate": 0.05})
lm_losses = []
for step in range(30):
    with autograd.record():
        loss = loss_fn(lm(x), y).mean()
    loss.backward()
    trainer.step(1)
    lm_losses.append(loss.asscalar())
print("loss: first %.3f, last %.3f" % (lm_losses[0], lm_losses[-1]))
print(tied_groups(lm, x))

# %%
assert lm_losses[-1] < 0.5 * lm_losses[0]
same_shape = [p for p in named_parameters(lm).values() if p.shape == (vocab, dim)]
assert same_shape == [emb.weight] and lm[2].weight is emb.weight
gap = check_tied_gradients(lm, x, lambda out: loss_fn(out, y).mean())
print(gap)
assert gap["0.weight"] < 1e-6
plt.figure(figsize=(4, 3))
plt.plot(lm_losses)
plt.title("tiny LM with tied input/output embedding")
plt.xlabel("step")
plt.show()
