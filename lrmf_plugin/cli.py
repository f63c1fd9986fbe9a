"""The ``lm-eval-predict`` console script.

Every handler raises :class:`~lrmf_plugin.errors.LrmfError` for problems the user can fix; ``main``
turns those into one ``error: ...`` line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import importlib
import sys
from typing import Sequence

from . import __version__
from .commands import COMMANDS
from .errors import LrmfError


def build_parser(command: str | None = None, lazy: bool = False) -> argparse.ArgumentParser:
    """The full parser; with ``lazy``, only ``command`` is built and the others are one-line stubs.

    Building a subcommand can be slow (``run`` is lm-eval's own parser, ``backtest`` imports its
    method registry), so ``main`` builds only the one it will run and ``--help`` stays fast.
    """
    parser = argparse.ArgumentParser(
        prog="lm-eval-predict", allow_abbrev=False,
        description="Predict full LLM benchmark scores from a planned subset of items, lineage and metadata.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        if not lazy or name == command:
            module.register(sub)
        else:
            sub.add_parser(name, help=module.HELP)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: no top-level option takes a value, so it is the first word."""
    return next((a for a in argv if not a.startswith("-")), None)


def dispatch(args: argparse.Namespace) -> int:
    """Run a parsed subcommand's handler; a user error becomes one ``error:`` line and its exit code.

    Shared by every console script of the distribution (``lm-eval-predict``, ``lrmf-bot``).
    """
    try:
        return int(args.func(args) or 0)
    except LrmfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return dispatch(build_parser(_command(argv), lazy=True).parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
