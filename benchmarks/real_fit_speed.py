"""Fit speed on the real references: the v2 and v1 leaderboards of ``../shared/data`` with their lineage.

The references are built as ``backtest_real.py`` builds them (v2: leaderboard v2 + Hub lineage + the
Hub's model list; v1: leaderboard v1 + the per-question responses + Hub lineage) and fitted as
``lm-eval-predict fit`` fits them (default parameters, calibration pass included). Each fit runs in a
process of its own, so the peak memory reported is that fit's alone (loading the reference
included). Wall time depends on what else the machine runs; CPU time (user + sys, every thread) is
the work itself.
"""
from __future__ import annotations

import dataclasses
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from backtest_real import build


def _fit(ref: str) -> dict:
    """Load and fit one reference (in a child process); its times, peak memory and stages."""
    from lrmf_plugin.models.lrmf import LRMFPredictor
    from lrmf_plugin.reference import Reference

    wall, cpu = time.perf_counter(), time.process_time()
    data = Reference(ref).load_data()
    load = time.perf_counter() - wall
    model = LRMFPredictor().fit(data)
    return {"load": load, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
            "peak_mb": _own_peak_mb(),
            "models": int(data.has_data().sum()), "nodes": len(data.models),
            "stages": [dataclasses.asdict(s) for s in model.stages_]}


def _own_peak_mb() -> float:
    """This process's own peak resident memory. Linux's ``ru_maxrss`` carries over the parent's peak
    across the fork and exec that start a spawned child (it reported the synthetic fit's 2 GB for every
    real fit), while ``VmHWM`` belongs to the process's own memory map."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_real_fits(data: Path, work: Path, suites: tuple[str, ...] = ("v2", "v1")) -> list[str]:
    """Lines reporting each suite's fit: totals, then one line per stage (wall and CPU seconds)."""
    lines = []
    for suite in suites:
        ref = build(suite, data, work / suite)
        with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
            r = pool.submit(_fit, str(ref.path)).result()
        lines.append(f"real {suite} fit ({r['models']} models with data, {r['nodes']} nodes, calibration pass "
                     f"included): {r['wall']:.1f}s wall ({r['load']:.1f}s of it loading the reference), "
                     f"{r['cpu']:.1f}s CPU (user+sys, all threads), peak memory {r['peak_mb']:.0f} MB")
        for s in r["stages"]:
            trees = f", {s['trees']} trees" if s["trees"] else ""
            lines.append(f"    {s['name']:<42} {s['done']:>4}/{s['total']:<4} {s['unit']}s{trees}: "
                         f"{s['seconds']:.1f}s wall, {s['cpu_seconds']:.1f}s CPU")
    return lines
