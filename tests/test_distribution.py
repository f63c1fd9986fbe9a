"""`reference push` / `reference pull --fitted`: a fitted reference through the fake Hub and back.

The real ``huggingface_hub`` client uploads (``create_repo`` + ``create_commit`` over LFS) and
downloads (``snapshot_download`` into a per-test cache); the fake Hub keeps every commit.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, HfApi, constants
from synthetic_lowrank import make_reference

from lrmf_plugin.api import Lrmf
from lrmf_plugin.cli import main
from lrmf_plugin.distribution import DEFAULT_REPO, FORMAT_VERSION, MANIFEST
from lrmf_plugin.reference import Reference
from lrmf_plugin.sources import ItemObservations, SourceData
from lrmf_plugin.schema import Edge

TOKEN = "hf_publisher_secret_token_42"
REPO = "lrmf-org/reference-test"


def _build(path: Path, seed: int) -> str:
    """Write and fit a small reference (scores, items, metadata, lineage); returns a model left out of it."""
    data, _ = make_reference(n_families=8, family_size=4, seed=seed)
    held = data.models[-1]
    keep = [m for m in data.models if m != held]
    scores = data.scores.loc[keep].stack().dropna().rename("score").reset_index()
    scores.columns = ["model", "benchmark", "score"]
    meta = data.metadata.loc[keep].reset_index().rename(columns={"index": "model"})
    rows = [data.index[m] for m in keep]
    items = [ItemObservations(b, keep, list(block.items), block.values[rows], complete=data.benchmarks[b].items_complete)
             for b, block in data.items.items()]
    Reference.create(path).write_source(SourceData(key="syn", kind="synthetic", location="synthetic low-rank data",
                                                   scores=scores, metadata=meta, edges=list(data.edges), items=items,
                                                   benchmarks=dict(data.benchmarks)))
    Lrmf(path).fit(progress=False, n_sweeps=4)
    return held


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("fitted") / "ref"
    return {"path": path, "held": _build(path, seed=3)}


@pytest.fixture
def hub(fake_hub, monkeypatch):
    """The fake Hub with a publisher in the ``lrmf-org`` org; uploads go over LFS (the fake has no Xet)."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    fake_hub.add_user("publisher", TOKEN, orgs=("lrmf-org",))
    return fake_hub


def _predictions(ref: Path, held: str) -> bytes:
    api = Lrmf(ref)
    queries = [api.query(held), api.query("new/merge", parents=[("fam0/base", "merge"), ("fam2/base", "merge")])]
    return api.predictor.predict_frame(queries).to_csv(index=False).encode()


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_push_pull_predict_round_trip_is_byte_identical(hub, fitted, tmp_path, capsys):
    assert main(["reference", "push", "--ref", str(fitted["path"]), "--repo", REPO, "--endpoint", hub.url]) == 0
    assert "published" in capsys.readouterr().out
    files = set(hub.datasets[REPO].files)
    assert {MANIFEST, "README.md", "reference.sqlite", "predictor/lrmf.json", "predictor/lrmf.npz"} <= files
    # binary files went through LFS: announced by oid in the commit, bytes PUT to the upload href
    assert "reference.sqlite" in hub.datasets[REPO].lfs and "README.md" not in hub.datasets[REPO].lfs
    assert hub.requests_to(r"^/lfs-upload/", "PUT") and hub.requests_to(r"^/api/validate-yaml$", "POST")
    card = hub.datasets[REPO].files["README.md"].decode()
    assert card.startswith("---\n") and "viewer: false" in card
    assert "synthetic low-rank data" in card and f"pull --fitted {REPO}" in card  # where from, how to use

    dest = tmp_path / "pulled"
    assert main(["reference", "pull", "--fitted", REPO, "--ref", str(dest), "--endpoint", hub.url]) == 0
    assert "files verified" in capsys.readouterr().out
    assert _predictions(dest, fitted["held"]) == _predictions(fitted["path"], fitted["held"])
    manifest = json.loads((dest / MANIFEST).read_text())
    assert manifest["pulled_from"] == {"repo": REPO, "commit": hub.datasets[REPO].info["sha"]}
    for entry in manifest["files"]:
        assert hashlib.sha256((dest / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert all(TOKEN not in json.dumps(r.headers) for r in hub.requests)
    assert {r.user for r in hub.requests if r.method in ("POST", "PUT") and "/lfs-upload/" not in r.path} == {
        "publisher"}


def test_revision_pulls_an_earlier_push_and_a_second_pull_uses_the_cache(hub, fitted, tmp_path):
    main(["reference", "push", "--ref", str(fitted["path"]), "--repo", REPO, "--endpoint", hub.url])
    first_db = hub.datasets[REPO].files["reference.sqlite"]
    _tamper(hub, "items/9.npz", b"left over from an older push")
    first = hub.datasets[REPO].info["sha"]
    other = tmp_path / "other"
    _build(other, seed=4)
    main(["reference", "push", "--ref", str(other), "--repo", REPO, "--endpoint", hub.url])
    assert hub.datasets[REPO].info["sha"] != first
    assert "items/9.npz" not in hub.datasets[REPO].files  # the push replaces the whole artifact
    dest = tmp_path / "old"
    assert main(["reference", "pull", "--fitted", REPO, "--revision", first, "--ref", str(dest),
                 "--endpoint", hub.url]) == 0
    assert (dest / "reference.sqlite").read_bytes() == first_db
    downloads = len(hub.requests_to(r"^/datasets/.*/resolve/", "GET"))
    assert main(["reference", "pull", "--fitted", REPO, "--revision", first, "--ref", str(tmp_path / "again"),
                 "--endpoint", hub.url]) == 0
    assert len(hub.requests_to(r"^/datasets/.*/resolve/", "GET")) == downloads  # served from the HF cache


def _tamper(hub, path: str, data: bytes) -> None:
    """Someone commits other bytes for ``path`` on the Hub, leaving the manifest as it was."""
    HfApi(endpoint=hub.url, token=TOKEN).create_commit(
        REPO, [CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)], commit_message="tamper",
        repo_type="dataset")


def _previous_install(hub, fitted, tmp_path) -> tuple[Path, dict[str, bytes]]:
    main(["reference", "push", "--ref", str(fitted["path"]), "--repo", REPO, "--endpoint", hub.url])
    dest = tmp_path / "installed"
    assert main(["reference", "pull", "--fitted", REPO, "--ref", str(dest), "--endpoint", hub.url]) == 0
    return dest, _tree(dest)


def _fails_one_line(capsys, args: list[str], *words: str) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()  # progress bars of huggingface_hub may come first
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and err.count("error: ") == 1 and "Traceback" not in err
    for w in words:
        assert w in last
    return last


@pytest.mark.parametrize("path", ["predictor/lrmf.npz", "reference.sqlite"])
def test_a_tampered_file_is_refused_and_nothing_changes(hub, fitted, tmp_path, capsys, path):
    dest, before = _previous_install(hub, fitted, tmp_path)
    original = hub.datasets[REPO].files[path]
    _tamper(hub, path, original[:-1] + bytes([original[-1] ^ 1]))
    _fails_one_line(capsys, ["reference", "pull", "--fitted", REPO, "--ref", str(dest), "--endpoint", hub.url],
                    "checksum mismatch", path)
    assert _tree(dest) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf_home", "installed"]  # no staging left behind


def test_a_tampered_cache_is_refused(hub, fitted, tmp_path, capsys):
    main(["reference", "push", "--ref", str(fitted["path"]), "--repo", REPO, "--endpoint", hub.url])
    main(["reference", "pull", "--fitted", REPO, "--ref", str(tmp_path / "a"), "--endpoint", hub.url])
    (blob,) = [p for p in Path(constants.HF_HUB_CACHE).rglob("lrmf.npz")]
    blob.resolve().write_bytes(b"not the predictor")
    _fails_one_line(capsys, ["reference", "pull", "--fitted", REPO, "--ref", str(tmp_path / "b"),
                             "--endpoint", hub.url], "checksum mismatch", "predictor/lrmf.npz")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("field, value, words", [
    ("format_version", FORMAT_VERSION + 1, "artifact format version"),
    ("predictor", {"format": "lrmf-predictor", "version": 1, "directory": "predictor"}, "predictor version 1"),
    ("files", [{"path": "../outside.txt", "size": 1, "sha256": "0" * 64}], "unexpected file"),
])
def test_a_version_mismatch_is_refused_before_downloading_the_files(hub, fitted, tmp_path, capsys, field, value,
                                                                    words):
    dest, before = _previous_install(hub, fitted, tmp_path)
    manifest = json.loads(hub.datasets[REPO].files[MANIFEST])
    manifest[field] = value
    _tamper(hub, MANIFEST, json.dumps(manifest).encode())
    downloads = len(hub.requests_to(r"^/datasets/.*/resolve/", "GET"))
    _fails_one_line(capsys, ["reference", "pull", "--fitted", REPO, "--ref", str(dest), "--endpoint", hub.url],
                    words)
    assert len(hub.requests_to(r"^/datasets/.*/resolve/", "GET")) == downloads + 1  # the manifest only
    assert _tree(dest) == before


def test_hub_errors_install_nothing(hub, fitted, tmp_path, capsys):
    dest = tmp_path / "new"
    _fails_one_line(capsys, ["reference", "pull", "--fitted", "nobody/missing", "--ref", str(dest),
                             "--endpoint", hub.url], "nobody/missing", "not found")
    main(["reference", "push", "--ref", str(fitted["path"]), "--repo", REPO, "--endpoint", hub.url])
    _fails_one_line(capsys, ["reference", "pull", "--fitted", REPO, "--revision", "v9", "--ref", str(dest),
                             "--endpoint", hub.url], "at v9", "not found")
    hub.inject(r"/resolve/[0-9a-f]+/predictor/lrmf\.npz$", status=403, times=5)  # one file of several
    _fails_one_line(capsys, ["reference", "pull", "--fitted", REPO, "--ref", str(dest), "--endpoint", hub.url],
                    REPO, "HTTP 403")
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["hf_home"]


def test_push_refuses_bad_input_and_a_namespace_it_cannot_write(hub, fitted, tmp_path, capsys):
    _fails_one_line(capsys, ["reference", "push", "--ref", str(fitted["path"]), "--repo", "no-slash",
                             "--endpoint", hub.url], "ORG/NAME")
    unfitted = tmp_path / "unfitted"
    Reference.create(unfitted)
    _fails_one_line(capsys, ["reference", "push", "--ref", str(unfitted), "--repo", REPO, "--endpoint", hub.url],
                    "no fitted predictor")
    _fails_one_line(capsys, ["reference", "push", "--ref", str(fitted["path"]), "--repo", "someone-else/ref",
                             "--endpoint", hub.url], "someone-else/ref", "forbidden")
    assert not hub.requests_to(r"/commit/", "POST")


def test_pull_never_overwrites_a_locally_built_reference(hub, fitted, tmp_path, capsys):
    main(["reference", "push", "--ref", str(fitted["path"]), "--repo", REPO, "--endpoint", hub.url])
    local = tmp_path / "local"
    Reference.create(local)
    before = _tree(local)
    _fails_one_line(capsys, ["reference", "pull", "--fitted", REPO, "--ref", str(local), "--endpoint", hub.url],
                    "--force")
    assert _tree(local) == before
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    _fails_one_line(capsys, ["reference", "pull", "--fitted", REPO, "--ref", str(blocker / "ref"), "--endpoint",
                             hub.url], "cannot install here")
    assert main(["reference", "pull", "--fitted", REPO, "--ref", str(local), "--endpoint", hub.url, "--force"]) == 0
    assert (local / MANIFEST).is_file()
    # a pulled reference someone imported into since is theirs too
    Reference(local).write_source(SourceData(key="mine", kind="lineage", location="mine",
                                             edges=[Edge("fam0/base", "mine/child", "finetune")]))
    before = _tree(local)
    _fails_one_line(capsys, ["reference", "pull", "--fitted", REPO, "--ref", str(local), "--endpoint", hub.url],
                    "changed after the pull")
    assert _tree(local) == before


def test_default_reference_is_pulled_on_first_use_and_never_offline(hub, fitted, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LRMF_REF", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    default = tmp_path / "cache" / "lrmf-plugin" / "reference"
    models = tmp_path / "models.csv"
    models.write_text(f"model\n{fitted['held']}\n")
    predict = ["predict", "--models", str(models), "--out", str(tmp_path / "pred.csv")]

    _fails_one_line(capsys, predict, DEFAULT_REPO, "lm-eval-predict fit")  # nothing published yet
    assert not default.exists()
    monkeypatch.setenv("LRMF_REFERENCE_REPO", REPO)
    main(["reference", "push", "--ref", str(fitted["path"]), "--repo", REPO])
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    n = len(hub.requests)
    _fails_one_line(capsys, predict, "HF_HUB_OFFLINE", f"reference pull --fitted {REPO}")
    assert len(hub.requests) == n and not default.exists()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert main(predict) == 0
    assert (default / MANIFEST).is_file()
    n = len(hub.requests)
    assert main(predict) == 0
    assert len(hub.requests) == n  # pulled once
