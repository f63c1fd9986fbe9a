"""The ``lm-eval-predict`` console script.

Every handler raises :class:`~lrmf_plugin.errors.LrmfError` for problems the user can fix; ``main``
turns those into one ``error: ...`` line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from . import __version__
from .commands import COMMANDS
from .errors import LrmfError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lm-eval-predict", allow_abbrev=False,
        description="Predict full LLM benchmark scores from a planned subset of instances, lineage and metadata.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


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


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return dispatch(build_parser().parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
