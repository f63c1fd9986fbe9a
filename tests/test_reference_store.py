"""The reference store: round trips, compact items, re-import, atomic failure, merging, load_data."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
from csv_files import write_csv

from lrmf_plugin import item_store
from lrmf_plugin.errors import InputError, ReferenceStoreError, UnknownBenchmarkError
from lrmf_plugin.reference import Reference
from lrmf_plugin.sources import ItemObservations, SourceData
from lrmf_plugin.schema import Edge


def scores_frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["model", "benchmark", "score"])


def source(key: str, **parts) -> SourceData:
    return SourceData(key=key, kind="test", location=f"/data/{key}", **parts)


def snapshot(ref: Reference) -> tuple:
    """Everything observable about a reference, to show that a failed import changed nothing."""
    items = sorted(p.name for p in (ref.path / "items").glob("*")) if (ref.path / "items").exists() else []
    blocks = {b: ref.item_block(b)[1].values.tolist() for b, i in ref.benchmarks().items() if i.n_items}
    return (ref.fingerprint(), ref.scores().to_dict("list"), ref.edges(), ref.models(), items,
            [s.key for s in ref.sources()], str(blocks))


def test_open_missing_foreign_and_corrupt_references(tmp_path):
    with pytest.raises(ReferenceStoreError, match="not a reference directory"):
        Reference(tmp_path / "nothing")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "reference.sqlite").write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ReferenceStoreError, match="not a readable reference database"):
        Reference(tmp_path / "junk")
    (tmp_path / "foreign").mkdir()
    con = sqlite3.connect(tmp_path / "foreign" / "reference.sqlite")
    con.execute("CREATE TABLE info (key TEXT, value TEXT)")
    con.execute("INSERT INTO info VALUES ('format', 'something-else')")
    con.commit()
    con.close()
    with pytest.raises(ReferenceStoreError, match="not an lrmf reference"):
        Reference(tmp_path / "foreign")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ReferenceStoreError, match="not a directory"):
        Reference.create(tmp_path / "file")
    ref = Reference.create(tmp_path / "new")
    assert ref.models() == [] and ref.benchmarks() == {} and ref.sources() == []
    assert Reference(tmp_path / "new").fingerprint() == ref.fingerprint()
    assert ref.predictor_dir == tmp_path / "new" / "predictor"


def test_round_trip_of_scores_metadata_edges_and_compact_items(tmp_path):
    rng = np.random.default_rng(0)
    models = [f"org/m{i}" for i in range(300)]
    binary = (rng.random((300, 500)) < 0.6).astype(np.float32)
    binary[rng.random((300, 500)) < 0.1] = np.nan
    frac = rng.random((120, 40)).astype(np.float32)
    frac[0, 0] = np.nan
    ref = Reference.create(tmp_path / "ref")
    report = ref.write_source(source(
        "s1", scores=scores_frame([("org/m0", "bench", 55.5), ("org/m1", "bench", 12.0)]),
        metadata=pd.DataFrame({"model": ["org/m0", "org/m1"], "params_b": [7.0, np.nan],
                               "architecture": ["LlamaForCausalLM", "MistralForCausalLM"]}),
        edges=[Edge("org/root", "org/m0", "finetune")],
        items=[ItemObservations("bin", models, [f"i{j}" for j in range(500)], binary),
               ItemObservations("frac", models[:120], [f"f{j}" for j in range(40)], frac, complete=True)],
        nodes=["org/lonely-ancestor"]))
    assert report.source.n_observations == int((~np.isnan(binary)).sum() + (~np.isnan(frac)).sum())
    assert "org/root" in ref.models() and "org/lonely-ancestor" in ref.models()
    got_models, block = ref.item_block("bin")
    assert got_models == sorted(models)
    np.testing.assert_array_equal(block.values, binary[np.argsort(models)])
    _, fblock = ref.item_block("frac")
    np.testing.assert_allclose(fblock.values, frac[np.argsort(models[:120])], atol=1 / 508)
    assert np.isnan(fblock.values[0, 0])
    # bit-packed: far smaller than the float32 block (300 x 500 x 4 bytes = 600 kB)
    npz = next((ref.path / "items").glob("*.npz"))
    assert npz.stat().st_size < binary.nbytes / 10 + frac.size + 20_000
    bench = ref.benchmarks()
    assert bench["bin"].n_items == 500 and not bench["bin"].items_complete
    assert bench["frac"].items_complete and bench["bench"].has_scores
    meta = ref.metadata()
    assert meta.loc["org/m0", "params_b"] == 7.0 and meta.loc["org/m1", "architecture"] == "MistralForCausalLM"
    assert pd.isna(meta.loc["org/m1", "params_b"]) and pd.isna(meta.loc["org/root", "architecture"])
    assert ref.edges() == [Edge("org/root", "org/m0", "finetune")]
    with pytest.raises(UnknownBenchmarkError, match="'nope'.*bin"):
        ref.item_block("nope")


def test_reimport_replaces_and_removes_old_item_files(tmp_path):
    ref = Reference.create(tmp_path / "ref")
    path = write_csv(tmp_path / "r.csv", ["model", "q0", "q1"], [["org/a", 1, 0], ["org/b", 0, 0]])
    ref.import_source("responses", path, benchmark="arc")
    first = ref.fingerprint()
    write_csv(path, ["model", "q0", "q1", "q2"], [["org/a", 1, 1, 1]])
    report = ref.import_source("responses", path, benchmark="arc")
    assert report.replaced and len(ref.sources()) == 1 and ref.fingerprint() != first
    models, block = ref.item_block("arc")
    assert models == ["org/a"] and block.items == ["q0", "q1", "q2"]
    assert ref.models() == ["org/a"]
    assert len(list((ref.path / "items").glob("*.npz"))) == 1
    # the same file as another benchmark is another source
    ref.import_source("responses", path, benchmark="mmlu")
    assert len(ref.sources()) == 2


def test_failed_import_from_a_bad_row_late_in_the_file_changes_nothing(tmp_path):
    ref = Reference.create(tmp_path / "ref")
    good = write_csv(tmp_path / "r.csv", ["model", "q0"], [["org/a", 1], ["org/b", 0]])
    ref.import_source("responses", good, benchmark="arc")
    before = snapshot(ref)
    rows = [[f"org/m{i}", i % 2] for i in range(500)] + [["org/late", 7]]
    write_csv(good, ["model", "q0"], rows)
    with pytest.raises(InputError, match="line 502"):
        ref.import_source("responses", good, benchmark="arc")
    assert snapshot(ref) == before


@pytest.mark.parametrize("fail_in", ["save_blocks", "after_save"])
def test_failure_after_the_sqlite_part_rolls_back_and_leaves_no_stray_files(tmp_path, monkeypatch, fail_in):
    ref = Reference.create(tmp_path / "ref")
    ref.write_source(source("s", scores=scores_frame([("org/a", "b", 1.0)]),
                            items=[ItemObservations("arc", ["org/a"], ["q0"], np.array([[1.0]]))]))
    before = snapshot(ref)
    real_save = item_store.save_blocks

    def failing_save(stem, blocks):
        if fail_in == "after_save":
            real_save(stem, blocks)  # the new files exist on disk, then the write fails
        raise OSError("disk full")

    monkeypatch.setattr(item_store, "save_blocks", failing_save)
    replacement = source("s", scores=scores_frame([("org/z", "b", 2.0)]),
                         items=[ItemObservations("arc", ["org/z"], ["q9"], np.array([[0.0]]))])
    with pytest.raises(ReferenceStoreError, match="could not write item observations.*disk full"):
        ref.write_source(replacement)
    assert snapshot(ref) == before
    assert not list((ref.path / "items").glob("*.tmp"))


@pytest.mark.parametrize("bad, message", [
    (dict(scores=scores_frame([("org/a", "b", float("nan"))])), "not a finite number"),
    (dict(scores=scores_frame([("", "b", 1.0)])), "empty or not text"),
    (dict(scores=scores_frame([("org/a", "b", 1.0), ("org/a", "b", 2.0)])), "two scores"),
    (dict(items=[ItemObservations("x", ["org/a"], ["i"], np.array([[1.5]]))]), "value 1.5 for model 'org/a', item 'i' is outside [0, 1]"),
    (dict(items=[ItemObservations("x", ["org/a"], ["i", "i"], np.array([[1.0, 0.0]]))]), "item id appears twice"),
    (dict(items=[ItemObservations("x", ["org/a"], ["i"], np.zeros((2, 1)))]), "shape"),
    (dict(items=[ItemObservations("x", ["org/a\nb"], ["i"], np.zeros((1, 1)))]), "line break"),
    (dict(edges=[Edge("a", "b", "distilled")]), "unknown relation 'distilled'"),
    (dict(metadata=pd.DataFrame({"model": ["a"], "colour": ["red"]})), "unknown metadata fields colour"),
])
def test_write_source_validates_before_writing(tmp_path, bad, message):
    ref = Reference.create(tmp_path / "ref")
    before = snapshot(ref)
    with pytest.raises(InputError) as err:
        ref.write_source(source("bad", **bad))
    assert message in str(err.value)
    assert snapshot(ref) == before


def test_overlapping_sources_newest_wins(tmp_path):
    ref = Reference.create(tmp_path / "ref")
    ref.write_source(source("old", scores=scores_frame([("m", "b", 10.0), ("n", "b", 5.0)]),
                            metadata=pd.DataFrame({"model": ["m"], "params_b": [7.0], "precision": ["float16"]}),
                            items=[ItemObservations("arc", ["m", "n"], ["q0", "q1"],
                                                    np.array([[1, 1], [0, np.nan]], dtype=np.float32), complete=True)]))
    ref.write_source(source("new", scores=scores_frame([("m", "b", 20.0)]),
                            metadata=pd.DataFrame({"model": ["m"], "params_b": [8.0]}),
                            items=[ItemObservations("arc", ["n", "o"], ["q1", "q2"],
                                                    np.array([[1, np.nan], [0, 1]], dtype=np.float32))]))
    s = ref.scores().set_index(["model", "benchmark"])["score"]
    assert s[("m", "b")] == 20.0 and s[("n", "b")] == 5.0 and len(s) == 2
    meta = ref.metadata()
    assert meta.loc["m", "params_b"] == 8.0 and meta.loc["m", "precision"] == "float16"
    models, block = ref.item_block("arc")
    assert models == ["m", "n", "o"] and block.items == ["q0", "q1", "q2"]
    expected = np.array([[1, 1, np.nan], [0, 1, np.nan], [np.nan, 0, 1]], dtype=np.float32)
    np.testing.assert_array_equal(block.values, expected)
    # q2 is outside the only complete block, so the union is no longer the whole benchmark
    assert ref.benchmarks()["arc"].n_items == 3 and not ref.benchmarks()["arc"].items_complete


def test_load_data_aligns_rows_and_keeps_connected_lineage_only_nodes(tmp_path):
    ref = Reference.create(tmp_path / "ref")
    ref.write_source(source("scores", scores=scores_frame([("org/a", "b1", 50.0), ("org/b", "b2", 40.0)])))
    ref.write_source(source("items", items=[ItemObservations(
        "arc", ["org/c", "org/a"], ["q0", "q1"], np.array([[1, 0], [0, 1]], dtype=np.float32))]))
    ref.write_source(source("lineage", edges=[
        Edge("org/base", "org/a", "finetune"), Edge("org/base", "org/b", "finetune"),
        Edge("org/x", "org/y", "quantized"), Edge("org/a", "org/a", "finetune")]))
    data = ref.load_data()
    assert data.models == ["org/a", "org/b", "org/base", "org/c"]  # org/x -> org/y has no data anywhere
    assert data.scores.loc["org/a", "b1"] == 50.0 and np.isnan(data.scores.loc["org/base"]).all()
    np.testing.assert_array_equal(data.items["arc"].values[[0, 3]], [[0, 1], [1, 0]])
    assert np.isnan(data.items["arc"].values[[1, 2]]).all()
    assert data.has_data().tolist() == [True, True, False, True]
    assert Edge("org/a", "org/a", "finetune") not in data.edges and len(data.edges) == 2
    assert data.benchmarks["arc"].n_items == 2
    full = ref.load_data(all_nodes=True)
    assert {"org/x", "org/y"} <= set(full.models) and len(full.edges) == 3


def test_corrupted_item_file_is_reported(tmp_path):
    ref = Reference.create(tmp_path / "ref")
    ref.write_source(source("s", items=[ItemObservations("arc", ["m"], ["q"], np.array([[1.0]]))]))
    npz = next((ref.path / "items").glob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ReferenceStoreError, match="item observations of source .* unusable.*checksum"):
        ref.item_block("arc")


def test_summary_lists_benchmarks_edges_dropped_and_sources(tmp_path):
    ref = Reference.create(tmp_path / "ref")
    ref.write_source(source("s", scores=scores_frame([("a", "b1", 1.0)]),
                            items=[ItemObservations("b1", ["a", "c"], ["q"], np.array([[1.0], [0.0]]))],
                            edges=[Edge("p", "a", "merge"), Edge("p", "a", "merge"), Edge("a", "p", "finetune")]))
    text = ref.summary().format()
    assert "models: 3 (2 with scores or items, 1 lineage/metadata only)" in text
    assert "b1" in text and "1 items (subset) x 2 models" in text
    assert "lineage edges: 1 (finetune 0, merge 1" in text
    assert "dropped edges: 2 (closes a cycle: 1, duplicate: 1)" in text
    assert "/data/s" in text
