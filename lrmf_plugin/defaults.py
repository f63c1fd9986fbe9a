"""Constants shared across the package's modules, each with its reason."""
from __future__ import annotations

#: rows a learned component needs before it is fitted at all (metadata trees, their score-conditional
#: and reveal-set variants, the residual covariance, the calibration pass): below it a fit is noise,
#: and the component falls back to its simpler form
MIN_ROWS = 20
#: the standard normal's 95% quantile: a 90% interval is mean +- Z90 sd (every method's intervals)
Z90 = 1.6448536269514722
#: items per benchmark of the random and planned settings: the backtest's budgets, and the budgets the
#: calibration pass draws its held-out item queries from (so intervals are scaled for what is reported)
ITEM_BUDGETS: tuple[int, ...] = (5, 10, 25, 50)
#: the Hub dataset repo of the fitted reference every face uses when none is given (overridden by
#: ``$LRMF_REFERENCE_REPO``), so a fresh machine with a Hub predicts without fitting
DEFAULT_REPO = "lrmf-plugin/reference-v2"
REPO_ENV = "LRMF_REFERENCE_REPO"
