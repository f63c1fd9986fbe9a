"""``lm-eval-predict fit``: fit the predictor on a reference and store it there."""
from __future__ import annotations

import argparse
import sys
import time

from . import add_ref_argument, default_reference_dir


HELP = "fit the predictor on a reference and store it in the reference"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("fit", help=HELP,
                              description="Fit the lineage-regularised factorisation on everything in the "
                                          "reference and store it (reference/predictor/lrmf.npz + .json).")
    add_ref_argument(p)
    p.add_argument("--factors", type=int, default=None, metavar="K", help="latent dimensions")
    p.add_argument("--sweeps", type=int, default=None, metavar="N", help="alternating Newton sweeps")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the fit (default: %(default)s)")
    p.add_argument("--reveal", action="append", default=[], metavar="B1,B2",
                   help="benchmarks you will know exactly before predicting the rest (e.g. ifeval,musr, run in "
                        "full first): fits dedicated trees for that set; repeatable")
    p.add_argument("--no-calibration", action="store_true", help="skip the held-out interval calibration pass")
    p.set_defaults(func=_fit)


def _fit(args: argparse.Namespace) -> int:
    from ..api import Lrmf

    params = {"seed": args.seed, "calibrate": not args.no_calibration}
    if args.factors is not None:
        params["n_factors"] = args.factors
    if args.sweeps is not None:
        params["n_sweeps"] = args.sweeps
    if args.reveal:
        params["reveal_sets"] = [tuple(b.strip() for b in group.split(",") if b.strip()) for group in args.reveal]
    api = Lrmf(args.ref or default_reference_dir())
    start = time.perf_counter()
    predictor = api.fit(progress=True, **params)
    print(f"fitted {predictor.name} on {len(predictor.models_)} models, {len(predictor.benchmarks_)} benchmarks "
          f"in {time.perf_counter() - start:.1f}s -> {api.predictor_stem.with_suffix('.npz')}", file=sys.stderr)
    return 0
