"""The chapter's 17 code cells, as the book wrote them, each with the checks of its real output.

A check receives the cell's namespace ``ns``, what the cell displayed (``out``) and
what its ``before`` hook captured; it returns how many facts it verified and raises
``AssertionError`` naming the fact that failed. Checks never create blocks outside
``fresh_names()`` and never draw random numbers, so replaying with checks prints
exactly what the book's code prints alone.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple

import numpy as onp

from .._core.compat import mx
from .replay import Cell, Facts

__all__ = ["CELLS", "Cell", "param_listing"]


def _host(a) -> onp.ndarray:
    return a.asnumpy()


def _params(block) -> Dict[str, Any]:
    return {k: v for k, v in block.collect_params().items()}


def _shapes(block) -> Dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in _params(block).items()}


MLP_SHAPES = {"dense0_weight": (256, 20), "dense0_bias": (256,),
              "dense1_weight": (10, 256), "dense1_bias": (10,)}


def param_listing(prefix: str, names: List[str], shapes: Dict[str, tuple],
                  dtype: str = "float32") -> str:
    """What printing Gluon's ParameterDict ``prefix`` with ``names`` (their ``shapes``) shows."""
    body = "".join(f"  Parameter {n} (shape={shapes[n]}, dtype={dtype})\n" for n in names)
    return f"{prefix} (\n{body})"


def _zero_bias_facts(f: Facts, net) -> None:
    for i in range(len(net)):
        f(not _host(net[i].bias.data()).any(), f"{net[i].bias.name} all zero (Dense bias init)")


# ----------------------------------------------------------------------------- access

def _check_build(ns, out, _):
    f = Facts()
    net, x = ns["net"], ns["x"]
    f.equal(_shapes(net), MLP_SHAPES, "parameter names and shapes")
    f.equal(tuple(x.shape), (2, 20), "x.shape")
    f(isinstance(x, mx.np.ndarray), "x is an mx.np.ndarray (npx.set_np() mode)")
    f.equal(str(x.dtype), "float32", "x.dtype")
    f.equal(tuple(ns["_"].shape), (2, 10), "net(x).shape")
    f(out.startswith("array([[") and out.count("\n") == 3, "the 2x10 output array displayed")
    _zero_bias_facts(f, net)
    return f.count


def _check_params(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(list(net[0].params.keys()), ["dense0_weight", "dense0_bias"], "net[0].params keys")
    f.equal(list(net[1].params.keys()), ["dense1_weight", "dense1_bias"], "net[1].params keys")
    want = (param_listing("dense0_", ["dense0_weight", "dense0_bias"], MLP_SHAPES) + "\n"
            + param_listing("dense1_", ["dense1_weight", "dense1_bias"], MLP_SHAPES) + "\n")
    f.equal(out, want, "printed ParameterDicts")
    return f.count


def _check_bias(ns, out, _):
    f = Facts()
    bias = ns["net"][1].bias
    f(isinstance(bias, mx.gluon.Parameter), "net[1].bias is a Parameter")
    f.equal(bias.name, "dense1_bias", "name")
    f(out.startswith("Parameter dense1_bias (shape=(10,), dtype=float32)\n[0. 0. 0."),
      "the Parameter line then ten zeros")
    f.equal(_host(bias.data()).tolist(), [0.0] * 10, "bias values")
    return f.count


def _check_by_name(ns, out, _):
    f = Facts()
    net = ns["net"]
    f(net[0].params["dense0_weight"] is net[0].weight, "params['dense0_weight'] is net[0].weight")
    f(out.startswith("Parameter dense0_weight (shape=(256, 20), dtype=float32)\n[["),
      "the Parameter line then its 256x20 data")
    f.equal(tuple(net[0].weight.data().shape), (256, 20), "data().shape")
    return f.count


def _check_grad(ns, out, _):
    f = Facts()
    g = ns["_"]
    f.equal(tuple(g.shape), tuple(ns["net"][0].weight.shape), "grad shape == weight shape")
    f.equal(str(g.dtype), "float32", "grad dtype")
    f(not _host(g).any(), "gradient all zero before any backward pass")
    return f.count


def _check_collect(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(list(net[0].collect_params().keys()), ["dense0_weight", "dense0_bias"], "layer 0 keys")
    f.equal(list(net.collect_params().keys()), list(MLP_SHAPES), "whole-net keys")
    want = (param_listing("dense0_", ["dense0_weight", "dense0_bias"], MLP_SHAPES) + "\n"
            + param_listing("sequential0_", list(MLP_SHAPES), MLP_SHAPES) + "\n")
    f.equal(out, want, "printed ParameterDicts")
    return f.count


def _check_collect_item(ns, out, _):
    f = Facts()
    f.equal(_host(ns["_"]).tolist(), [0.0] * 10, "dense1_bias values")
    f.equal(out, "array([0., 0., 0., 0., 0., 0., 0., 0., 0., 0.])", "displayed array")
    return f.count


def _check_regex(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(set(net.collect_params(".*weight").keys()), {"dense0_weight", "dense1_weight"},
            "collect_params('.*weight')")
    f.equal(set(net.collect_params("dense0.*").keys()), {"dense0_weight", "dense0_bias"},
            "collect_params('dense0.*')")
    want = (param_listing("sequential0_", ["dense0_weight", "dense1_weight"], MLP_SHAPES) + "\n"
            + param_listing("sequential0_", ["dense0_weight", "dense0_bias"], MLP_SHAPES) + "\n")
    f.equal(out, want, "printed selections")
    return f.count


# ----------------------------------------------------------------------------- nested

RGNET_SHAPES: Dict[str, Tuple[int, ...]] = {}
for _k in range(2, 10):
    _units, _in = (32, 20 if _k == 2 else 16) if _k % 2 == 0 else (16, 32)
    RGNET_SHAPES[f"dense{_k}_weight"] = (_units, _in)
    RGNET_SHAPES[f"dense{_k}_bias"] = (_units,)
RGNET_SHAPES["dense10_weight"] = (10, 16)
RGNET_SHAPES["dense10_bias"] = (10,)


def _check_rgnet(ns, out, _):
    f = Facts()
    rgnet = ns["rgnet"]
    f.equal(len(_params(rgnet)), 18, "number of parameters")
    f.equal(_shapes(rgnet), RGNET_SHAPES, "names and shapes")
    f.equal(rgnet.prefix, "sequential1_", "rgnet prefix")
    f.equal([len(b) for b in rgnet[0]], [2, 2, 2, 2], "block2 holds four block1 of two layers")
    f.equal(tuple(ns["_"].shape), (2, 10), "rgnet(x).shape")
    return f.count


def _check_rgnet_print(ns, out, _):
    f = Facts()
    f(out.startswith("<bound method Block.collect_params of Sequential(\n  (0): Sequential(\n"),
      "the bound method with the nested structure")
    listing = param_listing("sequential1_", list(RGNET_SHAPES), RGNET_SHAPES)
    f(out.endswith(listing + "\n"), "all 18 parameters listed under sequential1_")
    f.equal(out.count("Dense(None -> 32, Activation(relu))"), 0, "shapes inferred in the repr")
    f.equal(out.count("Dense(20 -> 32, Activation(relu))") + out.count("Dense(16 -> 32, Activation(relu))"),
            4, "four Dense(-> 32) layers in the repr")
    return f.count


def _check_rgnet_bias(ns, out, _):
    f = Facts()
    bias = ns["rgnet"][0][1][0].bias
    f.equal(bias.name, "dense4_bias", "rgnet[0][1][0].bias name")
    f.equal(tuple(bias.shape), (32,), "shape")
    f(not _host(ns["_"]).any(), "all zero")
    return f.count


# ----------------------------------------------------------------------------- init

def _check_normal(ns, out, _):
    f = Facts()
    net = ns["net"]
    for layer in net:
        w = _host(layer.weight.data()).ravel()
        n = w.size
        # std of a sample std is sigma/sqrt(2n); of a sample mean sigma/sqrt(n): allow 5 of each.
        f(abs(w.std() - 0.01) < 5 * 0.01 / math.sqrt(2 * n), f"{layer.weight.name} std ~ 0.01, got {w.std():.5f}")
        f(abs(w.mean()) < 5 * 0.01 / math.sqrt(n), f"{layer.weight.name} mean ~ 0, got {w.mean():.5f}")
    _zero_bias_facts(f, net)
    f.equal(tuple(ns["_"].shape), (20,), "net[0].weight.data()[0].shape")
    return f.count


def _check_constant1(ns, out, _):
    f = Facts()
    net = ns["net"]
    for layer in net:
        f((_host(layer.weight.data()) == 1).all(), f"{layer.weight.name} all exactly 1")
    _zero_bias_facts(f, net)  # the layer's own bias init ('zeros') wins over the global one
    f.equal(out, "array([" + "1., " * 16 + "1.,\n       1., 1., 1.])", "displayed row of ones")
    return f.count


def _check_xavier(ns, out, _):
    net = ns["net"]
    f = Facts()
    w = _host(net[0].weight.data())
    fan_out, fan_in = w.shape
    bound = math.sqrt(3.0 / ((fan_in + fan_out) / 2.0))  # Xavier(uniform, avg, magnitude=3)
    f(abs(w).max() <= bound, f"|w| <= {bound:.4f} (Xavier bound for {w.shape})")
    f(abs(w).max() > 0.95 * bound, "values reach near the bound (uniform, not a narrower law)")
    f(abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound, "std ~ bound/sqrt(3) (uniform)")
    f((_host(net[1].weight.data()) == 42).all(), "net[1].weight all exactly 42")
    f(not _host(net[1].bias.data()).any(), "net[1].bias still zero (its own 'zeros' init wins)")
    f.equal(out, "42.0\n", "printed net[1].weight.data()[0, 0]")
    return f.count


def _check_myinit(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(out.splitlines()[:2], ["Init dense0_weight (256, 20)", "Init dense1_weight (10, 256)"],
            "printed Init lines")
    w = onp.concatenate([_host(layer.weight.data()).ravel() for layer in net])
    a = abs(w)
    f(((w == 0) | ((a >= 5) & (a <= 10))).all(), "only 0 or 5 <= |w| <= 10")
    n = w.size
    tol = 5 * math.sqrt(0.25 / n)  # 5 standard errors of a proportion near 1/2 (and less for 1/4)
    for frac, want, what in [((w == 0).mean(), 0.5, "zero"), ((w >= 5).mean(), 0.25, "positive"),
                             ((w <= -5).mean(), 0.25, "negative")]:
        f(abs(frac - want) < tol, f"{what} fraction ~ {want}, got {frac:.3f}")
    return f.count


def _snapshot_weight(ns):
    return _host(ns["net"][0].weight.data()).copy()


def _check_edit(ns, out, before):
    f = Facts()
    want = before + 1
    want[0, 0] = 42
    f(onp.array_equal(_host(ns["net"][0].weight.data()), want), "weight == before + 1, with [0, 0] = 42")
    f(out.startswith("array([42."), "the displayed row starts with 42")
    return f.count


def _check_tied(ns, out, _):
    f = Facts()
    net = ns["net"]
    f(net[1].weight is net[2].weight and net[1].bias is net[2].bias,
      "layers 1 and 2 hold the same Parameter objects")
    f.equal(net[2].weight.name, net[1].weight.name, "the tied layer reports the source's name")
    lines = out.splitlines()
    f.equal(len(lines), 2, "two printed rows")
    f(all(line.strip("[] ").split() == ["True"] * 8 for line in lines), "both rows all True")
    f.equal(float(_host(net[2].weight.data())[0, 0]), 100.0, "the edit through net[1] seen by net[2]")
    return f.count


# ----------------------------------------------------------------------------- cells

# The book's cells, character for character as in parameters_vn.md (tests/test_book.py compares).
CELLS: List[Cell] = [
    Cell("1", "Build the MLP and run it", '''from mxnet import init, np, npx
from mxnet.gluon import nn
npx.set_np()

net = nn.Sequential()
net.add(nn.Dense(256, activation='relu'))
net.add(nn.Dense(10))
net.initialize()  # Use the default initialization method

x = np.random.uniform(size=(2, 20))
net(x)  # Forward computation''',
         _check_build),
    Cell("2", "Parameters of each layer", '''print(net[0].params)
print(net[1].params)''',
         _check_params),
    Cell("3", "One Parameter and its data", '''print(net[1].bias)
print(net[1].bias.data())''',
         _check_bias),
    Cell("4", "A Parameter by its name", '''print(net[0].params['dense0_weight'])
print(net[0].params['dense0_weight'].data())''',
         _check_by_name),
    Cell("5", "The gradient buffer", '''net[0].weight.grad()''',
         _check_grad),
    Cell("6", "All parameters at once", '''# parameters only for the first layer
print(net[0].collect_params())
# parameters of the entire network
print(net.collect_params())''',
         _check_collect),
    Cell("7", "Index the collected parameters", '''net.collect_params()['dense1_bias'].data()''',
         _check_collect_item),
    Cell("8", "Select with a regular expression", '''print(net.collect_params('.*weight'))
print(net.collect_params('dense0.*'))''',
         _check_regex),
    Cell("9", "Nested blocks: block1, block2, rgnet", '''def block1():
    net = nn.Sequential()
    net.add(nn.Dense(32, activation='relu'))
    net.add(nn.Dense(16, activation='relu'))
    return net

def block2():
    net = nn.Sequential()
    for i in range(4):
        net.add(block1())
    return net

rgnet = nn.Sequential()
rgnet.add(block2())
rgnet.add(nn.Dense(10))
rgnet.initialize()
rgnet(x)''',
         _check_rgnet),
    Cell("10", "How the nested net is organized", '''print(rgnet.collect_params)
print(rgnet.collect_params())''',
         _check_rgnet_print),
    Cell("11", "Reach into the nesting", '''rgnet[0][1][0].bias.data()''',
         _check_rgnet_bias),
    Cell("12", "Built-in initialization: Normal(sigma=0.01)", '''# force_reinit ensures that variables are freshly initialized
# even if they were already initialized previously
net.initialize(init=init.Normal(sigma=0.01), force_reinit=True)
net[0].weight.data()[0]''',
         _check_normal),
    Cell("13", "Built-in initialization: Constant(1)", '''net.initialize(init=init.Constant(1), force_reinit=True)
net[0].weight.data()[0]''',
         _check_constant1),
    Cell("14", "Different initializers per block", '''net[0].weight.initialize(init=init.Xavier(), force_reinit=True)
net[1].initialize(init=init.Constant(42), force_reinit=True)
print(net[1].weight.data()[0, 0])''',
         _check_xavier),
    Cell("15", "Custom initialization: MyInit", '''class MyInit(init.Initializer):
    def _init_weight(self, name, data):
        print('Init', name, data.shape)
        data[:] = np.random.uniform(-10, 10, data.shape)
        data *= np.abs(data) >= 5

net.initialize(MyInit(), force_reinit=True)
net[0].weight.data()[0]''',
         _check_myinit),
    Cell("16", "Set parameters directly", '''net[0].weight.data()[:] += 1
net[0].weight.data()[0, 0] = 42
net[0].weight.data()[0]''',
         _check_edit, before=_snapshot_weight),
    Cell("17", "Tied parameters", '''net = nn.Sequential()
# We need to give the shared layer a name such that we can reference its
# parameters
shared = nn.Dense(8, activation='relu')
net.add(nn.Dense(8, activation='relu'),
        shared,
        nn.Dense(8, activation='relu', params=shared.params),
        nn.Dense(10))
net.initialize()

x = np.random.uniform(size=(2, 20))
net(x)

# Check whether the parameters are the same
print(net[1].weight.data()[0] == net[2].weight.data()[0])
net[1].weight.data()[0, 0] = 100
# Make sure that they are actually the same object rather than just having the
# same value
print(net[1].weight.data()[0] == net[2].weight.data()[0])''',
         _check_tied),
]
