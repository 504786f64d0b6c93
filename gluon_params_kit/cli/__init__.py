"""The ``gluon-params`` command line: ``chapter``, ``doctor`` and the checkpoint tools.

Exit codes: 0 ok, 1 differences or problems found, 2 usage errors, 141 when the reader
of the output went away early (``gluon-params diff a b | head -1``). Errors go to stderr;
with ``--json`` they are also printed on stdout as ``{"error": ..., "type": ...,
"command": ..., "exit_code": ...}``, with the same exit code.
Each command is a ``(name, add_arguments, run)`` entry in ``COMMANDS``; ``run(args)``
returns the exit code.

Names, metadata and paths that come from a file are printed through
``_core.display.printable``: a control character in them (ESC, BEL, a C1 CSI, even a
newline) is shown escaped (``\\x1b``), never sent to the terminal. ``--json`` output
escapes them as JSON does.

``check FILE --model MODULE:FUNCTION`` is a dry-run load: the load report and the
suggested remap, nothing written. ``convert``, ``export`` and ``diff`` take
``--allow-expand`` (``allow_expand=True``); ``convert --np``/``--nd`` pick the array mode
written; commands that read over 100 MB of data show a progress bar naming the file
(after half a second).

Imports are lazy: ``--help``, ``--version``, ``doctor``, ``inspect`` without ``--stats``
and ``diff --names`` never import mxnet (they read file headers with numpy only), so they
start fast and work where mxnet cannot be imported (``benchmarks/bench_cli.py``).

``--pattern``, ``--exclude``, ``--mode`` and ``--allow-empty`` select a file's keys through
the kit's one selection path (``select``'s meaning, applied to the keys); a pattern that
selects nothing, or does not compile, is its ``SelectionError``, with exit code 2.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import math
import os
import stat
import sys
from typing import Callable, List, Optional, Sequence, Tuple

from ..errors import MXNetImportError, ParamsKitError, SelectionError

__all__ = ["main"]


_SECTIONS = ("model-construction", "deferred-init", "custom-layer", "read-write", "use-gpu")  # chapter.SECTIONS, without mxnet


def _add_chapter(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", "--check", dest="check", action="store_true",
                   help="only print the closing line (cells reproduced, checks passed); "
                        "--check is an alias")
    p.add_argument("--no-checks", action="store_true",
                   help="replay the cells without verifying their outputs")
    p.add_argument("--no-book", action="store_true",
                   help="do not also run the book's code in a fresh process to compare outputs")
    p.add_argument("--lang", choices=("en", "vi"), default="en",
                   help="language of the titles and closing lines: en (default) or vi, the Vietnamese "
                        "edition's section titles and the kit's words translated")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--section", choices=_SECTIONS,
                       help="replay another section of the chapter instead: layers and blocks, "
                            "deferred initialization, custom layers, file I/O, GPUs")
    which.add_argument("--all", action="store_true",
                       help="replay the whole chapter, all six sections in the book's order")


def _run_chapter(args: argparse.Namespace) -> int:
    from .. import chapter
    kwargs = dict(checks=not args.no_checks, quiet=args.check, book=not args.no_book, lang=args.lang)
    if args.all:
        result = chapter.run_all(**kwargs)
    elif args.section:
        result = chapter.run_section(args.section, **kwargs)
    else:
        result = chapter.run(**kwargs)
    if args.check:
        print(result.closing_line(args.lang))
    return 0 if result.ok else 1


def _add_doctor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _run_doctor(args: argparse.Namespace) -> int:
    from . import _doctor
    return _doctor.main(as_json=args.json)


# --------------------------------------------------------------------------- checkpoint tools

class UsageError(Exception):
    """A command line that cannot be run as given (exit code 2)."""


def _input_file(path: str) -> str:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise UsageError(f"no such file: {path!r}") from None
    if not stat.S_ISREG(mode):  # a FIFO would block the read forever
        raise UsageError(f"{path!r} is not a regular file (a folder, FIFO, socket or device)")
    return path


def _json_safe(obj):
    """``obj`` with NaN and infinities as the strings "NaN", "Infinity", "-Infinity":
    ``json.dumps`` would write them bare, which strict JSON readers (jq, browsers) reject."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if obj != obj else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _print_json(obj) -> None:
    print(json.dumps(_json_safe(obj), indent=2, default=str, allow_nan=False))


def _add_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE",
                   help="a .params (save_parameters, nd.save, ...), .safetensors or .npz file")
    p.add_argument("--stats", action="store_true",
                   help="also read the data (streamed): mean, std, min, max and non-finite count "
                        "per array, as gpk.stats computes them (exit code 1 when some array "
                        "holds NaN or infinity)")
    _add_selection(p, "arrays")
    p.add_argument("--format", choices=["params", "safetensors", "npz"],
                   help="the file's format (default: from the suffix, else its first bytes)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _stats(header, info) -> dict:
    """Mean, std, min, max over the finite values and the count of the others, streamed
    through the kernel of ``gpk.stats`` (so the two cannot disagree)."""
    from .._core.file_stats import file_stats
    st = file_stats(header, info)
    return dict(mean=st.mean, std=st.std, min=st.min, max=st.max, nonfinite=st.nan + st.inf)


def _run_inspect(args: argparse.Namespace) -> int:
    from .._core import display as D
    from .._io.formats import read_header
    _check_patterns(args)
    header = read_header(_input_file(args.file), args.format)
    infos = dict(header.items())
    entries = [(n, infos[n]) for n in _selected_keys(
        list(infos), args, f"file {args.file!r}", header.aliases)]
    records = [dict(name=n, shape=a.shape, dtype=a.dtype, stype=a.stype, context=a.context,
                    offset=a.offset, nbytes=a.nbytes) for n, a in entries]
    if args.stats:
        bar = D.progress(header.file_size, args.file)
        for rec, (_, info) in zip(records, entries):
            rec["stats"] = _stats(header, info)
            if bar is not None:
                bar.update(info.nbytes)
        if bar is not None:
            bar.close()
    total = dict(count=len(entries), elements=sum(a.size for _, a in entries),
                 bytes=sum(a.nbytes for _, a in entries))
    nonfinite = [r["name"] for r in records if args.stats and r["stats"]["nonfinite"]]
    code = 1 if nonfinite else 0  # NaN or infinity in a checkpoint is a problem found
    if args.json:
        _print_json(dict(path=header.path, format="dict" if header.named else "list",
                         file_format=header.format, metadata=header.metadata,
                         aliases=header.aliases, np_shape=header.np_shape,
                         file_size=header.file_size, total=total, arrays=records,
                         nonfinite=nonfinite))
        return code
    cols = ["name", "shape", "dtype", "elements", "bytes", "offset"]
    rows = [[r["name"], D.format_shape(r["shape"]), r["dtype"] or "-", D.format_count(a.size),
             D.format_bytes(r["nbytes"]), str(r["offset"]) if r["offset"] >= 0 else "deflated"]
            for r, (_, a) in zip(records, entries)]
    if args.stats:
        cols += ["mean", "std", "min", "max", "nonfinite"]
        for row, r in zip(rows, records):
            st = r["stats"]
            row += [D.format_float(st[k]) for k in ("mean", "std", "min", "max")] + [str(st["nonfinite"])]
    kind = "" if header.format == "params" else f" ({header.format})"
    lines = [f"{header.path}{kind}: {'dict' if header.named else 'list'} of {len(header)} arrays"
             + (" (np shape semantics)" if header.np_shape and header.format == "params" else "")]
    lines += D.text_table(cols, D.printable_rows(rows),
                          [False, False, False, True, True, True] + [True] * (len(cols) - 6))
    lines.append(f"total: {total['count']} arrays, {D.format_count(total['elements'])} elements, "
                 f"{D.format_bytes(total['bytes'])} of data, file {D.format_bytes(header.file_size)}")
    if header.aliases:
        lines.append(f"tied: {len(header.aliases)} other path(s) stored once: "
                     + ", ".join(f"{a} -> {b}" for a, b in list(header.aliases.items())[:4]))
    if header.metadata:
        lines.append("metadata: " + ", ".join(f"{k}={v}" for k, v in header.metadata.items()
                                              if not k.startswith("gluon_params_kit.keys")
                                              and k != "gluon_params_kit.aliases"))
    if nonfinite:
        lines.append(f"{len(nonfinite)} array(s) hold NaN or infinity: {', '.join(nonfinite)}")
    print("\n".join(map(D.printable, lines)))
    return code


#: ``_core.patterns.MODES``, spelled out so that ``--help`` imports nothing.
_MODES = ("search", "match", "fullmatch", "glob")


def _add_selection(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--pattern", metavar="PATTERN",
                   help=f"only the {what} it selects: a regex searched in each key (see "
                        f"--mode); as gpk.select, but over the file's keys")
    p.add_argument("--exclude", metavar="PATTERN", help=f"leave out the {what} it selects")
    p.add_argument("--mode", choices=_MODES, default="search",
                   help="how --pattern and --exclude match a key: re.search (default), "
                        "re.match, re.fullmatch, or a shell glob")
    p.add_argument("--allow-empty", action="store_true",
                   help="a --pattern that selects nothing is not an error")


def _check_patterns(args: argparse.Namespace) -> None:
    """Compile --pattern and --exclude before any file is read (a SelectionError if bad)."""
    from .._core.patterns import make_matcher
    make_matcher(args.pattern, mode=args.mode)
    make_matcher(args.exclude, mode=args.mode)


def _selected_keys(keys: List[str], args: argparse.Namespace, owner: str,
                   aliases: Optional[dict] = None) -> List[str]:
    """The keys --pattern/--exclude select, through the kit's one selection path (no
    mxnet needed); without either every key, none at all included."""
    from .._core.patterns import selection
    everything = args.pattern is None and args.exclude is None
    return selection(keys, args.pattern, exclude=args.exclude, mode=args.mode,
                     allow_empty=args.allow_empty or everything, aliases=aliases, owner=owner)


def _add_diff(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", help="first .params, .safetensors or .npz file")
    p.add_argument("b", metavar="B", help="second file, of any of the three formats")
    _add_selection(p, "keys")
    p.add_argument("--atol", type=float, default=0.0,
                   help="values differing by at most this much count as equal (default 0)")
    p.add_argument("--names", action="store_true",
                   help="compare only names, shapes and dtypes, from the files' headers "
                        "(no data read)")
    _add_allow_expand(p)
    p.add_argument("--all", action="store_true",
                   help="list every key (default: what differs, and a count of identical keys)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _header_entries(path: str) -> "dict":
    """name -> (shape, dtype) of a .params, .safetensors or .npz file, from headers only."""
    from .._io.formats import read_header
    from .._io.header import file_keys_of
    header = read_header(path)
    return {n: (header[n].shape, header[n].dtype) for n in file_keys_of(header)}


def _run_diff_names(args: argparse.Namespace) -> int:
    _check_patterns(args)
    a, b = _header_entries(_input_file(args.a)), _header_entries(_input_file(args.b))
    keep = set(_selected_keys(list(a) + [k for k in b if k not in a], args,
                              f"the keys of {args.a!r} and {args.b!r}"))
    a = {k: v for k, v in a.items() if k in keep}
    b = {k: v for k, v in b.items() if k in keep}
    rows = []
    for key in list(a) + [k for k in b if k not in a]:
        if key not in b:
            status = "only_a"
        elif key not in a:
            status = "only_b"
        elif a[key][0] != b[key][0]:
            status = "shape"
        elif a[key][1] != b[key][1]:
            status = "dtype"
        else:
            status = "same"
        rows.append(dict(key=key, status=status, a=a.get(key), b=b.get(key)))
    same = all(r["status"] == "same" for r in rows)
    if args.json:
        _print_json(dict(same=same, names_only=True, rows=[
            dict(key=r["key"], status=r["status"],
                 shape_a=r["a"] and r["a"][0], dtype_a=r["a"] and r["a"][1],
                 shape_b=r["b"] and r["b"][0], dtype_b=r["b"] and r["b"][1]) for r in rows]))
        return 0 if same else 1
    from .._core.display import format_shape, printable, printable_rows, text_table

    def cell(v):
        return "-" if v is None else f"{format_shape(v[0])} {v[1]}"
    differ = [r for r in rows if r["status"] != "same"]
    lines = [printable(f"diff --names {args.a} vs {args.b}: {len(rows)} keys, {len(differ)} "
                       f"differ (headers only: values not compared)")]
    if differ or (args.all and rows):
        lines += text_table(["status", "key", "A", "B"], printable_rows(
            [[r["status"], r["key"], cell(r["a"]), cell(r["b"])] for r in (rows if args.all else differ)]),
            [False] * 4)
    print("\n".join(lines))
    return 0 if same else 1


def _run_diff(args: argparse.Namespace) -> int:
    if args.names:
        return _run_diff_names(args)
    from .._core.validate import check_number
    from ..checkpoint import diff
    _check_patterns(args)
    check_number(args.atol, "--atol", UsageError, minimum=0)
    with _expansion_hint():
        report = diff(_input_file(args.a), _input_file(args.b), pattern=args.pattern,
                      atol=args.atol, progress=not args.json, exclude=args.exclude,
                      mode=args.mode, allow_empty=args.allow_empty, allow_expand=args.allow_expand,
                      all=args.all)
    if args.json:
        _print_json(dict(same=report.same, changed=report.changed, only_a=report.only_a,
                         only_b=report.only_b, rows=report.to_records(),
                         suggestion=None if report.suggestion is None else repr(report.suggestion)))
    else:
        print(report)  # the report's text shows control characters escaped
    return 0 if report.same else 1


def _add_convert(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", metavar="SRC", help="the .params, .safetensors or .npz file to read")
    p.add_argument("dst", metavar="DST",
                   help="the file to write (may be SRC); its suffix picks the format, so "
                        "'convert a.params a.safetensors' changes the format alone")
    p.add_argument("--to", choices=["structural", "legacy"],
                   help="key scheme: paths like 0.1.weight, or auto names like dense1_weight "
                        "(needs --model)")
    p.add_argument("--model", metavar="MODULE:FUNCTION",
                   help="builds the network the file belongs to, e.g. "
                        "gluon_params_kit.chapter:rgnet (called with no arguments)")
    p.add_argument("--strip-prefix", metavar="PREFIX", help="remove PREFIX from keys")
    p.add_argument("--add-prefix", metavar="PREFIX", help="put PREFIX in front of keys")
    p.add_argument("--rename", nargs=2, action="append", metavar=("REGEX", "REPL"), default=[],
                   help="re.sub(REGEX, REPL, key); repeatable")
    p.add_argument("--format", choices=["params", "safetensors", "npz"],
                   help="DST's format (default: from DST's suffix)")
    p.add_argument("--metadata", nargs=2, action="append", metavar=("KEY", "VALUE"), default=[],
                   help="a safetensors __metadata__ entry; repeatable")
    p.add_argument("--compressed", action="store_true", help="deflate a .npz DST")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--np", dest="np_mode", action="store_const", const=True,
                      help="write a .params (or .safetensors) DST in np mode (np shape semantics: "
                           "what np-mode load_parameters reads; 0-d and zero-size arrays need it)")
    mode.add_argument("--nd", dest="np_mode", action="store_const", const=False,
                      help="write it in nd mode (default: the mode SRC records, else nd)")
    _add_allow_expand(p)
    p.add_argument("--torch-model", metavar="MODULE:FUNCTION",
                   help="write DST as a PyTorch state_dict (torch.save) for the torch.nn.Module this "
                        "builds: SRC is loaded into --model, then paired by layer and role (gpk.to_torch)")
    p.add_argument("--input-shape", metavar="N,C,H,W",
                   help="with --torch-model: pair in forward order and compare the outputs on a random input")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_allow_expand(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-expand", action="store_true",
                   help="read out densely an array whose dense size the file's bytes do not justify "
                        "(a sparse array or deflated member claiming over 64 MiB and 64 times what "
                        "it stores)")


@contextlib.contextmanager
def _expansion_hint():
    """The library's "pass allow_expand=True" said as the command line's option."""
    from ..errors import CheckpointError
    try:
        yield
    except CheckpointError as exc:
        if "allow_expand=True" in str(exc):
            raise CheckpointError(str(exc).replace("pass allow_expand=True", "pass --allow-expand")) from None
        raise


def _run_torch_convert(args: argparse.Namespace) -> int:
    import numpy as onp

    from ..checkpoint import load
    from ..interop import compare_outputs, to_torch
    if not args.model:
        raise UsageError("--torch-model needs --model MODULE:FUNCTION (the Gluon network SRC belongs to)")
    net = _build_model(args.model)
    module_name, _, attr = args.torch_model.partition(":")
    try:
        module = getattr(_import_user_module(module_name), attr)()
    except Exception as exc:  # the user's builder: report it as a bad --torch-model
        raise UsageError(f"--torch-model {args.torch_model!r}: {type(exc).__name__}: {exc}") from None
    load(net, _input_file(args.src))
    shape = [int(d) for d in args.input_shape.split(",")] if args.input_shape else None
    inputs = [onp.random.RandomState(0).uniform(-1, 1, shape).astype("float32")] if shape else []
    print(to_torch(net, module, *inputs))
    if inputs:
        print(compare_outputs(net, module, *inputs))
    import torch
    tmp = f"{args.dst}.tmp-{os.getpid()}"  # written whole, then renamed over DST
    torch.save(module.state_dict(), tmp)
    os.replace(tmp, args.dst)
    print(f"wrote {args.dst}: a state_dict of {len(module.state_dict())} keys")
    return 0


def _import_user_module(name: str):
    """``name`` imported as ``python -m`` would find it: the current folder comes first
    (a console script's path holds only its own folder), for the call only."""
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        return importlib.import_module(name)
    finally:
        if added and here in sys.path:
            sys.path.remove(here)


def _build_model(spec: str):
    from .._core.compat import gluon
    from ..tree import fresh_names
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise UsageError(f"--model {spec!r} must look like 'package.module:function'")
    try:
        fn = getattr(_import_user_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"--model {spec!r}: {exc}") from None
    try:
        with fresh_names():
            net = fn()
    except Exception as exc:  # the user's builder: report it as a bad --model
        raise UsageError(f"--model {spec!r} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(net, gluon.Block):
        raise UsageError(f"--model {spec!r} returned {type(net).__name__}, not a gluon Block")
    return net


def _run_convert(args: argparse.Namespace) -> int:
    from ..checkpoint import Remap, convert
    from ..errors import CheckpointError
    if args.torch_model:
        return _run_torch_convert(args)
    if args.to and not args.model:
        raise UsageError(f"--to {args.to} needs --model MODULE:FUNCTION (the network's structure)")
    rules = Remap()
    if args.strip_prefix:
        rules = rules + Remap.strip_prefix(args.strip_prefix)
    if args.add_prefix:
        rules = rules + Remap.add_prefix(args.add_prefix)
    for pattern, repl in args.rename:
        try:
            rules = rules + Remap.rename(pattern, repl)
        except CheckpointError as exc:  # a bad --rename is a usage error, not a file problem
            raise UsageError(f"--rename: {exc}") from None
    from .._io.formats import format_of
    src = _input_file(args.src)
    same_format = format_of(src) == format_of(args.dst, args.format, reading=False)
    if not args.to and not len(rules) and same_format and not args.metadata \
            and not args.compressed and args.np_mode is None:
        raise UsageError("nothing to do: give --to, --strip-prefix, --add-prefix, --rename, "
                         "--np or --nd, or a DST of another format (.params, .safetensors, .npz)")
    block = _build_model(args.model) if args.model else None
    with _expansion_hint():
        mapping = convert(src, args.dst, remap=rules, to=args.to, block=block, format=args.format,
                          metadata=dict(args.metadata) if args.metadata else None,
                          compressed=args.compressed, np_mode=args.np_mode,
                          allow_expand=args.allow_expand, progress=not args.json)
    changed = {k: v for k, v in mapping.items() if k != v}
    if args.json:
        _print_json(dict(src=args.src, dst=args.dst, mapping=mapping, changed=len(changed)))
    else:
        from .._core.display import printable
        for old, new in changed.items():
            print(printable(f"{old} -> {new if new is not None else '(dropped)'}"))
        print(printable(f"wrote {args.dst}: {len(mapping)} keys, {len(changed)} changed"))
    return 0


def _add_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE",
                   help="a .params (save_parameters, save_checkpoint, export...), .safetensors or "
                        ".npz file")
    p.add_argument("--model", metavar="MODULE:FUNCTION", required=True,
                   help="builds the network to load FILE into, e.g. gluon_params_kit.chapter:rgnet "
                        "(called with no arguments)")
    p.add_argument("--input-shape", metavar="N,C,H,W",
                   help="an example input's shape: the net is initialized if it is not, and one "
                        "forward pass settles deferred shapes and gives an old symbol "
                        "checkpoint's walk the net's layer order")
    p.add_argument("--exclude", metavar="PATTERN",
                   help="leave out the Parameters (and file keys) it selects, as load(exclude=) "
                        "does for transfer learning")
    p.add_argument("--remap", choices=["structural", "gluon"],
                   help="read the file's keys as auto names ('structural') or attribute paths "
                        "('gluon'), as load(remap=) does")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _run_check(args: argparse.Namespace) -> int:
    """load(net, FILE) into a net built here only for the check: the report (what would
    load, what is missing, unexpected, mismatched, excluded) and the suggested remap;
    no file is written. Exit 0 when the load would succeed strictly, 1 when not."""
    from ..checkpoint import load
    from ..errors import CheckpointError
    path = _input_file(args.file)
    if args.exclude is not None:
        from .._core.patterns import make_matcher
        make_matcher(args.exclude)  # a bad pattern before the net is built
    net = _build_model(args.model)
    example = None
    if args.input_shape:
        try:
            shape = tuple(int(d) for d in args.input_shape.split(","))
        except ValueError:
            raise UsageError(f"--input-shape {args.input_shape!r} must be integers separated by commas, "
                             f"such as 1,3,224,224") from None
        from .._core.compat import mx
        if not any(p._data is not None or p._deferred_init for p in net.collect_params().values()):
            net.initialize()
        example = mx.nd.random.uniform(-1, 1, shape)
        try:
            net(example)
        except Exception as exc:  # the user's net and shape: report them as a bad --input-shape
            last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise UsageError(f"--input-shape {args.input_shape!r}: {args.model} cannot run on it: "
                             f"{last[:300]}") from None
    try:
        report = load(net, path, exclude=args.exclude, remap=args.remap, example=example)
        ok = True
    except CheckpointError as exc:
        if getattr(exc, "report", None) is None:
            raise
        report, ok = exc.report, False
    report = report.replace(applied=False)  # a dry run: the net built here is thrown away
    if args.json:
        _print_json(dict(file=args.file, model=args.model, ok=ok, loaded=report.loaded,
                         missing=report.missing, unexpected=report.unexpected,
                         shape_mismatches={k: list(v) for k, v in report.shape_mismatches.items()},
                         dtype_mismatches={k: list(v) for k, v in report.dtype_mismatches.items()},
                         excluded=report.excluded, ambiguous=report.ambiguous,
                         suggestion=None if report.suggestion is None else repr(report.suggestion),
                         suggestion_matches=report.suggestion_matches,
                         symbol=report.symbol, symbol_notes=[n.message for n in report.symbol_notes],
                         rows=report.to_records()))
        return 0 if ok else 1
    from .._core.display import printable
    print(report)  # the report's text shows control characters escaped
    verdict = (f"check: {args.file} would load into {args.model} ({len(report.loaded)} parameters"
               + (f", {len(report.excluded)} excluded" if report.excluded else "") + "); nothing was written"
               if ok else f"check: {args.file} would NOT load into {args.model} as it is"
               + ("" if report.suggestion is None else
                  f"; try remap={report.suggestion!r} (gpk.load(net, FILE, remap=...))")
               + "; nothing was written")
    print(printable(verdict))
    return 0 if ok else 1


def _add_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a .params, .safetensors or .npz file")
    p.add_argument("out", metavar="OUT.npz", help="the .npz to write (numpy.load, no pickle)")
    p.add_argument("--compressed", action="store_true", help="deflate the arrays")
    _add_allow_expand(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _run_export(args: argparse.Namespace) -> int:
    from ..checkpoint import export_npz
    with _expansion_hint():
        keys = export_npz(_input_file(args.file), args.out, compressed=args.compressed,
                          progress=not args.json, allow_expand=args.allow_expand)
    if args.json:
        _print_json(dict(src=args.file, out=args.out, keys=keys))
    else:
        from .._core.display import printable
        print(printable(f"wrote {args.out}: {len(keys)} arrays"))
    return 0



Command = Tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]

COMMANDS: List[Command] = [
    ("chapter", "replay the book chapter 'Parameter Management' (or the sections after it) "
                "cell by cell, verified against the book's code",
     _add_chapter, _run_chapter),
    ("doctor", "check Python, numpy, MXNet, the numpy shim, MXNet features and GPUs",
     _add_doctor, _run_doctor),
    ("inspect", "list the arrays of a .params, .safetensors or .npz file from its header "
                "(no data read unless --stats)", _add_inspect, _run_inspect),
    ("diff", "compare two checkpoint files (any of .params, .safetensors, .npz) key by key "
             "(exit 1 when they differ)", _add_diff, _run_diff),
    ("convert", "rewrite a checkpoint's keys (structural <-> legacy, prefixes, regex renames) "
                "and/or its format (.params <-> .safetensors <-> .npz)",
     _add_convert, _run_convert),
    ("export", "write a .params, .safetensors or .npz file as a pickle-free .npz (streamed)",
     _add_export, _run_export),
    ("check", "dry-run load FILE into the net --model builds: the load report and the suggested "
              "remap, nothing written (exit 1 when it would not load)", _add_check, _run_check),
]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    parser = argparse.ArgumentParser(
        prog="gluon-params",
        description="Look at, check and convert the parameters of MXNet Gluon networks.")
    parser.add_argument("--version", action="version",
                        version=f"gluon-params {__version__} (gluon_params_kit; "
                                f"Python {sys.version.split()[0]})")
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
    >>> main(['inspect', 'missing.params', '--json'])  # doctest: +ELLIPSIS
    {
      "error": "no such file: 'missing.params'",
      "type": "UsageError",
      "command": "inspect",
      "exit_code": 2
    }
    2
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in argv
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured) if as_json else contextlib.nullcontext():
            args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        code = int(exc.code or 0)
        sys.stderr.write(captured.getvalue())
        if as_json and code:
            lines = captured.getvalue().strip().splitlines()
            command = next((a for a in argv if not a.startswith("-")), None)
            return _report_json(lines[-1] if lines else "usage error", "UsageError", command, code)
        return code
    try:
        code = args._run(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except (UsageError, SelectionError, MXNetImportError) as exc:  # misused, or mxnet missing
        return _fail(args, f"gluon-params {args.command}: error: {exc}", exc, 2)
    except ParamsKitError as exc:
        return _fail(args, f"gluon-params {args.command}: {exc}", exc, 1)
    except BrokenPipeError:
        return _output_closed()
    except KeyboardInterrupt:
        return 130


def _fail(args: argparse.Namespace, line: str, exc: Exception, code: int) -> int:
    from .._core.display import printable
    try:  # a message may quote a file's names: lines kept, control characters escaped
        print("\n".join(map(printable, line.split("\n"))), file=sys.stderr)
        if getattr(args, "json", False):
            return _report_json(str(exc), type(exc).__name__, args.command, code)
    except BrokenPipeError:
        return _output_closed()
    return code


def _report_json(message: str, kind: str, command: Optional[str], code: int) -> int:
    try:
        _print_json(dict(error=message, type=kind, command=command, exit_code=code))
        sys.stdout.flush()
    except BrokenPipeError:
        return _output_closed()
    return code


def _output_closed() -> int:
    """The reader of stdout went away (``| head``): stop quietly, exit 141 (128 + SIGPIPE)."""
    try:  # Python would report the failed flush of the dead pipe again at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass
    return 141


if __name__ == "__main__":
    sys.exit(main())
