"""What the Space computes, without any Gradio: the handlers in ``app.py`` only translate.

:class:`SpaceService` opens the reference once (the fitted predictor, benchmarks, measured scores,
lineage graph) and answers every tab's question with library calls. Problems a visitor can cause
raise :class:`~lrmf_plugin.errors.LrmfError` (or ``ValueError`` for form input) with a message that
is shown as is.
"""
from __future__ import annotations

import difflib
import math
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from lrmf_plugin.api import Lrmf
from lrmf_plugin.errors import InputError, UnknownModelError
from lrmf_plugin.leaderboard import display_name
from lrmf_plugin.schema import RELATIONS, ModelQuery, Prediction, flag_reasons
from lrmf_plugin.track_record import PredictionLog

import family
import tables

#: Hub model ids: ``name`` or ``org/name`` (letters, digits, ``-_.``).
_MODEL_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")
#: A pasted Hub address: the id is the first one or two path parts (``/tree/main`` etc. dropped).
_HUB_URL = re.compile(r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/(?:models/)?([^/?#\s]+(?:/[^/?#\s]+)?)")

#: Boxes (models and folded groups) the Lineage tab may draw per hop, plus one share for the first
#: ring: each extra hop gets room to show something new, and 4 hops stay readable on a laptop.
TREE_BOXES_PER_HOP = 20
#: Longest piece of a visitor's input repeated in a message.
SHOWN_INPUT = 60


@dataclass
class ModelPrediction:
    """Everything the Predict tab shows for one model."""

    model: str
    parents: list[tuple[str, str]]
    frame: pd.DataFrame                  # tables.prediction_frame
    averages: dict[str, dict[str, float]]
    lineage_source: str                  # "reference", "hub", "given" or "none"
    notes: list[str] = field(default_factory=list)
    basis: str = ""                      # one sentence: what the prediction used
    extrapolation: list[str] = field(default_factory=list)  # why the model lies outside the reference

    def as_json(self) -> dict[str, Any]:
        out = tables.prediction_json(self.model, self.frame, self.averages, self.parents)
        return {**out, "extrapolation": self.extrapolation} if self.extrapolation else out


class SpaceService:
    """The reference, its fitted predictor and the optional bot store, opened once per process."""

    def __init__(self, ref_dir: str | Path, bot_state: str | Path | None = None,
                 hub_endpoint: str | None = None, backtest: str | Path | None = None):
        self.lrmf = Lrmf(ref_dir)
        self.lrmf.predictor  # fail at start-up, not on the first visitor, when `fit` never ran
        reference = self.lrmf.reference
        self.benchmarks = reference.benchmarks()
        self.suites = tables.suites_of(self.benchmarks)
        self.graph = self.lrmf.lineage()
        self.measured: dict[str, dict[str, float]] = {}
        for row in reference.scores().itertuples(index=False):
            if row.score == row.score:
                self.measured.setdefault(row.model, {})[row.benchmark] = float(row.score)
        self.models_with_scores = sorted(self.measured)
        # case-insensitive lookup; a measured model wins a clash of spellings
        self._by_lower = {m.lower(): m for m in self.graph.nodes}
        self._by_lower.update({m.lower(): m for m in self.models_with_scores})
        self.metadata = reference.metadata()
        self.bot_state = Path(bot_state) if bot_state else None
        self.hub_endpoint = hub_endpoint
        self.backtest = _find_backtest(Path(ref_dir), backtest)

    # -- Predict ---------------------------------------------------------------------------------

    def predict_model(self, model: str) -> ModelPrediction:
        """Predictions for a model id (or Hub address, any case): lineage from the reference, else
        from the configured Hub."""
        typed = model
        model = self.resolve(model)
        if model in self.graph or model in self.measured:
            result = self._predict(self.lrmf.query(model), self.parents_of(model), "reference")
            if model != typed.strip():
                result.notes.insert(0, f"shown for {model} (you typed {shown(typed)})")
            if model not in self.measured and not result.parents:
                close = [m for m in self.suggestions(model) if m in self.measured]
                if close:  # a renamed model: its old id is known only as a lineage node
                    result.notes.insert(0, f"nothing measured and no parent known for this id; did you mean "
                                           f"{' or '.join(close)}?")
            return result
        if not self.hub_endpoint:
            raise UnknownModelError(f"{shown(model)} is not in the reference{self._did_you_mean(model)}")
        query, unknown = self._query_from_hub(model)
        result = self._predict(query, list(query.parents), "hub")
        if unknown:
            result.notes.append(f"parents not in the reference, not used: {', '.join(unknown)}")
        return result

    def parents_of(self, model: str) -> list[tuple[str, str]]:
        """The model's parents in the reference; a ``family`` link (shared leaderboard root) is left out
        when the same parent is also a direct one."""
        edges = self.graph.parents(model)
        direct = {e.parent for e in edges if e.relation != "family"}
        return [(e.parent, e.relation) for e in edges if e.relation != "family" or e.parent not in direct]

    def resolve(self, text: str) -> str:
        """The reference's spelling of a model id: Hub addresses stripped to ``org/name``, case ignored.
        An id the reference does not know comes back as typed (the Hub may know it)."""
        model = normalise_id(text)
        return model if model in self.graph or model in self.measured else self._by_lower.get(model.lower(), model)

    def suggestions(self, model: str, n: int = 3) -> list[str]:
        """Known ids close to ``model`` (renames, typos): its organisation's models, then measured ones."""
        low = model.lower()
        org, _, name = low.rpartition("/")
        same_org = [k for k in self._by_lower if k.startswith(org + "/")]
        # a rename that drops a leading word ("Meta-Llama-3.1-8B" became "Llama-3.1-8B") is the likeliest
        dropped = [f"{org}/{name.split('-', 1)[1]}".lstrip("/")] if "-" in name else []
        close = [k for k in dropped if k in self._by_lower]
        close += difflib.get_close_matches(low, same_org, n, cutoff=0.6)
        close += difflib.get_close_matches(low, [m.lower() for m in self.models_with_scores], n, cutoff=0.8)
        return [self._by_lower[k] for k in dict.fromkeys(close)][:n]

    def _did_you_mean(self, model: str) -> str:
        """The end of a sentence naming ``model``: close known ids as a question, else a full stop."""
        close = self.suggestions(model)
        return f"; did you mean {' or '.join(close)}?" if close else "."

    def search_models(self, text: str, limit: int = 20) -> list[str]:
        """Models with scores whose id contains ``text`` (case-insensitive), shortest first: the What if
        tab's parent choices, searched here so the page never carries all of them."""
        needle = (text or "").strip().lower()
        if not needle:
            return []
        hits = [m for m in self.models_with_scores if needle in m.lower()]
        return sorted(hits, key=lambda m: (len(m), m))[:limit]

    def _query_from_hub(self, model: str) -> tuple[ModelQuery, list[str]]:
        """Lineage and metadata of a model outside the reference, read from the configured Hub, and the
        parents the Hub names that the reference does not know (the resolution leaves them out).

        No token is sent: the Space only reads public model info.
        """
        from lrmf_plugin.hub import MODEL_EXPAND, connect, hub_call, lineage_from_model_info, metadata_from_model_info

        api = connect(self.hub_endpoint, token=False, timeout=20.0)
        with hub_call(f"Hub lookup of {model}"):
            info = api.model_info(model, expand=MODEL_EXPAND)
        parents = lineage_from_model_info(info)
        unknown = [p for p, _ in parents if p not in self.graph and p not in self.measured]
        return self.lrmf.query(model, metadata=metadata_from_model_info(info), parents=parents), unknown

    def what_if(self, parents: Sequence[str], relation: str) -> ModelPrediction:
        """Predicted scores of a model derived from ``parents`` by ``relation`` (e.g. a merge)."""
        parents = self._check_parents(parents)
        relation = check_relation(relation, len(parents))
        query = self._child_query(parents, relation)
        return self._predict(query, list(query.parents), "given")

    def _child_query(self, parents: Sequence[str], relation: str) -> ModelQuery:
        """A model made from ``parents``: what it shares with them comes from the library's resolution
        (the same for What if and Rank, so both give the same numbers for the same parents)."""
        name = f"what-if {relation} of " + " + ".join(parents)
        return self.lrmf.query(name, parents=[(p, relation) for p in parents])

    def rank_merges(self, text: str, suite: str) -> pd.DataFrame:
        """Candidate merges (one per line, parents joined by ``+``) ranked by a suite's predicted average."""
        if suite not in self.suites:
            raise InputError(f"unknown suite {suite!r} (choose one of {', '.join(map(repr, self.suites))})")
        candidates = tables.parse_candidates(text, known=set(self.graph.nodes) | set(self.measured))
        queries = [self._child_query(parents, "merge" if len(parents) > 1 else "finetune") for parents in candidates]
        predictions = self.lrmf.predict(queries)
        n = len(predictions) // max(len(queries), 1)
        frames = [tables.prediction_frame(predictions[i * n:(i + 1) * n], self.benchmarks) for i in range(len(queries))]
        return tables.ranking_frame(candidates, frames, self.suites[suite])

    def predict_upload(self, paths: Sequence[str | Path], model: str = "") -> ModelPrediction:
        """Predictions for the full tasks from the files of an lm-eval subset run.

        The files are copied into one directory, since the lm-eval-output reader works on a run
        directory (``results_*.json`` beside its ``samples_*.jsonl``).
        """
        from lrmf_plugin.importers.lm_eval_output import read_run  # the lm-eval face's reader and query
        from lrmf_plugin.lm_eval_report import query_for

        if not paths:
            raise InputError("no files: drop the results_*.json and samples_*.jsonl files of an lm-eval run")
        with tempfile.TemporaryDirectory(prefix="lrmf-upload-") as tmp:
            for p in paths:
                shutil.copy(p, Path(tmp) / Path(p).name)
            run = read_run(Path(tmp), model=check_model_id(model) if model.strip() else None)
        found, warnings = query_for(run, self.lrmf.reference)
        query = self.lrmf.query(found.model, items=found.items)  # with the metadata the reference holds
        if not query.items:
            raise InputError(f"the run evaluated {', '.join(sorted(run.items()))}: none of these has item data in "
                             "the reference, so the run cannot inform a prediction")
        parents = self.parents_of(run.model)
        result = self._predict(query, parents, "reference" if parents else "none")
        result.notes[:0] = warnings
        skipped = sorted(set(run.items()) - set(query.items))
        if skipped:
            result.notes.append(f"not in the reference, so not used: {', '.join(skipped)}")
        return result

    def _check_parents(self, parents: Sequence[str]) -> list[str]:
        parents = [self.resolve(p) for p in (parents or []) if p and p.strip()]
        if not parents:
            raise InputError("choose at least one parent model")
        if len(set(parents)) != len(parents):
            raise InputError("a parent is chosen twice")
        for p in parents:
            if p not in self.graph and p not in self.measured:
                raise UnknownModelError(f"parent {shown(p)} is not in the reference{self._did_you_mean(p)}")
        return parents

    def _predict(self, query: ModelQuery, parents: list[tuple[str, str]], source: str) -> ModelPrediction:
        predictions: list[Prediction] = self.lrmf.predict([query])
        frame = tables.prediction_frame(predictions, self.benchmarks, self.measured.get(query.model),
                                        {b: len(v) for b, v in query.items.items()})
        return ModelPrediction(query.model, parents, frame, tables.suite_averages(frame, self.suites), source,
                               basis=self._basis(query, parents, source),
                               notes=list(self.lrmf.path.why_no_interval(predictions).values()),
                               extrapolation=flag_reasons(predictions))

    def _basis(self, query: ModelQuery, parents: list[tuple[str, str]], source: str) -> str:
        """The one note on what a prediction used, from the query itself, so it cannot contradict the
        numbers: lineage, given scores, evaluated instances, metadata; measured scores shown beside."""
        used = []
        if parents:
            where = {"hub": " (read from the Hub)", "given": " (as chosen)"}.get(source, "")
            used.append((f"its {len(parents)} parents' scores" if len(parents) > 1 else "its parent's scores") + where)
        if query.scores:
            used.append(f"its given scores on {', '.join(display_name(b) for b in sorted(query.scores))}")
        if query.items:
            used.append(f"{query.n_items()} evaluated instances of {', '.join(map(display_name, sorted(query.items)))}")
        meta = [k for k, v in query.metadata.items() if v is not None and v == v]
        shown_meta = ", ".join(sorted(meta)[:3]) + (", …" if len(meta) > 3 else "")
        used.append(f"its metadata ({shown_meta})" if meta else "the reference's averages")
        text = "Predicted from " + (", ".join(used[:-1]) + " and " + used[-1] if len(used) > 1 else used[0]) + "."
        if query.model in self.measured and not query.scores:
            text += " Its measured scores were not given to the predictor; they are shown for comparison (✕)."
        return text

    # -- Lineage ---------------------------------------------------------------------------------

    def family_tree(self, model: str, hops: int, suite: str) -> tuple[family.Family, dict[str, float], dict[str, bool]]:
        """The neighbourhood of ``model`` and each drawn model's suite average (measured, else predicted)."""
        typed = model
        model = self.resolve(model)
        if model not in self.graph:
            raise UnknownModelError(f"{shown(typed)} has no lineage in the reference{self._did_you_mean(model)}")
        if suite not in self.suites:
            raise InputError(f"unknown suite {shown(suite)}")
        if not 1 <= int(hops) <= 4:
            raise InputError("hops must be between 1 and 4")
        tree = family.neighbourhood(self.graph, model, int(hops), TREE_BOXES_PER_HOP * (int(hops) + 1),
                                    has_data=lambda m: m in self.measured)
        names = self.suites[suite]
        average: dict[str, float] = {}
        measured: dict[str, bool] = {}
        to_predict = []
        for n in tree.models:
            known = self.measured.get(n, {})
            if all(b in known for b in names):
                average[n] = sum(known[b] for b in names) / len(names)
                measured[n] = True
            else:
                to_predict.append(n)
        if to_predict:
            frame = pd.DataFrame([p.as_row() for p in self.lrmf.predict([self.lrmf.query(n) for n in to_predict])])
            means = frame[frame["benchmark"].isin(names)].groupby("model")["predicted"].mean()
            for n in to_predict:
                average[n] = float(means.get(n, math.nan))
                measured[n] = False
        return tree, average, measured

    # -- Leaderboard and track record ------------------------------------------------------------

    def prediction_log(self) -> pd.DataFrame | None:
        """The bot's predictions joined with measured scores, re-read on every call (the bot writes)."""
        if self.bot_state is None:
            return None
        return PredictionLog(self.bot_state, create=False).table()

    def has_predictions(self) -> bool:
        """Whether the bot has logged any prediction (else the Leaderboard has nothing to filter)."""
        table = self.prediction_log()
        return table is not None and not table.empty

    def backtest_results(self) -> pd.DataFrame | None:
        """The backtest's ``results.csv`` when one was found, else None."""
        if self.backtest is None:
            return None
        try:
            frame = pd.read_csv(self.backtest)
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.backtest}: not a readable CSV ({exc})") from None
        missing = [c for c in tables.BACKTEST_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(f"{self.backtest}: not a backtest results.csv (missing columns {', '.join(missing)})")
        if frame.empty:
            raise InputError(f"{self.backtest}: no rows")
        return frame


def _find_backtest(ref_dir: Path, configured: str | Path | None) -> Path | None:
    """A configured ``results.csv`` (file or report directory), else one in the reference directory."""
    for candidate in ([Path(configured)] if configured else []) + [ref_dir / "backtest", ref_dir]:
        path = candidate / "results.csv" if candidate.is_dir() else candidate
        if path.is_file():
            return path
        if configured and candidate == Path(configured):
            raise InputError(f"{candidate}: no backtest results.csv there")
    return None


def shown(text: str) -> str:
    """A visitor's input as a message repeats it: quoted, cut to :data:`SHOWN_INPUT` characters."""
    text = " ".join(str(text).split())
    return repr(text if len(text) <= SHOWN_INPUT else text[:SHOWN_INPUT - 1] + "…")


def check_model_id(model: str) -> str:
    """A stripped Hub-style model id, or InputError saying what is wrong with it."""
    model = (model or "").strip()
    if not model:
        raise InputError("enter a model id, e.g. org/name")
    if not _MODEL_ID.match(model) or len(model) > 200:
        raise InputError(f"{shown(model)} is not a model id: expected org/name, e.g. Qwen/Qwen2.5-7B-Instruct")
    return model


def normalise_id(text: str) -> str:
    """A model id from what a visitor pastes: a Hub address becomes ``org/name``; then checked."""
    text = (text or "").strip()
    url = _HUB_URL.match(text)
    return check_model_id(url.group(1) if url else text.strip("/"))


def check_relation(relation: str, n_parents: int) -> str:
    """A relation from :data:`RELATIONS`; several parents only make sense as a merge."""
    if relation not in RELATIONS:
        raise InputError(f"unknown relation {relation!r} (expected one of {', '.join(RELATIONS)})")
    if n_parents > 1 and relation != "merge":
        raise InputError(f"{n_parents} parents need the relation 'merge', not {relation!r}")
    return relation
