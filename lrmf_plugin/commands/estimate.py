"""``lm-eval-predict estimate``: predict full scores from a stock lm-eval run's output directory.

For users who keep their own ``lm_eval`` scripts: run them with ``--samples`` (e.g. a file from
``lm-eval-predict plan --tasks``) and ``--log_samples``, then point this at ``--output_path``. It reads
the same per-item values ``lm-eval-predict run`` reads in memory and predicts through the same
code, so the same evaluated items give the same predictions.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from . import add_ref_argument, reference_dir


HELP = "predict full scores from a stock `lm_eval --log_samples` output directory"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "estimate", help=HELP,
        description="Read results_*.json and samples_*.jsonl of one model's lm-eval run(s) under RUN_DIR and "
                    "predict the full score of every task with a 90% interval.")
    add_ref_argument(p)
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="lm_eval --output_path (or its model folder)")
    p.add_argument("--model", default=None, metavar="ID",
                   help="model id, if RUN_DIR has no results file naming it (pretrained=...)")
    p.add_argument("--random-share", default="0", metavar="S",
                   help="the share of each task's items the plan drew uniformly at random (`plan --random-share`): "
                        "their residuals correct the prediction (AIPW) and their mean is shown as an unbiased "
                        "estimate (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="the plan's --seed (default: %(default)s)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="predictions JSON (default: predictions_<time>.json beside the results file)")
    p.set_defaults(func=_estimate)


def _estimate(args: argparse.Namespace) -> int:
    from ..api import Lrmf
    from ..files import check_output, write_output
    from ..importers.lm_eval_output import read_run
    from ..lm_eval_report import dumps, format_table, predict_run, print_warnings
    from ..planning import parse_share

    share = parse_share(args.random_share)
    if args.out is not None:
        check_output(args.out)  # a refused --out fails before the work, not after it
    run = read_run(args.run_dir, model=args.model)
    lrmf = Lrmf(reference_dir(args.ref))
    plan = {"source": str(args.run_dir),
            "samples": {t: sorted(o.values.get(t) or next(iter(o.values.values()))) for t, o in sorted(run.tasks.items())}}
    if share:
        plan["random_share"] = share
        plan["random"] = lrmf.random_samples(plan["samples"], share, args.seed)
    block = predict_run(lrmf, run, plan=plan)
    folder = run.results_files[-1].parent if run.results_files else args.run_dir
    out = args.out if args.out is not None else folder / f"predictions_{datetime.now().isoformat().replace(':', '-')}.json"
    where = write_output(out, dumps(block))
    # with --out - the JSON owns standard output: the table goes to stderr so the JSON stays parseable
    table = sys.stderr if out == "-" else sys.stdout
    print_warnings(block)
    print(format_table(block), file=table)
    print(f"predictions written to {where}", file=sys.stderr)
    return 0
