"""``lm-eval-predict plan``: choose which items to evaluate, before evaluating anything.

Two outputs: ``--models MODELS.csv --out PLAN.jsonl`` plans every reference benchmark for each model
(``{"model", "benchmark", "item"}`` lines), and ``--tasks T --out samples.json`` writes a ``--samples``
file for a stock ``lm_eval`` command line, planned exactly as ``lm-eval-predict run`` plans its
(first) round, so ``plan`` + ``lm_eval`` + ``estimate`` predicts what ``run`` would.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import add_random_share_argument, add_ref_argument, reference_dir


HELP = "choose the items to evaluate (PLAN.jsonl, or a --samples file for lm_eval)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan", help=HELP,
        description="Choose which items to evaluate for a budget. With --models: a PLAN.jsonl for every "
                    "reference benchmark of each model. With --tasks: a samples.json to pass to a stock "
                    "`lm_eval run ... --samples samples.json --log_samples`, then `lm-eval-predict estimate`.")
    add_ref_argument(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--models", type=Path, metavar="MODELS.csv",
                      help="a `model` column, metadata columns and an optional `parents` column (;-separated)")
    what.add_argument("--tasks", nargs="+", metavar="TASK",
                      help="lm-eval tasks, groups or tags (space- or comma-separated), as for lm_eval --tasks")
    p.add_argument("--include-path", default=None, metavar="DIR",
                   help="with --tasks: extra lm-eval task directory (lm_eval's --include_path)")
    p.add_argument("--model", default=None, metavar="ID",
                   help="with --tasks: the model to be evaluated, so its lineage in the reference informs the plan")
    p.add_argument("--budget", required=True, metavar="N|F",
                   help="per benchmark: an integer N of items, or a fraction 0<F<1 of its items")
    p.add_argument("--selection", default="adaptive", metavar="adaptive|anchors|random",
                   help="how items are chosen (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the item selection; `run --seed S` plans with the same S (default: %(default)s)")
    add_random_share_argument(p)
    p.add_argument("--out", required=True, metavar="FILE", help="PLAN.jsonl or samples.json")
    p.set_defaults(func=_plan)


def _plan(args: argparse.Namespace) -> int:
    from ..api import Lrmf
    from ..errors import InputError
    from ..files import check_output
    from ..planning import parse_share
    from ..samples_plan import plan_options

    check_output(args.out)  # a refused --out fails before the work, not after it
    budget = plan_options(args.budget, args.selection)
    args.random_share = parse_share(args.random_share)
    if args.models is not None and (args.include_path or args.model):
        raise InputError("--include-path and --model go with --tasks; MODELS.csv names the models")
    lrmf = Lrmf(reference_dir(args.ref))
    if args.models is not None:
        _plan_models(lrmf, args, budget)
    else:
        _plan_tasks(lrmf, args, budget)
    return 0


def _plan_models(lrmf, args: argparse.Namespace, budget) -> None:
    from tqdm import tqdm

    from ..errors import InputError
    from ..files import write_output
    from ..queries import read_models_csv

    lines = []
    for request in tqdm(read_models_csv(args.models), desc="planning", unit="model", disable=None, file=sys.stderr):
        resolved = lrmf.resolver.resolve(request)
        for w in resolved.warnings:
            print(f"warning: {w}", file=sys.stderr)
        query = resolved.query
        plan = lrmf.plan(query, budget, selection=args.selection, seed=args.seed, random_share=args.random_share)
        for b in sorted(plan):
            # the random share's items are marked, so whoever runs the plan can keep them apart
            drawn = set(lrmf.random_items(b, plan[b], args.random_share, args.seed)) if args.random_share else set()
            lines += [json.dumps({"model": query.model, "benchmark": b, "item": str(i),
                                  **({"random": i in drawn} if args.random_share else {})}) for i in plan[b]]
    if not lines:
        raise InputError(f"{lrmf.reference.path}: nothing to plan (the reference has no per-item results to choose "
                         "from; import responses or lm-eval output first); nothing written")
    where = write_output(args.out, "".join(line + "\n" for line in lines))
    print(f"wrote {len(lines)} planned items to {where}", file=sys.stderr)


def _plan_tasks(lrmf, args: argparse.Namespace, budget) -> None:
    from ..errors import InputError
    from ..files import write_output
    from ..lm_eval_tasks import load_tasks, task_manager_for
    from ..samples_plan import plan_tasks, samples_dict, share_indices, split_tasks
    from ..schema import ModelQuery

    task_manager, specs = task_manager_for(args.tasks, args.include_path)
    sizes = load_tasks(task_manager, specs).sizes
    planned, unplanned, warnings = split_tasks(lrmf.reference, sizes)
    warnings += [f"{t}: the reference has no data for this task; planned a random share (it will be "
                 "reported as observed only)" for t in unplanned]
    plan = {t: share_indices(t, sizes[t], budget, args.seed) for t in unplanned}
    chosen, more = plan_tasks(lrmf, ModelQuery(model=args.model or "new-model"), planned, sizes, budget,
                              selection=args.selection, seed=args.seed, random_share=args.random_share)
    samples = samples_dict({**plan, **chosen}, sizes)
    for w in warnings + more:
        print(f"warning: {w}", file=sys.stderr)
    if not samples:
        raise InputError(f"nothing to plan for --tasks {' '.join(args.tasks)}; nothing written")
    where = write_output(args.out, json.dumps(samples) + "\n")
    n = sum(len(v) for v in samples.values())
    print(f"wrote a --samples file for {len(samples)} task(s), {n} items, to {where}\n"
          f"next: lm_eval run ... --tasks {' '.join(args.tasks)} --samples {args.out} --log_samples "
          f"--output_path OUT, then lm-eval-predict estimate --ref DIR OUT"
          + (f" --random-share {args.random_share:g} --seed {args.seed}" if args.random_share else ""), file=sys.stderr)
