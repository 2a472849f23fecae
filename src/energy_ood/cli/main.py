"""Entry point: ``energy-ood <command> ...``. Each command lives in its own module exposing
``add_parser(subparsers)``; the parser's ``func(args)`` returns an exit code.

Exit codes: 0 success, 2 bad input (one line on stderr), 130 interrupted, 141 when the reader
of stdout went away (``energy-ood detect predict ... | head``): the output stops quietly, with
the status a shell gives any program killed by SIGPIPE (128 + 13).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import sys

from .. import __version__
from .._progress import env_quiet_default, set_quiet
from .._validate import InputError

COMMANDS = ("evaluate", "detect", "extract", "train", "finetune", "demo", "bench", "vlm")
EXIT_BROKEN_PIPE = 141


def version_string() -> str:
    """``energy-ood X (torch Y, Python Z)``, without importing torch."""
    from importlib import metadata

    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        import torch

        torch_version = torch.__version__
    py = ".".join(map(str, sys.version_info[:3]))
    return f"energy-ood {__version__} (torch {torch_version}, Python {py})"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_string())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="energy-ood",
        description="Out-of-distribution detection built around the free-energy score.",
    )
    p.add_argument("--version", action=_VersionAction, help="print versions and exit")
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
    """Let ``--quiet`` follow the command too (``energy-ood demo --quiet``), at every level;
    help texts (module docstrings) lose their reStructuredText markup on the way."""
    for parser in sub.choices.values():
        parser.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS)
        parser.description = plain_text(parser.description)
        for action in parser._actions:
            action.help = plain_text(action.help)
            if isinstance(action, argparse._SubParsersAction):
                _accept_quiet_everywhere(action)
                for choice in action._choices_actions:
                    choice.help = plain_text(choice.help)


_RST_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data):`~?([^`]+)`")


def plain_text(text: str | None) -> str | None:
    """``code`` and :func:`name` as plain words, for a terminal."""
    if not text:
        return text
    return _RST_ROLE.sub(r"\1", text).replace("``", "")


def _run(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:  # before the command modules (and torch) are imported
        print(version_string())
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = "energy-ood " + shlex.join(argv)  # recorded in reports
    set_quiet(args.quiet)
    from ..data import bad_images  # after the parser: the commands have imported torch

    bad_images.set_policy("error")  # until the command reads --bad-images
    try:
        code = int(args.func(args) or 0)
        _report_skipped(args.command, len(bad_images.skipped()))
        return code
    except InputError as e:
        print(f"energy-ood {args.command}: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(
            f"energy-ood {args.command}: error: file not found: {e.filename or e}", file=sys.stderr
        )
        return 2
    except (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError) as e:
        # a path the user gave that cannot be read or written as asked: one line, exit 2
        what = {PermissionError: "permission denied", IsADirectoryError: "is a folder",
                NotADirectoryError: "a part of the path is not a folder",
                FileExistsError: "already exists"}[type(e)]  # fmt: skip
        where = e.filename2 if isinstance(e, IsADirectoryError) and e.filename2 else e.filename
        print(f"energy-ood {args.command}: error: {where or e}: {what}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _report_skipped(command: str, n: int) -> None:
    """Under ``--bad-images skip``, how many image files were left out (also with --quiet:
    skipping is never silent); the outputs list each with its reason."""
    if n and os.environ.get("RANK", "0").strip() in ("", "0"):
        print(
            f"energy-ood {command}: warning: {n} image file(s) could not be used and were "
            "skipped (--bad-images skip); each is listed with its reason under "
            '"skipped_images" in the outputs',
            file=sys.stderr,
        )


def _stdout_to_devnull() -> None:
    """Point fd 1 at /dev/null so that no later flush (at exit) meets the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            return _run(argv)
        finally:  # --help, --version and usage errors leave through SystemExit
            sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
