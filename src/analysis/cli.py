"""Command line: ``python -m analysis <command>`` or ``core-business <command>``.

The CLI only parses arguments and calls the library. Each feature module registers its own
sub-command through a ``register(subparsers)`` function, listed in ``_COMMAND_MODULES``; heavy
libraries are imported inside the commands, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import sys
from pathlib import Path

from .errors import InputError

_COMMAND_MODULES = ("build", "letters", "coding", "review", "template", "charts", "compare", "synthetic")


def add_path_args(p: argparse.ArgumentParser) -> None:
    """--raw/--out/--reports, shared by every command that reads the project data."""
    p.add_argument("--raw", type=Path, default=None, help="raw data folder (default: data/raw)")
    p.add_argument("--out", type=Path, default=None, help="processed tables folder (default: data/processed)")
    p.add_argument("--reports", type=Path, default=None, help="reports folder (default: reports)")


def add_output_arg(p: argparse.ArgumentParser, what: str) -> None:
    """-o/--output FILE and --force, for commands that write one file (see check_output_file)."""
    p.add_argument("-o", "--output", type=Path, required=True, help=f"{what} to write")
    p.add_argument("--force", action="store_true", help="replace the output file if it exists already")


def check_output_file(args, *inputs: Path | None) -> Path:
    """``args.output``, checked before any work: not a folder, not one of ``inputs``, and not an
    existing file unless ``--force`` (it may hold work: a filled workbook, decisions not imported
    yet, a table)."""
    out = Path(args.output)
    if out.is_dir():
        raise InputError(out, None, "is a folder", f"give a file name, e.g. {out / 'name'}{out.suffix or ''}")
    for given in inputs:
        if given is not None and out.exists() and out.resolve() == Path(given).resolve():
            raise InputError(out, None, "is also the input: writing it would replace what is being read",
                             "give another output file")
    if out.exists() and not getattr(args, "force", False):
        raise InputError(out, None, "exists already and may hold work (a filled-in workbook, decisions not "
                         "imported yet)", "give a new file name, or pass --force to replace it")
    return out


def paths_from_args(args) -> "Paths":
    from .paths import PROCESSED, RAW, REPORTS, Paths

    return Paths(raw=args.raw or RAW, processed=args.out or PROCESSED, reports=args.reports or REPORTS)


def make_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser, or (``command`` naming a module in ``_COMMAND_MODULES`` that registers a
    command of the same name, e.g. "build") one with only that command: the other command
    modules (charts, coding, review ...) then stay unimported, about 10 ms of a table build.
    Anything else gets the full parser, so ``--help`` and unknown commands read as before."""
    if command in _COMMAND_MODULES:
        parser, sub = _parser((command,))
        if command in sub.choices:
            return parser
    return _parser(_COMMAND_MODULES)[0]


def _parser(modules: tuple[str, ...]) -> tuple[argparse.ArgumentParser, argparse.Action]:
    parser = argparse.ArgumentParser(
        prog="core-business",
        description="Core Business (HMIC 2014) cross-force analysis: build tables, code letters, "
        "export charts, compare rounds.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
        try:
            mod = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as exc:  # a feature not built yet must not break the others
            if exc.name == f"{__package__}.{name}":
                continue
            raise
        mod.register(sub)
    return parser, sub


@contextlib.contextmanager
def _quiet_collector():
    """Keep Python's cyclic garbage collector off the objects that imports create.

    Importing pandas, pyarrow and pandera makes a few hundred thousand long-lived objects; each
    full collection during the imports and the command walks all of them again (about 0.1 s of a
    1.5 s table build). The collector is paused while the command modules are imported, and what
    exists then is frozen (left out of later collections) until the command ends; afterwards
    everything is as before, so a caller that runs main() in its own process (the tests) keeps
    normal collection. Memory is unaffected: reference counting still frees almost everything."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def main(argv: list[str] | None = None) -> int:
    try:
        args_in = sys.argv[1:] if argv is None else argv
        with _quiet_collector():
            parser = make_parser(args_in[0] if args_in else None)
        args = parser.parse_args(args_in)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        try:
            rc = args.func(args)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:  # (one line, not a traceback from each process)
            print("interrupted: each output folder is as the last complete build left it, or complete "
                  "(folders are swapped in whole)", file=sys.stderr)
            return 130
        return int(rc or 0)
    finally:
        gc.unfreeze()
