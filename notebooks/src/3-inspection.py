# %% [markdown]
# # Inspection: a summary and statistics of a network's parameters
#
# Gluon's own `Block.summary(x)` needs an example input and a forward pass, refuses a
# hybridized net and shows neither dtypes, bytes nor values. Printing `collect_params()`
# shows names and shapes only, so readers of the chapter keep printing `data()[0]` to see
# what an initializer did. `gluon_params_kit.inspection` gives:
#
# - `gpk.summary(net)`: one row per parameter (path, auto name, shape, dtype, size, bytes,
#   devices, `grad_req`, state, what it is tied to), with totals; as text that fits the
#   output width, as one collapsible tree of blocks in Jupyter, or as plain records. No
#   forward pass needed; `gpk.summary(net, X)` (or a shape such as `(2, 20)`) adds each
#   layer's output shape, multiply-adds and activation memory.
# - `gpk.stats(net)`: mean, std, min, max, L2 norm, zero fraction, NaN/Inf counts and a
#   histogram per parameter, read once per parameter.
# - `gpk.plot_histograms(net)`: the same histograms with matplotlib.
#
# This notebook runs top to bottom in a fresh kernel; every claim it makes is checked by an
# `assert`.
#
# **Running it elsewhere** (Colab, a fresh Jupyter): the kit is not on PyPI; install it from
# its repository first, with MXNet and matplotlib, then restart the kernel:
#
# ```
# %pip install "gluon_params_kit[cpu,plot] @ git+<repository URL>"
# ```

# %%
import contextlib
import io
import re
import warnings

import gluon_params_kit as gpk  # first: restores numpy aliases MXNet 1.9.1 needs on numpy >= 1.24
import mxnet as mx
import numpy as onp
from mxnet import np, npx
from matplotlib_inline.backend_inline import set_matplotlib_formats
from mxnet.gluon import nn

from gluon_params_kit.chapter import MyInit, mlp, rgnet, shared_mlp

npx.set_np()  # the book's array mode; everything below works in mx.nd mode too
set_matplotlib_formats("png")  # show the matplotlib Figures below as images

# %% [markdown]
# ## Before the first forward pass
#
# The chapter's MLP does not know its input width until it sees data: Gluon defers the
# weights' shapes. The summary shows them anyway, unknown dimensions as `?`, and counts
# what is known so far; the rest is *pending*.

# %%
net = mlp()
net.initialize()
print(gpk.summary(net))

# %%
s = gpk.summary(net)
assert s["0.weight"]["shape"] == (256, None) and s["0.weight"]["state"] == "deferred"
assert s.totals["pending"] == 2 and s.totals["parameters"] == 256 + 10

# %% [markdown]
# After one forward pass every shape is known. In Jupyter, the summary renders as one table
# of the block hierarchy: each block's row carries its subtotal; click it to open or close
# it (the blocks below the first level start closed; "expand all" opens every one).

# %%
X = np.random.uniform(size=(2, 20))
net(X)
gpk.summary(net)

# %% [markdown]
# The total agrees with Gluon's own `summary`, which needs the input `X` and a forward pass:

# %%
out = io.StringIO()
with contextlib.redirect_stdout(out):
    net.summary(X)
gluon_total = int(re.search(r"Unique parameters in model: (\d+)", out.getvalue()).group(1))
print(out.getvalue().splitlines()[-2])
assert gpk.summary(net).totals["parameters"] == gluon_total == 20 * 256 + 256 + 256 * 10 + 10

# %% [markdown]
# ## Nested blocks, hybridized
#
# `rgnet` nests four `block1`s inside `block2`. Its summary works on the hybridized net too
# (Gluon's refuses). `depth=1` folds everything below the first level into one subtotal row
# per block. By default the text and the HTML stop at depth 3 (as torchinfo does) and show
# a run of identical blocks as one row: the last three `block1`s are `0.1-3 = 3 x Sequential`
# below (`fold=False` shows each, `depth=None` everything).

# %%
rg = rgnet()
rg.initialize()
with warnings.catch_warnings():  # Gluon suggests HybridSequential; the book uses Sequential
    warnings.simplefilter("ignore")
    rg.hybridize()
rg(X)
print(gpk.summary(rg, depth=1))

# %% [markdown]
# With an example input, the summary also runs one forward pass and shows each layer's output
# shape and parameter count, as Gluon's `net.summary(X)` and torchinfo do, but on the
# hybridized net, and leaving it as it was (its cached graph, values and gradients; the kit's
# tests check the graph, this cell that it computes the same outputs afterwards):

# %%
before = rg(X)
traced = gpk.summary(rg, X)
print(traced)
assert (rg(X) == before).all() and [l["outputs"] for l in traced.layers[:2]] == [[(2, 10)], [(2, 16)]]

# %% [markdown]
# The input can also be a shape, as torchinfo's `input_size` (zeros of the net's dtype on its
# device). The `mult-adds` column counts each Dense's multiplications by hand-checkable rules
# (rows x `in_units` x `units`), and `activations` the bytes of the arrays the layers return:

# %%
shaped = gpk.summary(rg, (2, 20))
print(shaped.totals["mult_adds"], shaped.totals["activation_bytes"])
assert shaped.totals["mult_adds"] == 2 * (20 * 32 + 32 * 16 + 3 * (16 * 32 + 32 * 16) + 16 * 10)

# %% [markdown]
# In Jupyter the same summary is the tree, with `output`, `mult-adds` and `activations` columns:

# %%
traced

# %%
full = gpk.summary(rg)
assert len(full) == 18 and gpk.summary(rg, depth=1).totals == full.totals
assert gpk.summary(rg, depth=1)["0"]["count"] == 16

# %% [markdown]
# A pattern (a regular expression searched in each path, as in `select`) picks rows:

# %%
print(gpk.summary(rg, pattern=r"^0\.1\."))

# %% [markdown]
# ## Tied parameters
#
# The chapter's shared-layer MLP uses one Dense's parameters in two places. The summary
# lists them once, under their first path, says where else they are used, and counts
# them once, as Gluon's "Unique parameters in model" does.

# %%
tied = shared_mlp()
tied.initialize()
tied(X)
print(gpk.summary(tied))

# %%
t = gpk.summary(tied)
assert t["1.weight"]["shared_with"] == ["2.weight"] and t.totals["shared_tensors"] == 2
unique = {id(p): p.data().size for p in tied.collect_params().values()}
assert t.totals["parameters"] == sum(unique.values())

# %% [markdown]
# ## What each initializer produces
#
# Four copies of the MLP's first layer, each initialized as in the chapter: `Normal(0.01)`,
# `Xavier()`, `Constant(1)` and the chapter's own `MyInit` (uniform on [-10, 10], then every
# weight with |w| < 5 set to 0). `summary(..., stats=True)` adds statistics and a text
# sparkline of each histogram: a terminal shows them too.

# %%
layers = nn.Sequential()
for _ in range(4):
    layers.add(nn.Dense(256, in_units=20))
inits = [mx.init.Normal(0.01), mx.init.Xavier(), mx.init.Constant(1), MyInit(verbose=False)]
for layer, init in zip(layers, inits):
    layer.initialize(init)
print(gpk.summary(layers, stats=True, pattern="weight"))

# %% [markdown]
# The same numbers as a mapping, checked against numpy on the same values:

# %%
measured = gpk.stats(layers, pattern="weight")
for path, record in measured.items():
    values = layers[int(path[0])].weight.data().asnumpy().astype(onp.float64)
    assert abs(record.mean - values.mean()) <= 1e-6 * onp.abs(values).mean()
    assert abs(record.std - values.std()) <= 1e-6 * values.std() + 1e-12
    assert record.min == values.min() and record.max == values.max()
normal, xavier, constant, myinit = measured.values()
assert abs(normal.std - 0.01) < 0.001                          # Normal(sigma=0.01)
bound = (6 / (20 + 256)) ** 0.5                                 # Xavier: uniform(-b, b)
assert -bound <= xavier.min and xavier.max <= bound
assert constant.min == constant.max == 1 and constant.std == 0  # Constant(1)
assert 0.4 < myinit.zero_fraction < 0.6                          # MyInit: half are 0 ...
w = layers[3].weight.data().asnumpy()
assert ((w == 0) | ((abs(w) >= 5) & (abs(w) <= 10))).all()       # ... the rest in [5, 10]
{path: record.sparkline for path, record in measured.items()}

# %% [markdown]
# The text table fits 120 characters (a notebook's output; in a terminal, its width): the
# statistics went to a second table keyed by path. `to_string(width=...)` picks another
# width and says what it left out:

# %%
narrow = gpk.summary(layers, stats=True, pattern="weight").to_string(width=80)
print(narrow)
assert max(map(len, narrow.splitlines())) <= 80

# %% [markdown]
# `gpk.plot_histograms` draws them with matplotlib (the kit's `plot` extra, installed by
# `make notebooks`; else `pip install 'matplotlib<3.9'`). MyInit's gap between -5 and 5, apart from the
# spike of zeros, shows at once.

# %%
fig = gpk.plot_histograms(layers, pattern="weight", cols=4, figsize=(12, 3))
for ax, name in zip(fig.axes, ["Normal(0.01)", "Xavier()", "Constant(1)", "MyInit"]):
    ax.set_title(f"{ax.get_title()}\n{name}", fontsize=9)
assert len(fig.axes) == 4
fig

# %% [markdown]
# ## NaN and Inf
#
# A value gone wrong in training shows up in the statistics (and in the totals), and the
# other statistics are computed over the finite values:

# %%
broken = layers[0].weight.data().copy()
broken[0, :3] = onp.nan
broken[1, 0] = onp.inf
layers[0].weight.set_data(broken)
report = gpk.summary(layers, stats=True, pattern=r"^0\.")
print(report)
assert (report.totals["nan"], report.totals["inf"]) == (3, 1)

# %% [markdown]
# ## Plain records
#
# `to_records()` gives plain dicts, for a DataFrame or a log:

# %%
gpk.summary(net).to_records()[0]
