"""Predictors: ours (:mod:`.lrmf`) and the baselines it is compared with, one algorithm per module."""
from .base import Predictor

__all__ = ["Predictor"]
