"""Backtest every method on the real data (../shared/data) and write the reports under benchmarks/results/.

A reference is built from the shared files per suite: ``v2`` = leaderboard v2 CSV + Hub lineage + the
Hub's model list; ``v2-items`` = the same plus the per-instance IFEval and MuSR results of 371 v2 models,
held-out models drawn among those 371 (item evidence on two benchmarks, judged on all six); ``v1`` =
leaderboard v1 CSV + the per-question responses + Hub lineage. Each gets ``lm-eval-predict backtest``
with all methods and the settings that apply (``known`` = IFEval and MuSR for v2).

Usage: ``python benchmarks/backtest_real.py [--suites v1 v2 v2-items] [--methods ...] [--work DIR] [--max-models N]``;
the committed ``v2-items`` report is ``--suites v2-items --folds 2 --max-models 150`` (two fits of ``lrmf``
instead of five, each about 25 minutes on two busy cores).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from import_shared import DEFAULT_DATA, jobs

from lrmf_plugin.backtest import DEFAULT_BUDGETS, resolve_methods, run_backtest
from lrmf_plugin.backtest_splits import DEFAULT_SHARE, SPLITS
from lrmf_plugin.backtest_report import write_report
from lrmf_plugin.reference import Reference

RESULTS = Path(__file__).resolve().parent / "results"
ITEM_SETTINGS = (*(f"random-{k}" for k in DEFAULT_BUDGETS), *(f"planned-{k}" for k in DEFAULT_BUDGETS))
SUITES = {
    "v2": (("leaderboard-v2", "lineage", "hub-models"), ("zero", "ids-and-parents", "known")),
    "v2-items": (("leaderboard-v2", "lineage", "hub-models", "responses-v2"), ("zero", "known", *ITEM_SETTINGS)),
    "v1": (("leaderboard-v1", "responses", "lineage"), ("zero", *ITEM_SETTINGS)),
}
#: suites whose held-out models are drawn only among the models with items on every item benchmark
ITEMS_ONLY = {"v2-items"}


def build(suite: str, data: Path, where: Path) -> Reference:
    """A reference of one suite's files (reused if ``where`` already holds one)."""
    if (where / "reference.sqlite").exists():
        return Reference(where)
    kinds, _ = SUITES[suite]
    found = [job for job in jobs(data) if job[0] in kinds]
    if "responses-v2" in kinds:  # the v2 per-instance files, which import_shared leaves to this suite
        found += [("responses", f, {"benchmark": f.stem})
                  for f in sorted((data / "leaderboard_v2" / "responses").glob("*.csv"))]
    if not any(kind.startswith("leaderboard") for kind, _, _ in found):
        # a wrong --data would otherwise build (and keep, under --work) an empty reference
        raise SystemExit(f"error: no leaderboard {suite} file under {data} (give the shared data folder with --data)")
    ref = Reference.create(where)
    for kind, path, options in found:
        ref.import_source(kind, path, **options)
    return ref


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES))
    parser.add_argument("--methods", nargs="+", default=None, help="default: every registered method")
    parser.add_argument("--work", type=Path, default=None, help="keep the built references here (reused next time)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-models", type=int, default=None)
    parser.add_argument("--split", choices=SPLITS, default="random",
                        help="held-out models; a shift split writes to results/<suite>-shift/<split>/")
    parser.add_argument("--share", type=float, default=DEFAULT_SHARE)
    args = parser.parse_args(argv)
    methods = resolve_methods(args.methods)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for suite in args.suites:
            start = time.perf_counter()
            ref = build(suite, args.data, work / suite)
            data = ref.load_data()
            print(f"{suite}: {int(data.has_data().sum())} models with data, {len(data.models)} nodes, "
                  f"{len(data.edges)} edges ({time.perf_counter() - start:.1f}s)", flush=True)
            result = run_backtest(data, methods, SUITES[suite][1], folds=args.folds, seed=args.seed,
                                  max_models=args.max_models, only_with_items=suite in ITEMS_ONLY,
                                  split=args.split, share=args.share)
            out = args.out / suite if args.split == "random" else args.out / f"{suite}-shift" / args.split
            report = write_report(result, out,
                                  title=f"Backtest: Open LLM Leaderboard {suite}, split {args.split} (../shared/data)")
            print(f"{suite}: wrote {report} ({time.perf_counter() - start:.0f}s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
