"""Speed and memory of the predictor at the LRMF paper's scale, against implicit's ALS.

Synthetic reference: 2,934 models x 21,606 items (the six Open LLM Leaderboard v2 tasks' sizes),
dense 0/1 from a 5-factor logistic model, plus a lineage forest (fine-tunes, merges, quantised
copies). Prints fit time and peak memory, fold-in latency per model (alone and in a batch of 1,000,
with no evidence and with 25 items per benchmark), the pull of the fitted reference as a published
artifact from the loopback fake Hub (``pull_speed.py``), and implicit ALS fitting the same matrix.
With ``--data ../shared/data``, also the fits of the real v2 and v1 references (wall, CPU, peak
memory, per stage; ``real_fit_speed.py``).

Usage: ``python benchmarks/speed.py [--models N] [--sweeps S] [--no-calibration] [--data DIR [--work DIR]]``
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lrmf_plugin.dataset import ItemBlock, ReferenceData
from lrmf_plugin.models.lrmf import LRMFPredictor
from lrmf_plugin.schema import BenchmarkInfo, Edge
from pull_speed import store_fitted, time_pull
from real_fit_speed import time_real_fits

V2_SIZES = {"ifeval": 541, "bbh": 5761, "math": 1324, "gpqa": 1192, "musr": 756, "mmlu_pro": 12032}


def synthetic(n_models: int, seed: int = 0) -> ReferenceData:
    rng = np.random.default_rng(seed)
    d = 5
    models = [f"org{i % 97}/model-{i}" for i in range(n_models)]
    U = rng.normal(size=(n_models, d))
    edges = []
    for i in range(n_models // 4, n_models):
        kind = rng.choice(["finetune", "merge", "quantized"], p=[0.6, 0.25, 0.15])
        if kind == "merge":
            a, b = rng.choice(i, size=2, replace=False)
            U[i] = 0.5 * (U[a] + U[b]) + 0.2 * rng.normal(size=d)
            edges += [Edge(models[a], models[i], "merge"), Edge(models[b], models[i], "merge")]
        else:
            p = int(rng.integers(0, i))
            U[i] = U[p] + (0.05 if kind == "quantized" else 0.4) * rng.normal(size=d)
            edges.append(Edge(models[p], models[i], str(kind)))
    blocks, info = {}, {}
    for b, m in V2_SIZES.items():
        V = rng.normal(size=(m, d)) * 0.8
        c = rng.normal(size=m)
        P = 1.0 / (1.0 + np.exp(-(U @ V.T + c)))
        blocks[b] = ItemBlock([str(j) for j in range(m)], (rng.random(P.shape) < P).astype(np.float32))
        info[b] = BenchmarkInfo(b, suite="v2", n_items=m, items_complete=True)
    meta = pd.DataFrame({"params_b": np.exp(U[:, 0] + 2)}, index=models)
    return ReferenceData(models, pd.DataFrame(index=models), blocks, meta, edges, info)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=2934)
    ap.add_argument("--sweeps", type=int, default=None)
    ap.add_argument("--no-calibration", action="store_true")
    ap.add_argument("--data", type=Path, default=None, help="../shared/data: also fit the real v2 and v1 references")
    ap.add_argument("--work", type=Path, default=None, help="keep the real references built here (reused next time)")
    args = ap.parse_args()

    t = time.perf_counter()
    data = synthetic(args.models)
    print(f"synthetic reference: {len(data.models)} models x {sum(len(b.items) for b in data.items.values())} items, "
          f"{len(data.edges)} edges ({time.perf_counter() - t:.1f}s to generate, peak {peak_mb():.0f} MB)")
    held = data.models[-1000:]
    keep = np.ones(len(data.models), dtype=bool)
    keep[-1000:] = False
    train = data.subset(keep)
    params = {"calibrate": not args.no_calibration}
    if args.sweeps:
        params["n_sweeps"] = args.sweeps
    t, cpu = time.perf_counter(), time.process_time()
    model = LRMFPredictor(**params).fit(train)
    fit_s = time.perf_counter() - t
    print(f"lrmf fit ({'with' if params['calibrate'] else 'without'} calibration): {fit_s:.1f}s wall, "
          f"{time.process_time() - cpu:.1f}s CPU (user+sys, all threads), peak memory {peak_mb():.0f} MB")

    zero = [data.query(m) for m in held]
    rng = np.random.default_rng(1)
    picks = {b: [str(j) for j in rng.choice(len(block.items), 25, replace=False)] for b, block in data.items.items()}
    with_items = [data.query(m, items=picks) for m in held]
    for label, queries in (("no evidence", zero), ("25 items/benchmark", with_items)):
        lone = []
        for q in queries[:21]:  # median of single-model calls: the first one also pays for warm-up
            t = time.perf_counter()
            model.predict([q])
            lone.append((time.perf_counter() - t) * 1000)
        one = float(np.median(lone))
        t = time.perf_counter()
        model.predict(queries)
        batch = (time.perf_counter() - t) * 1000 / len(queries)
        print(f"fold-in + predict, {label}: {one:.1f} ms alone (median of 21), {batch:.1f} ms/model in a batch of {len(queries)}")

    with tempfile.TemporaryDirectory(prefix="lrmf-speed-") as tmp:
        for line in time_pull(store_fitted(train, model, Path(tmp) / "ref")):
            print(line)
        if args.data:
            for line in time_real_fits(args.data, args.work or Path(tmp) / "real"):
                print(line, flush=True)

    try:
        import scipy.sparse as sp
        from implicit.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("implicit not installed: skipping the ALS comparison (pip install -e \".[bench]\")")
        return
    Y = np.hstack([b.values for b in train.items.values()])
    Y = np.nan_to_num(Y[keep])
    csr = sp.csr_matrix(Y)
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(factors=6, iterations=15, random_state=0)
        t = time.perf_counter()
        als.fit(csr, show_progress=False)
        als_s = time.perf_counter() - t
    print(f"implicit ALS (6 factors, 15 iterations) on the same {csr.shape[0]}x{csr.shape[1]} matrix: {als_s:.1f}s; "
          f"lrmf/ALS time ratio {fit_s / als_s:.1f}")


if __name__ == "__main__":
    main()
