"""The book chapter "Parameter Management": its networks, its custom initializer, its cells.

They build exactly what the book's cells build (same layers, same order, so the same
auto names in a fresh process) and work in both ``mx.nd`` and ``mx.np`` modes.
"""
from __future__ import annotations

from ._compat import gluon, is_np_array, mx

nn = gluon.nn

__all__ = ["FixedHiddenMLP", "MyInit", "block1", "block2", "mlp", "rgnet", "shared_mlp"]


def mlp() -> "nn.Sequential":
    """The chapter's MLP: Dense(256, relu) then Dense(10), not yet initialized.

    >>> [type(b).__name__ for b in mlp()]
    ['Dense', 'Dense']
    """
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"))
    net.add(nn.Dense(10))
    return net


def block1() -> "nn.Sequential":
    """Dense(32, relu) then Dense(16, relu), the chapter's inner block.

    >>> len(block1())
    2
    """
    net = nn.Sequential()
    net.add(nn.Dense(32, activation="relu"))
    net.add(nn.Dense(16, activation="relu"))
    return net


def block2() -> "nn.Sequential":
    """Four :func:`block1` nested in a Sequential.

    >>> len(block2())
    4
    """
    net = nn.Sequential()
    for _ in range(4):
        net.add(block1())
    return net


def rgnet() -> "nn.Sequential":
    """The chapter's nested net: ``block2()`` then Dense(10); 18 parameters.

    Built in the book's order (the outer Sequential first), so a fresh process names
    it ``sequential1_`` after :func:`mlp`'s ``sequential0_``.

    >>> len(rgnet().collect_params().keys())
    18
    """
    net = nn.Sequential()
    net.add(block2())
    net.add(nn.Dense(10))
    return net


def shared_mlp(hidden: int = 8, outputs: int = 10) -> "nn.Sequential":
    """The chapter's tied MLP: the second and third layers share one Dense's parameters.

    >>> net = shared_mlp()
    >>> net[1].weight is net[2].weight
    True
    """
    net = nn.Sequential()
    shared = nn.Dense(hidden, activation="relu")
    net.add(nn.Dense(hidden, activation="relu"),
            shared,
            nn.Dense(hidden, activation="relu", params=shared.params),
            nn.Dense(outputs))
    return net


class FixedHiddenMLP(nn.Block):
    """The book's model with a constant random weight and a Dense layer used twice.

    Its parameters: ``rand_weight`` (a constant, ``grad_req='null'``) and the one
    Dense layer's weight and bias, used twice per forward.

    >>> sorted(FixedHiddenMLP().collect_params().keys())[-1].endswith('rand_weight')
    True
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        value = (mx.np.random.uniform(size=(20, 20)) if is_np_array()
                 else mx.nd.random.uniform(shape=(20, 20)))
        self.rand_weight = self.params.get_constant("rand_weight", value)
        self.dense = nn.Dense(20, activation="relu")

    def forward(self, X):
        X = self.dense(X)
        if is_np_array():
            X = mx.npx.relu(mx.np.dot(X, self.rand_weight.data()) + 1)
        else:
            X = mx.nd.relu(mx.nd.dot(X, self.rand_weight.data()) + 1)
        X = self.dense(X)
        while float(abs(X).sum()) > 1:
            X /= 2
        return X.sum()


class MyInit(mx.init.Initializer):
    """The chapter's custom initializer: U[-10, 10], then every |w| < 5 set to 0.

    Weights end up 0 with probability 1/2, in [5, 10] or [-10, -5] with 1/4 each. Each
    initialized weight prints ``Init <name> <shape>``, as in the book. Registered with
    MXNet's initializer registry as ``'myinit'``.

    >>> net = gluon.nn.Dense(3, in_units=4)
    >>> net.initialize(MyInit(verbose=False))
    >>> w = net.weight.data().asnumpy()
    >>> bool(((w == 0) | ((abs(w) >= 5) & (abs(w) <= 10))).all())
    True
    """

    def __init__(self, verbose: bool = True):
        super().__init__(verbose=verbose)
        self._print_init = verbose

    def _init_weight(self, name, data):
        if self._print_init:
            print("Init", name, data.shape)
        F = mx.np if isinstance(data, mx.np.ndarray) else mx.nd
        data[:] = F.random.uniform(-10, 10, data.shape)
        data *= F.abs(data) >= 5


mx.init.register(MyInit)  # registered as 'myinit'
