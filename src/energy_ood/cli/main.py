"""Entry point: ``energy-ood <command> ...``. Each command lives in its own module exposing
``add_parser(subparsers)``; the parser's ``func(args)`` returns an exit code."""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from .._progress import env_quiet_default, set_quiet
from .._validate import InputError

COMMANDS = ("evaluate", "detect", "extract", "train", "finetune", "demo", "bench", "vlm")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="energy-ood",
        description="Out-of-distribution detection built around the free-energy score.",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        default=env_quiet_default(),
        help="no progress bars or status lines (default when CI=true)",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as e:  # a command whose module is not written yet
            if e.name and e.name.endswith(f"cli.{name}"):
                continue
            raise
        mod.add_parser(sub)
    _accept_quiet_everywhere(sub)
    return p


def _accept_quiet_everywhere(sub: argparse._SubParsersAction) -> None:
    """Let ``--quiet`` follow the command too (``energy-ood demo --quiet``), at every level."""
    for parser in sub.choices.values():
        parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_quiet_everywhere(action)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = "energy-ood " + shlex.join(argv)  # recorded in reports
    set_quiet(args.quiet)
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"energy-ood {args.command}: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(
            f"energy-ood {args.command}: error: file not found: {e.filename or e}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
