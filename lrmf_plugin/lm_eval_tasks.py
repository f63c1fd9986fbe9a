"""Resolve lm-eval task specs (names, groups, tags, YAML paths) into leaf tasks with their sizes.

``--samples`` only counts leaf task names, so plans are made per leaf; the leaf sizes come from the
loaded tasks themselves (``len(task.eval_docs)``), never from hard-coded tables. The built leaf tasks
are kept for the later rounds of ``--target_ci``, so their datasets are not processed again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .errors import EvaluationError


@dataclass
class LoadedTasks:
    """The leaf tasks of one run, to plan over and to evaluate again in later rounds."""

    leaves: dict[str, Any]     #: leaf task name -> Task object
    sizes: dict[str, int]      #: leaf task -> number of documents


def load_tasks(task_manager: Any, specs: Sequence[Any]) -> LoadedTasks:
    """Build the tasks named by ``specs`` (as resolved by lm-eval's own ``process_tasks``)."""
    try:
        loaded = task_manager.load(list(specs))
        sizes = {name: len(task.eval_docs) for name, task in loaded["tasks"].items()}
    except (KeyError, ValueError, FileNotFoundError, AssertionError) as exc:
        raise EvaluationError(f"lm-eval could not load the tasks: {str(exc).strip() or type(exc).__name__}") from None
    except ConnectionError as exc:  # a task's dataset is neither cached nor reachable on the Hub
        raise EvaluationError(f"lm-eval could not fetch a task's dataset: {str(exc).strip() or type(exc).__name__} "
                              "(offline: download it first or point the task at local files)") from None
    empty = sorted(t for t, n in sizes.items() if n == 0)
    if empty:
        raise EvaluationError(f"task(s) {', '.join(empty)} have no items (documents) to evaluate")
    return LoadedTasks(leaves=dict(loaded["tasks"]), sizes=sizes)


def task_manager_for(tasks: Sequence[str], include_path: str | Path | None = None) -> tuple[Any, list[Any]]:
    """lm-eval's TaskManager and resolved specs for ``tasks``, exactly as ``lm-eval run`` resolves them."""
    from lm_eval.config.evaluate_config import EvaluatorConfig

    cfg = EvaluatorConfig(tasks=list(tasks), include_path=str(include_path) if include_path else None)
    try:
        task_manager = cfg.process_tasks()
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None
    return task_manager, list(cfg.tasks)
