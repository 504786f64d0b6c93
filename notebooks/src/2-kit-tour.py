# %% [markdown]
# # A tour of gluon_params_kit: paths, the legacy bridge, selection, freezing
#
# Gluon 1.x names every Parameter from a process-wide counter (`dense0_weight`), so the
# same notebook cell gives `dense76_weight` after a few re-runs, and `collect_params('dense0.*')`
# silently picks another layer. `gluon_params_kit` reads a network the way `save_parameters`
# already does: as an ordered map from **structural path** (`0.1.0.bias`) to `Parameter`.
# Paths are the same in every process. Auto names stay usable through a bridge.
#
# This notebook runs top to bottom in a fresh kernel; every claim it makes is checked by an
# `assert`.

# %%
import gluon_params_kit  # first: restores numpy aliases MXNet 1.9.1 needs on numpy >= 1.24
import mxnet as mx
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

from gluon_params_kit.chapter import mlp, rgnet, shared_mlp
from gluon_params_kit.select import freeze, select, set_multipliers, unfreeze
from gluon_params_kit.tree import (get, legacy_names, match_legacy_names, named_parameters,
                                   path_of, render_tree)

npx.set_np()  # the book's array mode; everything below works in mx.nd mode too

# %% [markdown]
# ## The chapter's networks
#
# The same layers in the same order as the book's cells, so in this fresh process the auto
# names are the book's: `mlp` is `sequential0_` with `dense0`, `dense1`; `rgnet` comes next.

# %%
net = mlp()
net.initialize()
X = np.random.uniform(size=(2, 20))
net(X).shape

# %%
rgnet = rgnet()
rgnet.initialize(mx.init.Xavier())  # Xavier keeps gradients visible through its 9 layers
rgnet(X).shape

# %% [markdown]
# ## Paths
#
# `named_parameters` is an ordered map path -> Parameter, in `save_parameters` order.

# %%
params = named_parameters(net)
{path: p.shape for path, p in params.items()}

# %% [markdown]
# The keys are exactly the ones `save_parameters` writes into the file:

# %%
import os, tempfile
fname = os.path.join(tempfile.mkdtemp(), "mlp.params")
net.save_parameters(fname)
saved = npx.load(fname)
assert sorted(saved) == sorted(params)
sorted(saved)

# %% [markdown]
# `render_tree` draws any nesting: class, path, auto name, shapes.

# %%
print(render_tree(rgnet))

# %% [markdown]
# ## The book's access forms next to the kit's
#
# Every form the book uses to reach a Parameter has a path twin, and `get` accepts the book's
# own spelling too (with or without the variable name).

# %%
book = rgnet[0][1][0].bias                 # the book: indexing
assert get(rgnet, "rgnet[0][1][0].bias") is book
assert get(rgnet, "[0][1][0].bias") is book
assert get(rgnet, "0.1.0.bias") is book    # canonical path
assert get(rgnet, (0, 1, 0, "bias")) is book
assert get(rgnet, "dense4_bias") is book   # an auto name of this process still resolves
path_of(rgnet, book), book.name

# %%
# The book's name-based access and its path twin:
assert net[1].params["dense1_bias"] is get(net, "1.bias")
assert net.collect_params()["dense0_weight"] is get(net, "0.weight")
get(net, "1.bias").data()

# %% [markdown]
# A wrong path says which segment failed, what exists there and what was probably meant.
# The error is a `KeyError`, so ordinary `except KeyError` works.

# %%
try:
    get(rgnet, "0.1.0.bais")
except KeyError as err:
    print(err)

# %% [markdown]
# ## The legacy bridge
#
# `legacy_names` maps auto names to paths and back.

# %%
bridge = legacy_names(rgnet)
assert bridge["dense4_bias"] == "0.1.0.bias" and bridge.to_name("0.1.0.bias") == "dense4_bias"
list(bridge.items())[:4]

# %% [markdown]
# Why paths: build the MLP again in the same process and the counter has moved on. The old
# habit `collect_params('dense0.*')` now finds nothing in the new net (or, worse, another
# layer in a bigger one); the path `0.` still means "the first layer".

# %%
again = mlp()
print([p.name for p in again.collect_params().values()])
assert list(again.collect_params("dense0.*").keys()) == []
assert list(select(again, r"^0\.")) == ["0.weight", "0.bias"]

# %% [markdown]
# Names written by *another* process (say, a legacy `.params` file keyed `dense0_weight`...)
# can be matched to this net by structure: same kinds of layers in the same order.

# %%
from_the_book = ["dense0_weight", "dense0_bias", "dense1_weight", "dense1_bias"]
mapping = match_legacy_names(again, from_the_book)
assert dict(mapping) == {"dense0_weight": "0.weight", "dense0_bias": "0.bias",
                         "dense1_weight": "1.weight", "dense1_bias": "1.bias"}
dict(mapping)

# %% [markdown]
# ## Selection
#
# `collect_params(select)` uses `re.match` on auto names, so a plain word selects nothing,
# silently. `select` searches paths by default, and says so when nothing matches.

# %%
assert list(rgnet.collect_params("weight").keys()) == []
weights = select(rgnet, "weight")
assert len(weights) == 9
list(weights)

# %%
first_block = select(rgnet, r"^0\.")
assert len(first_block) == 16 and "1.weight" not in first_block
list(select(rgnet, "0.3.*", mode="glob"))

# %% [markdown]
# Gluon's own semantics are one keyword away: `mode='match', on='name'` selects exactly what
# `collect_params(regex)` selects, in the same order.

# %%
for rx in ["dense1.*", ".*bias", "dense(2|3)_weight"]:
    ours = [p.name for p in select(rgnet, rx, mode="match", on="name").values()]
    assert ours == list(rgnet.collect_params(rx).keys())
ours

# %% [markdown]
# A pattern that selects nothing is an error that lists what exists (unless
# `allow_empty=True`):

# %%
try:
    select(rgnet, "weight", mode="match")
except ValueError as err:
    print(err)

# %% [markdown]
# The result is a real `ParameterDict` holding the net's own Parameters, keyed by path, so
# `gluon.Trainer` takes it: here only the output layer of the MLP learns.

# %%
head = select(net, r"^1\.")
trainer = gluon.Trainer(head, "sgd", {"learning_rate": 0.1})
before = {k: p.data().copy() for k, p in named_parameters(net).items()}
with autograd.record():
    loss = (net(X) ** 2).sum()
loss.backward()
trainer.step(2)
moved = [k for k, p in named_parameters(net).items() if (p.data() != before[k]).any()]
assert moved == ["1.weight", "1.bias"]
moved

# %% [markdown]
# ## Freezing and multipliers
#
# `freeze`, `unfreeze` and `set_multipliers` take the same selection arguments, return what
# they changed, and with `dry_run=True` only say what they would change. A bad pattern or
# value changes nothing at all.

# %%
print(freeze(rgnet, r"^0\.", dry_run=True))
assert all(p.grad_req == "write" for p in named_parameters(rgnet).values())

# %%
frozen = freeze(rgnet, r"^0\.")
assert len(frozen) == 16
trainer = gluon.Trainer(rgnet.collect_params(), "sgd", {"learning_rate": 0.1})
before = {k: p.data().copy() for k, p in named_parameters(rgnet).items()}
with autograd.record():
    loss = (rgnet(X) ** 2).sum()
loss.backward()
trainer.step(2)
moved = [k for k, p in named_parameters(rgnet).items() if (p.data() != before[k]).any()]
assert moved == ["1.weight", "1.bias"]
moved

# %%
print(set_multipliers(rgnet, lr_mult={r"^1\.": 0.1}, wd_mult={r"\.bias$": 0.0}, dry_run=True))

# %%
try:
    set_multipliers(rgnet, lr_mult={"weight": 0.5, "bias": -1})
except ValueError as err:
    print(err)
assert all(p.lr_mult == 1.0 for p in named_parameters(rgnet).values())  # nothing half-done

# %%
print(unfreeze(rgnet, r"^0\.3\."))

# %% [markdown]
# ## Shared parameters
#
# A Parameter held by several layers has one canonical path (its first in walk order) and
# aliases. Selecting through any of its paths finds it; `render_tree` marks it.

# %%
tied = shared_mlp()
print(render_tree(tied))
assert path_of(tied, tied[2].weight, all_paths=True) == ["1.weight", "2.weight"]
list(select(tied, r"^2\."))
