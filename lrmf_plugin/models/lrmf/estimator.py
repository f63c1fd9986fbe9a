"""The estimator: hyperparameters, a fit that orchestrates the pieces, and predictions.

Learned state (scikit-learn's ``attr_``): ``posterior_`` (the frozen fitted factors, see
:mod:`.posterior`), ``item_map_``, ``map_levels_`` (where the map predicts), ``calibration_``
(interval scales per benchmark and evidence level).
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Sequence

import numpy as np
from ...dataset import ReferenceData
from ...errors import InputError, NotFittedError, UnknownBenchmarkError
from ...features import MetadataFeaturizer
from ...lineage import LineageGraph
from ...schema import RELATIONS, ModelQuery, Prediction, normalise_relation
from ..base import Predictor
from ..item_map import MAP_SCORE_SHARE, MIN_MAP_ROWS, ItemScoreMap
from . import aipw, persistence
from .calibration import calibrate
from .defaults import CALIBRATION_SWEEPS, DEFAULT_ITEM_WEIGHT, INIT_SCALE, START_RATE_CLIP, SWEEP_TOLERANCE
from .design import Design, build_design
from .empirical_bayes import Priors, estimate_priors
from .metadata_prior import MetadataPrior
from .newton import node_covariance, svd_start, target_basis, update_columns, update_models
from .posterior import Posterior
from .progress import FitProgress, Stage, StageBar
from .predictive import ITEM_LEVELS, Predictive, SharedSteps, item_level
from .shift import shift_widening
from .support import Headroom, Support


class LRMFPredictor(Predictor):
    """Lineage-regularised matrix factorisation with metadata prior and calibrated fold-in.

    Prior precisions are estimated from the data (empirical Bayes) *per direction*: in the basis of
    the score loadings, the spread of vectors around their metadata prediction gives the metadata
    precision, and across the edges of each relation (both ends with data) the share of the
    metadata-predicted change that happens gives its inheritance and the spread of the rest its
    precision. So a fine-tune keeps its parent's knowledge (MMLU-Pro) whatever its name suggests,
    while its instruction following (IFEval) changes as its metadata predicts, and a quantised copy
    stays close on everything. The multipliers below scale those estimates (1 = as estimated; 0
    switches a prior off).

    Parameters
    ----------
    n_factors: latent dimensions (plus one model-bias dimension).
    lineage_strength: multiplier of every relation's estimated precision (0 switches lineage off).
    relation_weights: extra multiplier per relation (finetune, merge, adapter, quantized, family).
    metadata_strength: multiplier of the estimated metadata-prior precision.
    metadata_model: ``gbm`` (gradient-boosted trees: interactions such as size x type) or ``ridge``.
    metadata_l2: ridge penalty of the metadata regression (``ridge`` and warm-up sweeps).
    column_l2: ridge penalty on column loadings.
    score_noise: standard deviation of score columns around the model (normal-scores units); small, so a
        scored model's vector is pinned by its scores and item loadings are fitted to it.
    n_sweeps: alternating Newton sweeps over models and columns.
    n_settle: Newton steps on the model vectors under the final priors (columns fixed).
    calibrate: run a held-out calibration pass after fitting (conformal scaling of intervals).
    calibration_share: share of data models held out for calibration.
    shift_calibration: also hold out the strongest and the newest models (``calibration_share`` of
        them, half each) and learn how much wider the intervals of queries outside the reference's
        support must be, and how much room above its predictions every query needs (:mod:`.shift`);
        without it, such queries are flagged but not widened.
    item_weight: weight of the item log-likelihood in fold-in (a power posterior). Answers to
        reference items are not independent given the model vector (the vector is fitted to the
        benchmark scores, and items share residual structure), so counting each answer fully makes
        many answers overconfident and pulls the score toward the subset's. ``None``: chosen from
        ``ITEM_WEIGHTS`` by held-out error in the calibration pass (``DEFAULT_ITEM_WEIGHT`` without one).
    reveal_sets: sets of benchmarks a user will know exactly before predicting the rest (say the
        cheap IFEval and MuSR, run in full first): each gets its own score-conditional trees, which
        predict the other scores better than the trees shared by every reveal pattern. Queries
        revealing another set still get the shared trees.
    seed: makes initialisation and calibration splits deterministic.
    progress: show a progress bar per stage of the fit (the record, ``stages_``, is kept either way).
    """

    name = "lrmf"

    def __init__(self, n_factors: int = 6, lineage_strength: float = 1.0,
                 relation_weights: dict[str, float] | None = None, metadata_strength: float = 1.0,
                 metadata_model: str = "gbm", metadata_l2: float = 10.0, column_l2: float = 10.0,
                 score_noise: float = 0.03, n_sweeps: int = 15, n_settle: int = 3, calibrate: bool = True,
                 calibration_share: float = 0.2, item_weight: float | None = None,
                 reveal_sets: Sequence[Sequence[str]] = (), seed: int = 0, progress: bool = False,
                 shift_calibration: bool = True):
        self.n_factors = n_factors
        self.lineage_strength = lineage_strength
        self.relation_weights = relation_weights
        self.metadata_strength = metadata_strength
        self.metadata_model = metadata_model
        self.metadata_l2 = metadata_l2
        self.column_l2 = column_l2
        self.score_noise = score_noise
        self.n_sweeps = n_sweeps
        self.n_settle = n_settle
        self.calibrate = calibrate
        self.calibration_share = calibration_share
        self.item_weight = item_weight
        self.reveal_sets = reveal_sets
        self.seed = seed
        self.progress = progress
        self.shift_calibration = shift_calibration

    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to ``__init__`` (scikit-learn convention)."""
        return {k: getattr(self, k) for k in inspect.signature(type(self).__init__).parameters if k != "self"}

    def multipliers(self) -> dict[str, float]:
        """Each relation's multiplier of its estimated precision: ``lineage_strength`` times its weight."""
        user = {normalise_relation(k): float(v) for k, v in (self.relation_weights or {}).items()}
        return {r: self.lineage_strength * user.get(r, 1.0) for r in RELATIONS}

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, data: ReferenceData) -> "LRMFPredictor":
        """Fit on ``data``; with ``calibrate`` also learns interval scaling from held-out models.
        ``stages_`` records what each stage did (counts, trees, wall and CPU seconds)."""
        weight = DEFAULT_ITEM_WEIGHT if self.item_weight is None else float(self.item_weight)
        progress = FitProgress(self.progress)
        self.stages_: list[Stage] = progress.stages
        self._fit_core(data, warm=None, item_weight=weight, progress=progress)
        self.calibration_: dict[tuple[str, str], float] = {}
        self.map_levels_: tuple[str, ...] = ITEM_LEVELS
        if not self.calibrate:
            return self
        # warm-started from this fit: the columns barely move when a fifth of the models leave, so a
        # few sweeps suffice; the metadata prior and its precisions are refitted from scratch, and
        # they are what a held-out model's prediction mostly rests on
        params = {**self.get_params(), "calibrate": False, "n_sweeps": min(self.n_sweeps, CALIBRATION_SWEEPS)}

        def refit(subset: ReferenceData, stage: str = "calibration refit: ") -> "LRMFPredictor":
            helper = type(self)(**params)
            helper._fit_core(subset, warm=self.posterior_, item_weight=weight, progress=progress.nested(stage))
            helper.calibration_, helper.map_levels_ = {}, ITEM_LEVELS
            return helper

        result = calibrate(data, refit, seed=self.seed, share=self.calibration_share, item_weight=self.item_weight,
                           progress=progress)
        if result is not None:
            self.calibration_, self.map_levels_ = result.scales, result.map_levels
            self.posterior_ = self.posterior_.with_item_weight(result.item_weight)
            if not result.map_levels:
                self.item_map_ = None
        if self.shift_calibration:
            self.support_ = self.support_.with_shift(
                *shift_widening(data, refit, self, seed=self.seed, share=self.calibration_share,
                                progress=progress.nested("shift: ")))
        return self

    def _fit_core(self, data: ReferenceData, warm: Posterior | None, item_weight: float,
                  progress: FitProgress) -> None:
        """The factorisation; ``warm``, a posterior fitted on a superset of ``data``'s models with the
        same columns, gives the starting point (the calibration refit needs only a few sweeps).
        ``progress`` shows and records each stage with its own count: sweeps, tree ensembles, steps."""
        graph = LineageGraph(data.edges)
        design = build_design(data, graph)
        patterns = self._reveal_patterns(design.score_names)
        d = self.n_factors + 1  # + model bias
        # vocabularies from models with data only: the trees learn from those rows alone
        featurizer = MetadataFeaturizer().fit(data.metadata, [m for m, h in zip(design.rows, design.has) if h])
        F = featurizer.transform(data.metadata, design.rows)
        laplacians = {r: graph.laplacian(design.rows, {r: 1.0}, max_hops=1) for r in RELATIONS}
        priors = Priors.warm_up(d, self.metadata_strength, self.multipliers())
        U, Vs, cs = self._start(design, d, warm)
        with progress.stage("sweeps", self.n_sweeps, "sweep") as bar:
            U, Vs, cs = self._sweeps(design, F, U, Vs, cs, priors, laplacians, bar)
        scored = bool(design.score_names)
        prior, priors, M = self._fit_priors(design, F, U, target_basis(Vs[0] if scored else None, d), graph,
                                            patterns, progress)
        self.item_map_ = self._fit_item_map(design, M, Vs[0] if scored else None, cs[0] if scored else None)
        # with the columns final and the priors estimated, settle the model vectors under them
        # (columns fixed, so the prior's basis stays the one the scores are read in)
        with progress.stage("settle", self.n_settle + 1, "step") as bar:
            for _ in range(self.n_settle):
                U = update_models(design.blocks, U, Vs, cs, M, priors, laplacians, self.score_noise)
                bar.step()
            node_cov = node_covariance(design.blocks, U, Vs, cs, priors, laplacians, self.score_noise)
            bar.step()
        self.posterior_ = Posterior(
            models=design.rows, U=U, M=M, node_cov=node_cov,
            loadings=Vs, biases=cs, block_kinds=[bl.kind for bl in design.blocks], score_names=design.score_names,
            benchmarks=_predictable(data, design), info=dict(data.benchmarks), item_names=design.item_names,
            normal=design.normal, featurizer=featurizer, prior=prior, priors=priors, multipliers=self.multipliers(),
            graph=graph, score_noise=self.score_noise, item_weight=item_weight)
        self.support_ = Support.fit(data, self.posterior_, design.has)

    def _fit_priors(self, design: Design, F: np.ndarray, U: np.ndarray, basis: np.ndarray, graph: LineageGraph,
                    patterns: list[tuple[int, ...]], progress: FitProgress
                    ) -> tuple[MetadataPrior, Priors, np.ndarray]:
        """The metadata prior (gbm by default) in the final score basis, the prior precisions
        estimated from its out-of-fold residuals, and the score-conditional trees; with the prior
        means of every row (models with data: their out-of-fold ones)."""
        has = design.has
        row = {m: i for i, m in enumerate(design.rows)}
        prior = MetadataPrior(self.metadata_model, self.metadata_l2, self.seed)
        with progress.stage("metadata trees", prior.ensembles(len(basis)), "ensemble") as bar:
            grown = (lambda trees: bar.step(len(trees.roots)))
            prior.fit(F[has], U[has], basis, grown)
            M = prior.predict(F)
            # models with data get their out-of-fold prior mean, so their residuals (which the
            # lineage prior propagates to relatives) are honest rather than shrunk by overfitting
            priors, M[has] = estimate_priors(U, F, has, prior, graph, row, self.metadata_strength,
                                             self.multipliers(), grown)
        if design.score_names and prior.kind == "gbm":
            total = prior.conditional_ensembles(len(basis), patterns)
            with progress.stage("score-conditional trees", total, "ensemble") as bar:
                prior.fit_conditional(F[has], U[has], M[has] @ basis.T, ~np.isnan(design.S[has]), patterns,
                                      lambda trees: bar.step(len(trees.roots)))
        return prior, priors, M

    def _start(self, design: Design, d: int, warm: Posterior | None) -> tuple[np.ndarray, list, list]:
        """Starting vectors, loadings and biases: ``warm``'s where it has the same columns, else
        small random ones with the leading factors from an SVD of the data."""
        rng = np.random.default_rng(self.seed)
        n, blocks = len(design.rows), design.blocks
        U = INIT_SCALE * rng.standard_normal((n, d))
        Vs = [INIT_SCALE * rng.standard_normal((len(bl.names), d)) for bl in blocks]
        cs = [np.zeros(len(bl.names)) for bl in blocks]
        for k, bl in enumerate(blocks):
            if bl.kind == "bernoulli":
                mean = np.nanmean(np.where(bl.mask, bl.values, np.nan), axis=0)
                mean = np.clip(np.nan_to_num(mean, nan=0.5), *START_RATE_CLIP)
                cs[k] = np.log(mean / (1 - mean))
            Vs[k][:, -1] = 1.0  # loading of the model-bias dimension is fixed at 1
        if warm is not None and warm.score_names == design.score_names and warm.item_names == design.item_names:
            Vs, cs = [V.copy() for V in warm.loadings], [c.copy() for c in warm.biases]
            start = np.array([warm.row.get(m, -1) for m in design.rows])
            U[start >= 0] = warm.U[start[start >= 0]]
            return U, Vs, cs
        return svd_start(blocks, U, cs, self.n_factors, self.seed), Vs, cs

    def _sweeps(self, design: Design, F: np.ndarray, U: np.ndarray, Vs: list, cs: list, priors: Priors,
                laplacians: dict, bar: StageBar) -> tuple[np.ndarray, list, list]:
        """Alternate over models and columns with a cheap ridge metadata prior, refitted every sweep."""
        prior = MetadataPrior("ridge", self.metadata_l2, self.seed)
        M = np.zeros_like(U)
        has = design.has
        for _ in range(self.n_sweeps):
            before = U
            U = update_models(design.blocks, U, Vs, cs, M, priors, laplacians, self.score_noise)
            for k, bl in enumerate(design.blocks):
                Vs[k], cs[k] = update_columns(bl, U, Vs[k], cs[k], self.column_l2, self.score_noise)
            prior.fit(F[has], U[has])
            M = prior.predict(F)
            bar.step()
            if np.max(np.abs(U - before)) < SWEEP_TOLERANCE:
                break
        return U, Vs, cs

    def _reveal_patterns(self, score_cols: list[str]) -> list[tuple[int, ...]]:
        """``reveal_sets`` as score-column indices; a benchmark without scores in the reference is refused."""
        patterns = []
        for names in self.reveal_sets:
            if isinstance(names, str) or not len(names):
                raise InputError(f"a reveal set is a non-empty list of benchmarks, not {names!r}")
            unknown = [b for b in names if b not in score_cols]
            if unknown:
                raise UnknownBenchmarkError(f"reveal set names {unknown[0]!r}, which has no scores in the reference "
                                            f"(score benchmarks: {', '.join(score_cols) or 'none'})")
            patterns.append(tuple(sorted({score_cols.index(b) for b in names})))
        return patterns

    def _fit_item_map(self, design: Design, M: np.ndarray, V: np.ndarray | None, c: np.ndarray | None
                      ) -> ItemScoreMap | None:
        """The map from item answers to scores (:mod:`..item_map`), learned from the models with every
        item and the scores nearly all of those have; its prior-prediction variables are their
        out-of-fold metadata predictions ``M``, as a new model's are made without its own data.
        ``None`` without both kinds of columns or with fewer than ``MIN_MAP_ROWS`` complete models."""
        S, Y = design.S, design.Y
        if Y is None or V is None:
            return None
        answered = design.has & ~np.isnan(Y).any(axis=1)
        if not answered.any():
            return None
        cols = [j for j in range(S.shape[1]) if np.mean(~np.isnan(S[answered, j])) >= MAP_SCORE_SHARE]
        complete = answered & ~np.isnan(S[:, cols]).any(axis=1)
        if not cols or complete.sum() < MIN_MAP_ROWS:
            return None
        Z = M[complete] @ V[cols].T + c[cols]
        prior = np.column_stack([design.normal.inverse(j, Z[:, k]) for k, j in enumerate(cols)])
        return ItemScoreMap().fit(S[complete][:, cols], prior, Y[complete], [design.score_names[j] for j in cols])

    # -- prediction -------------------------------------------------------------------------------
    @property
    def models_(self) -> list[str]:
        """The fitted rows: models with data, and the data-less ancestors between them."""
        return self.posterior_.models

    @property
    def benchmarks_(self) -> list[str]:
        return self.posterior_.benchmarks

    def with_shift(self, widen: dict[str, float], headroom: Headroom) -> "LRMFPredictor":
        """This fitted predictor with another shift calibration: the flags' widening and the headroom
        (e.g. none, to see what they add to the intervals); the fit itself is shared, not copied."""
        other = copy.copy(self)
        other.support_ = self.support_.with_shift(widen, headroom)
        return other

    def predictive(self) -> Predictive:
        """The fitted predictive distribution (posterior, item map and the levels it predicts at)."""
        if not hasattr(self, "posterior_"):
            raise NotFittedError("LRMFPredictor is not fitted yet: run `lm-eval-predict fit` first")
        return Predictive(self.posterior_, self.item_map_, self.map_levels_)

    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        predictive, post = self.predictive(), self.posterior_
        out: list[Prediction] = []
        queries = list(queries)
        if not queries:
            return out
        shared = SharedSteps()
        targets = predictive.share_prior_targets(queries, shared)
        for q, mean in zip(queries, post.prior_means(queries, targets=targets)):
            rows = predictive.predict_one(q, mean, self.calibration_, shared)
            links = predictive.links(q, shared)
            u = predictive.fold_in(q, mean, links, shared)[0]
            reasons, level = self.support_.reasons(q, post, u), predictive.level(q, links)
            rows = [self.support_.widened(p, reasons, level) for p in rows]
            out += aipw.corrected(rows, q, post, u) if q.random_items else rows
        return out

    def item_level(self, counts: Sequence[int]) -> str:
        """The evidence level of a query answering ``counts`` items per benchmark; the planner asks
        it of the answers a plan will bring."""
        return item_level(len(self.posterior_.item_col), counts)

    def item_probabilities(self, query: ModelQuery, benchmark: str) -> np.ndarray | None:
        if benchmark not in self.posterior_.item_index:
            return None
        u, _ = self.posterior_.fold_in(query)
        return self.posterior_.answer_probabilities(benchmark, u)[1]

    # -- persistence: versioned npz + JSON with checksum (see lrmf_plugin.artifact), never pickle --
    def save(self, stem, reference_fingerprint: str) -> None:
        """Store the fitted predictor at ``stem`` (.npz + .json), tied to a reference fingerprint."""
        if not hasattr(self, "posterior_"):
            raise NotFittedError("cannot save an unfitted LRMFPredictor")
        persistence.save(self, stem, reference_fingerprint)

    @classmethod
    def load(cls, stem, graph: LineageGraph, reference_fingerprint: str) -> "LRMFPredictor":
        """Load a stored predictor; refuses one fitted on another reference (or another state of it)."""
        return persistence.load(cls, stem, graph, reference_fingerprint)


def _predictable(data: ReferenceData, design: Design) -> list[str]:
    """The benchmarks the fit can predict: those with a score column or items. A refit on a subset (the
    calibration and shift passes) can lose every score of a rare benchmark, e.g. one known from a single
    model's evaluation results, and must then leave it out rather than fail on it."""
    with_items = {b for b, _ in design.item_names}
    return [b for b in data.benchmark_names() if b in design.score_names or b in with_items]
