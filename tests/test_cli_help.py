"""The console scripts' help: what it imports, and one spelling per flag across every command.

``--help`` runs in a fresh interpreter under ``-X importtime``, which lists every module the process
imported on stderr, so a subcommand that pulls in lm-eval (seconds on a cold cache) or the numeric
stack just to print its options fails here rather than being noticed as a slow prompt.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lrmf_bot.cli import build_parser as bot_parser
from lrmf_plugin.cli import build_parser
from lrmf_plugin.commands import COMMANDS
from lrmf_plugin.commands.run import OUR_FLAGS

ROOT = Path(__file__).resolve().parents[1]
#: libraries only a command's work needs, never its help
HEAVY = ("lm_eval", "numpy", "pandas", "scipy", "torch", "huggingface_hub")
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$")


def _imported(*args: str) -> tuple[set[str], str]:
    """Top-level packages a fresh ``python -X importtime ARGS`` imports, and its stdout."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / ".pp"), str(ROOT),
                                                                      os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True,
                          env=env, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = {m.group(1).split(".")[0] for m in map(_IMPORT_LINE.match, proc.stderr.splitlines()) if m}
    assert "lrmf_plugin" in modules  # the trace was read: our own package shows up in it
    return modules, proc.stdout


def _help_of(*argv: str) -> list[str]:
    return ["-m", "lrmf_plugin", *argv, "--help"]


def _bot_help_of(*argv: str) -> list[str]:
    return ["-c", f"from lrmf_bot.cli import main; main({[*argv, '--help']!r})"]


@pytest.mark.parametrize("argv", [[], *([c] for c in COMMANDS if c not in ("run", "backtest")),
                                  ["reference", "pull"], ["reference", "import"]])
def test_help_imports_no_heavy_library(argv):
    modules, out = _imported(*_help_of(*argv))
    assert out.startswith("usage: lm-eval-predict"), out[:200]
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_top_level_help_lists_every_command_without_building_run():
    modules, out = _imported(*_help_of())
    assert "lm_eval" not in modules
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", out, re.M), name


def test_backtest_help_does_not_import_lm_eval():
    modules, out = _imported(*_help_of("backtest"))
    assert "lm_eval" not in modules and "--out DIR" in out


def test_run_help_is_lm_evals_parser_with_our_group():
    modules, out = _imported(*_help_of("run"))
    assert "lm_eval" in modules  # run *is* lm-eval's parser: it needs it
    for flag in (*OUR_FLAGS, "--model_args", "--seed"):
        assert flag in out, flag


@pytest.mark.parametrize("argv", [[], ["run"], ["status"]])
def test_bot_help_imports_no_heavy_library(argv):
    modules, out = _imported(*_bot_help_of(*argv))
    assert out.startswith("usage: ") and not modules & set(HEAVY), sorted(modules & set(HEAVY))


# --------------------------------------------------------------------------- one spelling per concept

def _options(parser: argparse.ArgumentParser, path: str = ""):
    """(command path, option string) for every option of ``parser`` and its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{path} {name}".strip())
        for flag in action.option_strings:
            if flag.startswith("--"):
                yield path, flag


def _lm_eval_run_flags() -> set[str]:
    from lm_eval._cli.run import Run

    return {s for a in Run.create(argparse.ArgumentParser().add_subparsers())._parser._actions
            for s in a.option_strings}


def test_our_flags_use_hyphens_and_one_seed():
    theirs = _lm_eval_run_flags()
    ours = [(f"{prog} {path}".strip(), flag) for prog, top in (("lm-eval-predict", build_parser()),
                                                                ("lrmf-bot", bot_parser()))
            for path, flag in _options(top) if not (path == "run" and prog == "lm-eval-predict" and flag in theirs)]
    assert ("lm-eval-predict run", "--target-ci") in ours and ("lm-eval-predict fit", "--seed") in ours
    assert [f for f in ours if "_" in f[1]] == []
    assert [f for f in ours if "seed" in f[1] and f[1] != "--seed"] == []
    # the item selection of `run` is seeded by lm-eval's own --seed, so it has no second seed flag
    assert "--seed" in theirs and not [f for p, f in ours if p == "lm-eval-predict run" and "seed" in f]


def test_lazy_parser_builds_only_the_command_it_runs():
    lazy = build_parser("predict", lazy=True)
    subs = next(a for a in lazy._actions if isinstance(a, argparse._SubParsersAction))
    assert "--models" in subs.choices["predict"].format_help()
    assert "--budget" not in subs.choices["run"].format_help()  # a stub: lm-eval's parser was not built
    full = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "--budget" in full.choices["run"].format_help()
