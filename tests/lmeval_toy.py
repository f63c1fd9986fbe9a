"""Small local lm-eval tasks shaped like the leaderboard's, written by tests at run time.

* group ``toy_suite``: multiple-choice leaves ``toy_mc2`` (2 choices, 24 docs) and ``toy_mc4``
  (4 choices, 16 docs), scored by ``acc_norm``;
* ``toy_gen``: a ``generate_until`` task scored by ``exact_match`` (12 docs);
* ``toy_if``: an IFEval-like generative task whose per-instance ``inst_level_strict_acc`` is a list
  of booleans (10 docs);
* ``toy_new``: a multiple-choice task no reference ever contains (20 docs).

Data paths are absolute because lm-eval resolves ``data_files`` against the working directory.
Everything works offline with lm-eval's ``dummy`` model, which answers ``"lol"`` to every prompt.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SIZES = {"toy_mc2": 24, "toy_mc4": 16, "toy_gen": 12, "toy_if": 10, "toy_new": 20}
GROUP = "toy_suite"
GROUP_LEAVES = ("toy_mc2", "toy_mc4")
REFERENCE_TASKS = ("toy_mc2", "toy_mc4", "toy_gen", "toy_if")

_IF_UTILS = '''
def process_results(doc, results):
    response = results[0]
    checks = [word in response for word in doc["must_contain"]]
    return {"prompt_level_strict_acc": all(checks), "inst_level_strict_acc": checks}


def agg_inst_level_acc(items):
    flat = [x for sub in items for x in sub]
    return sum(flat) / len(flat)
'''


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _mc_task(name: str, data: Path, n_choices: int) -> str:
    return f"""task: {name}
dataset_path: json
dataset_kwargs:
  data_files: {{test: {data}, train: {data}}}
output_type: multiple_choice
training_split: train
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
metric_list:
  - {{metric: acc, aggregation: mean, higher_is_better: true}}
  - {{metric: acc_norm, aggregation: mean, higher_is_better: true}}
metadata: {{version: 1.0, choices: {n_choices}}}
"""


def write_tasks(root: Path) -> Path:
    """Write the toy tasks (YAML, data, helper module) under ``root``; returns the include path."""
    root.mkdir(parents=True, exist_ok=True)
    words = ["red", "blue", "green", "yellow", "black", "white", "pink", "grey"]
    for name, n_choices in (("toy_mc2", 2), ("toy_mc4", 4), ("toy_new", 4)):
        rows = [{"id": f"{name}-{i:03d}", "question": f"{name} question {i} about {words[i % 8]}?",
                 "choices": [words[(i + k) % 8] for k in range(n_choices)], "label": i % n_choices}
                for i in range(SIZES[name])]
        _write_jsonl(root / f"{name}.jsonl", rows)
        (root / f"{name}.yaml").write_text(_mc_task(name, root / f"{name}.jsonl", n_choices))
    (root / "_toy_suite.yaml").write_text(
        f"group: {GROUP}\ntask: [{', '.join(GROUP_LEAVES)}]\n"
        "aggregate_metric_list:\n  - {metric: acc_norm, aggregation: mean, weight_by_size: true}\n"
        "metadata: {version: 1.0}\n")
    # the dummy model answers "lol": every third target is "lol", so exact_match varies by doc
    rows = [{"question": f"Say something {i}", "answer": "lol" if i % 3 == 0 else f"word{i}"}
            for i in range(SIZES["toy_gen"])]
    _write_jsonl(root / "toy_gen.jsonl", rows)
    (root / "toy_gen.yaml").write_text(f"""task: toy_gen
dataset_path: json
dataset_kwargs:
  data_files: {{test: {root / 'toy_gen.jsonl'}}}
output_type: generate_until
test_split: test
doc_to_text: "Q: {{{{question}}}}\\nA:"
doc_to_target: "{{{{answer}}}}"
generation_kwargs: {{until: ["\\n"], max_gen_toks: 8, do_sample: false}}
metric_list:
  - {{metric: exact_match, aggregation: mean, higher_is_better: true}}
metadata: {{version: 2.0}}
""")
    rows = [{"prompt": f"Write a reply {i}", "must_contain": ["lol", "lo", "zz"][: 1 + i % 3]
             if i % 2 == 0 else ["x" * (1 + i % 2), "lol"]} for i in range(SIZES["toy_if"])]
    _write_jsonl(root / "toy_if.jsonl", rows)
    (root / "toy_if_utils.py").write_text(_IF_UTILS)
    (root / "toy_if.yaml").write_text(f"""task: toy_if
dataset_path: json
dataset_kwargs:
  data_files: {{test: {root / 'toy_if.jsonl'}}}
output_type: generate_until
test_split: test
doc_to_text: "{{{{prompt}}}}"
doc_to_target: 0
generation_kwargs: {{until: [], max_gen_toks: 8, do_sample: false}}
process_results: !function toy_if_utils.process_results
metric_list:
  - {{metric: prompt_level_strict_acc, aggregation: mean, higher_is_better: true}}
  - {{metric: inst_level_strict_acc, aggregation: !function toy_if_utils.agg_inst_level_acc, higher_is_better: true}}
metadata: {{version: 4.0}}
""")
    return root


#: toy tasks under Open LLM Leaderboard leaf names (MuSR: per-subtask, GPQA: pooled), with their choices
LEADERBOARD_TASKS = {"leaderboard_musr_murder_mysteries": (96, 2), "leaderboard_musr_object_placements": (80, 5),
                     "leaderboard_musr_team_allocation": (88, 3), "leaderboard_gpqa_diamond": (40, 4),
                     "leaderboard_gpqa_extended": (100, 4), "leaderboard_gpqa_main": (72, 4)}


def write_leaderboard_tasks(root: Path) -> Path:
    """Multiple-choice toy tasks named like leaderboard leaves (an ``--include_path`` of their own, so
    they shadow lm-eval's built-in tasks of those names only where asked); returns the include path."""
    root.mkdir(parents=True, exist_ok=True)
    words = ["red", "blue", "green", "yellow", "black", "white", "pink", "grey"]
    for name, (size, n_choices) in LEADERBOARD_TASKS.items():
        rows = [{"question": f"{name} question {i}?", "choices": [words[(i + k) % 8] for k in range(n_choices)],
                 "label": i % n_choices} for i in range(size)]
        _write_jsonl(root / f"{name}.jsonl", rows)
        (root / f"{name}.yaml").write_text(_mc_task(name, root / f"{name}.jsonl", n_choices))
    return root


def offline_env(tmp: Path) -> dict[str, str]:
    """Environment for lm-eval subprocesses: offline, caches in ``tmp``, quiet logs."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               HF_HOME=str(tmp / "hf_home"), LMEVAL_LOG_LEVEL="WARNING", TOKENIZERS_PARALLELISM="false",
               XDG_CACHE_HOME=str(tmp / "cache"))
    env.pop("LRMF_REF", None)
    return env


def build_tiny_gpt2(out: Path) -> Path:
    """A 2-layer GPT-2 with a byte-level BPE tokenizer trained on a toy corpus (no downloads, ~1 MB)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = ["Question: which colour? Answer: red blue green yellow black white pink grey",
              "Q: Say something A: lol word Write a reply"] * 50
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=512, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    eos = "<|endoftext|>"
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=eos, eos_token=eos, unk_token=eos, pad_token=eos)
    fast.save_pretrained(out)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(fast), n_positions=512, n_embd=64, n_layer=2, n_head=2,
                        bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(out)
    return out


#: Runs lm-eval in one Python process (its own API and EvaluationTracker, so the files are exactly a
#: stock run's) instead of paying a ~10 s CLI start-up per model. A run with a ``skill`` in [0, 1] is
#: of a toy LM that answers a multiple-choice document right with probability
#: ``sigmoid(8 (skill - difficulty))``, the document's difficulty fixed by its id, so one skill drives
#: every task and the tasks' scores correlate across models, as real models' do (the dummy model's
#: answers are independent noise).
_RUNS = r'''
import json, math, random, sys
from lm_eval import simple_evaluate
from lm_eval.api.model import LM
from lm_eval.loggers import EvaluationTracker
from lm_eval.tasks import TaskManager


class SkillLM(LM):
    def __init__(self, skill, seed):
        super().__init__()
        self.skill, self.seed = skill, seed

    def loglikelihood(self, requests, disable_tqdm=False):
        out = []
        for r in requests:
            difficulty = (r.doc_id * 37 % 100) / 100
            draw = random.Random(f"{self.seed}/{r.task_name}/{r.doc_id}").random()
            right = draw < 1 / (1 + math.exp(-8 * (self.skill - difficulty)))
            label, n = r.doc["label"], len(r.doc["choices"])
            target = label if right else (label + 1) % n
            out.append((0.0 if r.idx == target else -50.0, r.idx == target))
        return out

    def generate_until(self, requests, disable_tqdm=False):
        raise NotImplementedError("multiple-choice tasks only")

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError("multiple-choice tasks only")


include, runs = sys.argv[1], json.loads(sys.argv[2])
tm = TaskManager(include_path=include, include_defaults=False)
for seed, run in enumerate(runs):
    tracker = EvaluationTracker(output_path=run["out"])
    model = SkillLM(run["skill"], seed) if "skill" in run else "dummy"
    res = simple_evaluate(model=model, model_args={"pretrained": run["model"]},
                          tasks=run["tasks"], samples=run.get("samples"), task_manager=tm, log_samples=True,
                          evaluation_tracker=tracker, random_seed=seed, numpy_random_seed=seed,
                          torch_random_seed=seed, fewshot_random_seed=seed)
    samples = res.pop("samples")
    tracker.save_results_aggregated(results=res, samples=samples)
    for task in res["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
'''


def runs_command(include: Path, runs: list[dict]) -> list[str]:
    """argv that writes stock lm-eval runs, one per ``{"out", "model", "tasks", "samples"?, "skill"?}``
    entry (seeded by position, so the models answer differently): the dummy model, or a skill LM
    (see :data:`_RUNS`) when the entry has a skill."""
    return [sys.executable, "-c", _RUNS, str(include), json.dumps(runs, default=str)]
