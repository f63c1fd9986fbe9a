"""Import every file of ../shared/data into a fresh temporary reference and print how long it takes.

Issue target: all files in under a minute on 2 cores; ``load_data()`` and a leaderboard-scale item
block well under a second. Usage: ``python benchmarks/import_shared.py [DATA_DIR] [--keep DIR]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lrmf_plugin import item_store
from lrmf_plugin.errors import LrmfError
from lrmf_plugin.reference import Reference

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def jobs(data: Path) -> list[tuple[str, Path, dict]]:
    """(kind, path, options) for every importable file under ``data``."""
    out = [("leaderboard-v2", data / "leaderboard_v2" / "leaderboard_v2.csv", {}),
           ("leaderboard-v1", data / "leaderboard_v1" / "leaderboard_v1.csv", {}),
           ("lineage", data / "lineage" / "hub_edges.csv", {}),
           ("hub-models", data / "lineage" / "hub_models.csv", {})]
    out += [("responses", f, {"benchmark": f.stem}) for f in sorted((data / "leaderboard_v1" / "responses").glob("*.csv"))]
    return [j for j in out if j[1].exists()]


def timed(label: str, fn):
    t = time.perf_counter()
    result = fn()
    print(f"{time.perf_counter() - t:8.2f}s  {label}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--keep", type=Path, default=None, help="build the reference here and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ref = Reference.create(args.keep or Path(tmp) / "ref")
        failures = 0
        start = time.perf_counter()
        for kind, path, options in jobs(args.data):
            try:
                timed(f"import {kind:<15} {path.relative_to(args.data)}", lambda: ref.import_source(kind, path, **options))
            except LrmfError as exc:
                failures += 1
                print(f"  FAILED: {exc}")
        print(f"{time.perf_counter() - start:8.2f}s  all imports (target: under 60 s)\n")
        print(ref.summary().format(max_dropped=3), "\n")
        data = timed("load_data()", ref.load_data)
        print(f"          {len(data.models)} models x {len(data.scores.columns)} score columns, "
              f"{sum(b.values.shape[1] for b in data.items.values())} items, {len(data.edges)} edges")
        graph = timed("lineage()", ref.lineage)
        timed("adjacency(all load_data models, 1 hop)", lambda: graph.adjacency(data.models, max_hops=1))
        rng = np.random.default_rng(0)
        big = (rng.random((5000, 22000)) < 0.6).astype(np.float32)
        big[rng.random(big.shape) < 0.05] = np.nan
        stem = Path(tmp) / "big"
        item_store.save_blocks(stem, [("big", [f"org/m{i}" for i in range(5000)], [f"t.{j}" for j in range(22000)], big)])
        size = stem.with_suffix(".npz").stat().st_size / 1e6
        timed(f"load a 5000 x 22000 0/1 block with 5% missing ({size:.1f} MB on disk, {big.nbytes / 1e6:.0f} MB in memory)",
              lambda: item_store.load_blocks(stem))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
