"""What a user gets from a fitted reference, asked the way people ask: model ids, perhaps parents.

Prints, for a reference fitted from ../shared/data (v2 leaderboard + lineage edges + hub_models.csv):
- quantised copies: every quantised model of the reference with a scored parent, predicted from its
  id alone; the mean signed difference from the parent's measured scores (per benchmark and average);
- well-known models already in the reference: what `predict ORG/MODEL` shows (measured) and the
  as-if-new prediction's error and coverage against those measurements;
- new derivatives of a well-known parent (a fine-tune, a quantised copy, a merge of two), so the
  numbers can be read against the parents'.

Usage: ``python benchmarks/user_path.py REF_DIR``
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from lrmf_plugin.api import Lrmf
from lrmf_plugin.resolution import ModelRequest

WELL_KNOWN = ("Qwen/Qwen2.5-7B-Instruct", "google/gemma-2-9b-it", "meta-llama/Meta-Llama-3.1-8B-Instruct",
              "mistralai/Mistral-7B-Instruct-v0.3", "microsoft/phi-4")


def copies(api: Lrmf) -> None:
    measured = api.resolver.measured
    pairs = [(e.parent, e.child) for e in api.lineage().edges
             if e.relation == "quantized" and measured(e.parent) and not measured(e.child)]
    if not pairs:
        print("quantised copies: none with a scored parent")
        return
    reports = api.report([ModelRequest(child) for _, child in pairs])
    diffs = {}
    for (parent, _), report in zip(pairs, reports):
        for row in report.rows():
            diffs.setdefault(row["benchmark"], []).append(row["predicted"] - measured(parent)[row["benchmark"]])
    per = {b: float(np.mean(v)) for b, v in diffs.items()}
    print(f"quantised copies of scored parents: {len(pairs)}; mean signed (copy - parent) per benchmark: "
          + ", ".join(f"{b} {v:+.2f}" for b, v in sorted(per.items())) + f"; average {np.mean(list(per.values())):+.2f}")


def known_models(api: Lrmf) -> None:
    present = [m for m in WELL_KNOWN if api.resolver.measured(m)]
    shown = api.report([ModelRequest(m) for m in present])
    new = api.report([ModelRequest(m) for m in present], as_if_new=True)
    errors, inside = [], []
    for s, n in zip(shown, new):
        assert all(r["source"] == "measured" for r in s.rows())
        for r in n.rows():
            if r["measured"] is not None:
                errors.append(abs(r["predicted"] - r["measured"]))
                inside.append(r["lower"] <= r["measured"] <= r["upper"])
    print(f"well-known models in the reference: {len(present)} shown with their measured scores; as if new: "
          f"MAE {np.mean(errors):.2f}, {sum(inside)} of {len(inside)} measured scores inside the 90% intervals")


def derivatives(api: Lrmf) -> None:
    parent, other = "Qwen/Qwen2.5-7B-Instruct", "ZeroXClem/Qwen2.5-7B-HomerAnvita-NerdMix"
    asks = [ModelRequest("neworg/qwen-7b-tune", parents=((parent, None),)),
            ModelRequest("neworg/qwen-7b-gguf", parents=((parent, "quantized"),)),
            ModelRequest("neworg/qwen-7b-merge", parents=((parent, "merge"), (other, "merge")))]
    avg = {m: np.mean(list(api.resolver.measured(m).values())) for m in (parent, other) if api.resolver.measured(m)}
    print("parents' measured averages: " + ", ".join(f"{m} {v:.1f}" for m, v in avg.items()))
    for report in api.report(asks):
        rows = report.rows()
        lo, hi = np.mean([r["lower"] for r in rows]), np.mean([r["upper"] for r in rows])
        print(f"  {report.resolved.query.model:<22} average {np.mean([r['predicted'] for r in rows]):.1f} "
              f"[{lo:.1f}, {hi:.1f}] from {', '.join(f'{p} ({r})' for p, r in report.resolved.parents)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    api = Lrmf(args.ref)
    api.path  # load the predictor and the resolver once
    print(f"loaded in {time.perf_counter() - start:.1f}s")
    for part in (copies, known_models, derivatives):
        t = time.perf_counter()
        part(api)
        print(f"  ({time.perf_counter() - t:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
