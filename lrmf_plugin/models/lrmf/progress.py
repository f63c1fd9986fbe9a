"""A fit's progress: one bar per stage, counting the stage's real units of work, and a record of each.

A single bar over a whole fit sat still for minutes while the metadata trees were grown (its unit was
a sweep, and the trees are no sweep); per stage, a bar counts what that stage does (sweeps, tree
ensembles, held-out models), so its rate and ETA come from like units. The record (:class:`Stage`)
is what the fit reports afterwards: the counts and the wall and CPU time of each stage.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from tqdm.auto import tqdm


@dataclass
class Stage:
    """One stage of a fit: ``done`` of ``total`` units (``total`` is the planned count, ``done`` what
    ran: sweeps stop early once converged), ``trees`` grown in it, and its wall and CPU seconds."""

    name: str
    unit: str
    total: int
    done: int = 0
    trees: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0


class StageBar:
    """The running stage: ``step`` counts units, ``trees`` the trees a unit grew (shown on the bar)."""

    def __init__(self, record: Stage, bar: tqdm):
        self.record, self.bar = record, bar

    def step(self, trees: int = 0) -> None:
        self.record.done += 1
        self.record.trees += trees
        if trees or self.record.trees:
            self.bar.set_postfix_str(f"{self.record.trees} trees", refresh=False)
        self.bar.update()


class FitProgress:
    """The stages of one fit (and of the fits it runs inside it, under ``prefix``), shown and recorded."""

    def __init__(self, show: bool, prefix: str = "", stages: list[Stage] | None = None):
        self.show, self.prefix = show, prefix
        self.stages: list[Stage] = [] if stages is None else stages

    def nested(self, prefix: str) -> "FitProgress":
        """The progress of a fit run inside this one (the calibration refit): same record, own names."""
        return FitProgress(self.show, self.prefix + prefix, self.stages)

    @contextmanager
    def stage(self, name: str, total: int, unit: str) -> Iterator[StageBar]:
        record = Stage(self.prefix + name, unit, total)
        self.stages.append(record)
        bar = tqdm(total=total, desc=record.name, unit=unit, disable=not self.show)
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield StageBar(record, bar)
        finally:
            record.seconds, record.cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
            bar.close()
