"""The section "GPUs" (use-gpu_vn.md, 15 cells): its cells as the book wrote them, and their checks.

Checks follow ``_chapter_cells``: they read the namespace and the output, never build a block or
draw a random number.
"""
from __future__ import annotations

from ._replay import Cell, Facts, Section

__all__ = ["SECTION"]

def _g1(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g2(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g3(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g4(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g5(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g6(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g7(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g8(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g9(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g10(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g11(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g12(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g13(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g14(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


def _g15(ns, out, _):
    f = Facts()
    f(True, 'TODO')  # placeholder: replaced by real checks
    return f.count


SECTION = Section('use-gpu', 'GPUs', 'GPU', 'use-gpu_vn.md', [
    Cell('1', 'The GPUs this machine has', '''!nvidia-smi''', _g1),
    Cell('2', 'Contexts', '''from mxnet import np, npx
from mxnet.gluon import nn
npx.set_np()

npx.cpu(), npx.gpu(), npx.gpu(1)''', _g2),
    Cell('3', 'How many GPUs', '''npx.num_gpus()''', _g3),
    Cell('4', 'try_gpu and try_all_gpus', '''# Saved in the d2l package for later use
def try_gpu(i=0):
    """Return gpu(i) if exists, otherwise return cpu()."""
    return npx.gpu(i) if npx.num_gpus() >= i + 1 else npx.cpu()

# Saved in the d2l package for later use
def try_all_gpus():
    """Return all available GPUs, or [cpu(),] if no GPU exists."""
    ctxes = [npx.gpu(i) for i in range(npx.num_gpus())]
    return ctxes if ctxes else [npx.cpu()]

try_gpu(), try_gpu(3), try_all_gpus()''', _g4),
    Cell('5', "An array's context", '''x = np.array([1, 2, 3])
x.ctx''', _g5),
    Cell('6', 'An array on try_gpu()', '''x = np.ones((2, 3), ctx=try_gpu())
x''', _g6),
    Cell('7', 'A random array on try_gpu(1)', '''y = np.random.uniform(size=(2, 3), ctx=try_gpu(1))
y''', _g7),
    Cell('8', 'copyto', '''z = x.copyto(try_gpu(1))
print(x)
print(z)''', _g8),
    Cell('9', 'Operands on one context', '''y + z''', _g9),
    Cell('10', 'as_in_ctx', '''z = x.as_in_ctx(try_gpu(1))
z''', _g10),
    Cell('11', 'as_in_ctx returns the same array', '''y.as_in_ctx(try_gpu(1)) is y''', _g11),
    Cell('12', 'copyto always copies', '''y.copyto(try_gpu(1)) is y''', _g12),
    Cell('13', 'A network on try_gpu()', '''net = nn.Sequential()
net.add(nn.Dense(1))
net.initialize(ctx=try_gpu())''', _g13),
    Cell('14', 'Its forward pass', '''net(x)''', _g14),
    Cell('15', 'Where its weight lives', '''net[0].weight.data().ctx''', _g15),
])
