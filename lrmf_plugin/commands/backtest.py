"""``lm-eval-predict backtest``: held-out accuracy of every method on a reference, as a report."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import add_ref_argument, default_reference_dir


HELP = "k-fold held-out accuracy of ours and the baselines; writes report.md, results.csv, PNGs"


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..backtest import DEFAULT_KNOWN, DEFAULT_SETTINGS, METHODS
    from ..backtest_splits import DEFAULT_SHARE, SPLITS

    p = subparsers.add_parser(
        "backtest", help=HELP,
        description="Fit every method on all but one fold of the reference's models (held-out models stay in the "
                    "lineage graph without data), predict them under each setting and write a report.")
    add_ref_argument(p)
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="report directory (report.md, results.csv, PNGs)")
    p.add_argument("--folds", type=int, default=5, help="folds by model (default %(default)s)")
    p.add_argument("--methods", nargs="+", metavar="NAME", default=None,
                   help=f"methods to compare (default: all of {', '.join(METHODS)})")
    p.add_argument("--settings", nargs="+", metavar="SETTING", default=list(DEFAULT_SETTINGS),
                   help="zero, known, random-K, planned-K (default: %(default)s)")
    p.add_argument("--known", nargs="+", metavar="BENCHMARK", default=None,
                   help=f"benchmarks revealed in setting `known` (default: those of {' '.join(DEFAULT_KNOWN)} "
                        "the reference scores)")
    p.add_argument("--split", choices=SPLITS, default="random",
                   help="which models are held out: random folds, or under shift the strongest (frontier), the "
                        "latest submitted (temporal) or whole architecture families (new-family), which the fit "
                        "never sees (default %(default)s)")
    p.add_argument("--share", type=float, default=DEFAULT_SHARE, metavar="F",
                   help="frontier and temporal: the share of the evaluated models held out (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="fold and random-plan seed (default %(default)s)")
    p.add_argument("--max-models", type=int, default=None, metavar="N",
                   help="hold out at most N (seeded sample of) models in total; training always uses all others")
    p.add_argument("--planning-rounds", type=int, default=2, metavar="R",
                   help="planned settings: the planner spends each budget in R rounds, seeing earlier answers "
                        "(default %(default)s)")
    p.add_argument("--title", default=None, help="report title (default: from the reference path)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..backtest import DEFAULT_KNOWN, parse_setting, resolve_methods, run_backtest
    from ..models.scores import full_scores
    from ..backtest_report import write_report
    from ..errors import InputError, UnknownBenchmarkError
    from ..reference import Reference

    if args.max_models is not None and args.split == "random" and args.max_models < args.folds:
        raise InputError(f"--max-models {args.max_models} is smaller than --folds {args.folds}")
    settings = [parse_setting(s).name for s in args.settings]
    methods = resolve_methods(args.methods)
    ref = Reference(args.ref or default_reference_dir())
    data = ref.load_data()
    if args.known is not None:  # named by the user: each must be usable, not quietly dropped
        scored = set(full_scores(data).columns)
        unknown = [b for b in args.known if b not in scored]
        if unknown:
            raise UnknownBenchmarkError(f"--known: {', '.join(map(repr, unknown))} has no scores in the reference "
                                        f"(scored: {', '.join(sorted(scored)) or 'none'})")
    result = run_backtest(data, methods, settings, folds=args.folds, seed=args.seed, max_models=args.max_models,
                          known=args.known or DEFAULT_KNOWN, planning_rounds=args.planning_rounds,
                          progress=not args.quiet, split=args.split, share=args.share)
    if result.predictions.empty:
        raise InputError(f"nothing was backtested ({'; '.join(result.notes) or 'no held-out predictions'}); "
                         "no report written")
    report = write_report(result, args.out, title=args.title or f"Backtest: {Path(ref.path).name}")
    print(f"wrote {report} and results.csv ({len(result.predictions)} held-out predictions)")
    return 0
