"""The section "GPUs" (use-gpu_vn.md, 15 cells): its cells as the book wrote them, and their checks.

Checks follow ``_chapter_cells``: they read the namespace and the output, never build a block or
draw a random number. The book ran these cells on a machine with two GPUs; here they run
wherever they are replayed, so every expectation is computed from what this machine has:
``mx.context.num_gpus()`` for the contexts (the book's ``try_gpu`` falls back to ``cpu(0)``)
and ``shutil.which('nvidia-smi')`` for the shell line of cell 1. Values are compared with a
tolerance, never by their printed digits.
"""
from __future__ import annotations

import re
import shutil
from typing import List

import numpy as onp

from .._core.compat import mx
from .._core.gluon import has_data, is_deferred
from .replay import Cell, Facts, Section

__all__ = ["SECTION"]

#: What the replay prints for ``!nvidia-smi`` where the program is absent (``_replay._shell``).
NOT_FOUND = "nvidia-smi: not found on this machine, so this shell line shows nothing else\n"
#: The ``(2, 3)`` array of ones, as the np interface shows it on the CPU (no context suffix).
ONES_REPR = "array([[1., 1., 1.],\n       [1., 1., 1.]])"
ONES_STR = "[[1. 1. 1.]\n [1. 1. 1.]]"


def _gpus() -> int:
    return mx.context.num_gpus()


def _try_gpu(i: int = 0) -> "mx.Context":
    """What the book's ``try_gpu(i)`` returns on this machine, computed independently.

    >>> _try_gpu(_gpus() + 5)
    cpu(0)
    """
    return mx.gpu(i) if _gpus() >= i + 1 else mx.cpu()


def _repr_suffix(ctx: "mx.Context") -> str:
    """What an np array's ``repr`` appends for ``ctx``: nothing on the CPU.

    >>> _repr_suffix(mx.cpu()), _repr_suffix(mx.gpu(1))
    ('', ', ctx=gpu(1)')
    """
    return "" if ctx.device_type == "cpu" else f", ctx={ctx}"


def _str_suffix(ctx: "mx.Context") -> str:
    """What ``print`` appends to an np array on ``ctx``: nothing on the CPU.

    >>> _str_suffix(mx.cpu()), _str_suffix(mx.gpu(0))
    ('', ' @gpu(0)')
    """
    return "" if ctx.device_type == "cpu" else f" @{ctx}"


def _shown_values(out: str, ctx: "mx.Context") -> List[float]:
    """The numbers an array's ``repr`` shows, in order (its context suffix left out).

    >>> _shown_values("array([[0.5 , 1.25],\\n       [-3e-05, 2. ]], ctx=gpu(1))", mx.gpu(1))
    [0.5, 1.25, -3e-05, 2.0]
    """
    body = out[:len(out) - len(_repr_suffix(ctx) + ")")] if out.endswith(")") else out
    return [float(v) for v in re.findall(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?", body)]


def _close(a, b, tol: float = 1e-6) -> bool:
    a, b = onp.asarray(a, dtype=onp.float64), onp.asarray(b, dtype=onp.float64)
    return a.shape == b.shape and bool(onp.allclose(a, b, rtol=0, atol=tol))


# ----------------------------------------------------------------------------- checks

def _g1(ns, out, _):
    f = Facts()
    if shutil.which("nvidia-smi") is None:
        f.equal(out, NOT_FOUND, "the not-found line (no nvidia-smi on this machine)")
    else:
        f("NVIDIA-SMI" in out, f"nvidia-smi's own output (its table names NVIDIA-SMI), got {out[:200]!r}")
        f("not found on this machine" not in out, "the program's output, not the not-found line")
    f(ns["_"] is None, "a shell line displays no value")
    f("__gpk_shell__" not in ns, "the shell hook removed from the namespace after the cell")
    return f.count


def _g2(ns, out, _):
    f = Facts()
    f.equal(ns["_"], (mx.cpu(0), mx.gpu(0), mx.gpu(1)), "the three contexts (naming a GPU needs no GPU)")
    f.equal(out, "(cpu(0), gpu(0), gpu(1))", "their display")
    f(ns["np"] is mx.np and ns["npx"] is mx.npx and ns["nn"] is mx.gluon.nn, "np, npx and nn imported")
    f(mx.util.is_np_array(), "npx.set_np() switched on the np interface")
    return f.count


def _g3(ns, out, _):
    f = Facts()
    f.equal(ns["_"], _gpus(), "npx.num_gpus() is the number of GPUs MXNet sees")
    f.equal(out, str(_gpus()), "the number shown")
    return f.count


def _g4(ns, out, _):
    f = Facts()
    every = [mx.gpu(i) for i in range(_gpus())] or [mx.cpu()]
    want = (_try_gpu(0), _try_gpu(3), every)
    f.equal(ns["_"], want, f"try_gpu(), try_gpu(3), try_all_gpus() with {_gpus()} GPU(s)")
    f.equal(out, repr(want), "their display")
    f.equal(ns["try_gpu"](1), _try_gpu(1), "try_gpu(1), used by the later cells")
    f(all(isinstance(c, mx.Context) for c in (*want[:2], *want[2])), "every answer is an mx.Context")
    return f.count


def _g5(ns, out, _):
    f = Facts()
    x = ns["x"]
    f.equal(x.ctx, mx.cpu(0), "an array made without ctx= lives on cpu(0)")
    f.equal(out, "cpu(0)", "the context shown")
    f(x.asnumpy().tolist() == [1.0, 2.0, 3.0] and x.dtype == onp.float32,
      "x = [1., 2., 3.] as float32 (the np interface's default dtype)")
    return f.count


def _g6(ns, out, _):
    f = Facts()
    x, ctx = ns["x"], _try_gpu(0)
    f.equal(x.ctx, ctx, "x made on try_gpu()")
    f(x.shape == (2, 3) and (x.asnumpy() == 1).all(), "x = ones((2, 3))")
    f.equal(out, ONES_REPR[:-1] + _repr_suffix(ctx) + ")", "the repr, with its context when not the CPU")
    return f.count


def _g7(ns, out, _):
    f = Facts()
    y, ctx = ns["y"], _try_gpu(1)
    values = y.asnumpy()
    f.equal(y.ctx, ctx, "y made on try_gpu(1)")
    f(y.shape == (2, 3) and y.dtype == onp.float32, "y is a (2, 3) float32 array")
    f(((values >= 0) & (values < 1)).all() and len(set(values.ravel().tolist())) == 6,
      "six distinct draws from U[0, 1)")
    f(out.startswith("array([[") and out.endswith(_repr_suffix(ctx) + ")"), "the repr, with y's context")
    f(_close(_shown_values(out, ctx), values.ravel(), 1e-6), "the numbers shown are y's values")
    return f.count


def _g8(ns, out, _):
    f = Facts()
    x, z, ctx = ns["x"], ns["z"], _try_gpu(1)
    f.equal(z.ctx, ctx, "z copied to try_gpu(1)")
    f.equal(x.ctx, _try_gpu(0), "x stays where it was")
    f(z is not x and (z.asnumpy() == x.asnumpy()).all(), "z is a new array with x's values")
    f.equal(out, f"{ONES_STR}{_str_suffix(x.ctx)}\n{ONES_STR}{_str_suffix(ctx)}\n",
            "print shows x then z, each with its context when not the CPU")
    return f.count


def _g9(ns, out, _):
    f = Facts()
    total, ctx = ns["_"], _try_gpu(1)
    f.equal(total.ctx, ctx, "y + z computed where its operands live")
    f(_close(total.asnumpy(), ns["y"].asnumpy() + 1, 1e-6), "y + z == y + 1 (z is ones)")
    f(out.startswith("array([[") and out.endswith(_repr_suffix(ctx) + ")"), "the repr, with its context")
    f(_close(_shown_values(out, ctx), total.asnumpy().ravel(), 1e-6), "the numbers shown are y + z")
    return f.count


def _g10(ns, out, _):
    f = Facts()
    x, z, ctx = ns["x"], ns["z"], _try_gpu(1)
    f.equal(z.ctx, ctx, "z on try_gpu(1)")
    f((z.asnumpy() == 1).all() and z.shape == (2, 3), "z holds x's ones")
    f.equal(z is x, x.ctx == ctx, "as_in_ctx returns x itself exactly when x is already there")
    f.equal(out, ONES_REPR[:-1] + _repr_suffix(ctx) + ")", "the repr, with z's context")
    return f.count


def _g11(ns, out, _):
    f = Facts()
    f(ns["_"] is True, "y.as_in_ctx(y's own context) is y")
    f.equal(out, "True", "True shown")
    f.equal(ns["y"].ctx, _try_gpu(1), "y is on try_gpu(1), the context asked for")
    return f.count


def _g12(ns, out, _):
    f = Facts()
    f(ns["_"] is False, "y.copyto(y's own context) is a new array")
    f.equal(out, "False", "False shown")
    return f.count


def _g13(ns, out, _):
    f = Facts()
    net, ctx = ns["net"], _try_gpu(0)
    params = net.collect_params()
    f.equal(len(net), 1, "one layer")
    f(type(net[0]) is mx.gluon.nn.Dense, "a Dense layer")
    f.equal({k: tuple(p.shape) for k, p in params.items()}, {"dense0_weight": (1, -1), "dense0_bias": (1,)},
            "names and shapes (the input size is not known yet)")
    f(is_deferred(net[0].weight) and list(net[0].weight.list_ctx()) == [ctx],
      f"the weight waits for the first forward, to be made on {ctx}")
    f(has_data(net[0].bias) and list(net[0].bias.list_ctx()) == [ctx]
      and not net[0].bias.data().asnumpy().any(), f"the bias already made on {ctx}, zeros")
    f.equal(out, "", "nothing shown")
    return f.count


def _g14(ns, out, _):
    f = Facts()
    net, x, y, ctx = ns["net"], ns["x"], ns["_"], _try_gpu(0)
    w, b = net[0].weight.data().asnumpy(), net[0].bias.data().asnumpy()
    f.equal(tuple(w.shape), (1, 3), "the weight's shape inferred from x: (1, 3)")
    f(0 < abs(w).max() <= 0.07, "the weight drawn from the default Uniform(0.07)")
    f.equal(y.ctx, ctx, "the output computed on x's and the parameters' context")
    f(_close(y.asnumpy(), x.asnumpy() @ w.T + b, 1e-6), "net(x) == x @ W^T + b, from the parameters")
    f(out.startswith("array([[") and out.endswith(_repr_suffix(ctx) + ")"), "the repr, with its context")
    f(_close(_shown_values(out, ctx), y.asnumpy().ravel(), 1e-6), "the numbers shown are net(x)")
    return f.count


def _g15(ns, out, _):
    f = Facts()
    ctx = _try_gpu(0)
    f.equal(ns["_"], ctx, "the weight lives on try_gpu()")
    f.equal(out, str(ctx), "the context shown")
    f(all(list(p.list_ctx()) == [ctx] for p in ns["net"].collect_params().values()),
      f"every parameter has exactly one replica, on {ctx}")
    return f.count


# ----------------------------------------------------------------------------- cells

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
