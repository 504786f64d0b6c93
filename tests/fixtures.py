"""Small networks for the tests: plain, nested, tied, deferred, hybridized, custom, multi-context.

Every builder returns a fresh, *uninitialized* block unless its name says otherwise, and
creates its blocks inside ``fresh_names()`` so auto names do not depend on test order.
"""
import mxnet as mx
from mxnet.gluon import nn
from mxnet.util import is_np_array

from gluon_params_kit import fresh_names
from gluon_params_kit.chapter import FixedHiddenMLP, mlp, rgnet, shared_mlp

CPU2 = [mx.cpu(0), mx.cpu(1)]


def array(shape, mode="nd"):
    """Deterministic input: values 0..1 over ``shape`` in the given mode's array type."""
    n = 1
    for s in shape:
        n *= s
    data = mx.nd.arange(n).reshape(shape) / max(n, 1)
    return data.as_np_ndarray() if mode == "np" else data


def book_mlp():
    """The chapter's MLP (names dense0/dense1 under sequential0)."""
    with fresh_names():
        return mlp()


def book_rgnet():
    """The chapter's rgnet, named as in the book's process (mlp first, so sequential1_)."""
    with fresh_names():
        mlp()
        return rgnet()


def tied_mlp():
    """The chapter's MLP whose layers 1 and 2 share one Parameter set."""
    with fresh_names():
        return shared_mlp()


def fixed_hidden_mlp():
    with fresh_names():
        return FixedHiddenMLP()


class Custom(nn.HybridBlock):
    """A custom block with attribute children, one of them a Sequential, and its own Parameter."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.features = nn.HybridSequential()
            self.features.add(nn.Dense(8, activation="relu"), nn.Dense(8))
            self.head = nn.Dense(3)
            self.scale = self.params.get("scale", shape=(1,), init=mx.init.One())

    def hybrid_forward(self, F, x, scale):
        y = self.head(self.features(x))
        return F.np.multiply(y, scale) if is_np_array() else F.broadcast_mul(y, scale)


def nested_custom():
    """HybridSequential > Custom > HybridSequential > Dense: paths like ``1.features.0.weight``."""
    with fresh_names():
        net = nn.HybridSequential()
        net.add(nn.Dense(4), Custom())
        return net


def initialized(net, x_shape=(2, 5), ctx=None, mode="nd", hybridize=False):
    """Initialize ``net`` (on ``ctx``), optionally hybridize, run one forward; return it."""
    net.initialize(ctx=ctx)
    if hybridize:
        net.hybridize()
    x = array(x_shape, mode)
    if ctx is not None:
        for c in (ctx if isinstance(ctx, (list, tuple)) else [ctx]):
            net(x.as_in_context(c))
    else:
        net(x)
    return net


def current_mode():
    """``'np'`` after ``npx.set_np()``, else ``'nd'``: the bad-input suite is replayed in np mode."""
    return "np" if is_np_array() else "nd"


def array_in_current_mode(shape):
    """``array(shape)`` in the array type of the mode that is on now."""
    return array(shape, current_mode())


def initialized_in_current_mode(net, x_shape=(2, 5), ctx=None, hybridize=False):
    """``initialized(...)`` with inputs in the mode that is on now."""
    return initialized(net, x_shape, ctx=ctx, mode=current_mode(), hybridize=hybridize)


def change_section_cell(monkeypatch, name, key, old, new):
    """Make section ``name``'s cell ``key`` run ``old`` replaced by ``new`` (the checks stay),
    for this test only; ``old`` must be in the cell."""
    import dataclasses

    from gluon_params_kit._book import section_cells

    section = section_cells.SECTIONS[name]
    cells = []
    for cell in section.cells:
        if cell.key == key:
            assert old in cell.source, (name, key, old)
            cell = dataclasses.replace(cell, source=cell.source.replace(old, new))
        cells.append(cell)
    monkeypatch.setitem(section_cells.SECTIONS, name, dataclasses.replace(section, cells=cells))
