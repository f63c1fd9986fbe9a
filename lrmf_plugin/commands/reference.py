"""``lm-eval-predict reference``: fill a reference from files or the Hub, show it, publish or pull a fitted one."""
from __future__ import annotations

import argparse
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..defaults import DEFAULT_REPO, REPO_ENV
from ..importers import IMPORTERS
from . import add_ref_argument, default_reference_dir

if TYPE_CHECKING:
    from ..reference import Reference
    from ..track_record import PredictionLog


#: where the bot and the Space find the prediction log (the bot's ``--state``)
STATE_ENV = "LRMF_BOT_STATE"
HELP = "import data into a reference, pull it from the Hub, or show it"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reference", help=HELP,
        description="A reference is a directory holding what is known about existing models: benchmark scores, "
                    "per-item results, lineage and metadata. Predictors are fitted on it.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    imp = sub.add_parser("import", help="import one file or directory (re-importing it replaces it)",
                         description="Import one source into the reference (created if absent). Importing is "
                                     "atomic: on any error the reference is left as it was.")
    add_ref_argument(imp)
    imp.add_argument("--kind", required=True, choices=tuple(IMPORTERS), help="what PATH holds (see README: Reference data)")
    imp.add_argument("--benchmark", default=None, metavar="NAME",
                     help="responses only: the benchmark the item columns belong to")
    imp.add_argument("--model", default=None, metavar="ID",
                     help="lm-eval-output only: the model id, when the runs' model_args do not name it")
    imp.add_argument("--endpoint", default=None, metavar="URL",
                     help="hub-eval-results only: Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)")
    imp.add_argument("--track-record", type=Path, default=None, metavar="STATE",
                     help=f"a bot's prediction log (default ${STATE_ENV} if set): scores this import measures for "
                          "models it predicted are recorded there")
    imp.add_argument("path", type=Path, metavar="PATH",
                     help="the file or directory to import (hub-eval-results: a text file of model ids, one a line)")
    imp.set_defaults(func=_import)

    show = sub.add_parser("show", help="print models, benchmarks, items, edges and sources")
    add_ref_argument(show)
    show.add_argument("--max-dropped", type=int, default=10, metavar="N",
                      help="list at most N dropped lineage edges (default %(default)s)")
    show.set_defaults(func=_show)
    _register_hub(sub)


def _register_hub(sub: argparse._SubParsersAction) -> None:
    """``pull`` (raw sources, or a fitted reference with --fitted) and ``push``."""
    pull = sub.add_parser("pull", help="download a fitted reference (--fitted), or fetch the Open LLM Leaderboard, "
                                       "details and card lineage from the Hub",
                          description="With --fitted ORG/NAME: download a fitted reference published with "
                                      "`reference push`, verify every checksum and version, and install it at "
                                      "--ref (nothing is installed on any error). Without: download the "
                                      "leaderboard's contents dataset (and optionally per-model details and "
                                      "model-card lineage) into the reference (created if absent), to fit it "
                                      "yourself. A token is read from the environment (HF_TOKEN) if needed.")
    add_ref_argument(pull)
    pull.add_argument("--fitted", default=None, metavar="ORG/NAME",
                      help=f"the dataset repo of a fitted reference (the default reference is ${REPO_ENV} "
                           f"or {DEFAULT_REPO})")
    pull.add_argument("--revision", default=None, metavar="R",
                      help="--fitted only: a branch, tag or commit of the repo (default: main)")
    pull.add_argument("--force", action="store_true",
                      help="--fitted only: replace a --ref directory that holds a reference not pulled from the Hub")
    pull.add_argument("--endpoint", default=None, metavar="URL",
                      help="Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)")
    pull.add_argument("--contents-repo", default="open-llm-leaderboard/contents", metavar="REPO",
                      help="leaderboard contents dataset (default %(default)s)")
    pull.add_argument("--details", nargs="+", default=[], metavar="MODEL",
                      help="also fetch the per-item details datasets of these models")
    pull.add_argument("--lineage", action=argparse.BooleanOptionalAction, default=True,
                      help="read parents from the model cards of the pulled models (default: on)")
    pull.add_argument("--eval-results", action=argparse.BooleanOptionalAction, default=True,
                      help="read the pulled models' .eval_results files and card model-index (default: on)")
    pull.add_argument("--quiet", action="store_true", help="no progress bars")
    pull.set_defaults(func=_pull)

    push = sub.add_parser("push", help="publish a fitted reference as a Hub dataset repo",
                          description="Publish the fitted reference at --ref (store, predictor, manifest with "
                                      "versions and SHA-256 checksums, dataset card) as the dataset repo "
                                      "ORG/NAME, in one commit. The token comes from HF_TOKEN or the token file.")
    add_ref_argument(push)
    push.add_argument("--repo", required=True, metavar="ORG/NAME", help="the dataset repo (created if absent)")
    push.add_argument("--endpoint", default=None, metavar="URL",
                      help="Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--message", default=None, metavar="TEXT", help="commit message")
    push.set_defaults(func=_push)


def _import(args: argparse.Namespace) -> int:
    from ..importers import get_importer
    from ..sources import content_checksum

    options = {k: v for k, v in (("benchmark", args.benchmark), ("model", args.model), ("endpoint", args.endpoint))
               if v is not None}
    checksum = content_checksum(args.kind, args.path, options)
    log = _track_record(args.track_record)  # a wrong path fails before anything is imported
    source = get_importer(args.kind)(args.path, **options)  # parse fully before touching the reference
    # a Hub importer digests what it downloaded: the ids file alone does not say whether that changed
    source.checksum = source.checksum or checksum
    with _reference(args.ref) as ref:
        print(ref.write_source(source))
    if log is not None:
        from ..track_record import source_scores

        n = log.record_predicted_measured(source_scores(source), f"{source.kind}: {source.location}")
        print(f"track record {log.path}: {n} measured scores of predicted models recorded")
    return 0


def _track_record(path: Path | None) -> "PredictionLog | None":
    """The prediction log whose predicted models get the import's scores as measured ones, if any."""
    import os

    from ..errors import InputError
    from ..track_record import PredictionLog

    if path is None and os.environ.get(STATE_ENV):
        path = Path(os.environ[STATE_ENV])
    if path is None:
        return None
    if not path.is_file():
        raise InputError(f"{path}: no prediction log there (--track-record or ${STATE_ENV})")
    return PredictionLog(path)


def _show(args: argparse.Namespace) -> int:
    from ..api import Lrmf

    api = Lrmf(args.ref or default_reference_dir())
    status = api.status()  # before printing: an edited predictor is refused, not listed
    print(api.reference.summary().format(max_dropped=args.max_dropped))
    print(status.format())
    return 0


def _pull(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..importers.hub_pull import pull_reference

    if args.fitted is not None:
        return _pull_fitted(args)
    if args.revision is not None or args.force:
        raise InputError("--revision and --force go with --fitted ORG/NAME")
    with _reference(args.ref) as ref:
        reports = pull_reference(ref, endpoint=args.endpoint, contents_repo=args.contents_repo,
                                 details_for=args.details, lineage=args.lineage, eval_results=args.eval_results,
                                 progress=not args.quiet)
    for report in reports:
        print(report)
    return 0


def _pull_fitted(args: argparse.Namespace) -> int:
    from ..distribution import pull

    if args.quiet:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    done = pull(args.fitted, args.ref or default_reference_dir(), revision=args.revision, endpoint=args.endpoint,
                force=args.force)
    print(f"installed {done.repo} at commit {done.commit[:12]} ({done.n_files} files verified, reference "
          f"fingerprint {done.fingerprint}) in {done.path}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from ..distribution import push

    done = push(args.ref or default_reference_dir(), args.repo, endpoint=args.endpoint, private=args.private,
                message=args.message)
    print(f"published {done.n_files} files to {done.repo} at commit {done.commit[:12]}: {done.url}")
    return 0


@contextmanager
def _reference(path: Path | None) -> Iterator["Reference"]:
    """Open or create the reference; if this call created it and the work fails, remove it again,
    so a failed first import or pull leaves nothing behind."""
    from ..reference import DB_NAME, Reference

    path = path or default_reference_dir()
    new_dir = not path.exists()
    new_db = not (path / DB_NAME).exists()
    ref = Reference.create(path)
    try:
        yield ref
    except BaseException:
        if new_dir:
            shutil.rmtree(path, ignore_errors=True)
        elif new_db:
            for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
                (path / name).unlink(missing_ok=True)
        raise
