"""Lineage-regularised joint factorisation (our predictor).

One latent vector ``u_i`` per model (plus a general-ability dimension) explains every column of the
reference at once: benchmark-score columns through a Gaussian likelihood on the normal-scores scale
(:mod:`..normal_scores`) and item columns through a Bernoulli-logit likelihood. A model with scores
gets its vector from them, and item loadings are fitted to those vectors (the items do not pull a
scored model's vector: a cut that keeps a few hundred reference items from overfitting and bending
the scores). Two priors shape the model vectors:

* a **metadata** prior: ``u_i ~ N(g(phi_i), T)``, whose mean is a gradient-boosted regression on the
  model's metadata and name (learned in the basis of the score loadings), so a model with no
  relatives still gets a sensible vector; a model that reveals some scores gets the mean of
  score-conditional trees that also read those scores (:mod:`.metadata_prior`);
* a **lineage** prior: a graph-Laplacian penalty on ``u_child - u_parent - K_r (g_child - g_parent)``,
  one Laplacian, precision matrix and inheritance ``K_r`` per relation; ancestors without data are
  latent nodes that still tie their descendants together, and a new model is bridged through a
  data-less relative to that relative's own relatives.

All prior precisions and inheritances are estimated from out-of-fold residuals
(:mod:`.empirical_bayes`); user multipliers scale them. Fitting alternates exact Newton steps
(:mod:`.newton`). A new model is folded in (:mod:`.posterior`), its predictive moments combine that
posterior with score and item-sampling noise (:mod:`.predictive`), and a held-out pass
(:mod:`.calibration`) makes the 90% intervals honest. The modules, in import order: ``estimator``
-> ``calibration`` -> ``planning`` (:mod:`lrmf_plugin.planning`) -> ``predictive``/``posterior`` ->
``empirical_bayes``/``newton`` -> ``metadata_prior`` -> ``defaults``.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

#: public names -> the module defining them. Imported on first use: the planner imports this
#: package's posterior, and an eager estimator import here would import the planner back mid-import
_EXPORTS = {"LRMFPredictor": "estimator", "MetadataPrior": "metadata_prior", "EvidenceLevel": "predictive"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
