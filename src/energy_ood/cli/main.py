"""Entry point: ``energy-ood <command> ...``. Each command lives in its own module exposing
``add_parser(subparsers)``; the parser's ``func(args)`` returns an exit code.

Exit codes: 0 success, 2 bad input or a failed write (one line on stderr; a usage error
points to ``--help`` instead of printing the usage), 130 interrupted, 141 when the reader of
stdout went away (``energy-ood detect predict ... | head``): the output stops quietly, with
the status a shell gives any program killed by SIGPIPE (128 + 13). Under torchrun each rank
prints its line, records it in torchrun's error file (so torchrun's summary names it) and
leaves the process group.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
import shlex
import sys

from .. import __version__
from .._validate import InputError, one_line
from ..data.environment import check_environment
from ..runtime.progress import env_quiet_default, set_quiet

_WRITE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EDQUOT)
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


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line naming the problem and pointing to ``--help``."""

    def error(self, message: str):
        first = message.strip().splitlines()[0] if message.strip() else "bad usage"
        line = f"{self.prog}: error: {first} (see {self.prog} --help)"
        fail_rank(line)  # under torchrun, its summary names the line too
        self.exit(2, line + "\n")


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_string())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
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


def _message(e: BaseException) -> str:
    """The one line for an InputError or OSError that reaches the top."""
    if isinstance(e, InputError):
        return one_line(e)
    if isinstance(e, FileNotFoundError):
        return f"file not found: {e.filename or e}"
    if isinstance(e, (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)):
        # a path the user gave that cannot be read or written as asked
        what = {PermissionError: "permission denied", IsADirectoryError: "is a folder",
                NotADirectoryError: "a part of the path is not a folder",
                FileExistsError: "already exists"}[type(e)]  # fmt: skip
        where = e.filename2 if isinstance(e, IsADirectoryError) and e.filename2 else e.filename
        return f"{where or e}: {what}"
    if e.filename:  # ENOSPC, EFBIG, EIO, ... on a file
        return f"{e.filename}: {e.strerror or one_line(e)}"
    if e.errno in _WRITE_ERRNOS:  # files are written by the atomic writers, which name them
        return f"stdout: cannot write ({e.strerror}); the output is incomplete"
    return f"{e.strerror or one_line(e)} (errno {e.errno})" if e.errno else one_line(e)


def _run(argv: list[str]) -> int:
    if argv[:1] == ["--version"]:  # before the command modules (and torch) are imported
        print(version_string())
        return 0
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2, its one line already printed)
        return e.code if isinstance(e.code, int) else 2
    args.command_line = "energy-ood " + shlex.join(argv)  # recorded in reports
    set_quiet(args.quiet)
    from ..data import bad_images  # after the parser: the commands have imported torch

    bad_images.set_policy("error")  # until the command reads --bad-images
    try:
        check_environment()  # ENERGY_OOD_WORKERS=many is one line at once, not later
        code = int(args.func(args) or 0)
        _leave_group()  # every rank, before the interpreter's exit tears gloo's threads down
        _flush_stdout()
        _report_skipped(args.command, len(bad_images.skipped()))
        return code
    except BrokenPipeError:
        raise
    except (InputError, OSError) as e:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError:  # stdout itself failed: what is left of it goes nowhere
            _stdout_to_devnull()
        line = f"energy-ood {args.command}: error: {_message(e)}"
        sys.stderr.write(line + "\n")  # one write: the lines of torchrun's ranks never mix
        sys.stderr.flush()
        fail_rank(line)
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


def _flush_stdout() -> None:
    """A full disk (or any failed write) under stdout is an error, never a silent loss."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as e:
        _stdout_to_devnull()
        raise InputError(f"stdout: cannot write ({e.strerror or one_line(e)})") from None


def fail_rank(line: str) -> None:
    """Under torchrun: record ``line`` as this rank's error (torchrun's summary prints it in
    place of a traceback) and leave the process group, so that no rank waits for this one."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if path and "RANK" in os.environ:
        import json
        import time

        info = {"py_callstack": line, "timestamp": str(int(time.time()))}
        record = {"message": {"message": line, "extraInfo": info}}
        try:
            with open(path, "w") as f:
                json.dump(record, f)
        except OSError:
            pass
    try:
        _leave_group()
    except Exception:  # noqa: BLE001 - leaving a broken group must not hide the line
        pass


def _leave_group() -> None:
    """Destroy the process group, if this process joined one. A gloo group left for the
    interpreter's exit can abort the process (SIGABRT, "terminate called without an active
    exception") while its worker threads are torn down, failing a run that had finished."""
    if "torch.distributed" in sys.modules:
        from ..runtime import dist

        dist.shutdown()


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
        finally:  # what --help printed, too
            sys.stdout.flush()
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
