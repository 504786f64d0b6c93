"""The book chapter "Parameter Management": its networks, its custom initializer, its cells.

They build exactly what the book's cells build (same layers, same order, so the same
auto names in a fresh process) and work in both ``mx.nd`` and ``mx.np`` modes.
"""
from __future__ import annotations

from ._book.replay import ReplayResult, replay
from ._book.replay import run_cell as _run_cell
from ._core.compat import gluon, is_np_array, mx
from ._core.types import Block
from ._core.validate import check_bool, check_number, shown
from .errors import ParamsKitError

nn = gluon.nn

__all__ = ["FixedHiddenMLP", "MyInit", "ReplayResult", "SECTIONS", "block1",
           "block2", "book_cells", "mlp", "rgnet", "run", "run_all", "run_cell", "run_section",
           "shared_mlp"]


def mlp() -> Block:
    """The chapter's MLP: Dense(256, relu) then Dense(10), not yet initialized.

    >>> [type(b).__name__ for b in mlp()]
    ['Dense', 'Dense']
    """
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"))
    net.add(nn.Dense(10))
    return net


def block1() -> Block:
    """Dense(32, relu) then Dense(16, relu), the chapter's inner block.

    >>> len(block1())
    2
    """
    net = nn.Sequential()
    net.add(nn.Dense(32, activation="relu"))
    net.add(nn.Dense(16, activation="relu"))
    return net


def block2() -> Block:
    """Four :func:`block1` nested in a Sequential.

    >>> len(block2())
    4
    """
    net = nn.Sequential()
    for _ in range(4):
        net.add(block1())
    return net


def rgnet() -> Block:
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


def shared_mlp(hidden: int = 8, outputs: int = 10) -> Block:
    """The chapter's tied MLP: the second and third layers share one Dense's parameters.

    >>> net = shared_mlp()
    >>> net[1].weight is net[2].weight
    True
    """
    for value, name in ((hidden, "hidden"), (outputs, "outputs")):
        check_number(value, name, ParamsKitError, integer=True, minimum=1, maximum=2**20, where="shared_mlp")
    net = nn.Sequential()
    shared = nn.Dense(hidden, activation="relu")
    net.add(nn.Dense(hidden, activation="relu"),
            shared,
            nn.Dense(hidden, activation="relu", params=shared.params),
            nn.Dense(outputs))
    return net


class FixedHiddenMLP(Block):
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
        check_bool(verbose, "verbose", ParamsKitError, where="MyInit")
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

def run(*, checks: bool = True, quiet: bool = False, reproduce: bool = True, book: bool = False,
        file=None, lang: str = "en") -> ReplayResult:
    """Replay the chapter's 17 code cells in the book's order, printing each output.

    Args:
        checks: verify each cell's real output (names, shapes, values, statistics).
        quiet: print nothing (the outputs are in the result).
        reproduce: start from a fresh process's state, so names and random values are
            the book's: auto names restart at 0 (:func:`~gluon_params_kit.tree.fresh_names`)
            and MXNet's generator is seeded with 0, the state a new process starts in.
            This re-seeds the global generator; pass False to leave it alone.
        book: also run the book's cells in a fresh Python process with plain MXNet (a few
            seconds, in parallel) and compare every output; only then does the closing
            line say ``17/17 cells identical to the book's code``.
        file: where to print (default ``sys.stdout``).
        lang: ``'en'`` or ``'vi'``: the language of the cells' titles and the closing line
            (``'vi'``: the Vietnamese edition's words); the outputs are the same.

    Returns:
        A :class:`ReplayResult`; its ``closing_line()`` is printed last.

    Raises:
        ParamsKitError: ``lang`` is not ``'en'`` or ``'vi'``.

    Examples:
        >>> result = run(quiet=True)
        >>> result.ok, len(result.outputs)
        (True, 17)
        >>> result.outputs['7']
        'array([0., 0., 0., 0., 0., 0., 0., 0., 0., 0.])'
        >>> result.outputs['14']
        '42.0\\n'
    """
    from ._book.chapter_cells import CELLS

    _check_replay_options("run", checks=checks, quiet=quiet, reproduce=reproduce, book=book, file=file,
                          lang=lang)
    return replay(CELLS, name="chapter", checks=checks, quiet=quiet, reproduce=reproduce,
                  book=book, book_file="parameters_vn.md", file=file, lang=lang)


#: The chapter's other sections that ``run_section`` replays, in the book's order (the first
#: comes before "Parameter management", the others after it).
SECTIONS = ("model-construction", "deferred-init", "custom-layer", "read-write", "use-gpu")


def run_section(name: str, *, checks: bool = True, quiet: bool = False, reproduce: bool = True,
                book: bool = False, file=None, lang: str = "en") -> ReplayResult:
    """Replay one of the chapter's other sections, as :func:`run` replays "Parameter management".

    ``'model-construction'`` (8 cells), ``'deferred-init'`` (9), ``'custom-layer'`` (9),
    ``'read-write'`` (8; its cells write their files into a new empty folder, removed
    afterwards) or ``'use-gpu'`` (15; on ``try_gpu()``, which is the CPU where MXNet sees no
    GPU; its ``!nvidia-smi`` line runs where that program exists and says so where not). Each
    starts from a fresh process's state, as each section of the book does. Arguments as for
    :func:`run`.

    Raises:
        ParamsKitError: an unknown section (the valid names are listed), or ``lang`` is not
            ``'en'`` or ``'vi'``.

    Examples:
        >>> r = run_section('deferred-init', quiet=True)
        >>> r.ok, r.outputs['6']
        (True, 'Init dense2_weight (256, 20)\\nInit dense3_weight (10, 256)\\n')
    """
    section = _section(name)
    _check_replay_options("run_section", checks=checks, quiet=quiet, reproduce=reproduce, book=book,
                          file=file, lang=lang)
    return replay(section.cells, name=name, checks=checks, quiet=quiet, reproduce=reproduce,
                  book=book, files=section.files, book_file=section.book_file, file=file, lang=lang)


def run_all(*, checks: bool = True, quiet: bool = False, book: bool = False, file=None,
            lang: str = "en") -> ReplayResult:
    """The whole chapter in the book's order, each section under its own heading; one result.

    Layers and blocks, parameter management (the chapter), deferred initialization, custom
    layers, file I/O, GPUs. Cell keys in the result are ``'model-construction/1'`` ..
    ``'chapter/1'`` .. ``'use-gpu/15'``; the closing line counts all 66 cells (each replay's
    own line is printed after its cells). With ``lang='vi'`` each heading is the section's
    title in the Vietnamese book file, and the cells' titles and closing lines are Vietnamese.

    >>> r = run_all(quiet=True)
    >>> r.ok, len(r.outputs), list(r.outputs)[8], list(r.outputs)[25]
    (True, 66, 'chapter/1', 'deferred-init/1')
    """
    import sys

    from ._book.replay import check_language, rule
    from ._book.vietnamese import SECTION_TITLES

    _check_replay_options("run_all", checks=checks, quiet=quiet, book=book, file=file, lang=lang)
    check_language(lang)
    out = file or sys.stdout
    total = ReplayResult("all")
    parts = [(n, f"{_section(n).title} ({_section(n).title_vi})") for n in SECTIONS]
    parts.insert(1, ("chapter", "Parameter management (Quản lý Tham số)"))
    for name, title in parts:
        if not quiet:
            print(rule(f"{name}: {SECTION_TITLES[name] if lang == 'vi' else title}", "═"), file=out)
        if name == "chapter":
            result = run(checks=checks, quiet=quiet, book=book, file=out, lang=lang)
        else:
            result = run_section(name, checks=checks, quiet=quiet, book=book, file=out, lang=lang)
        total.merge(result)
    if not quiet:
        print(total.closing_line(lang), file=out)
    return total


def _check_replay_options(where: str, *, file, lang, **flags) -> None:
    """Every replay option checked before a cell runs: flags are plain bools (an array's
    truth value is no answer), ``file`` has a ``write`` method, ``lang`` is a str (which
    ones the replay speaks, it says itself)."""
    for name, value in flags.items():
        check_bool(value, name, ParamsKitError, where=where)
    if not isinstance(lang, str):
        raise ParamsKitError(f"{where}: lang must be 'en' or 'vi', got {shown(lang)}")
    if file is not None and not callable(getattr(file, "write", None)):
        raise ParamsKitError(f"{where}: file must be None (sys.stdout) or an open text file, got {shown(file)}")


def run_cell(source: str, ns: dict) -> str:
    """Run one cell's source in ``ns`` as Jupyter would; return what it shows.

    Statements run in order; when the last one is an expression, its value is displayed
    with ``repr`` (unless None) and kept in ``ns['_']``, like IPython.

    >>> run_cell("x = 21 * 2; x", {})
    '42'
    """
    if not isinstance(source, str):
        raise ParamsKitError(f"run_cell: source must be a str of Python code, got {shown(source)}")
    if not isinstance(ns, dict):
        raise ParamsKitError(f"run_cell: ns must be a dict (the cell's namespace), got {shown(ns)}")
    return _run_cell(source, ns)


def _section(name: str):
    from ._book.section_cells import SECTIONS as _ALL

    if not isinstance(name, str) or name not in _ALL:
        raise ParamsKitError(f"unknown section {shown(name)}; expected one of {', '.join(map(repr, SECTIONS))}")
    return _ALL[name]


def book_cells() -> "dict[str, str]":
    """Every book cell's source by key: ``'1'`` .. ``'17'`` for the chapter, ``'read-write/3'`` ...

    >>> cells = book_cells()
    >>> cells['14'].splitlines()[-1], cells['read-write/6']
    ('print(net[1].weight.data()[0, 0])', "net.save_parameters('mlp.params')")
    """
    from ._book.chapter_cells import CELLS

    cells = {c.key: c.source for c in CELLS}
    for name in SECTIONS:
        cells.update({f"{name}/{c.key}": c.source for c in _section(name).cells})
    return cells


def main() -> int:
    """``python -m gluon_params_kit.chapter``: replay the chapter, exit 1 if a check failed."""
    return 0 if run(book=True).ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
