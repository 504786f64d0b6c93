"""The chapter's other sections: their cells as the book wrote them, and their checks.

Here: deferred initialization (``deferred-init_vn.md``, 9 cells), custom layers
(``custom-layer_vn.md``, 9 cells) and file I/O (``read-write_vn.md``, 8 cells); layers and
blocks (``model-construction_vn.md``, 8) and GPUs (``use-gpu_vn.md``, 15) have a module each
and are listed in ``SECTIONS`` in the book's order. All five are from d2l-vi revision c9246742,
the chapter "Parameter management" from c7091b76 (``../shared/book/README.md``; the code cells
are identical at both). ``tests/test_sections.py`` compares every cell with the book's fences,
and so does each replay with ``book=True`` when the book's files are at hand. Each section
starts in a fresh process in the book, so each is replayed from fresh names and a fresh
generator. Checks follow ``_chapter_cells``: they read the namespace and the output, never build
a block or draw a random number.
"""
from __future__ import annotations

import os
from typing import Dict

import numpy as onp

from .._core.compat import gluon, mx
from .._core.gluon import has_data, is_deferred
from ..tree import named_parameters
from .chapter_cells import param_listing
from .model_construction import SECTION as MODEL_CONSTRUCTION
from .replay import Cell, Facts, Section
from .use_gpu import SECTION as USE_GPU

__all__ = ["SECTIONS", "Section"]


def _shapes(block) -> Dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in block.collect_params().items()}


def _raises_deferred(p) -> bool:
    try:
        p.data()
    except gluon.parameter.DeferredInitializationError:
        return True
    return False


# ----------------------------------------------------------------------------- deferred init

UNKNOWN = {"dense0_weight": (256, -1), "dense0_bias": (256,), "dense1_weight": (10, -1), "dense1_bias": (10,)}
KNOWN = {"dense0_weight": (256, 20), "dense0_bias": (256,), "dense1_weight": (10, 256), "dense1_bias": (10,)}


def _d_getnet(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(_shapes(net), UNKNOWN, "names and shapes before initialize (input size unknown: -1)")
    f(not any(has_data(p) or is_deferred(p) for p in net.collect_params().values()),
      "no parameter initialized or waiting yet")
    f.equal(out, "", "nothing printed")
    return f.count


def _d_print(ns, out, _):
    f = Facts()
    f(out.startswith("<bound method Block.collect_params of Sequential(\n  (0): Dense(-1 -> 256, "),
      "the net's repr shows the unknown input size as -1")
    f(out.endswith(param_listing("sequential0_", list(UNKNOWN), UNKNOWN) + "\n"), "the four parameters with -1 shapes")
    return f.count


def _d_initialize(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(out, param_listing("sequential0_", list(UNKNOWN), UNKNOWN), "shapes still unknown after initialize()")
    for layer in net:
        f(is_deferred(layer.weight), f"{layer.weight.name} is deferred (no data yet)")
        f(_raises_deferred(layer.weight), f"{layer.weight.name}.data() to raise DeferredInitializationError")
        f(has_data(layer.bias) and not layer.bias.data().asnumpy().any(),
          f"{layer.bias.name} (shape known) initialized at once, to zeros")
    return f.count


def _d_forward(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(out, param_listing("sequential0_", list(KNOWN), KNOWN), "shapes inferred by the first forward")
    f.equal(tuple(net[0].weight.data().shape), (256, 20), "dense0_weight data shape")
    f(all(has_data(p) for p in net.collect_params().values()), "every parameter initialized")
    w = abs(net[0].weight.data().asnumpy())
    f(0 < w.max() <= 0.07, "dense0_weight drawn from the default Uniform(0.07)")
    return f.count


def _d_myinit_deferred(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(out, "", "no Init line: initialization waits for the first forward")
    f.equal(list(_shapes(net)), ["dense2_weight", "dense2_bias", "dense3_weight", "dense3_bias"],
            "a second getnet() is dense2, dense3")
    f(is_deferred(net[0].weight) and is_deferred(net[1].weight), "both weights deferred")
    return f.count


INIT_LINES = "Init {a}_weight (256, 20)\nInit {b}_weight (10, 256)\n"


def _d_first_forward(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(out, INIT_LINES.format(a="dense2", b="dense3"), "the Init lines, in layer order, at the first forward")
    f.equal(tuple(ns["y"].shape), (2, 10), "y.shape")
    # This MyInit leaves the zeros Gluon allocated, so every output is 0.
    f(not net[0].weight.data().asnumpy().any() and not ns["y"].asnumpy().any(),
      "weights left at zero by the logic-free MyInit, so y is all zeros")
    return f.count


def _d_second_forward(ns, out, _):
    f = Facts()
    f.equal(out, "", "no Init line on the second forward (initialized once)")
    f.equal(tuple(ns["y"].shape), (2, 10), "y.shape")
    return f.count


def _d_force(ns, out, _):
    f = Facts()
    f.equal(out, INIT_LINES.format(a="dense2", b="dense3"),
            "force_reinit with known shapes initializes at once")
    return f.count


def _d_in_units(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(out, INIT_LINES.format(a="dense4", b="dense5"), "Init lines at initialize(): in_units known")
    f.equal(_shapes(net), {"dense4_weight": (256, 20), "dense4_bias": (256,), "dense5_weight": (10, 256),
                           "dense5_bias": (10,)}, "shapes known before any forward")
    f(all(has_data(p) for p in net.collect_params().values()), "every parameter initialized, none deferred")
    return f.count


# ----------------------------------------------------------------------------- custom layers

def _c_class(ns, out, _):
    f = Facts()
    f(issubclass(ns["CenteredLayer"], gluon.nn.Block), "CenteredLayer is a Block")
    f.equal(out, "", "nothing printed")
    return f.count


def _c_centered(ns, out, _):
    f = Facts()
    f.equal(ns["_"].asnumpy().tolist(), [-2.0, -1.0, 0.0, 1.0, 2.0], "[1..5] minus its mean 3")
    f.equal(list(ns["layer"].collect_params().keys()), [], "the layer has no parameters")
    return f.count


def _c_net(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(list(_shapes(net).values()), [(128, -1), (128,)], "only the Dense layer has parameters")
    f(is_deferred(net[0].weight), "its weight waits for the input size")
    return f.count


def _c_mean(ns, out, _):
    f = Facts()
    f.equal(tuple(ns["y"].shape), (4, 128), "y.shape")
    f(abs(float(ns["_"])) < 1e-6, f"mean of the centered output ~ 0, got {float(ns['_'])}")
    f.equal(tuple(ns["net"][0].weight.shape), (128, 8), "weight shape inferred")
    return f.count


def _c_param_dict(ns, out, _):
    f = Facts()
    params = ns["params"]
    f.equal(list(params.keys()), ["param2"], "one parameter, named as asked (no prefix)")
    f.equal(tuple(params["param2"].shape), (2, 3), "its shape")
    f(not has_data(params["param2"]), "declared, not initialized")
    f.equal(out, "(\n  Parameter param2 (shape=(2, 3), dtype=<class 'numpy.float32'>)\n)", "the displayed dict")
    return f.count


def _c_mydense_class(ns, out, _):
    f = Facts()
    f(issubclass(ns["MyDense"], gluon.nn.Block), "MyDense is a Block")
    return f.count


def _c_mydense_params(ns, out, _):
    f = Facts()
    f.equal(_shapes(ns["dense"]), {"mydense0_weight": (5, 3), "mydense0_bias": (3,)},
            "weight (in_units, units) and bias (units,)")
    f(out.startswith("mydense0_ (\n  Parameter mydense0_weight (shape=(5, 3)"), "the displayed dict")
    return f.count


def _c_mydense_forward(ns, out, _):
    f = Facts()
    dense, y = ns["dense"], ns["_"].asnumpy()
    f.equal(y.shape, (2, 3), "output shape (2, units)")
    f((y >= 0).all(), "relu output is non-negative")
    w = dense.weight.data().asnumpy()
    f(0 < abs(w).max() <= 0.07, "weight drawn from the default Uniform(0.07)")
    b = dense.bias.data().asnumpy()
    # No init= of its own (Dense declares 'zeros'): the default Uniform(0.07) draws the bias too.
    f(0 < abs(b).max() <= 0.07, "bias drawn from Uniform(0.07) as well, not zeros")
    return f.count


def _c_mydense_net(ns, out, _):
    f = Facts()
    net = ns["net"]
    f.equal(_shapes(net), {"mydense1_weight": (64, 8), "mydense1_bias": (8,), "mydense2_weight": (8, 1),
                           "mydense2_bias": (1,)}, "two MyDense layers' parameters")
    y = ns["_"].asnumpy()
    f(y.shape == (2, 1) and (y >= 0).all(), "output (2, 1), non-negative")
    return f.count


# ----------------------------------------------------------------------------- file I/O

def _r_save(ns, out, _):
    f = Facts()
    f(os.path.isfile("x-file"), "x-file written")
    f.equal(ns["x"].asnumpy().tolist(), [0.0, 1.0, 2.0, 3.0], "x = arange(4)")
    return f.count


def _r_load(ns, out, _):
    f = Facts()
    x2 = ns["x2"]
    f(isinstance(x2, list) and len(x2) == 1, "npx.load gives a list of the one saved array")
    f(onp.array_equal(x2[0].asnumpy(), ns["x"].asnumpy()), "the loaded array equals x")
    return f.count


def _r_list(ns, out, _):
    f = Facts()
    f(onp.array_equal(ns["x2"].asnumpy(), ns["x"].asnumpy()), "x2 == x")
    f(onp.array_equal(ns["y2"].asnumpy(), onp.zeros(4)), "y2 == zeros(4)")
    return f.count


def _r_dict(ns, out, _):
    f = Facts()
    loaded = ns["mydict2"]
    f.equal(sorted(loaded), ["x", "y"], "the keys saved")
    f(all(onp.array_equal(loaded[k].asnumpy(), ns["mydict"][k].asnumpy()) for k in "xy"), "the values saved")
    return f.count


MLP_KEYS = ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]


def _r_mlp(ns, out, _):
    f = Facts()
    f.equal(list(_shapes(ns["net"]).values()), [(256, 20), (256,), (10, 256), (10,)], "MLP shapes")
    f.equal(tuple(ns["y"].shape), (2, 10), "y.shape")
    return f.count


def _r_save_params(ns, out, _):
    f = Facts()
    saved = mx.npx.load("mlp.params")
    params = named_parameters(ns["net"])
    f.equal(list(saved), MLP_KEYS, "the file's keys are the attribute paths")
    f.equal(list(params), MLP_KEYS, "which are the kit's structural paths")
    f(all(onp.array_equal(saved[k].asnumpy(), params[k].data().asnumpy()) for k in MLP_KEYS),
      "the file holds the net's values")
    return f.count


def _r_load_params(ns, out, _):
    f = Facts()
    net, clone = ns["net"], ns["clone"]
    pairs = zip(net.collect_params().values(), clone.collect_params().values())
    f(all(onp.array_equal(a.data().asnumpy(), b.data().asnumpy()) for a, b in pairs),
      "the clone's parameters equal the net's, value for value")
    f(clone.prefix != net.prefix, "a new block (its own names), same values")
    return f.count


def _r_compare(ns, out, _):
    f = Facts()
    same = ns["_"].asnumpy()
    f(same.shape == (2, 10) and same.all(), "yclone == y everywhere")
    return f.count


# ----------------------------------------------------------------------------- cells

SECTIONS: Dict[str, Section] = {
    "model-construction": MODEL_CONSTRUCTION,
    "deferred-init": Section("deferred-init", "Deferred initialization", "Khởi tạo trễ", "deferred-init_vn.md", [
        Cell("1", "A network with unknown input size", '''from mxnet import init, np, npx
from mxnet.gluon import nn
npx.set_np()

def getnet():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation='relu'))
    net.add(nn.Dense(10))
    return net

net = getnet()''', _d_getnet),
        Cell("2", "Its parameters before initialization", '''print(net.collect_params)
print(net.collect_params())''', _d_print),
        Cell("3", "initialize() defers", '''net.initialize()
net.collect_params()''', _d_initialize),
        Cell("4", "The first forward infers the shapes", '''x = np.random.uniform(size=(2, 20))
net(x)  # Forward computation

net.collect_params()''', _d_forward),
        Cell("5", "An initializer that reports when it runs", '''class MyInit(init.Initializer):
    def _init_weight(self, name, data):
        print('Init', name, data.shape)
        # The actual initialization logic is omitted here

net = getnet()
net.initialize(init=MyInit())''', _d_myinit_deferred),
        Cell("6", "Initialization happens at the first forward", '''x = np.random.uniform(size=(2, 20))
y = net(x)''', _d_first_forward),
        Cell("7", "Not again at the second", '''y = net(x)''', _d_second_forward),
        Cell("8", "Forced reinitialization", '''net.initialize(init=MyInit(), force_reinit=True)''', _d_force),
        Cell("9", "Known input size: no deferral", '''net = nn.Sequential()
net.add(nn.Dense(256, in_units=20, activation='relu'))
net.add(nn.Dense(10, in_units=256))

net.initialize(init=MyInit())''', _d_in_units),
    ]),
    "custom-layer": Section("custom-layer", "Custom layers", "Các tầng tuỳ chỉnh", "custom-layer_vn.md", [
        Cell("1", "A layer without parameters", '''from mxnet import gluon, np, npx
from mxnet.gluon import nn
npx.set_np()

class CenteredLayer(nn.Block):
    def __init__(self, **kwargs):
        super(CenteredLayer, self).__init__(**kwargs)

    def forward(self, x):
        return x - x.mean()''', _c_class),
        Cell("2", "It subtracts the mean", '''layer = CenteredLayer()
layer(np.array([1, 2, 3, 4, 5]))''', _c_centered),
        Cell("3", "In a larger model", '''net = nn.Sequential()
net.add(nn.Dense(128), CenteredLayer())
net.initialize()''', _c_net),
        Cell("4", "The output's mean is zero", '''y = net(np.random.uniform(size=(4, 8)))
y.mean()''', _c_mean),
        Cell("5", "A ParameterDict of our own", '''params = gluon.ParameterDict()
params.get('param2', shape=(2, 3))
params''', _c_param_dict),
        Cell("6", "A dense layer of our own", '''class MyDense(nn.Block):
    # units: the number of outputs in this layer; in_units: the number of
    # inputs in this layer
    def __init__(self, units, in_units, **kwargs):
        super(MyDense, self).__init__(**kwargs)
        self.weight = self.params.get('weight', shape=(in_units, units))
        self.bias = self.params.get('bias', shape=(units,))

    def forward(self, x):
        linear = np.dot(x, self.weight.data()) + self.bias.data()
        return npx.relu(linear)''', _c_mydense_class),
        Cell("7", "Its parameters", '''dense = MyDense(units=3, in_units=5)
dense.params''', _c_mydense_params),
        Cell("8", "Its forward pass", '''dense.initialize()
dense(np.random.uniform(size=(2, 5)))''', _c_mydense_forward),
        Cell("9", "Custom layers in a model", '''net = nn.Sequential()
net.add(MyDense(8, in_units=64),
        MyDense(1, in_units=8))
net.initialize()
net(np.random.uniform(size=(2, 64)))''', _c_mydense_net),
    ]),
    "read-write": Section("read-write", "File I/O", "Đọc/Ghi tệp", "read-write_vn.md", [
        Cell("1", "Save an array", '''from mxnet import np, npx
from mxnet.gluon import nn
npx.set_np()

x = np.arange(4)
npx.save('x-file', x)''', _r_save),
        Cell("2", "Load it back", '''x2 = npx.load('x-file')
x2''', _r_load),
        Cell("3", "A list of arrays", '''y = np.zeros(4)
npx.save('x-files', [x, y])
x2, y2 = npx.load('x-files')
(x2, y2)''', _r_list),
        Cell("4", "A dict of arrays", '''mydict = {'x': x, 'y': y}
npx.save('mydict', mydict)
mydict2 = npx.load('mydict')
mydict2''', _r_dict),
        Cell("5", "An MLP", '''class MLP(nn.Block):
    def __init__(self, **kwargs):
        super(MLP, self).__init__(**kwargs)
        self.hidden = nn.Dense(256, activation='relu')
        self.output = nn.Dense(10)

    def forward(self, x):
        return self.output(self.hidden(x))

net = MLP()
net.initialize()
x = np.random.uniform(size=(2, 20))
y = net(x)''', _r_mlp),
        Cell("6", "Save its parameters", '''net.save_parameters('mlp.params')''', _r_save_params),
        Cell("7", "Load them into a clone", '''clone = MLP()
clone.load_parameters('mlp.params')''', _r_load_params),
        Cell("8", "The clone computes the same", '''yclone = clone(x)
yclone == y''', _r_compare),
    ], files=True),
    "use-gpu": USE_GPU,
}
