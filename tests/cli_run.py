"""Running ``lm-eval-predict`` in-process, as a user would from a shell, and collecting what it printed."""
from __future__ import annotations

from lrmf_plugin.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``lm-eval-predict ARGS``; an uncaught exception fails the test
    with its traceback, which is exactly what these tests guard against."""
    capsys.readouterr()
    try:
        rc = main(list(args))
    except SystemExit as exc:  # argparse's usage errors
        rc = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return rc, out, err.strip()
