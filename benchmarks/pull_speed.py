"""How long a user waits for a fitted reference from the Hub: push one to the loopback fake Hub, then
time ``reference pull --fitted`` with an empty Hugging Face cache and with a warm one, and the first
prediction after it.

The fake Hub runs in this process (a thread) over real HTTP with the real ``huggingface_hub``
client, so the figures are the client's and our verification's cost, without network latency or
bandwidth; uploads go over LFS (the fake has no Xet). Used by ``speed.py``; on its own it times an
existing fitted reference: ``python benchmarks/pull_speed.py --ref DIR``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakehub import FakeHub  # noqa: E402

from lrmf_plugin.api import Lrmf  # noqa: E402
from lrmf_plugin.dataset import ReferenceData  # noqa: E402
from lrmf_plugin.distribution import pull, push  # noqa: E402
from lrmf_plugin.models.lrmf import LRMFPredictor  # noqa: E402
from lrmf_plugin.reference import Reference  # noqa: E402
from lrmf_plugin.sources import ItemObservations, SourceData  # noqa: E402

REPO, TOKEN = "bench-org/fitted-reference", "hf_bench_token_not_real"


def store_fitted(data: ReferenceData, model: LRMFPredictor, path: Path) -> Path:
    """Write ``data`` as a one-source reference at ``path`` and ``model`` as its stored predictor."""
    scores = data.scores.stack().dropna().rename("score").reset_index()
    scores.columns = ["model", "benchmark", "score"]
    items = [ItemObservations(b, list(data.models), list(block.items), block.values,
                              complete=data.benchmarks[b].items_complete) for b, block in data.items.items()]
    meta = data.metadata.reset_index().rename(columns={"index": "model"})
    ref = Reference.create(path)
    ref.write_source(SourceData(key="synthetic", kind="synthetic", location="benchmarks/speed.py", scores=scores,
                                metadata=meta, edges=list(data.edges), items=items, benchmarks=dict(data.benchmarks)))
    model.save(Lrmf(ref).predictor_stem, ref.fingerprint())
    return path


def _first_prediction(path: Path, model: str) -> float:
    t = time.perf_counter()
    api = Lrmf(path)
    api.predict([api.query(model)])
    return time.perf_counter() - t


def time_pull(ref_dir: Path) -> list[str]:
    """Push ``ref_dir`` to a fresh fake Hub, pull it twice (cold and warm cache); one line per figure."""
    from huggingface_hub import constants
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()
    lines = []
    with tempfile.TemporaryDirectory(prefix="lrmf-pull-bench-") as tmp, FakeHub() as hub:
        hub.add_user("bench", TOKEN, orgs=("bench-org",))
        constants.HF_HUB_DISABLE_XET, constants.HF_HUB_CACHE = True, str(Path(tmp) / "hf-cache")
        os.environ["NO_PROXY"] = "127.0.0.1,localhost"
        t = time.perf_counter()
        published = push(ref_dir, REPO, endpoint=hub.url, token=TOKEN)
        size = sum(len(b) for b in hub.datasets[REPO].files.values())
        lines.append(f"push to the fake Hub: {time.perf_counter() - t:.1f}s ({published.n_files} files, "
                     f"{size / 1e6:.1f} MB)")
        some_model = Reference(ref_dir).models()[0]
        for label, dest in (("cold cache", "a"), ("warm cache", "b")):
            t = time.perf_counter()
            done = pull(REPO, Path(tmp) / dest, endpoint=hub.url, token=TOKEN)
            took = time.perf_counter() - t
            first = _first_prediction(done.path, some_model)
            lines.append(f"pull --fitted, {label}: {took:.1f}s (download, verify {done.n_files} checksums, install); "
                         f"then load + first prediction {first:.1f}s")
        frames = [api.predictor.predict_frame([api.query(some_model)]).to_csv()
                  for api in (Lrmf(ref_dir), Lrmf(Path(tmp) / "a"))]
        lines.append(f"pulled and local predictions byte-identical: {frames[0] == frames[1]}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", type=Path, required=True, metavar="DIR", help="a fitted reference")
    args = ap.parse_args()
    for line in time_pull(args.ref):
        print(line)


if __name__ == "__main__":
    main()
