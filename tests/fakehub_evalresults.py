"""Evaluation results as model repos carry them, to seed the fake Hub with: ``.eval_results/*.yaml`` files
(https://huggingface.co/docs/hub/eval-results) and model cards whose YAML header holds a ``model-index``
(the Open LLM Leaderboard's own rows, and an unrelated benchmark), plus the malformed kinds seen in the wild.
"""
from __future__ import annotations

from typing import Any

import yaml

#: the Open LLM Leaderboard v2 rows of a card's model-index (dataset name, type, metric type), as its bot wrote them
LEADERBOARD_ROWS = {
    "ifeval": ("IFEval (0-Shot)", "HuggingFaceH4/ifeval", "inst_level_strict_acc and prompt_level_strict_acc"),
    "bbh": ("BBH (3-Shot)", "BBH", "acc_norm"),
    "math": ("MATH Lvl 5 (4-Shot)", "hendrycks/competition_math", "exact_match"),
    "gpqa": ("GPQA (0-shot)", "Idavidrein/gpqa", "acc_norm"),
    "musr": ("MuSR (0-shot)", "TAUR-Lab/MuSR", "acc_norm"),
    "mmlu_pro": ("MMLU-PRO (5-shot)", "TIGER-Lab/MMLU-Pro", "acc"),
}
#: benchmark datasets the fake Hub knows (an ``.eval_results`` entry naming another is an unknown dataset)
BENCHMARK_DATASETS = ("Idavidrein/gpqa", "cais/hle", "TIGER-Lab/MMLU-Pro")


def eval_results_yaml(entries: list[dict[str, Any]]) -> bytes:
    """One ``.eval_results/*.yaml`` file: a list of entries in the documented layout."""
    out = []
    for e in entries:
        entry: dict[str, Any] = {"dataset": {"id": e["dataset"], "task_id": e["task"]}, "value": e["value"]}
        for key in ("date", "notes"):
            if key in e:
                entry[key] = e[key]
        if "source" in e:
            entry["source"] = {"url": e["source"], "name": "Eval Logs"}
        out.append(entry)
    return yaml.safe_dump(out, sort_keys=False).encode()


def leaderboard_card(model: str, scores: dict[str, float], extra: list[dict[str, Any]] | None = None) -> bytes:
    """A model card whose model-index holds the leaderboard's rows for ``scores`` (plus ``extra`` results)."""
    results = []
    for bench, value in scores.items():
        name, dtype, metric = LEADERBOARD_ROWS[bench]
        results.append({"task": {"type": "text-generation", "name": "Text Generation"},
                        "dataset": {"name": name, "type": dtype, "args": {"num_few_shot": 0}},
                        "metrics": [{"type": metric, "value": value, "name": metric}],
                        "source": {"url": f"https://huggingface.co/spaces/open-llm-leaderboard/open_llm_leaderboard"
                                          f"?query={model}", "name": "Open LLM Leaderboard"}})
    results += extra or []
    header = yaml.safe_dump({"license": "apache-2.0", "model-index": [{"name": model.split("/")[-1],
                                                                       "results": results}]}, sort_keys=False)
    return f"---\n{header}---\n\n# {model}\n\nA fine-tune.\n".encode()


#: a card whose YAML header does not parse (an unclosed bracket)
BROKEN_CARD = b"---\nlicense: apache-2.0\nmodel-index: [\n  - name: x\n---\n\n# broken\n"
#: an ``.eval_results`` file that is not YAML at all
BROKEN_YAML = b"- dataset: {id: cais/hle, task_id: default\n  value: 12.5\n"
#: a file whose entries lack the dataset block, or carry text instead of a number
BAD_ENTRIES = yaml.safe_dump([{"value": 3.0}, {"dataset": {"id": "cais/hle", "task_id": "default"},
                                                "value": "about twelve"}]).encode()
