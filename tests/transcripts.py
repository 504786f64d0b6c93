"""Stored transcripts (tests/golden/chapter*.txt): documentation of one run, compared with today's.

A stored transcript starts with ``# `` lines that say where and how it was made; the rest is
exactly what ``gluon-params chapter`` printed there. Today's replay must agree with it up to
float rounding (``compare_printed``: everything but float digits exact, floats to
``ATOL + RTOL * max(|a|, |b|)``), never digit for digit: the digits depend on the CPU.
``GPK_REGEN_GOLDEN=1`` rewrites a transcript on purpose, with a new header.
"""
import datetime
import os
import subprocess
import sys
from pathlib import Path

from gluon_params_kit._book.replay import ATOL, NO_BOOK_NOTE, RTOL, book_dir, compare_printed, machine_note

GOLDEN = Path(__file__).parent / "golden"


def header(command: str) -> str:
    """The ``# `` lines a regenerated transcript starts with."""
    return (f"# Made by `{command}` in a fresh process on {machine_note()}, "
            f"{datetime.date.today().isoformat()}.\n"
            "# One run's record: tests compare it with today's replay by "
            "gluon_params_kit._book.replay.compare_printed (text, names,\n"
            f"# integers and line breaks exact; floats to |a - b| <= {ATOL:g} + {RTOL:g} * max(|a|, |b|)).\n")


def stored(name: str) -> str:
    """The transcript ``tests/golden/<name>`` without its header."""
    text = (GOLDEN / name).read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith("# "):
        lines.pop(0)
    return "".join(lines)


def run_cli(*args: str, env: dict = None, timeout: float = 600) -> str:
    """``gluon-params <args>`` in a new process (extra environment ``env``); its stdout."""
    proc = subprocess.run([sys.executable, "-m", "gluon_params_kit", *args], capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def check_against_stored(name: str, fresh: str, command: str) -> None:
    """Assert ``fresh`` agrees with the stored transcript ``name`` (or rewrite it on purpose)."""
    if os.environ.get("GPK_REGEN_GOLDEN"):
        (GOLDEN / name).write_text(header(command) + fresh, encoding="utf-8")
    differences = compare_printed(stored(name), as_with_book(fresh))
    assert not differences, f"{name} vs today's replay:\n" + "\n".join(differences[:20])


def claim(n: int) -> str:
    """How a closing line of ``n`` cells, all identical, ends here (with or without the book's files)."""
    return f", {n}/{n} cells identical to the book's code" + ("" if book_dir() else NO_BOOK_NOTE)


def as_with_book(text: str) -> str:
    """A transcript made without the book's files, as it reads with them (for comparing with a
    stored one): only the closing lines' note on what was compared differs."""
    return text.replace(NO_BOOK_NOTE, "")


def notebook_text(cell) -> str:
    """What a notebook cell shows as text: its stdout stream, then its displayed value."""
    shown = ""
    for o in cell.get("outputs", []):
        if o.output_type == "stream" and o.name == "stdout":
            shown += o.text
        elif o.output_type == "execute_result":
            shown += o.data.get("text/plain", "")
    return shown
