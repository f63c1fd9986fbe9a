"""What commands write, and what they read back: ``--out`` targets, edited or crafted predictors, a fit
racing an import, and commands that would otherwise do nothing with exit 0 (see test_bad_input.py)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import stat
import threading
import tty
import zipfile

import numpy as np
import pytest
from cli_run import run_cli
from tiny_reference import write_tiny_reference

from lrmf_plugin.api import Lrmf
from lrmf_plugin.errors import ArtifactError
from lrmf_plugin.models.lrmf import LRMFPredictor
from lrmf_plugin.reference import Reference


@pytest.fixture
def ref_copy(tiny_ref, tmp_path):
    """A private copy of the tiny fitted reference, to edit."""
    return shutil.copytree(tiny_ref["path"], tmp_path / "ref")


def predict_to(capsys, ref, tmp_path, out: str) -> tuple[int, str, str]:
    (tmp_path / "models.csv").write_text("model,parents\nnew/a,fam0/base\n")
    return run_cli(capsys, "predict", "--ref", str(ref), "--models", str(tmp_path / "models.csv"), "--out", out)


def one_error(rc: int, err: str, fragment: str) -> bool:
    return rc == 2 and len(err.splitlines()) == 1 and err.startswith("error: ") and fragment in err


# ------------------------------------------------------------------ --out targets

def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o755])
def test_out_onto_an_existing_file_replaces_it_and_keeps_its_mode(tiny_ref, tmp_path, capsys, mode):
    out = tmp_path / "pred.csv"
    out.write_text("old\n")
    out.chmod(mode)
    rc, _, err = predict_to(capsys, tiny_ref["path"], tmp_path, str(out))
    assert rc == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == mode and out.read_text().startswith("model,benchmark")


def test_out_onto_a_new_path_gets_the_mode_open_would_give(tiny_ref, tmp_path, capsys):
    out = tmp_path / "new" / "pred.csv"
    rc, _, err = predict_to(capsys, tiny_ref["path"], tmp_path, str(out))
    assert rc == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~_umask()
    assert [p.name for p in out.parent.iterdir()] == ["pred.csv"]  # no temporary file left beside it


@pytest.mark.parametrize("dangling", [False, True])
def test_out_onto_a_symlink_writes_through_to_its_target(tiny_ref, tmp_path, capsys, dangling):
    target, link = tmp_path / "real.csv", tmp_path / "link.csv"
    if not dangling:
        target.write_text("old\n")
        target.chmod(0o640)
    link.symlink_to(target)
    rc, _, err = predict_to(capsys, tiny_ref["path"], tmp_path, str(link))
    assert rc == 0, err
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith("model,benchmark")
    assert stat.S_IMODE(target.stat().st_mode) == (0o666 & ~_umask() if dangling else 0o640)


def test_out_onto_a_fifo_writes_into_it_and_leaves_it_a_fifo(tiny_ref, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()), daemon=True)
    reader.start()
    rc, _, err = predict_to(capsys, tiny_ref["path"], tmp_path, str(fifo))
    reader.join(timeout=30)
    assert rc == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and got and got[0].startswith("model,benchmark")


def test_out_onto_a_character_device_writes_into_it(tiny_ref, tmp_path, capsys):
    # a pseudo-terminal of its own, not /dev/null: a broken writer run as root would replace that for everyone
    master, slave = os.openpty()
    tty.setraw(slave)
    got = bytearray()

    def read() -> None:
        while b"new/a" not in got:
            got.extend(os.read(master, 1 << 16))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        rc, _, err = predict_to(capsys, tiny_ref["path"], tmp_path, os.ttyname(slave))
        reader.join(timeout=30)
        assert rc == 0, err
        assert stat.S_ISCHR(os.stat(os.ttyname(slave)).st_mode) and got.startswith(b"model,benchmark")
    finally:
        os.close(slave)
        os.close(master)


def test_out_dash_is_standard_output(tiny_ref, tmp_path, capsys):
    rc, out, err = predict_to(capsys, tiny_ref["path"], tmp_path, "-")
    assert rc == 0, err
    assert out.startswith("model,benchmark,predicted,lower,upper,measured,source\n") and "new/a" in out
    assert not (tmp_path / "-").exists() and "standard output" in err


def _unix_socket(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    return sock


@pytest.mark.parametrize("make, fragment", [
    (lambda p: "", "the output path is empty"),
    (lambda p: (p / "dir").mkdir() or str(p / "dir"), "is a directory"),
    (lambda p: (p / "dir").mkdir() or (p / "ln").symlink_to(p / "dir") or str(p / "ln"), "is a directory"),
    (lambda p: str(p), "is a directory"),
    (lambda p: (p / "file").write_text("x") and str(p / "file" / "pred.csv"), "cannot write"),
    (lambda p: (p / "a").symlink_to(p / "b") or (p / "b").symlink_to(p / "a") or str(p / "a"), "cannot write"),
    (lambda p: _unix_socket(p / "s") and str(p / "s"), "not a regular file, FIFO or character device"),
])
def test_out_that_cannot_be_written_is_one_line_and_replaces_nothing(tiny_ref, tmp_path, capsys, make, fragment):
    work = tmp_path / "w"
    work.mkdir()
    out = make(work)
    before = sorted((p.name, stat.S_IFMT(os.lstat(p).st_mode)) for p in work.iterdir())
    rc, _, err = predict_to(capsys, tiny_ref["path"], tmp_path, out)
    assert one_error(rc, err, fragment), err
    assert sorted((p.name, stat.S_IFMT(os.lstat(p).st_mode)) for p in work.iterdir()) == before


@pytest.mark.parametrize("command", [["predict", "--models", "m.csv"], ["plan", "--models", "m.csv", "--budget", "2"],
                                     ["estimate", "run_dir"]])
def test_a_refused_out_fails_before_any_work(tmp_path, capsys, command):
    rc, _, err = run_cli(capsys, *command, "--ref", str(tmp_path / "no-reference"), "--out", str(tmp_path))
    assert one_error(rc, err, "is a directory"), err


@pytest.mark.parametrize("out, fragment", [("", "the output path is empty"), (".", "is a directory")])
def test_plan_out_is_checked_the_same_way(tiny_ref, tmp_path, capsys, out, fragment):
    (tmp_path / "models.csv").write_text("model\nnew/a\n")
    rc, _, err = run_cli(capsys, "plan", "--ref", str(tiny_ref["path"]), "--models", str(tmp_path / "models.csv"),
                         "--budget", "2", "--out", out)
    assert one_error(rc, err, fragment), err


def test_plan_out_dash_prints_the_plan(tiny_ref, tmp_path, capsys):
    (tmp_path / "models.csv").write_text("model\nnew/a\n")
    rc, out, err = run_cli(capsys, "plan", "--ref", str(tiny_ref["path"]), "--models", str(tmp_path / "models.csv"),
                           "--budget", "2", "--out", "-")
    assert rc == 0, err
    lines = [json.loads(x) for x in out.splitlines()]
    assert lines and {x["benchmark"] for x in lines} == set(tiny_ref["data"].items)


# ------------------------------------------------------------------ edited and crafted predictors

def reseal(stem) -> None:
    """Recompute both checksums as the artifact format documents them (docs/guide/inputs.md): what
    someone crafting a file with matching checksums would do."""
    js = stem.with_suffix(".json")
    header = json.loads(js.read_text())
    header["sha256"] = hashlib.sha256(stem.with_suffix(".npz").read_bytes()).hexdigest()
    content = {k: v for k, v in header.items() if k != "content_sha256"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    header["content_sha256"] = hashlib.sha256(canonical.encode()).hexdigest()
    js.write_text(json.dumps(header, indent=1))


def edit_arrays(stem, change, compressed: bool = False) -> None:
    with np.load(stem.with_suffix(".npz")) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    (np.savez_compressed if compressed else np.savez)(stem.with_suffix(".npz"), **arrays)
    reseal(stem)


def replace_member(stem, name: str, raw: bytes) -> None:
    """Swap one member's bytes (``raw``: a whole .npy file) inside the npz."""
    npz = stem.with_suffix(".npz")
    with zipfile.ZipFile(npz) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members[name] = raw
    with zipfile.ZipFile(npz, "w", zipfile.ZIP_STORED) as z:
        for n, data in members.items():
            z.writestr(n, data)
    reseal(stem)


def npy_header_only(shape, dtype=np.float64) -> bytes:
    """A .npy file whose header declares ``shape`` but which carries 8 bytes of data."""
    fh = io.BytesIO()
    np.lib.format.write_array_header_1_0(fh, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    return fh.getvalue() + b"\0" * 8


def npy_of_objects() -> bytes:
    fh = io.BytesIO()
    np.lib.format.write_array(fh, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return fh.getvalue()


def edit_json(stem, change) -> None:
    js = stem.with_suffix(".json")
    header = json.loads(js.read_text())
    change(header)
    js.write_text(json.dumps(header, indent=1))


def _set(d: dict, key: str, value) -> None:
    d[key] = value


TAMPERING = [
    ("one number in the JSON", lambda s: edit_json(s, lambda h: _set(h, "item_weight", h["item_weight"] * 3 + 1)),
     "lrmf.json: checksum mismatch"),
    ("score_names reversed", lambda s: edit_json(s, lambda h: h["score_names"].reverse()), "lrmf.json: checksum mismatch"),
    ("a hyperparameter", lambda s: edit_json(s, lambda h: _set(h["params"], "seed", h["params"]["seed"] + 1)),
     "checksum mismatch"),
    ("content checksum removed", lambda s: edit_json(s, lambda h: h.pop("content_sha256")), "no checksum of its own content"),
    ("npz bytes", lambda s: s.with_suffix(".npz").write_bytes(s.with_suffix(".npz").read_bytes()[:-9] + b"\x01" * 9),
     "lrmf.npz: checksum mismatch"),
    ("NaN in U", lambda s: edit_arrays(s, lambda a: a["U"].__setitem__((0, 0), np.nan)), "array 'U' holds NaN"),
    ("inf in a tree", lambda s: edit_arrays(s, lambda a: a["tree0_value"].__setitem__(0, np.inf)), "'tree0_value' holds NaN or infinite"),
    ("U one column short", lambda s: edit_arrays(s, lambda a: _set(a, "U", a["U"][:, 1:])), "do not match lrmf.json"),
    ("models one short", lambda s: edit_arrays(s, lambda a: _set(a, "models", a["models"][1:])), "array 'U' has shape"),
    ("V0 one row short", lambda s: edit_arrays(s, lambda a: _set(a, "V0", a["V0"][1:])), "array 'V0' has shape"),
    ("c1 transposed", lambda s: edit_arrays(s, lambda a: _set(a, "c1", a["c1"][None, :])), "array 'c1' has shape"),
    ("node_cov missing", lambda s: edit_arrays(s, lambda a: a.pop("node_cov")), "array 'node_cov' is missing"),
    ("tree nodes uneven", lambda s: edit_arrays(s, lambda a: _set(a, "tree0_left", a["tree0_left"][:-1])), "'tree0_left' has shape"),
    ("more trees claimed", lambda s: (edit_json(s, lambda h: _set(h, "n_trees", h["n_trees"] + 1)), reseal(s)), "is missing"),
    ("a block kind changed", lambda s: (edit_json(s, lambda h: _set(h, "blocks", h["blocks"][::-1])), reseal(s)), "has shape"),
    ("huge declared shape", lambda s: replace_member(s, "U.npy", npy_header_only((1 << 40, 7))), "which its data does not fill"),
    ("compressed members", lambda s: edit_arrays(s, lambda a: None, compressed=True), "was not written by this tool"),
    ("a pickled member", lambda s: replace_member(s, "U.npy", npy_of_objects()), "holds Python objects"),
    ("a stray member", lambda s: replace_member(s, "README.txt", b"hello"), "was not written by this tool"),
]


@pytest.mark.parametrize("what, tamper, fragment", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_edited_or_crafted_predictor_is_refused_by_predict_and_show(ref_copy, tmp_path, capsys, what, tamper, fragment):
    tamper(ref_copy / "predictor" / "lrmf")
    rc, out, err = predict_to(capsys, ref_copy, tmp_path, str(tmp_path / "p.csv"))
    assert one_error(rc, err, fragment), err
    assert not (tmp_path / "p.csv").exists()
    rc, out, err = run_cli(capsys, "reference", "show", "--ref", str(ref_copy))
    assert one_error(rc, err, fragment) and out == "", err


@pytest.mark.parametrize("change", [lambda a: _set(a, "b0_shape", a["b0_shape"] * 2),
                                    lambda a: _set(a, "b0_bits", a["b0_bits"][:1]),
                                    lambda a: a.pop("b0_models")])
def test_crafted_item_blocks_are_refused_in_one_line(ref_copy, capsys, change):
    stem = next((ref_copy / "items").glob("*.npz")).with_suffix("")
    edit_arrays(stem, change)
    rc, _, err = run_cli(capsys, "fit", "--ref", str(ref_copy), "--sweeps", "1", "--no-calibration")
    assert one_error(rc, err, "item observations of source"), err


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_random_bit_flips_are_all_refused(ref_copy, tmp_path, capsys, suffix):
    path = (ref_copy / "predictor" / "lrmf").with_suffix(suffix)
    original = path.read_bytes()
    rng = np.random.default_rng(7)
    for position, bit in zip(rng.integers(0, len(original), 20), rng.integers(0, 8, 20)):
        flipped = bytearray(original)
        flipped[position] ^= 1 << int(bit)
        path.write_bytes(bytes(flipped))
        rc, _, err = predict_to(capsys, ref_copy, tmp_path, str(tmp_path / "p.csv"))
        assert rc == 2 and len(err.splitlines()) == 1, (position, bit, err)
    path.write_bytes(original)
    assert predict_to(capsys, ref_copy, tmp_path, str(tmp_path / "p.csv"))[0] == 0


def test_reindented_json_is_the_same_content_and_still_loads(ref_copy, tmp_path, capsys):
    js = ref_copy / "predictor" / "lrmf.json"
    js.write_text(json.dumps(json.loads(js.read_text()), indent=4))
    rc, out, err = run_cli(capsys, "reference", "show", "--ref", str(ref_copy))
    assert rc == 0 and "predictor: fitted on this state" in out, err


# ------------------------------------------------------------------ fit racing an import

def test_a_predictor_fitted_while_an_import_landed_is_stale(ref_copy, tmp_path, capsys, monkeypatch):
    edges = tmp_path / "edges.csv"
    edges.write_text("source,target,edge\nfam0/base,fam0/late,finetuned\n")
    fit = LRMFPredictor.fit

    def fit_while_importing(self, data, *args, **kwargs):
        Reference(ref_copy).import_source("lineage", edges)  # lands after the data was read
        return fit(self, data, *args, **kwargs)

    monkeypatch.setattr(LRMFPredictor, "fit", fit_while_importing)
    Lrmf(ref_copy).fit(progress=False, n_sweeps=1, calibrate=False)
    with pytest.raises(ArtifactError, match="another reference"):
        Lrmf(ref_copy).predictor
    rc, out, err = run_cli(capsys, "reference", "show", "--ref", str(ref_copy))
    assert rc == 0 and "predictor: stale" in out, err
    rc, _, err = predict_to(capsys, ref_copy, tmp_path, str(tmp_path / "p.csv"))
    assert one_error(rc, err, "fit"), err


def test_an_import_waits_while_fit_reads_the_reference(ref_copy, tmp_path, monkeypatch):
    edges = tmp_path / "edges.csv"
    edges.write_text("source,target,edge\nfam0/base,fam0/late,finetuned\n")
    load = Reference.load_data
    importer = threading.Thread(target=lambda: Reference(ref_copy).import_source("lineage", edges))

    def load_while_an_import_starts(self, *args, **kwargs):
        importer.start()
        importer.join(timeout=1.0)
        assert importer.is_alive(), "the import did not wait for the fit's read"
        return load(self, *args, **kwargs)

    monkeypatch.setattr(Reference, "load_data", load_while_an_import_starts)
    Lrmf(ref_copy).fit(progress=False, n_sweeps=1, calibrate=False)
    importer.join(timeout=60)
    assert not importer.is_alive() and any(s.kind == "lineage" for s in Reference(ref_copy).sources())
    with pytest.raises(ArtifactError, match="another reference"):
        Lrmf(ref_copy).predictor


# ------------------------------------------------------------------ no quiet no-ops

@pytest.fixture(scope="module")
def scores_only_ref(tmp_path_factory):
    return write_tiny_reference(tmp_path_factory.mktemp("scores_only") / "ref", items=False)


def test_plan_with_nothing_to_plan_is_an_error_and_writes_nothing(scores_only_ref, tmp_path, capsys):
    (tmp_path / "models.csv").write_text("model\nnew/a\n")
    out = tmp_path / "plan.jsonl"
    rc, _, err = run_cli(capsys, "plan", "--ref", str(scores_only_ref["path"]), "--models", str(tmp_path / "models.csv"),
                         "--budget", "5", "--out", str(out))
    assert one_error(rc, err, "nothing to plan"), err
    assert not out.exists()


@pytest.mark.parametrize("known, fragment", [(["nosuchbench"], "'nosuchbench'"), (["gamma", "nosuch"], "'nosuch'")])
def test_backtest_known_naming_an_unscored_benchmark_is_an_error(tiny_ref, tmp_path, capsys, known, fragment):
    rc, _, err = run_cli(capsys, "backtest", "--ref", str(tiny_ref["path"]), "--out", str(tmp_path / "rep"),
                         "--settings", "known", "--known", *known, "--quiet")
    assert one_error(rc, err, fragment), err
    assert not (tmp_path / "rep").exists()


def test_backtest_where_every_setting_is_skipped_is_an_error(scores_only_ref, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "backtest", "--ref", str(scores_only_ref["path"]), "--out", str(tmp_path / "rep"),
                         "--settings", "random-5", "--methods", "global_mean", "--quiet")
    assert one_error(rc, err, "nothing was backtested"), err
    assert not (tmp_path / "rep").exists()
