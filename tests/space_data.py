"""Small synthetic data for the Space's tests: a fitted reference, a bot prediction log, an lm-eval run.

Three model families (base, fine-tunes, a quantised copy) plus a cross-family merge; every model
has a latent skill, children sit near their parents. Benchmarks: three scored ones in suite ``v2``
and one item-level quiz (suite ``toy``) that an uploaded lm-eval run can pin down.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from lrmf_plugin.api import Lrmf
from lrmf_plugin.reference import Reference
from lrmf_plugin.sources import ItemObservations, SourceData
from lrmf_plugin.schema import BenchmarkInfo, Edge, Prediction
from lrmf_plugin.track_record import PredictionLog

SCORED = ("alpha", "beta", "gamma")
QUIZ = "toy_quiz"
N_QUIZ = 40
#: a model that is only in the lineage (no scores): the Space must still predict it
LINEAGE_ONLY = "fam1/newcomer"
#: the model the browser and client tests ask for
FOCUS = "fam0/ft-1"


def _skills(rng: np.random.Generator) -> tuple[dict[str, float], list[Edge]]:
    skill: dict[str, float] = {}
    edges: list[Edge] = []
    for f in range(3):
        base = f"fam{f}/base"
        skill[base] = float(rng.normal(0, 1))
        for k in range(5):
            child = f"fam{f}/ft-{k}"
            skill[child] = skill[base] + float(rng.normal(0.2, 0.3))
            edges.append(Edge(base, child, "finetune"))
        skill[f"fam{f}/base-4bit"] = skill[base] - 0.05
        edges.append(Edge(base, f"fam{f}/base-4bit", "quantized"))
    skill["mix/merge-01"] = (skill["fam0/ft-0"] + skill["fam1/ft-0"]) / 2
    edges += [Edge("fam0/ft-0", "mix/merge-01", "merge"), Edge("fam1/ft-0", "mix/merge-01", "merge")]
    edges.append(Edge("fam1/base", LINEAGE_ONLY, "finetune"))
    return skill, edges


def build_reference(path: Path, seed: int = 0) -> Path:
    """Create and fit a small reference at ``path`` through the library API."""
    rng = np.random.default_rng(seed)
    skill, edges = _skills(rng)
    models = sorted(skill)
    rows = []
    for i, b in enumerate(SCORED):
        for m in models:
            rows.append({"model": m, "benchmark": b,
                         "score": float(np.clip(100 / (1 + np.exp(-(skill[m] * (0.8 + 0.2 * i) - 0.3 * i)))
                                                + rng.normal(0, 1.0), 0, 100))})
    difficulty = rng.normal(0, 1, N_QUIZ)
    quiz = (rng.random((len(models), N_QUIZ)) < 1 / (1 + np.exp(-(np.array([skill[m] for m in models])[:, None]
                                                                   - difficulty)))).astype(np.float32)
    meta = pd.DataFrame({"model": models, "params_b": [7.0 if m.startswith("fam0") else 13.0 for m in models]})
    ref = Reference.create(path)
    ref.write_source(SourceData(
        key="synthetic", kind="synthetic", location="tests", scores=pd.DataFrame(rows), metadata=meta, edges=edges,
        items=[ItemObservations(QUIZ, models, [str(j) for j in range(N_QUIZ)], quiz, complete=True)],
        benchmarks={**{b: BenchmarkInfo(b, suite="v2") for b in SCORED}, QUIZ: BenchmarkInfo(QUIZ, suite="toy")}))
    Lrmf(path).fit(progress=False)
    return path


def build_log(path: Path) -> Path:
    """A bot prediction log: two predicted models, one measured later, one posted."""
    log = PredictionLog(path)
    first = log.record("new/alpha-tune", [Prediction("new/alpha-tune", b, 50.0 + i, 44.0 + i, 56.0 + i)
                                          for i, b in enumerate(SCORED)],
                       predictor="lrmf", parents=[("fam0/base", "finetune")])
    log.set_discussion(first, "http://127.0.0.1:9/new/alpha-tune/discussions/1")
    log.record("new/merge-x", [Prediction("new/merge-x", b, 30.0, 20.0, 40.0) for b in SCORED],
               predictor="lrmf", parents=[("fam0/ft-0", "merge"), ("fam1/ft-0", "merge")])
    log.record_measured("new/alpha-tune", {"alpha": 52.0, "beta": 70.0, "gamma": 51.0})
    return path


def write_run(directory: Path, model: str, answers: dict[int, int], n_full: int = N_QUIZ) -> list[Path]:
    """The two files of an lm-eval ``--log_samples`` subset run of the quiz task."""
    directory.mkdir(parents=True, exist_ok=True)
    date = "2026-01-02T10-00-00.000000"
    results = directory / f"results_{date}.json"
    results.write_text(json.dumps({
        "results": {QUIZ: {"alias": QUIZ, "acc,none": sum(answers.values()) / len(answers)}},
        "config": {"model": "hf", "model_args": f"pretrained={model}"},
        "n-samples": {QUIZ: {"original": n_full, "effective": len(answers)}},
        "versions": {QUIZ: 1.0}, "lm_eval_version": "0.4.13"}))
    samples = directory / f"samples_{QUIZ}_{date}.jsonl"
    samples.write_text("".join(json.dumps({"doc_id": d, "filter": "none", "metrics": ["acc"], "acc": float(v)}) + "\n"
                               for d, v in sorted(answers.items())))
    return [results, samples]


@contextmanager
def serve(ref: Path, **options: object) -> Iterator[str]:
    """The Space over ``ref`` on a free loopback port, as ``app.py`` launches it; yields its URL."""
    import app  # space/ is on sys.path in the Space's test modules

    demo = app.build_demo(ref, **options)
    demo.queue()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True,
                            css=app.layout.CSS, ssr_mode=False)
    try:
        yield url
    finally:
        demo.close()
