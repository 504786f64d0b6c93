"""Replaying a book's code cells: here, verified, and in a fresh process, as the reference.

Private; one engine for the chapter and the sections that follow it. :func:`replay` runs
cells in this process (fresh auto names, MXNet's generator seeded as a new process's),
prints each output under a rule and checks it; with ``book=True`` it also runs the same
sources in a new Python process that imports nothing but MXNet (``python -I``, this file's
source as the ``-c`` program) and says, cell by cell, whether the outputs are identical.

This module imports the standard library only at the top: the child process executes its
source without importing the kit. One exception, stated in the child's report: with numpy
1.24 or newer (Python 3.12), ``from mxnet import ...`` fails because numpy removed
``numpy.bool``; there the child first imports ``gluon_params_kit`` (which only restores
those aliases, as the notebooks' first cell does), and nothing else of the kit.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

__all__ = ["ATOL", "Cell", "Facts", "NO_BOOK_NOTE", "RTOL", "ReplayResult", "Section", "book_dir", "book_fences",
           "cell_title", "check_language", "compare_printed", "fresh_process_outputs", "machine_note", "replay", "rule", "run_cell"]

#: What a closing line adds when the book's files were not at hand to compare the sources with.
NO_BOOK_NOTE = (" as the kit copied it (the book's files are not at hand, so the cells' sources were not "
                "compared with them)")
#: The closing line's words in English; ``vietnamese.CLOSING_WORDS`` has the same keys.
_CLOSING_EN = {
    "cell": "cell", "reproduced": "{n} cells reproduced", "checks": "{n} checks passed", "failed": "{n} failed",
    "not_replayed": "the book's code could not be replayed: {error}",
    "identical": "{same}/{n} cells identical to the book's code", "different": "different",
    "no_book": NO_BOOK_NOTE,
}
#: Every rule of a transcript has this many characters.
RULE_WIDTH = 72
#: The child's program: this file's source, run as ``__main__`` (not as a file: the
#: package folder on ``sys.path`` would shadow the standard library's ``select``).
_CHILD = ("import sys; path = sys.argv[1]; "
          "exec(compile(open(path, encoding='utf-8').read(), path, 'exec'), {'__name__': '__main__'})")


@dataclass(frozen=True)
class Cell:
    """One book cell: its number in the book (``'1'`` ...), a title, its source, its checks.

    ``check(ns, out, before)`` gets the namespace after the cell, what the cell showed and
    what ``before(ns)`` returned just before it ran; it returns how many facts it verified
    and raises ``AssertionError`` naming the fact that failed.
    """
    key: str
    title: str
    source: str
    check: Callable[[Dict[str, Any], str, Any], int]
    before: Optional[Callable[[Dict[str, Any]], Any]] = None


@dataclass(frozen=True)
class Section:
    """One section of the book: its key, titles, the book's file, its cells."""
    key: str
    title: str
    title_vi: str
    book_file: str
    cells: List[Cell]
    files: bool = False  # its cells write files: replay them in an empty folder


class Facts:
    """Counts verified facts; a failure raises ``AssertionError`` naming the fact.

    >>> f = Facts(); f(1 + 1 == 2, "arithmetic"); f.equal([1], [1], "a list"); f.count
    2
    """

    def __init__(self):
        self.count = 0

    def __call__(self, ok: bool, fact: str) -> None:
        if not ok:
            raise AssertionError(f"expected {fact}")
        self.count += 1

    def equal(self, got, want, what: str) -> None:
        self(got == want, f"{what} == {want!r}, got {got!r}")


def run_cell(source: str, ns: dict) -> str:
    """Run one cell's source in ``ns`` as Jupyter would; return what it shows.

    Statements run in order; when the last one is an expression, its value is
    displayed with ``repr`` (unless None) and kept in ``ns['_']``, like IPython.

    >>> ns = {}
    >>> run_cell("a = 2\\nprint('a is', a)\\na + 1", ns)
    'a is 2\\n3'
    """
    tree = ast.parse(_shell_lines(source))
    end = tree.body[-1] if tree.body else None
    last = end if isinstance(end, ast.Expr) else None  # an expression ends the cell: its value shows
    if last is not None:
        tree.body.pop()
    buf = io.StringIO()
    ns[_SHELL] = _shell
    with contextlib.redirect_stdout(buf):
        try:
            exec(compile(tree, "<cell>", "exec"), ns)
            value = None
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), ns)
        finally:
            ns.pop(_SHELL, None)
    ns["_"] = value
    text = buf.getvalue()
    if value is not None:
        text += repr(value)
    return text


#: The name a shell line (``!cmd``) calls in a cell's namespace while the cell runs.
_SHELL = "__gpk_shell__"


def _shell_lines(source: str) -> str:
    """``source`` with each ``!command`` line made a call, as IPython does with ``get_ipython().system``.

    >>> _shell_lines("!nvidia-smi")
    "__gpk_shell__('nvidia-smi')"
    """
    lines = []
    for line in source.splitlines():
        body = line.lstrip()
        if body.startswith("!"):
            line = f"{line[:len(line) - len(body)]}{_SHELL}({body[1:].strip()!r})"
        lines.append(line)
    return "\n".join(lines)


def _shell(command: str) -> None:
    """Run a cell's shell line and print what it prints; where the program is absent, say so.

    The same on every machine where the program is missing (a shell's own "not found" text
    differs from shell to shell), and the program's real output where it exists.

    >>> _shell("no-such-program-here --flag")
    no-such-program-here: not found on this machine, so this shell line shows nothing else
    """
    import shlex
    import shutil
    program = shlex.split(command)[0]
    if shutil.which(program) is None:
        print(f"{program}: not found on this machine, so this shell line shows nothing else")
        return
    proc = subprocess.run(command, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=120)
    print(proc.stdout, end="")


def rule(text: str, char: str = "─") -> str:
    """``text`` between rule characters, ``RULE_WIDTH`` characters in all (longer text is kept).

    >>> len(rule("cell 1: Build the MLP")) == RULE_WIDTH
    True
    >>> rule("x")[:5]
    '── x '
    """
    head = f"{char * 2} {text} "
    return head + char * max(3, RULE_WIDTH - len(head))


class ReplayResult:
    """What a replay did: each cell's output and check count, and the comparison with the book.

    Attributes:
        name: what was replayed (``'chapter'``, ``'deferred-init'`` ...).
        outputs: cell number -> exactly what the cell printed and displayed.
        checks: cell number -> number of verified facts (0 when checks were off).
        failures: cell number -> the failed check's message.
        book: cell number -> what the book's code showed in a fresh process, or None
            when that replay was not asked for.
        book_error: why the fresh-process replay could not run, or None.
        book_files: the book's Markdown files the cells' sources were compared with, or
            None when those files were not at hand (then the fresh process ran the kit's
            copy of the book's cells, and the closing line says so).
        sources: cell number -> the kit's source for it (what both replays ran).
        fences: cell number -> the book file's fence for it, when ``book_files`` is set.
    """

    def __init__(self, name: str = "chapter"):
        self.name = name
        self.outputs: Dict[str, str] = {}
        self.checks: Dict[str, int] = {}
        self.failures: Dict[str, str] = {}
        self.book: Optional[Dict[str, str]] = None
        self.book_error: Optional[str] = None
        self.book_files: Optional[List[str]] = None
        self.sources: Dict[str, str] = {}
        self.fences: Dict[str, str] = {}

    @property
    def differing(self) -> List[str]:
        """Cells whose output is not the book's code's output, or whose source is not the
        book file's fence (empty when not compared)."""
        if self.book is None:
            return []
        return [k for k, v in self.outputs.items() if self.book.get(k) != v
                or (self.book_files is not None and self.fences.get(k) != self.sources.get(k))]

    def merge(self, part: "ReplayResult") -> None:
        """Add ``part``'s cells under ``'<part.name>/<key>'`` (how :func:`run_all` sums sections)."""
        def keyed(d: Dict[str, Any]) -> Dict[str, Any]:
            return {f"{part.name}/{k}": v for k, v in d.items()}
        first = not self.outputs
        self.outputs.update(keyed(part.outputs))
        self.checks.update(keyed({k: part.checks.get(k, 0) for k in part.outputs}))
        self.failures.update(keyed(part.failures))
        self.sources.update(keyed(part.sources))
        self.fences.update(keyed(part.fences))
        if part.book is not None:
            self.book = {**(self.book or {}), **keyed(part.book)}
        if part.book_error is not None:
            self.book_error = f"{part.name}: {part.book_error}"
        if first:
            self.book_files = None if part.book_files is None else list(part.book_files)
        elif self.book_files is not None:
            self.book_files = None if part.book_files is None else self.book_files + part.book_files

    @property
    def identical(self) -> bool:
        """True only when the fresh-process replay ran and every cell's output equals it."""
        return self.book is not None and not self.book_error and not self.differing \
            and len(self.book) == len(self.outputs)

    @property
    def ok(self) -> bool:
        """Every cell ran, every check passed, and, when compared, every output is the book's."""
        compared_badly = self.book_error is not None or (self.book is not None and not self.identical)
        return not self.failures and not compared_badly

    def closing_line(self, lang: str = "en") -> str:
        """``chapter: 17 cells reproduced, N checks passed, 17/17 cells identical to the book's code``.

        The last part appears only when the book's code was replayed in a fresh process; it
        counts a cell identical when its output equals that replay's and its source equals
        the fence in the book's own file. Without the book's files at hand it says that only
        the kit's copy of the cells was replayed. ``lang='vi'`` words it in Vietnamese.

        >>> r = ReplayResult("demo"); r.outputs, r.checks = {"1": ""}, {"1": 2}
        >>> r.closing_line(), r.closing_line("vi")
        ('demo: 1 cells reproduced, 2 checks passed', 'demo: chạy lại 1 ô, 2 phép kiểm chứng đạt')
        """
        words = _closing_words(lang)
        n = len(self.outputs)
        checks = sum(self.checks.values())
        line = f"{self.name}: {words['reproduced'].format(n=n)}, {words['checks'].format(n=checks)}"
        if self.failures:
            line += f", {words['failed'].format(n=len(self.failures))}: " + "; ".join(
                f"{words['cell']} {k}: {v}" for k, v in self.failures.items())
        if self.book_error is not None:
            line += ", " + words["not_replayed"].format(error=self.book_error)
        elif self.book is not None:
            line += ", " + words["identical"].format(same=n - len(self.differing), n=n)
            if self.book_files is None:
                line += words["no_book"]
            if self.differing:
                line += f" ({words['different']}: " + ", ".join(self.differing) + ")"
        return line

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.closing_line()}>"


def check_language(lang: str) -> str:
    """``lang`` when a replay speaks it (``'en'``, ``'vi'``); else a ParamsKitError that lists them.

    >>> check_language("vi")
    'vi'
    """
    from .vietnamese import LANGUAGES
    if lang not in LANGUAGES:
        from ..errors import ParamsKitError
        raise ParamsKitError(f"lang={lang!r} is not a language of the replay; expected one of "
                             f"{', '.join(map(repr, LANGUAGES))}")
    return lang


def _closing_words(lang: str) -> Dict[str, str]:
    """The closing line's and the rules' words in ``lang`` (``'en'`` or ``'vi'``)."""
    if check_language(lang) == "vi":
        from .vietnamese import CLOSING_WORDS
        return CLOSING_WORDS
    return _CLOSING_EN


def cell_title(section: str, cell: Cell, lang: str = "en") -> str:
    """What a replay's rule says above ``cell`` of ``section``: ``cell 3: ...`` or ``ô 3: ...``.

    >>> cell_title("chapter", Cell("17", "Tied parameters", "", lambda ns, out, before: 0), "vi")
    'ô 17: Tham số dùng chung'
    """
    if lang == "vi":
        from .vietnamese import CELL_TITLES
        return f"{_closing_words(lang)['cell']} {cell.key}: {CELL_TITLES[section][cell.key]}"
    return f"{_closing_words(lang)['cell']} {cell.key}: {cell.title}"


# ----------------------------------------------------------------------------- the book's files

_FENCE = re.compile(r"^```\{\.python \.input[^}]*\}\n(.*?)^```\s*$", re.S | re.M)


def book_dir() -> Optional[Path]:
    """The folder of the book's Markdown files, or None where it is not at hand.

    ``$GPK_BOOK_DIR`` when set, else ``shared/book`` beside the repository's checkout (the
    folder holding ``gluon_params_kit/``); an installed wheel has none.
    """
    if os.environ.get("GPK_BOOK_DIR"):
        found = Path(os.environ["GPK_BOOK_DIR"])
    else:
        package = next(p for p in Path(__file__).resolve().parents if p.name == "gluon_params_kit")
        found = package.parent.parent / "shared" / "book"
    return found if found.is_dir() else None


def book_fences(text: str) -> List[str]:
    """The code cells of a book file's Markdown: its ```` ```{.python .input} ```` fences, in order.

    Each without its last newline; other fences (```` ```python ````) are prose, not cells.

    >>> book_fences("x\\n```{.python .input  n=1}\\na = 1\\n```\\n```python\\nno\\n```\\n")
    ['a = 1']
    """
    return [body[:-1] if body.endswith("\n") else body for body in _FENCE.findall(text)]


# ----------------------------------------------------------------------------- printed numbers

#: Printed floats agree when ``|a - b| <= ATOL + RTOL * max(|a|, |b|)``. MXNet's oneDNN picks
#: its kernels by CPU (AVX-512, AVX2, SSE4.1, or none with MXNET_MKLDNN_ENABLED=0), and the
#: float32 sums differ in their last bits: the book's small nets print values that move by up
#: to a few units in the 8th significant digit (measured: at most 1.2e-6 relative), and values
#: that are rounding noise around 0 (a centred layer's mean, ~3e-10) by up to 6e-11.
RTOL = 1e-5
ATOL = 1e-8
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf)(?![\w.])")


def _is_float(token: str) -> bool:
    return any(c in token for c in ".eEna")  # 'n': nan and inf


def compare_printed(stored: str, fresh: str, *, rtol: float = RTOL, atol: float = ATOL) -> List[str]:
    """How two printouts of the same code differ beyond float rounding; empty when they agree.

    Everything but the digits of printed floats must be the same: text, names, integers
    (shapes, counts), line breaks, the count and order of numbers. Floats agree when
    ``|a - b| <= atol + rtol * max(|a|, |b|)``; the spaces numpy pads a column with may change
    with the digits, other spaces may not.

    Args:
        stored: one printout (a stored transcript, a notebook's stored output).
        fresh: the other (today's replay on this machine).
        rtol, atol: the float tolerance (module constants ``RTOL``, ``ATOL``).

    Returns:
        One line per difference (``line 3: 0.5 vs 0.6 ...``); empty when they agree.

    >>> compare_printed("array([ 0.06240273, -0.1 ])", "array([ 0.06240274, -0.1 ])")
    []
    >>> compare_printed("[0.0173853 , 1.]", "[0.01738528, 1.]")
    []
    >>> compare_printed("(256, 20) 0.5", "(256, 21) 0.5")
    ["line 1: '20' vs '21' (not a float: must be equal)"]
    >>> compare_printed("w 0.5", "w 0.6")
    ['line 1: 0.5 vs 0.6 (off by 0.1, tolerance 6.01e-06)']
    """
    a_lines, b_lines = stored.splitlines(), fresh.splitlines()
    if len(a_lines) != len(b_lines):
        return [f"{len(a_lines)} lines vs {len(b_lines)} lines"]
    found: List[str] = []
    for n, (a, b) in enumerate(zip(a_lines, b_lines), 1):
        a_parts, b_parts = _NUMBER.split(a), _NUMBER.split(b)
        a_nums, b_nums = _NUMBER.findall(a), _NUMBER.findall(b)
        if len(a_nums) != len(b_nums) or _padless(a_parts) != _padless(b_parts):
            found.append(f"line {n}: {a.strip()!r} vs {b.strip()!r}")
            continue
        for x, y in zip(a_nums, b_nums):
            if not (_is_float(x) and _is_float(y)):
                if x != y:
                    found.append(f"line {n}: {x!r} vs {y!r} (not a float: must be equal)")
                continue
            fx, fy = float(x), float(y)
            if math.isnan(fx) and math.isnan(fy) or fx == fy:
                continue
            if not (math.isfinite(fx) and math.isfinite(fy)):
                found.append(f"line {n}: {x} vs {y}")
                continue
            tol = atol + rtol * max(abs(fx), abs(fy))
            if not abs(fx - fy) <= tol:
                found.append(f"line {n}: {x} vs {y} (off by {abs(fx - fy):.3g}, tolerance {tol:.3g})")
    return found


def _padless(parts: List[str]) -> List[str]:
    """The text between numbers without the spaces that touch a number (numpy's column padding)."""
    last = len(parts) - 1
    out = []
    for i, part in enumerate(parts):
        if i > 0:  # a number before it
            part = part.lstrip(" ")
        if i < last:  # a number after it
            part = part.rstrip(" ")
        out.append(part)
    return out


def machine_note() -> str:
    """Where a printout is made: CPU, its widest vector unit, kernel settings, versions.

    The digits of printed floats depend on these (see ``RTOL``); stored transcripts and
    notebooks say where they were made with this line.

    >>> "Python " in machine_note()
    True
    """
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name") and cpu in ("", platform.machine(), platform.processor()):
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    isa = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse4_1", "SSE4.1"))
                if flag in flags), "unknown vector unit")
    knobs = [f"{k}={os.environ[k]}" for k in ("DNNL_MAX_CPU_ISA", "MXNET_MKLDNN_ENABLED") if k in os.environ]
    try:
        from importlib.metadata import version
        mxnet = f"MXNet {version('mxnet')}"
    except Exception:  # any metadata failure: say so rather than guess
        mxnet = "MXNet (version unknown)"
    return (f"{cpu} ({isa}; {', '.join(knobs) or 'default kernels'}), {platform.system()} "
            f"{platform.machine()}, Python {platform.python_version()}, {mxnet}")


# ----------------------------------------------------------------------------- fresh process

class _Child:
    """A fresh Python process replaying sources; started at once, read by :meth:`outputs`."""

    def __init__(self, sources: Sequence[str], *, files: bool, timeout: float):
        self.timeout = timeout
        self.tmp = tempfile.TemporaryDirectory(prefix="gpk-book-") if files else None
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _CHILD, os.path.abspath(__file__)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            encoding="utf-8", cwd=self.tmp.name if self.tmp else tempfile.gettempdir())
        self.payload = json.dumps(list(sources))

    def outputs(self) -> Dict[str, Any]:
        try:
            out, err = self.proc.communicate(self.payload, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise RuntimeError(f"no answer within {self.timeout:g} s") from None
        finally:
            if self.tmp:
                self.tmp.cleanup()
        try:
            report = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            tail = err.strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"exit code {self.proc.returncode}: {tail[0]}") from None
        if report.get("error"):
            raise RuntimeError(report["error"])
        return report


def fresh_process_outputs(sources: Sequence[str], *, files: bool = False,
                          timeout: float = 300) -> List[str]:
    """What ``sources`` show, cell by cell, run in order in a new process with plain MXNet.

    Args:
        sources: the cells' code, in order.
        files: run in a new empty folder (cells that write files), removed afterwards.
        timeout: seconds before the child is killed.

    Raises:
        RuntimeError: the child failed (a cell raised, it timed out); the message says how.

    >>> fresh_process_outputs(["from mxnet import np, npx\\nnpx.set_np()\\nnp.ones(2)"])
    ['array([1., 1.])']
    """
    return _Child(sources, files=files, timeout=timeout).outputs()["outputs"]


def _child_main() -> None:
    """In the child: read the sources (JSON list) on stdin, print a JSON report last."""
    sources = json.loads(sys.stdin.read())
    report: Dict[str, Any] = {"outputs": [], "setup": None, "error": None}
    import numpy
    if tuple(int(p) for p in numpy.__version__.split(".")[:2]) >= (1, 24):
        here = os.path.abspath(sys.argv[1])  # .../gluon_params_kit/_book/replay.py: the package's parent
        while os.path.basename(here) != "gluon_params_kit":
            here = os.path.dirname(here)
        sys.path.append(os.path.dirname(here))
        import gluon_params_kit  # noqa: F401  (numpy.bool & co. for MXNet 1.9.1, nothing else)
        report["setup"] = "import gluon_params_kit"
    ns: dict = {"__name__": "__main__"}
    for i, source in enumerate(sources, 1):
        try:
            report["outputs"].append(run_cell(source, ns))
        except BaseException as exc:  # report any failure of the book's code, then stop
            report["error"] = f"cell {i} raised {type(exc).__name__}: {exc}"
            break
    sys.stdout.write("\n" + json.dumps(report) + "\n")


# ----------------------------------------------------------------------------- in process

def replay(cells: Sequence[Cell], *, name: str = "chapter", checks: bool = True, quiet: bool = False,
           reproduce: bool = True, book: bool = False, files: bool = False, book_file: Optional[str] = None,
           file=None, lang: str = "en") -> ReplayResult:
    """Replay ``cells`` in order in this process, printing and checking each output.

    Args:
        cells: the book's cells.
        name: what the closing line calls them.
        checks: verify each cell's real output.
        quiet: print nothing (the outputs are in the result).
        reproduce: fresh auto names and MXNet's generator seeded with 0, a new process's
            state (this re-seeds the global generator; False leaves it alone).
        book: also replay the sources in a fresh process (in parallel) and compare.
        files: run in a new empty folder (the cells write files), removed afterwards.
        book_file: the book's Markdown file these cells come from (``'parameters_vn.md'``);
            with ``book``, each cell's source is compared with its fence there when
            :func:`book_dir` finds the file.
        file: where to print (default ``sys.stdout``).
        lang: the language of the rules and the closing line: ``'en'`` or ``'vi'`` (the
            cells' outputs are what they are).
    """
    import mxnet as mx

    check_language(lang)  # an unknown language fails before anything runs

    from ..tree import fresh_names

    out = file or sys.stdout
    child = _Child([c.source for c in cells], files=files, timeout=300) if book else None
    result = ReplayResult(name)
    result.sources = {c.key: c.source for c in cells}
    folder, fences = book_dir(), []
    if book and book_file and folder is not None and (folder / book_file).is_file():
        fences = book_fences((folder / book_file).read_text(encoding="utf-8"))
        result.book_files = [book_file]
        result.fences = dict(zip([c.key for c in cells], fences))
    was_np = mx.util.is_np_array()
    ns: dict = {"__name__": "__main__"}
    with contextlib.ExitStack() as stack:
        if files:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="gpk-replay-"))
            here = os.getcwd()
            stack.callback(os.chdir, here)
            os.chdir(tmp)
        if reproduce:
            stack.enter_context(fresh_names())
            mx.random.seed(0)
        try:
            for cell in cells:
                before = cell.before(ns) if (checks and cell.before) else None
                try:
                    text = run_cell(cell.source, ns)
                except Exception as exc:  # the later cells need this one: stop here
                    result.outputs[cell.key] = ""
                    result.checks[cell.key] = 0
                    result.failures[cell.key] = f"raised {type(exc).__name__}: {exc}"
                    if not quiet:
                        print(rule(cell_title(name, cell, lang)), file=out)
                        print(f"{type(exc).__name__}: {exc}", file=out)
                    break
                result.outputs[cell.key] = text
                if not quiet:
                    print(rule(cell_title(name, cell, lang)), file=out)
                    if text:
                        print(text.rstrip("\n"), file=out)
                if checks:
                    try:
                        result.checks[cell.key] = cell.check(ns, text, before)
                    except AssertionError as exc:
                        result.checks[cell.key] = 0
                        result.failures[cell.key] = str(exc)
                    except Exception as exc:  # a check that cannot even look is a failure too
                        result.checks[cell.key] = 0
                        result.failures[cell.key] = f"check raised {type(exc).__name__}: {exc}"
        finally:
            if not was_np:
                mx.npx.reset_np()
    if child is not None:
        try:
            shown = child.outputs()["outputs"]
            result.book = dict(zip([c.key for c in cells], shown))
        except RuntimeError as exc:
            result.book_error = str(exc)
        if result.book_files and len(fences) != len(cells):
            result.book_error = f"{book_file} has {len(fences)} code cells, the kit {len(cells)}"
    if not quiet:
        print(result.closing_line(lang), file=out)
    return result


if __name__ == "__main__":
    _child_main()
