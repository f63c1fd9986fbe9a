"""The one small interface every predictor (ours and every baseline) implements.

scikit-learn style: hyperparameters in ``__init__``, learned state in attributes ending in ``_``,
``fit`` returns ``self``. The backtest, the CLI and the faces only ever call :meth:`Predictor.fit`
and :meth:`Predictor.predict`, so any method can be swapped in or compared side by side.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Sequence

import numpy as np
import pandas as pd

from ..dataset import ReferenceData
from ..errors import NotFittedError
from ..schema import ModelQuery, Prediction


class Predictor(ABC):
    """Fit on a :class:`ReferenceData`; predict every benchmark for new (or held-out) models."""

    #: short name used in reports and on the command line
    name: ClassVar[str] = "predictor"

    @abstractmethod
    def fit(self, data: ReferenceData) -> "Predictor":
        """Learn from the reference; returns ``self``."""

    @abstractmethod
    def predict(self, queries: Sequence[ModelQuery]) -> list[Prediction]:
        """One :class:`Prediction` per query x benchmark the predictor was fitted on.

        A benchmark whose score the query already gives is returned as observed (interval of zero
        width). Methods without an uncertainty model return NaN bounds.
        """

    def item_probabilities(self, query: ModelQuery, benchmark: str) -> np.ndarray | None:
        """Predicted P(correct) for every reference item of ``benchmark``, or None if not modelled."""
        return None

    def predict_frame(self, queries: Sequence[ModelQuery]) -> pd.DataFrame:
        """:meth:`predict` as a DataFrame with columns model, benchmark, predicted, lower, upper."""
        rows = [p.as_row() for p in self.predict(queries)]
        return pd.DataFrame(rows, columns=["model", "benchmark", "predicted", "lower", "upper"])

    def _check_fitted(self) -> None:
        if not getattr(self, "data_", None):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit() first")
