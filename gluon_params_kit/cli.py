"""The ``gluon-params`` command line: ``chapter``, ``doctor`` and the checkpoint tools.

Exit codes: 0 ok, 1 differences or problems found, 2 usage errors.
Each command is a ``(name, add_arguments, run)`` entry in ``COMMANDS``; ``run(args)``
returns the exit code.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, List, Optional, Sequence, Tuple

__all__ = ["main"]


def _add_chapter(p: argparse.ArgumentParser) -> None:
    p.add_argument("--check", action="store_true",
                   help="only print the closing line (cells reproduced, checks passed)")
    p.add_argument("--no-checks", action="store_true",
                   help="replay the cells without verifying their outputs")


def _run_chapter(args: argparse.Namespace) -> int:
    from . import chapter
    result = chapter.run(checks=not args.no_checks, quiet=args.check)
    if args.check:
        print(result.closing_line())
    return 0 if result.ok else 1


def _add_doctor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _run_doctor(args: argparse.Namespace) -> int:
    from . import _doctor
    return _doctor.main(as_json=args.json)


Command = Tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

COMMANDS: List[Command] = [
    ("chapter", "replay the book chapter 'Parameter Management' cell by cell, verified",
     _add_chapter, _run_chapter),
    ("doctor", "check Python, numpy, MXNet, the numpy shim, MXNet features and GPUs",
     _add_doctor, _run_doctor),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gluon-params",
        description="Look at, check and convert the parameters of MXNet Gluon networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text, add_arguments, run in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(_run=run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``gluon-params`` and ``python -m gluon_params_kit``.

    >>> main(['doctor', '--json']) in (0, 1)  # doctest: +ELLIPSIS
    {...}
    True
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    return args._run(args)


if __name__ == "__main__":
    sys.exit(main())
