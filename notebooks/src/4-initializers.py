# %% [markdown]
# # Initializers with `gluon_params_kit`
#
# Plain Gluon 1.x surprises here: `net.initialize(mx.init.Mixed(...))` fails, a layer's own
# initializer (Dense bias `'zeros'`) silently wins over the global one, re-initializing prints
# one warning per parameter, and the values depend on the order blocks were built in. This
# tour shows the kit's answer: a registry on top of MXNet's own, init **plans** (ordered
# pattern -> initializer rules) with a preview, deferred init, provenance in the summary, and
# seeds that depend only on the structure.

# %%
import warnings

import gluon_params_kit  # before mxnet: numpy shim
import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np
from matplotlib_inline.backend_inline import set_matplotlib_formats
from mxnet.gluon import nn

from gluon_params_kit import fresh_names
from gluon_params_kit.chapter import MyInit, mlp, rgnet
from gluon_params_kit.initializers import (InitPlan, get_initializer, list_initializers,
                                           provenance, register_initializer, reinitialize)
from gluon_params_kit.inspection import summary
from gluon_params_kit.tree import named_parameters

mx.random.seed(0)
set_matplotlib_formats("png")  # else the kernel's first figure comes out as text only

# %% [markdown]
# ## The registry is MXNet's own
#
# `list_initializers()` reads `mx.init`'s registry, so the chapter's `MyInit` (registered with
# `mx.init.register`) is there as `'myinit'`. A spec is an initializer, a name, a call string
# (parsed with `ast`: literals only, nothing is evaluated) or the JSON `dumps()` writes.

# %%
print(list_initializers())
xavier = get_initializer("xavier(rnd_type='gaussian', magnitude=2)")
print(xavier.dumps())
assert get_initializer(xavier.dumps()) == xavier  # every spec round-trips
assert isinstance(get_initializer("myinit"), MyInit)

# %% [markdown]
# Mistakes name the input and the choices:

# %%
for bad in ["xaviar", "normal(sgma=0.1)", "normal(sigma=__import__('os').getpid())"]:
    try:
        get_initializer(bad)
    except gluon_params_kit.InitializerError as err:
        print(f"{bad!r}:\n   {err}\n")

# %% [markdown]
# New initializers go into the same registry (with aliases), so `mx.init.create` sees them too:

# %%
@register_initializer(aliases="centered_uniform")
class CenteredUniform(mx.init.Initializer):
    """U[-a, a] minus the array's own mean: exactly zero mean per parameter."""

    def __init__(self, a=0.5):
        super().__init__(a=a)
        self.a = a

    def _init_weight(self, name, arr):
        F = mx.np if isinstance(arr, mx.np.ndarray) else mx.nd
        arr[:] = F.random.uniform(-self.a, self.a, arr.shape)
        arr[:] = arr - arr.mean()


assert isinstance(mx.init.create("centered_uniform"), CenteredUniform)

# %% [markdown]
# ## A plan on the chapter's nested net, before it knows its input size
#
# Rules are tried in order and the first match wins; patterns are those of `select`
# (regular expressions on structural paths). Here: the last Dense (path `1`) gets
# `Constant(42)`, biases `Constant(0.1)`, weights Xavier. `respect_layer_defaults` states
# explicitly whether a layer's own initializer (Dense bias `'zeros'`) beats the plan's default.

# %%
with fresh_names():
    mlp()
    net = rgnet()

plan = InitPlan([(r"^1\.", "constant(42)"),
                 (r"bias$", "constant(0.1)"),
                 (r"\.0\.weight$", "centered_uniform(a=0.5)"),
                 (r"weight$", "xavier")],
                respect_layer_defaults=True)
preview = plan.preview(net, seed=2024)
print(preview)
assert preview.unmatched == []
assert preview["0.0.0.weight"].action == "deferred"  # shape unknown until the first forward

# %% [markdown]
# `mx.init.Mixed` cannot even be passed to `net.initialize`; the plan applies to the deferred
# net, quietly, and each rule lands at the first forward:

# %%
try:
    net.initialize(mx.init.Mixed([".*"], [mx.init.Xavier()]))
except Exception as err:  # MXNet's own complaint
    print("Gluon:", type(err).__name__, err)

with warnings.catch_warnings():
    warnings.simplefilter("error")  # force semantics: no per-parameter warnings
    plan.apply(net, seed=2024)
X = mx.nd.random.uniform(shape=(2, 20))
net(X).shape

# %%
assert (net[1].weight.data().asnumpy() == 42).all()
assert np.allclose(net[0][0][0].bias.data().asnumpy(), 0.1)
assert abs(float(net[0][2][0].weight.data().mean().asscalar())) < 1e-6  # centered

# %% [markdown]
# ## Provenance in the summary
#
# Each parameter records which rule, spec and seed made its values; `summary` shows it in its
# `init` column and `provenance(net)` returns it by path.

# %%
print(summary(net))

# %%
records = provenance(net)
records["0.1.0.weight"]

# %%
assert records["1.weight"]["rule"] == r"^1\." and records["0.0.1.bias"]["rule"] == "bias$"
assert records["0.0.0.weight"]["rule"] == r"\.0\.weight$"
assert all(r["seed"] is not None for r in records.values())

# %% [markdown]
# ## What each rule produced
#
# One histogram per rule, pooling every parameter it initialized:

# %%
by_rule = {}
for path, p in named_parameters(net).items():
    by_rule.setdefault(records[path]["rule"], []).append(p.data().asnumpy().ravel())
fig, axes = plt.subplots(1, len(by_rule), figsize=(3.2 * len(by_rule), 2.4))
for ax, (rule, chunks) in zip(axes, by_rule.items()):
    vals = np.concatenate(chunks)
    ax.hist(vals, bins=40)
    ax.set_title(f"rule {rule}\n{vals.size} values", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Deterministic seeds
#
# With `seed=`, a parameter's values depend only on (seed, structural path, spec): building
# the net in another order, drawing random numbers in between, or adding an unrelated layer
# changes nothing for the other parameters.

# %%
def build(order, extra=False):
    layers = [None, None, None]
    for i in order:
        mx.nd.random.uniform(shape=(5,)).wait_to_read()  # someone else uses the global stream
        layers[i] = nn.Dense([8, 6, 4][i], activation="relu")
    net = nn.Sequential()
    net.add(*layers)
    if extra:
        net.add(nn.Dense(3))
    return net


seeded = InitPlan([], default="normal(sigma=0.5)", respect_layer_defaults=False)
a, b = build([0, 1, 2]), build([2, 0, 1], extra=True)
for n in (a, b):
    seeded.apply(n, seed=7)
    n(mx.nd.ones((1, 5)))
va, vb = ({k: p.data().asnumpy() for k, p in named_parameters(n).items()} for n in (a, b))
print(sorted(va), "\n", sorted(vb))
assert all(np.array_equal(va[k], vb[k]) for k in va)

# %% [markdown]
# ## Quiet, targeted re-initialization
#
# `reinitialize` touches only what its pattern selects (the same patterns again) and keeps
# each parameter on its devices:

# %%
before = {k: p.data().asnumpy() for k, p in named_parameters(net).items()}
done = reinitialize(net, "myinit(verbose=False)", r"^0\.3\..*weight", seed=1)
print(done)
after = {k: p.data().asnumpy() for k, p in named_parameters(net).items()}
changed = sorted(k for k in before if not np.array_equal(before[k], after[k]))
assert changed == ["0.3.0.weight", "0.3.1.weight"], changed
w = after["0.3.0.weight"]
assert ((w == 0) | ((abs(w) >= 5) & (abs(w) <= 10))).all()

# %% [markdown]
# ## A plan that misses a parameter changes nothing
#
# Without a default and with `respect_layer_defaults=False`, biases match no rule: `apply`
# says which and leaves every value as it was.

# %%
strict = InitPlan([("weight", "ones")], respect_layer_defaults=False)
try:
    strict.apply(net)
except gluon_params_kit.InitializerError as err:
    print(err)
assert all(np.array_equal(after[k], p.data().asnumpy()) for k, p in named_parameters(net).items())
