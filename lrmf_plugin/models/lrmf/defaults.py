"""The factorisation's named constants, each with the reason for its value.

Results that chose these values are in ``docs/experiments.md``; here each keeps its *why*.
"""
from __future__ import annotations

#: relation precision relative to the metadata prior, used before (or without) enough edges to estimate
#: it: a quantised copy is nearly its parent, a fine-tune or merge less so, a family member least
FALLBACK_RELATION_PRECISION = {"quantized": 20.0, "adapter": 4.0, "finetune": 2.0, "merge": 2.0, "family": 0.5}
#: edges of one relation (both ends with data) needed to estimate its inheritance and precision
MIN_RELATION_EDGES = 5
#: the interval coverage the calibration pass aims at
COVERAGE = 0.9
#: the metadata prior's gradient-boosted trees (LightGBM, one ensemble per target direction). Medians
#: (absolute error): the leaderboard's misses are heavy-tailed (broken runs), and a mean chases them.
#: Small, many leaves: a leaderboard is full of near-twins (an author's v2 and v3, one recipe on two
#: bases) that only a fine split on name tokens and namespace isolates. Early stopping on a tenth of
#: the rows (``validation``, ``patience`` rounds) grows them only while they generalise, so where
#: metadata says little they stop after a few rounds. One thread and deterministic: the same trees
#: on every machine and run, and no OpenMP threads spinning on a busy machine's shared cores.
#: Row-wise histograms: the same trees as column-wise, sooner, on a leaderboard's few thousand rows.
METADATA_TREES = {"rounds": 200, "patience": 10, "validation": 0.1, "objective": "l1", "learning_rate": 0.1,
                  "num_leaves": 127, "min_data_in_leaf": 5, "max_bin": 255, "num_threads": 1,
                  "deterministic": True, "force_row_wise": True}
#: the score-conditional trees: the same fine, early-stopped trees. They train on masked copies of
#: each model, so a five-row leaf may hold one model's copies, but early stopping (on held-out
#: models, all copies of one on the same side) halts them once that stops generalising
CONDITIONAL_TREES = METADATA_TREES
#: copies of each model, each score revealed with probability 1/2, that train the score-conditional trees
CONDITIONAL_COPIES = 4
#: out-of-fold halves of the metadata prior's honest residuals (each model predicted by a model that
#: did not see it; two halves keep the extra fits cheap)
RESIDUAL_FOLDS = 2
#: candidate weights of the item log-likelihood in fold-in (chosen on the calibration models), and the
#: weight used when no calibration pass chooses one (what it chose fitted on all of ../shared/data)
ITEM_WEIGHTS = (1.0, 0.6, 0.4, 0.25)
DEFAULT_ITEM_WEIGHT = 0.4
#: sweeps of the warm-started calibration refit, and how many of its held-out models are predicted
#: (a few hundred per benchmark and evidence level pin a 90% conformal quantile; more only cost time)
CALIBRATION_SWEEPS = 4
CALIBRATION_MODELS = 600
#: fewest held-out models of the calibration pass, and fewest ratios that give a level its own scale
#: (fewer: the level borrows its sibling's scale, or none)
MIN_CALIBRATION_MODELS = 10
MIN_CALIBRATION_CASES = 10
#: items per answered benchmark (on average) above which item evidence is its own calibration level:
#: the more answers, the more a slightly wrong vector overtrusts them
MANY_ITEMS = 15
#: alternating sweeps stop early once no model-vector coordinate moves more than this
SWEEP_TOLERANCE = 1e-3
#: cells per row chunk of a likelihood pass (4 MB of float32: the chunk's temporaries stay in cache)
CHUNK_CELLS = 1 << 20
#: scale of the random start of vectors and loadings (the SVD start overwrites the leading factors)
INIT_SCALE = 0.01
#: clip of an item's starting correct rate before its logit: a column all right or all wrong would
#: otherwise start at an infinite bias
START_RATE_CLIP = (0.02, 0.98)
#: largest Newton step per coordinate: logistic Newton can overshoot far from the optimum
MAX_STEP = 1.0
#: Newton steps of one fold-in, and the step size at which it has converged
FOLD_IN_STEPS = 25
FOLD_IN_TOLERANCE = 1e-7
#: smallest diagonal of a shrunk covariance (a direction with no spread would make it singular)
MIN_VARIANCE = 1e-4
#: singular values below this share of the largest are rank deficiency of the score loadings
RANK_TOLERANCE = 1e-8
