"""A plan of instances to evaluate, made safe to hand to lm-eval as its ``samples`` dict.

lm-eval 0.4.13's ``--samples`` has sharp edges (notes §5): a group key or a missing/empty entry makes
a task run **in full**, unsorted or duplicate indices make it log **wrong doc_ids**, and nothing
records what was selected. Every plan goes through :func:`samples_dict` (leaf names only, every leaf
non-empty, indices unique, sorted and in range) and every run through :func:`check_evaluated`.
"""
from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import EvaluationError, InputError
from .planning import SELECTIONS, Budget, budget_count, parse_budget

if TYPE_CHECKING:
    from .api import Lrmf
    from .schema import ModelQuery


def plan_options(budget: str | int | float, selection: str) -> Budget:
    """The parsed ``--budget`` after checking ``--selection``, before any slow work starts."""
    if selection not in SELECTIONS:
        raise InputError(f"unknown --selection {selection!r} (choose from {', '.join(SELECTIONS)})")
    return parse_budget(budget)


def share_indices(task: str, n: int, budget: Budget, seed: int) -> list[int]:
    """A uniform random share of a task the reference knows nothing about (stable per task and seed)."""
    rng = np.random.default_rng([seed, zlib.crc32(task.encode())])
    return sorted(int(i) for i in rng.choice(n, size=budget_count(budget, n), replace=False))


def doc_index(item: int | str, task: str) -> int:
    """An lm-eval document index from a plan's item id (``str(doc_id)`` in the reference)."""
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return int(item)
    text = str(item).strip()
    if text.isdigit():
        return int(text)
    raise EvaluationError(f"task {task!r}: item id {item!r} is not an lm-eval document index (doc_id)")


def samples_dict(plan: Mapping[str, Iterable[int | str]], sizes: Mapping[str, int]) -> dict[str, list[int]]:
    """The ``samples`` dict for ``plan`` (leaf task -> item ids) over the run's leaf tasks ``sizes``.

    Raises :class:`EvaluationError` instead of letting lm-eval silently run something else: a key
    that is not a leaf of the run (a group or tag would be ignored), a leaf without items (it would
    run in full), an id that is not a document index or is out of range. Ids are de-duplicated and
    sorted (unsorted lists make lm-eval mislabel doc_ids).
    """
    out: dict[str, list[int]] = {}
    for task, items in plan.items():
        if task not in sizes:
            raise EvaluationError(f"plan names {task!r}, which is not a leaf task of this run "
                                  f"(leaf tasks: {', '.join(sorted(sizes))})")
        ids = sorted({doc_index(i, task) for i in items})
        bad = [i for i in ids if not 0 <= i < sizes[task]]
        if bad:
            raise EvaluationError(f"task {task!r}: planned item {bad[0]} is out of range "
                                  f"(the task has {sizes[task]} items; is the reference from another task version?)")
        if ids:
            out[task] = ids
    missing = sorted(set(sizes) - set(out))
    if missing:
        raise EvaluationError(f"no planned items for {', '.join(missing)}: lm-eval would evaluate "
                              "them in full, refusing")
    return {t: out[t] for t in sorted(out)}


def check_evaluated(samples: Mapping[str, list[int]], n_samples: Mapping[str, Mapping[str, int]],
                    logged: Mapping[str, Iterable[int]]) -> None:
    """After a run: every planned task evaluated exactly its planned documents, and nothing else ran."""
    extra = sorted(set(n_samples) - set(samples))
    if extra:
        raise EvaluationError(f"lm-eval evaluated unplanned task(s) {', '.join(extra)}")
    for task, ids in samples.items():
        effective = (n_samples.get(task) or {}).get("effective")
        if effective != len(ids):
            raise EvaluationError(f"task {task!r}: lm-eval evaluated {effective} items, the plan has {len(ids)}")
        seen = sorted(set(logged.get(task, ())))
        if seen != list(ids):
            raise EvaluationError(f"task {task!r}: lm-eval logged items {seen[:5]}... "
                                  f"instead of the planned {list(ids)[:5]}...")


def split_tasks(reference: Any, sizes: Mapping[str, int]) -> tuple[list[str], list[str], list[str]]:
    """(tasks the reference has items for, tasks it has none for, warnings about task versions)."""
    known = reference.benchmarks()
    planned = sorted(t for t in sizes if t in known and known[t].n_items)
    unplanned = sorted(set(sizes) - set(planned))
    warnings = [f"{t}: the task has {sizes[t]} items but the reference {known[t].n_items} items "
                 "(another task version?)" for t in planned if known[t].n_items != sizes[t]]
    return planned, unplanned, warnings


def plan_tasks(lrmf: "Lrmf", query: "ModelQuery", tasks: Sequence[str], sizes: Mapping[str, int], budget: Budget, *,
               selection: str, seed: int, observed: Mapping[str, Iterable[int]] | None = None,
               random_share: float = 0.0) -> tuple[dict[str, list[int]], list[str]]:
    """New documents for ``tasks`` (which the reference knows) so each reaches ``budget``; one planner call.

    The planner may return its whole selection or only new items; either way already ``observed``
    documents are skipped and each task is capped at its budget. A task the planner leaves empty on
    its first round gets a random share rather than none (lm-eval would run an empty entry in full).
    ``random_share`` of each budget goes to uniformly random items first (see :func:`~lrmf_plugin.planning.random_reserve`).
    """
    observed = {t: set(v) for t, v in (observed or {}).items()}
    chosen = lrmf.plan(query, budget, selection=selection, seed=seed, benchmarks=list(tasks),
                       random_share=random_share) if tasks else {}
    plan, warnings = {}, []
    for t in tasks:
        seen = observed.get(t, set())
        cap = budget_count(budget, sizes[t]) - len(seen)
        new = [i for i in dict.fromkeys(doc_index(i, t) for i in chosen.get(t, [])) if i not in seen][:max(cap, 0)]
        if not new and not seen:
            warnings.append(f"{t}: the planner chose no items; evaluating a random share")
            new = share_indices(t, sizes[t], budget, seed)
        if new:
            plan[t] = new
    return plan, warnings
