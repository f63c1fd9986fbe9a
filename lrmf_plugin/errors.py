"""Every error a user can cause, one class each, all under :class:`LrmfError`.

The CLI catches ``LrmfError`` and prints ``error: <message>`` on one line with a non-zero exit, so
messages must name the file, row or column and the problem, and never rely on a traceback.
"""
from __future__ import annotations


class LrmfError(Exception):
    """Base class: a problem with the user's input or environment, reported in one line."""

    exit_code = 2


class InputError(LrmfError):
    """A malformed input file: missing column, empty file, NaN, value out of range, bad JSON."""


class UnknownBenchmarkError(InputError):
    """A benchmark (or lm-eval task) name the reference has no data for."""


class UnknownItemError(InputError):
    """An item id that is not part of the named benchmark in the reference."""


class UnknownModelError(LrmfError):
    """A model id that is neither in the reference nor described by the input."""


class ReferenceStoreError(LrmfError):
    """The reference directory is missing, empty, locked or inconsistent."""


class ArtifactError(LrmfError):
    """A stored artifact is corrupted, of a foreign format or version, or fitted on another reference."""


class NotFittedError(LrmfError):
    """A predictor was used before ``fit`` (or the reference has no stored predictor yet)."""


class HubError(LrmfError):
    """The Hugging Face Hub (or the configured endpoint) failed or answered something unusable."""


class HubRateLimited(HubError):
    """The Hub answered 429; ``reset_in`` is the wait its ``RateLimit`` header asks for (seconds)."""

    def __init__(self, message: str, reset_in: float | None = None):
        super().__init__(message)
        self.reset_in = reset_in


class HubForbidden(HubError):
    """403: discussions disabled, the account blocked, or the repo disabled."""


class HubNotFound(HubError):
    """404 (or a private repo we cannot see): the repo, file or discussion does not exist for us."""


class EvaluationError(LrmfError):
    """An lm-eval run could not be planned, refused a flag, or did not evaluate what was planned."""
