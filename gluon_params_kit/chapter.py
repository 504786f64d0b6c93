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
        while float(abs(X).sum().asnumpy()) > 1:
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


# ----------------------------------------------------------------------------- replay

class ChapterResult:
    """What :func:`run` did: each cell's output and check count, and the verdict.

    Attributes:
        outputs: cell key -> exactly what the cell printed and displayed.
        checks: cell key -> number of verified facts (0 when checks were off).
        failures: cell key -> the failed check's message.
    """

    def __init__(self):
        self.outputs: "dict[str, str]" = {}
        self.checks: "dict[str, int]" = {}
        self.failures: "dict[str, str]" = {}

    @property
    def ok(self) -> bool:
        """True when every cell ran and every check passed."""
        return not self.failures

    def closing_line(self) -> str:
        """``chapter: 17 cells reproduced, N checks passed`` (or what failed)."""
        line = f"chapter: {len(self.outputs)} cells reproduced, {sum(self.checks.values())} checks passed"
        if self.failures:
            line += f", {len(self.failures)} failed: " + "; ".join(
                f"cell {k}: {v}" for k, v in self.failures.items())
        return line

    def __repr__(self) -> str:
        return f"<ChapterResult {self.closing_line()}>"


def run_cell(source: str, ns: dict) -> str:
    """Run one cell's source in ``ns`` as Jupyter would; return what it shows.

    Statements run in order; when the last one is an expression, its value is
    displayed with ``repr`` (unless None) and kept in ``ns['_']``, like IPython.

    >>> ns = {}
    >>> run_cell("a = 2\\nprint('a is', a)\\na + 1", ns)
    'a is 2\\n3'
    """
    import ast
    import contextlib
    import io

    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(tree, "<cell>", "exec"), ns)
        value = None
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), ns)
    ns["_"] = value
    text = buf.getvalue()
    if value is not None:
        text += repr(value)
    return text


def run(*, checks: bool = True, quiet: bool = False, reproduce: bool = True, file=None) -> ChapterResult:
    """Replay every code cell of the chapter in the book's order, printing each output.

    Args:
        checks: verify each cell's real output (names, shapes, values, statistics).
        quiet: print nothing (the outputs are in the result).
        reproduce: start from a fresh process's state, so names and random values are
            the book's: auto names restart at 0 (:func:`~gluon_params_kit.tree.fresh_names`)
            and MXNet's generator is seeded with 0, the state a new process starts in.
            This re-seeds the global generator; pass False to leave it alone.
        file: where to print (default ``sys.stdout``).

    Returns:
        A :class:`ChapterResult`; its ``closing_line()`` is printed last.

    Examples:
        >>> result = run(quiet=True)
        >>> result.ok, len(result.outputs)
        (True, 17)
        >>> result.outputs['7']
        'array([0., 0., 0., 0., 0., 0., 0., 0., 0., 0.])'
    """
    import contextlib
    import sys

    from ._chapter_cells import CELLS
    from .tree import fresh_names

    out = file or sys.stdout
    result = ChapterResult()
    was_np = is_np_array()
    ns: dict = {"__name__": "__chapter__"}
    with contextlib.ExitStack() as stack:
        if reproduce:
            stack.enter_context(fresh_names())
            mx.random.seed(0)
        try:
            for cell in CELLS:
                before = cell.before(ns) if (checks and cell.before) else None
                text = run_cell(cell.source, ns)
                result.outputs[cell.key] = text
                if not quiet:
                    print(f"── cell {cell.key}: {cell.title} " + "─" * max(3, 60 - len(cell.title)), file=out)
                    print(text.rstrip("\n"), file=out)
                if checks:
                    try:
                        result.checks[cell.key] = cell.check(ns, text, before)
                    except AssertionError as exc:
                        result.checks[cell.key] = 0
                        result.failures[cell.key] = str(exc)
        finally:
            if not was_np:
                mx.npx.reset_np()
    if not quiet:
        print(result.closing_line(), file=out)
    return result


def main() -> int:
    """``python -m gluon_params_kit.chapter``: replay the chapter, exit 1 if a check failed."""
    return 0 if run().ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
