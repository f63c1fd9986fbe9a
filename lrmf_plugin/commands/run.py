"""``lm-eval-predict run``: an ``lm-eval run`` command line that evaluates a planned subset and predicts.

lm-eval 0.4.13 has no plugin hooks, so this subcommand *is* lm-eval's own ``run`` parser (every flag
parses exactly as in ``lm-eval run``) plus a prediction group. Our flags share no prefix with
lm-eval's in either direction (``--predict`` would silently become ``--predict_only``), and
abbreviations are off. The run goes through ``lm_eval.simple_evaluate`` with a sanitised ``samples``
dict and is saved with lm-eval's own ``EvaluationTracker``, so its files are a stock run's files plus a
``predicted`` block and a ``predictions_<date>.json`` beside them.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EvaluationError, InputError
from . import add_random_share_argument, add_ref_argument, reference_dir

if TYPE_CHECKING:
    from ..api import Lrmf

#: our flags; tests check none is a prefix of an lm-eval flag or the other way round
OUR_FLAGS = ("--ref", "--budget", "--selection", "--target-ci", "--random-share")
#: lm-eval settings that would make the run evaluate something other than the plan
_REFUSED = {
    "limit": "it evaluates the first items of each task instead of the plan; use --budget",
    "samples": "the plan sets it; to evaluate your own selection use stock lm_eval and `lm-eval-predict estimate`",
    "cache_requests": "lm-eval's prompt cache ignores the item selection (lm-eval #4105) and would "
                      "evaluate another run's subset; --use_cache (model responses) is fine",
    "predict_only": "it computes no per-item scores, so nothing can be predicted",
}
#: cumulative share of the budget spent after each round with --target-ci
_ROUNDS = (0.25, 0.5, 1.0)


HELP = "evaluate a planned subset with lm-eval (every `lm-eval run` flag works) and predict the full scores"


def register(subparsers: argparse._SubParsersAction) -> None:
    from lm_eval._cli.run import Run

    parser = Run.create(subparsers)._parser
    parser.allow_abbrev = False
    parser.usage = ("lm-eval-predict run --model <model> --tasks <task> [--model_args <arg=value> ...] "
                    "--budget N|F [--ref DIR] [options]")
    parser.description = ("Evaluate a planned subset of each task's items with lm-eval (every `lm-eval run` "
                          "flag works) and predict the full scores with 90% intervals. lm-eval's --seed (its "
                          "first, Python value; default 0) also seeds the item selection.")
    group = parser.add_argument_group("prediction (lrmf-plugin)")
    add_ref_argument(group)
    group.add_argument("--budget", required=True, metavar="N|F",
                       help="items per task: an integer N, or a fraction 0<F<1 of each task")
    group.add_argument("--selection", default="adaptive", metavar="adaptive|anchors|random",
                       help="how items are chosen (default: %(default)s)")
    group.add_argument("--target-ci", type=float, default=None, metavar="X",
                       help="evaluate in rounds until every task's 90%% interval half-width is <= X points "
                            "or the budget is spent")
    add_random_share_argument(group)
    parser.set_defaults(func=execute)


def _refuse(settings: dict[str, Any]) -> None:
    for key, message in _REFUSED.items():
        if settings.get(key):
            raise EvaluationError(f"refusing --{key}: {message}")


def _take_ours(args: argparse.Namespace) -> dict[str, Any]:
    """Our settings, removed from the namespace (lm-eval's EvaluatorConfig rejects unknown keys)."""
    ours = {}
    for flag in OUR_FLAGS:
        key = flag.lstrip("-").replace("-", "_")
        ours[key] = getattr(args, key)
        delattr(args, key)
    delattr(args, "func")
    return ours


def execute(args: argparse.Namespace) -> int:
    from ..planning import parse_share
    from ..samples_plan import plan_options

    ours = _take_ours(args)
    _refuse(vars(args))
    budget = plan_options(ours["budget"], ours["selection"])
    ours["random_share"] = parse_share(ours["random_share"])
    if ours["target_ci"] is not None and not (math.isfinite(ours["target_ci"]) and ours["target_ci"] > 0):
        raise InputError(f"--target-ci {ours['target_ci']} must be a positive number of points")

    from ..api import Lrmf

    lrmf = Lrmf(reference_dir(ours["ref"]))
    lrmf.predictor  # fail before any evaluation if the reference was never fitted
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from lm_eval.config.evaluate_config import EvaluatorConfig

    try:
        cfg = EvaluatorConfig.from_cli(args)
        _refuse({k: getattr(cfg, k) for k in _REFUSED})
        task_manager = cfg.process_tasks(cfg.metadata)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise EvaluationError(f"lm-eval: {exc}") from None
    _Runner(lrmf, cfg, task_manager, budget, ours).run()
    return 0


class _Runner:
    """One ``run``: plan, evaluate (in rounds with --target-ci), predict, save, print."""

    def __init__(self, lrmf: "Lrmf", cfg: Any, task_manager: Any, budget: int | float, ours: dict[str, Any]):
        import random

        import numpy as np

        from ..importers.lm_eval_output import RunObservations, model_from_results
        from ..lm_eval_tasks import load_tasks
        from ..samples_plan import split_tasks

        self.lrmf, self.cfg, self.tm, self.budget, self.ours = lrmf, cfg, task_manager, budget, ours
        # seeded as simple_evaluate seeds before it builds tasks: process_docs that shuffle with the
        # global RNG (GPQA's answer order) then match a stock run's, also in the later rounds
        seed = cfg.seed or [None] * 4
        if seed[0] is not None:
            random.seed(seed[0])
        if seed[1] is not None:
            np.random.seed(seed[1])
        # one --seed per command line: lm-eval's own (Python slot) also seeds the item selection
        self.selection_seed = seed[0] if seed[0] is not None else 0
        self.tasks = load_tasks(task_manager, cfg.tasks)
        try:
            model = model_from_results({"config": {"model_args": cfg.model_args}}, "--model_args")
        except InputError:
            model = str(cfg.model)
        self.run_obs = RunObservations(model=model)
        self.planned, self.unplanned, self.warnings = split_tasks(lrmf.reference, self.tasks.sizes)
        self.rounds: list[dict[str, list[int]]] = []

    def _plan_round(self, k: int, share: float, block: dict[str, Any] | None) -> dict[str, list[int]]:
        """Round ``k``'s new items: a random share of unknown tasks first, then the planner's
        choice for tasks whose interval is still wider than --target-ci, up to ``share`` of the budget."""
        from ..lm_eval_report import query_for
        from ..planning import budget_count
        from ..samples_plan import plan_tasks, share_indices

        seed, sizes = self.selection_seed, self.tasks.sizes
        plan = {t: share_indices(t, sizes[t], self.budget, seed) for t in self.unplanned} if k == 0 else {}
        active = []
        for t in self.planned:
            row = (block or {}).get("benchmarks", {}).get(t) or {}
            if row.get("lower") is not None and (row["upper"] - row["lower"]) / 2 <= self.ours["target_ci"]:
                continue
            if row.get("n", 0) < budget_count(self.budget, sizes[t]):
                active.append(t)
        if share < 1.0:
            budget = max(1, math.ceil(self.budget * share)) if isinstance(self.budget, int) else self.budget * share
        else:
            budget = self.budget
        query, _ = query_for(self.run_obs, self.lrmf.reference)
        observed = {t: self.run_obs.tasks[t].values.get(t, {}).keys() for t in active if t in self.run_obs.tasks}
        chosen, warnings = plan_tasks(self.lrmf, query, active, sizes, budget, selection=self.ours["selection"],
                                      seed=seed, observed=observed, random_share=self.ours["random_share"])
        self.warnings += warnings
        return {**plan, **chosen}

    # ------------------------------------------------------------------ evaluation
    def run(self) -> None:
        from ..lm_eval_report import format_table, predict_run, print_warnings

        from ..files import write_text_atomic
        from ..lm_eval_report import dumps

        lm = self._model()
        loggers = self._loggers()
        block, folder = None, None
        shares = _ROUNDS if self.ours["target_ci"] is not None else (1.0,)
        for k, share in enumerate(shares):
            plan = self._plan_round(k, share, block)
            if not plan:
                break
            n = sum(len(v) for v in plan.values())
            print(f"round {k + 1}: evaluating {n} items of {len(plan)} task(s)", file=sys.stderr)
            results, samples = self._evaluate(lm, plan, first=k == 0)
            self.rounds.append({t: sorted(v) for t, v in sorted(plan.items())})
            block = predict_run(self.lrmf, self.run_obs, plan=self._plan_info())
            block["warnings"] = self.warnings + block["warnings"]
            folder = self._save(results, samples, block, loggers)
        for logger in loggers:  # W&B's logger closes through its run, Trackio's itself
            (getattr(logger, "finish", None) or logger.run.finish)()
        if folder is not None:
            path = write_text_atomic(folder / f"predictions_{self.tracker.date_id}.json", dumps(block))
            print(f"predictions written to {path}", file=sys.stderr)
        print_warnings(block)
        print(format_table(block))

    def _loggers(self) -> list[Any]:
        """lm-eval's W&B and Trackio loggers, as ``lm-eval run`` builds them from its flags."""
        from lm_eval.loggers import TrackioLogger, WandbLogger

        cfg, loggers = self.cfg, []
        if cfg.wandb_args:
            loggers.append(WandbLogger(cfg.wandb_args, cfg.wandb_config_args))
        if cfg.trackio_args:
            loggers.append(TrackioLogger(cfg.trackio_args))
        return loggers

    def _model(self) -> Any:
        """One model instance for every round (loading a model is the slow part)."""
        import lm_eval.api.registry
        import lm_eval.models  # noqa: F401  (fills the model registry before lookup)

        cfg = self.cfg
        try:
            return lm_eval.api.registry.get_model(cfg.model).create_from_arg_obj(
                cfg.model_args, {"batch_size": cfg.batch_size, "max_batch_size": cfg.max_batch_size,
                                 "device": cfg.device})
        except (ValueError, KeyError, OSError) as exc:
            raise EvaluationError(f"lm-eval could not create model {cfg.model!r}: {exc}") from None

    def _evaluate(self, lm: Any, plan: dict[str, list[int]], first: bool) -> tuple[dict, dict]:
        from lm_eval import simple_evaluate
        from lm_eval.loggers import EvaluationTracker

        from ..importers.lm_eval_output import observations_from_records
        from ..samples_plan import check_evaluated, samples_dict

        cfg = self.cfg
        sizes = self.tasks.sizes if first else {t: self.tasks.sizes[t] for t in plan}
        samples = samples_dict(plan, sizes)
        # round 1 passes the task specs exactly as `lm-eval run` does (same groups, same seeding
        # order), so it is a stock run of the plan; later rounds evaluate only the unfinished leaves
        tasks = list(cfg.tasks) if first else [self.tasks.leaves[t] for t in samples]
        hub_args = dict(cfg.hf_hub_log_args)
        if cfg.output_path:
            hub_args["output_path"] = cfg.output_path
        if os.environ.get("HF_TOKEN"):
            hub_args["token"] = os.environ["HF_TOKEN"]
        self.tracker = EvaluationTracker(**hub_args)
        seed = cfg.seed or [None] * 4
        results = simple_evaluate(
            model=lm, model_args=cfg.model_args, tasks=tasks, samples=samples, log_samples=True,
            num_fewshot=cfg.num_fewshot, batch_size=cfg.batch_size, max_batch_size=cfg.max_batch_size,
            device=cfg.device, use_cache=cfg.use_cache, check_integrity=cfg.check_integrity,
            write_out=cfg.write_out, evaluation_tracker=self.tracker, system_instruction=cfg.system_instruction,
            apply_chat_template=cfg.apply_chat_template, fewshot_as_multiturn=cfg.fewshot_as_multiturn,
            gen_kwargs=cfg.gen_kwargs, task_manager=self.tm, verbosity=cfg.verbosity,
            random_seed=seed[0], numpy_random_seed=seed[1], torch_random_seed=seed[2],
            fewshot_random_seed=seed[3], confirm_run_unsafe_code=cfg.confirm_run_unsafe_code,
            metadata=cfg.metadata)
        logged = results.pop("samples")
        # the model was passed as an instance: record it as lm-eval would have from the command line
        results["config"]["model"] = cfg.model
        results["config"]["model_args"] = cfg.model_args
        self.tracker.general_config_tracker.model_source = cfg.model
        check_evaluated(samples, results["n-samples"], {t: [r["doc_id"] for r in recs] for t, recs in logged.items()})
        for task in samples:
            records = ((f"lm-eval samples of {task}, doc {r.get('doc_id')}", r) for r in logged[task])
            self.run_obs.add(task, observations_from_records(records, task, f"lm-eval samples of {task}"),
                             results, f"lm-eval results of {task}")
        self.run_obs.lm_eval_version = results.get("lm_eval_version") or self.run_obs.lm_eval_version
        return results, logged

    def _plan_info(self) -> dict[str, Any]:
        union: dict[str, list[int]] = {}
        for r in self.rounds:
            for t, ids in r.items():
                union[t] = sorted(set(union.get(t, [])) | set(ids))
        info = {"selection": self.ours["selection"], "budget": self.budget,
                "selection_seed": self.selection_seed, "target_ci": self.ours["target_ci"],
                "samples": union, "rounds": self.rounds}
        share = self.ours["random_share"]
        if share:  # the random items, drawn again as the plan drew them (the plan fills each round's budget)
            info["random_share"] = share
            info["random"] = self.lrmf.random_samples(union, share, self.selection_seed)
        return info

    # ------------------------------------------------------------------ output
    def _save(self, results: dict, samples: dict, block: dict[str, Any], loggers: list[Any]) -> Path | None:
        """lm-eval's outputs of one round (results with the ``predicted`` block, samples, loggers);
        returns the folder lm-eval wrote to."""
        import logging

        from lm_eval.utils import handle_non_serializable

        cfg, tracker = self.cfg, self.tracker
        results["predicted"] = block
        if cfg.show_config:
            print(json.dumps(results, indent=2, default=handle_non_serializable, ensure_ascii=False))
        for logger in loggers:
            try:  # as in `lm-eval run`: a logging service failing does not lose the evaluation
                logger.post_init(results)
                logger.log_eval_result()
                logger.log_eval_samples(samples)
            except Exception as exc:  # noqa: BLE001
                logging.getLogger(__name__).info("logging to %s failed: %s", type(logger).__name__, exc)
        if not cfg.output_path:
            return None
        tracker.save_results_aggregated(results=results, samples=samples)
        for task in results["configs"]:
            tracker.save_results_samples(task_name=task, samples=samples[task])
        if tracker.push_results_to_hub or tracker.push_samples_to_hub:
            tracker.recreate_metadata_card()
        for task, digest in (results.get("task_hashes") or {}).items():
            if task in self.run_obs.tasks:
                self.run_obs.tasks[task].task_hash = digest
                block["tasks"][task]["task_hash"] = digest
        out = Path(cfg.output_path)
        return out.parent if out.suffix == ".json" else out / tracker.general_config_tracker.model_name_sanitized

