"""Subcommands of ``lm-eval-predict``: one module each, each exposing ``register(subparsers)``.

Command modules import heavy libraries (lm-eval, scipy) inside their handlers, so ``--help`` and
error paths stay fast.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

#: modules under ``lrmf_plugin.commands`` whose ``register`` adds a subcommand, in help order
COMMANDS = ("run", "reference", "fit", "plan", "predict", "estimate", "backtest")


def default_reference_dir() -> Path:
    """``$LRMF_REF``, else ``$XDG_CACHE_HOME/lrmf-plugin/reference`` (``~/.cache`` by default)."""
    if os.environ.get("LRMF_REF"):
        return Path(os.environ["LRMF_REF"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "lrmf-plugin" / "reference"


def reference_dir(ref: Path | None) -> Path:
    """The reference a predicting command uses: ``--ref``, else ``$LRMF_REF``, else the user cache's,
    which is pulled (a fitted artifact, see :func:`lrmf_plugin.distribution.ensure_default`) on
    first use. An explicit directory is never filled behind the user's back."""
    if ref is not None or os.environ.get("LRMF_REF"):
        return ref or default_reference_dir()
    from ..distribution import ensure_default

    return ensure_default(default_reference_dir())


def add_random_share_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--random-share S`` of the commands that plan (``plan``, ``run``); parsed by
    :func:`lrmf_plugin.planning.parse_share` into a one-line error, which argparse's own types would not give."""
    parser.add_argument("--random-share", default="0", metavar="S",
                        help="share 0<=S<1 of each task's budget evaluated on uniformly random items (the rest "
                             "planned): their residuals correct the prediction without trusting the reference "
                             "(AIPW), and their mean is shown beside it as an unbiased estimate (default: %(default)s)")


def add_ref_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--ref DIR`` option every data command shares."""
    parser.add_argument("--ref", type=Path, default=None, metavar="DIR",
                        help="reference directory (default: $LRMF_REF, else the user cache, where predicting "
                             "commands pull the published fitted reference on first use)")
