"""Importers: one reader per source family, each ``read(path, **options) -> SourceData``.

:data:`IMPORTERS` maps a ``--kind`` to its reader. Readers are imported on first use, by module
path, so a kind whose module is missing or needs an optional dependency only fails when used, with
a one-line error, and ``lm-eval-predict --help`` never pays for heavy imports.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError

#: kind -> "module:function" of its reader (modules relative to this package)
_READERS: dict[str, str] = {
    "leaderboard-v2": "leaderboard:read_v2",
    "leaderboard-v1": "leaderboard:read_v1",
    "responses": "responses:read",
    "lineage": "lineage_csv:read",
    "hub-models": "hub_models:read",
    "lm-eval-output": "lm_eval_output:read",
    "hub-eval-results": "hub_eval_results:read",
}


def _lazy(kind: str, target: str) -> Callable[..., Any]:
    module, func = target.split(":")

    def read(path: Path, **options: Any):
        try:
            mod = importlib.import_module(f".{module}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise
            raise InputError(f"the {kind!r} importer is not available in this installation") from None
        return getattr(mod, func)(path, **options)

    read.__name__ = read.__qualname__ = f"read_{module}"
    read.__doc__ = f"Read a {kind} source (see lrmf_plugin.importers.{module}.{func})."
    return read


#: --kind -> reader returning a :class:`~lrmf_plugin.sources.SourceData`
IMPORTERS: dict[str, Callable[..., Any]] = {kind: _lazy(kind, target) for kind, target in _READERS.items()}


def get_importer(kind: str) -> Callable[..., Any]:
    """The reader for ``kind``; :class:`InputError` listing the known kinds otherwise."""
    try:
        return IMPORTERS[kind]
    except KeyError:
        raise InputError(f"unknown source kind {kind!r} (known: {', '.join(IMPORTERS)})") from None


def source_key(kind: str, path: Path, *qualifiers: str) -> str:
    """The identity of a file source: importing the same file (as the same kind) again replaces it."""
    return ":".join([kind, *qualifiers, str(Path(path).resolve())])


def reject_options(kind: str, options: dict[str, Any]) -> None:
    """Readers call this with the options they did not consume."""
    extra = [k for k, v in options.items() if v is not None]
    if extra:
        raise InputError(f"the {kind} importer takes no option {', '.join('--' + k for k in extra)}")
