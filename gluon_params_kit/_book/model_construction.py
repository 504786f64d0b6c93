"""The section "Layers and blocks" (model-construction_vn.md, 8 cells): the book's cells, and their checks.

Checks follow ``_chapter_cells``: they read the namespace and the output, never build a block or
draw a random number. Every output is recomputed here with NumPy from the parameters the block
holds, and compared with what the block returned and with what the cell displayed, within a
tolerance (printed digits differ from CPU to CPU). The section starts from a fresh process's
state, so its auto names are known: ``dense0`` .. ``dense11``, ``mlp0``, ``mysequential0``...
"""
from __future__ import annotations

import ast
from typing import Any, Dict, List, Optional, Tuple

import numpy as onp

from .._core.compat import gluon, mx
from .._core.gluon import has_data
from ..tree import named_parameters
from .replay import Cell, Facts, Section

__all__ = ["SECTION"]

nn = gluon.nn


# ----------------------------------------------------------------------------- helpers

def _layout(block) -> Dict[str, tuple]:
    """Structural path -> shape, in Gluon's order."""
    return {k: tuple(p.shape) for k, p in named_parameters(block).items()}


def _auto_names(block) -> List[str]:
    return [p.name for p in named_parameters(block).values()]


def _value(param) -> onp.ndarray:
    return param.data().asnumpy().astype(onp.float64)


def _relu(a: onp.ndarray) -> onp.ndarray:
    return onp.maximum(a, 0.0)


def _dense(layer, h: onp.ndarray, relu: bool = False) -> onp.ndarray:
    """What ``layer`` (a Dense) computes on ``h``, in float64: ``h W^T + b``, then relu if asked."""
    y = h @ _value(layer.weight).T + _value(layer.bias)
    return _relu(y) if relu else y


def _fixed_hidden(block, h: onp.ndarray) -> Tuple[float, float]:
    """``FixedHiddenMLP.forward`` in NumPy: (the value it returns, ``sum |x|`` before the halvings)."""
    h = _dense(block.dense, h, relu=True)
    h = _relu(h @ _value(block.rand_weight) + 1)
    h = _dense(block.dense, h, relu=True)
    before = float(onp.abs(h).sum())
    while onp.abs(h).sum() > 1:
        h = h / 2
    return float(h.sum()), before


def _shown(out: str) -> onp.ndarray:
    """The numbers of a displayed ``mx.np`` array, read back from its ``repr``.

    >>> _shown("array([[ 0.5, -1.25],\\n       [ 2. ,  0. ]])").tolist()
    [[0.5, -1.25], [2.0, 0.0]]
    >>> float(_shown("array(0.97)"))
    0.97
    """
    text = out.strip()
    if not (text.startswith("array(") and text.endswith(")")):
        raise AssertionError(f"expected an array's repr, got {out[:40]!r}")
    return onp.array(ast.literal_eval(text[len("array("):-1]), dtype=onp.float64)


def _close(f: Facts, got, want, what: str, atol: float = 1e-6) -> None:
    got, want = onp.asarray(got, dtype=onp.float64), onp.asarray(want, dtype=onp.float64)
    ok = got.shape == want.shape and onp.allclose(got, want, rtol=1e-5, atol=atol)
    gap = float(onp.abs(got - want).max()) if got.shape == want.shape else None
    f(ok, f"{what} (shape {want.shape}, within {atol:g}); got shape {got.shape}, max gap {gap}")


def _output_facts(f: Facts, ns: Dict[str, Any], out: str, want: onp.ndarray, what: str) -> None:
    """The returned array and the displayed one both equal ``want`` (recomputed with NumPy)."""
    got = ns["_"]
    f(isinstance(got, mx.np.ndarray), f"the cell returned an mx.np array, got {type(got).__name__}")
    _close(f, got.asnumpy(), want, f"{what} returned")
    _close(f, _shown(out), want, f"{what} displayed")


def _class_facts(f: Facts, ns: Dict[str, Any], out: str, before: Any, name: str,
                 own: Tuple[str, ...]) -> None:
    """A cell that only defines class ``name``: a Block with methods ``own``, nothing built or shown."""
    cls: Any = ns.get(name)  # whatever the cell bound, if anything: checked below
    f(isinstance(cls, type) and issubclass(cls, nn.Block), f"{name} is a subclass of nn.Block")
    f(not issubclass(cls, (nn.Sequential, nn.HybridBlock)),
      f"{name} is a plain Block (neither a Sequential nor hybrid)")
    f.equal(sorted(m for m in ("__init__", "add", "forward") if m in vars(cls)), sorted(own),
            f"the methods {name} defines itself")
    f.equal(out, "", "nothing displayed")
    f(ns.get("net") is before, "net is still the previous cell's block (defining a class builds nothing)")


def _net_before(ns: Dict[str, Any]) -> Optional[Any]:
    return ns.get("net")


# ----------------------------------------------------------------------------- checks

MLP_SHAPES = [(256, 20), (256,), (10, 256), (10,)]


def _mlp_output(hidden, output, x) -> onp.ndarray:
    """relu(x W0^T + b0) W1^T + b1, from the two layers' parameters."""
    return _dense(output, _dense(hidden, x.asnumpy().astype(onp.float64), relu=True))


def _m1(ns, out, _):
    f = Facts()
    net, x = ns["net"], ns["x"]
    f(isinstance(x, mx.np.ndarray) and tuple(x.shape) == (2, 20), "x is a (2, 20) mx.np array")
    xs = x.asnumpy()
    f(bool((xs >= 0).all() and (xs < 1).all()) and len(onp.unique(xs)) == xs.size,
      "x drawn from uniform [0, 1), 40 distinct values")
    f.equal(net.name, "sequential0", "the Sequential's auto name in a fresh process")
    f.equal(_layout(net), dict(zip(["0.weight", "0.bias", "1.weight", "1.bias"], MLP_SHAPES)),
            "structural paths and shapes (input size 20 inferred at the first call)")
    f.equal(_auto_names(net), ["dense0_weight", "dense0_bias", "dense1_weight", "dense1_bias"], "auto names")
    f(all(not _value(layer.bias).any() for layer in net), "both biases zero (Dense's bias init)")
    f(all(0 < abs(_value(layer.weight)).max() <= 0.07 for layer in net),
      "both weights drawn from the default Uniform(0.07)")
    _output_facts(f, ns, out, _mlp_output(net[0], net[1], x), "net(x) = relu(x W0^T + b0) W1^T + b1")
    return f.count


def _m2(ns, out, before):
    f = Facts()
    _class_facts(f, ns, out, before, "MLP", ("__init__", "forward"))
    return f.count


def _m3(ns, out, _):
    f = Facts()
    net = ns["net"]
    f(isinstance(net, ns["MLP"]), "net is an MLP")
    f.equal(net.name, "mlp0", "its auto name")
    f.equal(list(net._children), ["hidden", "output"], "children registered under their attribute names")
    paths = ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
    f.equal(_layout(net), dict(zip(paths, MLP_SHAPES)), "structural paths (attribute names) and shapes")
    # No name_scope() in __init__: the layers take global names, not mlp0_dense0_weight.
    f.equal(_auto_names(net), ["dense2_weight", "dense2_bias", "dense3_weight", "dense3_bias"],
            "auto names continue the global counter")
    _output_facts(f, ns, out, _mlp_output(net.hidden, net.output, ns["x"]), "net(x) = output(hidden(x))")
    return f.count


def _m4(ns, out, before):
    f = Facts()
    _class_facts(f, ns, out, before, "MySequential", ("add", "forward"))
    return f.count


def _m5(ns, out, _):
    f = Facts()
    net = ns["net"]
    f(isinstance(net, ns["MySequential"]), "net is a MySequential")
    f.equal(net.name, "mysequential0", "its auto name")
    children = list(net._children.values())
    f.equal(list(net._children), [b.name for b in children], "children keyed by their own auto names")
    f.equal(list(net._children), ["dense4", "dense5"], "in the order they were added")
    f.equal([b.weight.shape[0] for b in children], [256, 10],
            "the 256-unit layer first, then the 10-unit one")
    # add() keys the children by block.name, so the structural paths carry the auto names.
    paths = ["dense4.weight", "dense4.bias", "dense5.weight", "dense5.bias"]
    f.equal(_layout(net), dict(zip(paths, MLP_SHAPES)), "structural paths (child key = auto name) and shapes")
    f.equal(list(net.collect_params()), _auto_names(net), "collect_params() finds all four through _children")
    _output_facts(f, ns, out, _mlp_output(children[0], children[1], ns["x"]), "net(x), children in order")
    return f.count


def _m6(ns, out, before):
    f = Facts()
    _class_facts(f, ns, out, before, "FixedHiddenMLP", ("__init__", "forward"))
    return f.count


def _fixed_facts(f: Facts, block, h: onp.ndarray, what: str) -> float:
    """The constant and the dense layer of a FixedHiddenMLP; returns the value recomputed on ``h``."""
    rand = block.rand_weight
    f(isinstance(rand, gluon.Constant) and rand.grad_req == "null",
      f"{what}rand_weight is a Constant, grad_req 'null' (not trained)")
    f(block.dense.weight.grad_req == block.dense.bias.grad_req == "write", f"{what}dense is trained")
    f(has_data(rand) and onp.array_equal(rand.data().asnumpy(), rand.value.asnumpy()),
      f"{what}initialize() left rand_weight at the value given to get_constant")
    values = _value(rand)
    f(bool((values >= 0).all() and (values < 1).all()) and values.std() > 0.1,
      f"{what}rand_weight drawn from uniform [0, 1)")
    f.equal(list(block._children), ["dense"], f"{what}one child: the dense layer used twice")
    value, before_halving = _fixed_hidden(block, h)
    f(before_halving <= 1 or 0.5 < value <= 1, f"{what}halved until sum |x| <= 1, so the sum in (0.5, 1]"
      f" (sum |x| was {before_halving:g}, recomputed {value:g})")
    return value


def _m7(ns, out, _):
    f = Facts()
    net = ns["net"]
    f(isinstance(net, ns["FixedHiddenMLP"]), "net is a FixedHiddenMLP")
    f.equal(_layout(net), {"rand_weight": (20, 20), "dense.weight": (20, 20), "dense.bias": (20,)},
            "structural paths and shapes")
    # The constant is named by the block's prefix; the Dense, made outside name_scope(), by the
    # global counter.
    f.equal(_auto_names(net), ["fixedhiddenmlp0_rand_weight", "dense6_weight", "dense6_bias"], "auto names")
    want = _fixed_facts(f, net, ns["x"].asnumpy().astype(onp.float64), "")
    f.equal(tuple(ns["_"].shape), (), "net(x) is a scalar (a 0-d array)")
    f(abs(float(ns["_"])) <= 1, "|net(x)| <= 1, as the while loop guarantees")
    _output_facts(f, ns, out, want, "net(x), recomputed with the loop")
    return f.count


CHIMERA = {
    "0.net.0.weight": (64, 20), "0.net.0.bias": (64,), "0.net.1.weight": (32, 64), "0.net.1.bias": (32,),
    "0.dense.weight": (16, 32), "0.dense.bias": (16,), "1.weight": (20, 16), "1.bias": (20,),
    "2.rand_weight": (20, 20), "2.dense.weight": (20, 20), "2.dense.bias": (20,)}


def _m8(ns, out, _):
    f = Facts()
    chimera = ns["chimera"]
    kinds = [type(b) for b in chimera]
    f.equal(kinds, [ns["NestMLP"], nn.Dense, ns["FixedHiddenMLP"]], "chimera's three children, in order")
    f.equal([chimera.name] + [b.name for b in chimera] + [chimera[0].net.name],
            ["sequential1", "nestmlp0", "dense10", "fixedhiddenmlp1", "sequential2"], "blocks' auto names")
    f.equal(_layout(chimera), CHIMERA, "structural paths through the nesting, and shapes")
    f.equal(_auto_names(chimera), [f"dense{i}_{k}" for i in range(7, 11) for k in ("weight", "bias")]
            + ["fixedhiddenmlp1_rand_weight", "dense11_weight", "dense11_bias"], "auto names")
    sizes = {k: int(onp.prod(s)) for k, s in CHIMERA.items()}
    f.equal(sum(p.data().size for p in chimera.collect_params().values()), sum(sizes.values()),
            f"{sum(sizes.values())} parameters in all")
    f.equal([k for k, p in named_parameters(chimera).items() if p.grad_req == "null"], ["2.rand_weight"],
            "the one constant is the FixedHiddenMLP's")
    nest = chimera[0]
    h = _dense(nest.net[1], _dense(nest.net[0], ns["x"].asnumpy().astype(onp.float64), True), True)
    h = _dense(chimera[1], _dense(nest.dense, h, True))
    want = _fixed_facts(f, chimera[2], h, "chimera[2].")
    f.equal(tuple(ns["_"].shape), (), "chimera(x) is a scalar")
    f(abs(float(ns["_"])) <= 1, "|chimera(x)| <= 1")
    _output_facts(f, ns, out, want, "chimera(x), recomputed layer by layer")
    return f.count


SECTION = Section('model-construction', 'Layers and blocks', 'Tầng và Khối',
                  'model-construction_vn.md', [
    Cell('1', 'A Sequential MLP', '''from mxnet import np, npx
from mxnet.gluon import nn
npx.set_np()

x = np.random.uniform(size=(2, 20))

net = nn.Sequential()
net.add(nn.Dense(256, activation='relu'))
net.add(nn.Dense(10))
net.initialize()
net(x)''', _m1),
    Cell('2', 'An MLP as a Block of our own', '''from mxnet.gluon import nn

class MLP(nn.Block):
    # Declare a layer with model parameters. Here, we declare two fully
    # connected layers
    def __init__(self, **kwargs):
        # Call the constructor of the MLP parent class Block to perform the
        # necessary initialization. In this way, other function parameters can
        # also be specified when constructing an instance, such as the model
        # parameter, params, described in the following sections
        super(MLP, self).__init__(**kwargs)
        self.hidden = nn.Dense(256, activation='relu')  # Hidden layer
        self.output = nn.Dense(10)  # Output layer

    # Define the forward computation of the model, that is, how to return the
    # required model output based on the input x
    def forward(self, x):
        return self.output(self.hidden(x))''', _m2, _net_before),
    Cell('3', 'Its forward pass', '''net = MLP()
net.initialize()
net(x)''', _m3),
    Cell('4', 'A Sequential of our own', '''class MySequential(nn.Block):
    def add(self, block):
        # Here, block is an instance of a Block subclass, and we assume it has
        # a unique name. We save it in the member variable _children of the
        # Block class, and its type is OrderedDict. When the MySequential
        # instance calls the initialize function, the system automatically
        # initializes all members of _children
        self._children[block.name] = block

    def forward(self, x):
        # OrderedDict guarantees that members will be traversed in the order
        # they were added
        for block in self._children.values():
            x = block(x)
        return x''', _m4, _net_before),
    Cell('5', 'MySequential in use', '''net = MySequential()
net.add(nn.Dense(256, activation='relu'))
net.add(nn.Dense(10))
net.initialize()
net(x)''', _m5),
    Cell('6', 'A fixed hidden layer and control flow', '''class FixedHiddenMLP(nn.Block):
    def __init__(self, **kwargs):
        super(FixedHiddenMLP, self).__init__(**kwargs)
        # Random weight parameters created with the get_constant are not
        # iterated during training (i.e., constant parameters)
        self.rand_weight = self.params.get_constant(
            'rand_weight', np.random.uniform(size=(20, 20)))
        self.dense = nn.Dense(20, activation='relu')

    def forward(self, x):
        x = self.dense(x)
        # Use the constant parameters created, as well as the relu
        # and dot functions
        x = npx.relu(np.dot(x, self.rand_weight.data()) + 1)
        # Reuse the fully connected layer. This is equivalent to sharing
        # parameters with two fully connected layers
        x = self.dense(x)
        # Here in Control flow, we need to call asscalar to return the scalar
        # for comparison
        while np.abs(x).sum() > 1:
            x /= 2
        return x.sum()''', _m6, _net_before),
    Cell('7', 'FixedHiddenMLP in use', '''net = FixedHiddenMLP()
net.initialize()
net(x)''', _m7),
    Cell('8', 'Blocks nested in blocks', '''class NestMLP(nn.Block):
    def __init__(self, **kwargs):
        super(NestMLP, self).__init__(**kwargs)
        self.net = nn.Sequential()
        self.net.add(nn.Dense(64, activation='relu'),
                     nn.Dense(32, activation='relu'))
        self.dense = nn.Dense(16, activation='relu')

    def forward(self, x):
        return self.dense(self.net(x))

chimera = nn.Sequential()
chimera.add(NestMLP(), nn.Dense(20), FixedHiddenMLP())

chimera.initialize()
chimera(x)''', _m8),
])
