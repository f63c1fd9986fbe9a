"""Profile a real reference's fit with cProfile and print where the time goes (top rows).

Reads the reference at ``--ref`` (built with ``lm-eval-predict reference import``, or by
``backtest_real.py --work``), fits the predictor as ``lm-eval-predict fit`` would, without storing it,
and prints wall and CPU time and the profile's top rows by cumulative and by own time.

Usage: ``python benchmarks/profile_fit.py --ref REF [--top N] [--no-calibration] [--out PROFILE.prof]``
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from pathlib import Path

from lrmf_plugin.models.lrmf import LRMFPredictor
from lrmf_plugin.reference import Reference


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", type=Path, required=True, help="a reference directory (read only)")
    ap.add_argument("--top", type=int, default=25, help="rows of each table (default: %(default)s)")
    ap.add_argument("--no-calibration", action="store_true", help="profile the fit without the calibration pass")
    ap.add_argument("--out", type=Path, default=None, help="also keep the raw profile (pstats format)")
    args = ap.parse_args()

    data = Reference(args.ref).load_data()
    predictor = LRMFPredictor(calibrate=not args.no_calibration)
    profile = cProfile.Profile()
    wall, cpu = time.perf_counter(), time.process_time()
    profile.runcall(predictor.fit, data)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"fit of {args.ref}: {wall:.1f} s wall, {cpu:.1f} s CPU (user+sys, every thread), "
          f"{int(data.has_data().sum())} models with data")
    if args.out:
        profile.dump_stats(str(args.out))
    for key in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(profile, stream=text).strip_dirs().sort_stats(key).print_stats(args.top)
        table = text.getvalue()
        print(f"--- top {args.top} by {key} ---")
        print(table[table.find("ncalls"):].rstrip())  # pstats' header lines repeat what is printed above


if __name__ == "__main__":
    main()
