"""The section "Layers and blocks" (model-construction_vn.md, 8 cells): its cells as the book wrote them, and their checks.

Checks follow ``_chapter_cells``: they read the namespace and the output, never build a block or
draw a random number.
"""
from __future__ import annotations

from ._replay import Cell, Facts, Section

__all__ = ["SECTION"]

def _m1(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _m2(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _m3(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _m4(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _m5(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _m6(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _m7(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _m8(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


SECTION = Section('model-construction', 'Layers and blocks', 'Tầng và Khối', 'model-construction_vn.md', [
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
        return self.output(self.hidden(x))''', _m2),
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
        return x''', _m4),
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
        return x.sum()''', _m6),
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
