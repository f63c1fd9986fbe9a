"""The Space's figure and table builders and its lineage neighbourhood, on small hand-made inputs."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "space"))

import family  # noqa: E402
import figures  # noqa: E402
import tables  # noqa: E402
from lrmf_plugin.lineage import LineageGraph  # noqa: E402
from lrmf_plugin.schema import BenchmarkInfo, Edge, Prediction  # noqa: E402

BENCHMARKS = {"a": BenchmarkInfo("a", suite="v2"), "b": BenchmarkInfo("b", suite="v2"),
              "c": BenchmarkInfo("c", suite="v1")}


def _preds(model: str = "org/m", shift: float = 0.0) -> list[Prediction]:
    return [Prediction(model, "b", 40.0 + shift, 35.0 + shift, 45.0 + shift),
            Prediction(model, "a", 20.0 + shift, 10.0 + shift, 30.0 + shift),
            Prediction(model, "c", 70.0 + shift, 70.0 + shift, 70.0 + shift, observed=True)]


def test_prediction_frame_orders_by_suite_and_marks_given_and_measured():
    frame = tables.prediction_frame(_preds(), BENCHMARKS, measured={"a": 22.5})
    assert list(frame["benchmark"]) == ["c", "a", "b"]  # suite v1 before v2, then by name
    assert list(frame["source"]) == ["given", "predicted", "predicted"]
    assert frame.set_index("benchmark").loc["a", "measured"] == 22.5
    assert math.isnan(frame.set_index("benchmark").loc["b", "measured"])


def test_prediction_frame_clips_scores_to_the_0_100_scale():
    frame = tables.prediction_frame([Prediction("m", "a", 3.0, -4.0, 10.0), Prediction("m", "b", 97.0, 90.0, 104.5)],
                                    BENCHMARKS).set_index("benchmark")
    assert frame.loc["a", "lower"] == 0.0 and frame.loc["b", "upper"] == 100.0
    assert frame.loc["a", "predicted"] == 3.0 and frame.loc["b", "lower"] == 90.0


def test_suite_averages_need_every_benchmark_and_report_measured_only_when_complete():
    frame = tables.prediction_frame(_preds(), BENCHMARKS, measured={"a": 22.0, "b": 42.0})
    avgs = tables.suite_averages(frame, tables.suites_of(BENCHMARKS))
    assert avgs["v2"] == {"predicted": 30.0, "lower": 22.5, "upper": 37.5, "measured": 32.0}
    assert "measured" not in avgs["v1"]
    partial = frame[frame["benchmark"] != "b"]
    assert "v2" not in tables.suite_averages(partial, tables.suites_of(BENCHMARKS))


def test_prediction_json_names_every_benchmark():
    frame = tables.prediction_frame(_preds(), BENCHMARKS)
    out = tables.prediction_json("org/m", frame, tables.suite_averages(frame, tables.suites_of(BENCHMARKS)),
                                 [("org/base", "finetune")])
    assert set(out["predictions"]) == {"a", "b", "c"}
    assert out["predictions"]["b"] == {"predicted": 40.0, "lower": 35.0, "upper": 45.0}
    assert out["predictions"]["c"]["given"] is True
    assert out["averages"]["Average"]["predicted"] == 30.0 and "v1 Average" in out["averages"]
    assert out["parents"] == [{"parent": "org/base", "relation": "finetune"}]


def test_tables_use_the_leaderboards_names_and_one_decimal():
    preds = [Prediction("m", "mmlu_pro", 7.0, 2.0, 12.0), Prediction("m", "ifeval", 34.66, 30.0, 40.0),
             Prediction("m", "bbh", 50.0, 45.0, 55.0)]
    frame = tables.prediction_frame(preds, {b: BenchmarkInfo(b, suite="v2") for b in ("mmlu_pro", "ifeval", "bbh")})
    shown = tables.display_predictions(frame)
    assert list(shown["Benchmark"]) == ["IFEval", "BBH", "MMLU-PRO"]  # the leaderboard's column order
    html = tables.styled(shown).to_html()
    assert ">7.0<" in html and ">34.7<" in html  # one format: a whole number keeps its decimal
    assert tables.suite_label("v2") == "Average" and tables.suite_label("v1") == "v1 Average"
    assert tables.suite_explainer({"v2": ["bbh", "math"]}) == "Average = mean of BBH, MATH Lvl 5."
    assert tables.benchmark_code("MATH Lvl 5") == "math" and tables.benchmark_code("toy") == "toy"


def test_display_predictions_formats_interval_text_and_shows_only_informative_columns():
    shown = tables.display_predictions(tables.prediction_frame(_preds(), BENCHMARKS, measured={"a": 1.0}))
    assert list(shown.columns) == ["Benchmark", "Predicted", "90% interval", "Measured", "Source"]
    assert shown.loc[shown["Benchmark"] == "a", "90% interval"].item() == "10.0 – 30.0"
    plain = tables.display_predictions(tables.prediction_frame(_preds()[:2], BENCHMARKS, evaluated={"b": 12}))
    assert list(plain.columns) == ["Benchmark", "Predicted", "90% interval", "Evaluated"]  # nothing measured
    assert list(plain["Evaluated"]) == ["", "12"]


def _log_table() -> pd.DataFrame:
    rows = []
    for model, base, url, measured in [("x/one", 50.0, "http://127.0.0.1/d/1", {"a": 55.0, "b": 45.0}),
                                       ("x/two", 30.0, None, {}),
                                       ("y/three", 40.0, "http://127.0.0.1/d/3", {"a": 60.0})]:
        for bench, off in (("a", 5.0), ("b", -5.0)):
            rows.append({"model": model, "benchmark": bench, "predicted": base + off, "lower": base + off - 4,
                         "upper": base + off + 4, "measured": measured.get(bench, math.nan),
                         "created_at": f"2026-01-0{len(rows) // 2 + 1}T10:00:00+00:00",
                         "parents": "org/base (finetune)" if model != "y/three" else "org/p (merge); org/q (merge)",
                         "discussion_url": url})
    return pd.DataFrame(rows)


def test_leaderboard_frame_averages_filters_and_sorts():
    suites = {"v2": ["a", "b"]}
    board = tables.leaderboard_frame(_log_table(), suites, "Average")
    assert list(board["Model"]) == ["x/one", "y/three", "x/two"]  # by predicted average, best first
    one = board.set_index("Model").loc["x/one"]
    assert one["Predicted"] == 50.0 and one["90% interval"] == "46.0 – 54.0"
    assert one["Measured"] == 50.0 and one["Error"] == 0.0
    assert one["Post"] == "[open](http://127.0.0.1/d/1)"
    assert math.isnan(board.set_index("Model").loc["y/three", "Measured"])  # only one of two measured

    by_bench = tables.leaderboard_frame(_log_table(), suites, "a", measured_only=True)
    assert list(by_bench["Model"]) == ["x/one", "y/three"]
    assert by_bench.set_index("Model").loc["y/three", "Error"] == -15.0

    found = tables.leaderboard_frame(_log_table(), suites, "a", search="ORG/P")
    assert list(found["Model"]) == ["y/three"]  # parent ids are searched too
    newest = tables.leaderboard_frame(_log_table(), suites, "a", sort="newest")
    assert list(newest["Model"]) == ["y/three", "x/two", "x/one"]
    with pytest.raises(ValueError):
        tables.leaderboard_frame(_log_table(), suites, "a", sort="bogus")


def test_track_record_counts_errors_and_coverage():
    done = tables.track_record(_log_table())
    assert len(done) == 3
    summary = tables.track_summary(done).set_index("Benchmark")
    # x/one a: 55 vs 55 (covered), x/one b: 45 vs 45 (covered), y/three a: 45 vs 60 (missed)
    assert summary.loc["a", "Predictions"] == 2 and summary.loc["a", "MAE (points)"] == 7.5
    assert summary.loc["all", "In 90% interval"] == "67%"


def test_parse_candidates_and_ranking():
    assert tables.parse_candidates("a + b\n\n c, d ") == [["a", "b"], ["c", "d"]]
    with pytest.raises(ValueError, match="line 2: unknown model 'zz'"):
        tables.parse_candidates("a+b\na+zz", known={"a", "b"})
    with pytest.raises(ValueError, match="twice"):
        tables.parse_candidates("a+a")
    with pytest.raises(ValueError, match="no candidates"):
        tables.parse_candidates("  \n")
    low = tables.prediction_frame(_preds("c0"), BENCHMARKS)
    high = tables.prediction_frame(_preds("c1", shift=10), BENCHMARKS)
    far = tables.prediction_frame(_preds("c2", shift=-30), BENCHMARKS)
    ranked = tables.ranking_frame([["p", "q"], ["r", "s"], ["t"]], [low, high, far], ["a", "b"])
    assert list(ranked["candidate"]) == ["r + s", "p + q", "t"]
    assert list(ranked["rank"]) == [1, 2, 3] and ranked.loc[0, "average"] == 40.0
    # p + q reaches 37.5, inside the leader's 32.5-47.5: a tie; t tops out at 7.5: below
    assert list(ranked["tied"]) == [False, True, False]
    shown = tables.display_ranking(ranked)
    assert list(shown.columns) == ["Rank", "Candidate", "vs. #1", "Average", "90% interval", "a", "b"]
    assert list(shown["Rank"]) == ["1", "=1", "3"] and list(shown["vs. #1"]) == ["leader", "tie", "below"]
    assert shown.loc[0, "90% interval"] == "32.5 – 47.5"
    assert tables.ranking_summary(ranked).startswith("1 of 2 other candidates are indistinguishable")
    fig = figures.ranking_figure(ranked, "t")
    assert {t.name: list(t.y) for t in fig.data} == {"clearly ranked": ["#3", "#1"], "tie with the leader": ["#2"]}
    assert list(fig.data[1].customdata) == ["p + q"]  # hover names the candidate
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].x1) == (32.5, 47.5)  # the leader's interval shaded


def _graph() -> LineageGraph:
    return LineageGraph([Edge("root", "base", "finetune"), Edge("base", "m", "finetune"),
                         Edge("base", "sib1", "finetune"), Edge("base", "sib2", "quantized"),
                         Edge("m", "kid", "adapter"), Edge("m", "merge", "merge"), Edge("other", "merge", "merge"),
                         Edge("kid", "grandkid", "finetune"), Edge("leaderboard-root", "m", "family"),
                         Edge("leaderboard-root", "cousin", "family")])


def test_neighbourhood_walks_rings_so_each_hop_adds_relatives():
    one = family.neighbourhood(_graph(), "m", hops=1, limit=100, has_data=lambda m: True)
    assert one.nodes == ["m", "base", "leaderboard-root", "kid", "merge"]  # parents, then children
    assert one.total == 4 and not one.groups
    two = family.neighbourhood(_graph(), "m", hops=2, limit=100, has_data=lambda m: True)
    assert set(two.nodes) - set(one.nodes) == {"root", "sib1", "sib2", "cousin", "grandkid", "other"}
    assert two.total == 10
    assert Edge("m", "kid", "adapter") in two.edges and Edge("other", "merge", "merge") in two.edges
    assert all(e.parent in two.nodes and e.child in two.nodes for e in two.edges)
    cut = family.neighbourhood(_graph(), "m", hops=2, limit=4, has_data=lambda m: True)
    assert cut.nodes == ["m", "base", "leaderboard-root", "kid"] and cut.total == 10


def test_neighbourhood_folds_unmeasured_copies_and_keeps_measured_relatives():
    copies = [Edge("org/base", f"q/copy-{i:02d}", "quantized") for i in range(30)]
    graph = LineageGraph(copies + [Edge("org/base", "org/tune", "finetune")])
    measured = {"q/copy-07", "q/copy-21"}
    tree = family.neighbourhood(graph, "org/base", hops=1, limit=100, has_data=lambda m: m in measured)
    assert set(tree.models) == {"org/base", "org/tune", *measured}
    assert list(tree.groups.values()) == ["+28 quantised copies"] and tree.total == 31
    box = next(iter(tree.groups))
    assert Edge("org/base", box, "quantized") in tree.edges
    fig = figures.lineage_figure(tree.nodes, tree.edges, "org/base", {m: 50.0 for m in measured},
                                 {m: True for m in measured}, "t", tree.groups)
    folded = {t.name: t for t in fig.data}["folded group"]
    assert list(folded.customdata) == ["+28 quantised copies"] and folded.marker.symbol == "square"
    assert "<i>+28 quantised copies</i>" in {a.text for a in fig.layout.annotations}


def test_lineage_labels_keep_the_organisation():
    fig = figures.lineage_figure(["some-organisation/" + "x" * 60], [], "some-organisation/" + "x" * 60, {}, {}, "t")
    label = fig.layout.annotations[0].text
    assert label.startswith("<b>some-organisa…/…x") and len(label) <= 38 + 7


def test_lineage_layout_puts_parents_left_of_children():
    g = _graph()
    nodes = g.nodes
    pos = figures.lineage_layout(nodes, g.edges)
    for e in g.edges:
        assert pos[e.parent][0] < pos[e.child][0]
    assert pos["merge"][0] == pos["m"][0] + 1  # depth is the longest path from a root
    # a cycle in the input does not break the layout
    pos = figures.lineage_layout(["a", "b"], [Edge("a", "b", "finetune"), Edge("b", "a", "finetune")])
    assert pos["a"][0] != pos["b"][0]


def test_lineage_figure_colours_known_nodes_and_greys_unknown():
    g = _graph()
    average = {"m": 40.0, "base": 30.0, "kid": 45.0}
    fig = figures.lineage_figure(g.nodes, g.edges, "m", average, {"m": True, "base": True, "kid": False}, "t")
    by_name = {t.name: t for t in fig.data}
    assert {"finetune", "quantized", "adapter", "merge"} <= set(by_name)
    known = by_name["model (colour = average)"]
    assert sorted(known.customdata[i][0] for i in range(len(known.x))) == ["base", "kid", "m"]
    assert list(known.marker.symbol) == ["circle" if n in ("m", "base") else "diamond"
                                         for n in [c[0] for c in known.customdata]]
    assert len(by_name["no score"].x) == len(g.nodes) - 3
    assert "average" in known.marker.colorbar.title.text
    assert known.marker.colorbar.orientation == "h"  # under the plot, never over the labels
    labels = {a.text for a in fig.layout.annotations}
    assert "<b>m</b>" in labels and len(labels) == len(g.nodes)  # every node named, the focus in bold


def test_prediction_chart_places_scores_intervals_and_measured_on_the_0_100_track():
    import re

    frame = tables.prediction_frame(_preds(), BENCHMARKS, measured={"a": 25.0})
    chart = figures.prediction_chart(frame, "<script>x</script>")
    names = re.findall(r'<span class="pc-name">([^<]*)</span>', chart)
    assert names[:3] == ["c", "a", "b"]  # the frame's order, top to bottom
    dots = re.findall(r'class="pc-dot pc-(\w+)" style="left:([\d.]+)%"', chart)
    assert dots == [("given", "70.00"), ("predicted", "20.00"), ("predicted", "40.00")]
    intervals = re.findall(r'class="pc-int" style="left:([\d.]+)%;right:calc\(100% - ([\d.]+)%\)', chart)
    assert ("10.00", "30.00") in intervals and ("35.00", "45.00") in intervals
    assert re.findall(r'class="pc-measured" style="left:([\d.]+)%"', chart) == ["25.00"]
    assert "<script>" not in chart and "&lt;script&gt;" in chart  # the title is escaped
    assert "points, 0-100" in chart and "given (your evaluation)" in chart
    named = figures.prediction_chart(tables.prediction_frame([Prediction("m", "math", 5, 1, 9)], BENCHMARKS), "t")
    assert '<span class="pc-name">MATH Lvl 5</span>' in named and "measured" not in named


def test_scatter_figure_has_identity_line_and_one_trace_per_benchmark():
    fig = figures.scatter_figure(_log_table(), "t")
    assert fig.data[0].name.startswith("y = x") and list(fig.data[0].x) == list(fig.data[0].y)
    assert [t.name for t in fig.data[1:]] == ["a", "b"]
    assert sum(len(t.x) for t in fig.data[1:]) == 3  # only measured rows
    assert "measured" in fig.layout.xaxis.title.text and "predicted" in fig.layout.yaxis.title.text


def test_curve_figure_draws_one_line_per_method_and_the_target():
    frame = pd.DataFrame({"budget": [5, 10, 5, 10], "mae": [3.0, 2.0, 4.0, 3.5], "method": ["ours", "ours", "irt", "irt"]})
    fig = figures.curve_figure(frame, "budget", "mae", "method", "t", "items per benchmark", "MAE (points)",
                               reference_line=2.0)
    assert [t.name for t in fig.data] == ["irt", "ours"]
    assert list(fig.data[1].y) == [3.0, 2.0]
    assert fig.layout.shapes[0].y0 == 2.0


def test_lineage_layout_keeps_children_in_their_parents_order():
    edges = [Edge("p1", "c1", "finetune"), Edge("p2", "c2", "finetune"), Edge("p3", "c3", "finetune")]
    pos = figures.lineage_layout(["p1", "p2", "p3", "c3", "c1", "c2"], edges)
    parents_top_down = sorted(["p1", "p2", "p3"], key=lambda n: -pos[n][1])
    children_top_down = sorted(["c1", "c2", "c3"], key=lambda n: -pos[n][1])
    assert [c[1:] for c in children_top_down] == [p[1:] for p in parents_top_down]  # no crossing edges


def _backtest_results() -> pd.DataFrame:
    rows = []
    for method, off in (("lrmf", 0.0), ("global_mean", 3.0)):
        for setting, mae, cov in (("zero", 4.0, 0.88), ("known", 2.5, 0.9), ("random-5", 3.0, 0.91),
                                  ("random-25", 2.0, 0.9), ("planned-5", 2.5, 0.86)):
            rows.append({"method": method, "setting": setting, "subset": "all", "benchmark": "mean",
                         "mae": mae + off, "coverage": cov if method == "lrmf" else math.nan})
            rows.append({"method": method, "setting": setting, "subset": "all", "benchmark": "ifeval",
                         "mae": 99.0, "coverage": 0.1})
    rows.append({"method": "lrmf", "setting": "zero", "subset": "with_relative", "benchmark": "mean",
                 "mae": 1.0, "coverage": 0.5})
    return pd.DataFrame(rows)


def test_backtest_curves_start_at_zero_items_and_use_mean_rows():
    curves = tables.backtest_curves(_backtest_results())
    ours = curves[curves["series"] == "lrmf (random)"].sort_values("items per benchmark")
    assert list(ours["items per benchmark"]) == [0, 5, 25] and list(ours["mae"]) == [4.0, 3.0, 2.0]
    assert list(curves[curves["series"] == "lrmf (planned)"]["mae"]) == [4.0, 2.5]
    assert 99.0 not in set(curves["mae"]) and 1.0 not in set(curves["mae"])  # per-benchmark, subset rows out


def test_backtest_legend_names_methods_plainly_and_explains_fallbacks():
    results = _backtest_results()
    results = pd.concat([results, results[results["method"] == "global_mean"].assign(method="irt")])
    legend = tables.backtest_legend(results)
    assert legend.startswith("Methods: **★ LRMF (this Space)**")  # ours first and marked
    assert "**Item response theory**" in legend and "global_mean" not in legend
    assert "Item response theory equal the global mean here" in legend
    assert "LRMF (this Space) equal" not in legend
    assert set(tables.label_methods(results)["method"]) == {"★ LRMF (this Space)", "Global mean",
                                                            "Item response theory"}


def test_backtest_coverage_and_summary():
    cov = tables.backtest_means(_backtest_results(), "coverage")
    assert set(cov["method"]) == {"lrmf"} and len(cov) == 5  # methods without intervals drop out
    fig = figures.setting_bars(cov, "coverage", "t", "%", scale=100, band=(0.85, 0.95))
    assert list(fig.data[0].y) == pytest.approx([88, 90, 91, 90, 86])
    assert fig.layout.shapes[0].y0 == pytest.approx(85) and fig.layout.shapes[0].y1 == pytest.approx(95)
    mae = figures.setting_bars(tables.backtest_means(_backtest_results(), "mae"), "mae", "t", "MAE")
    assert [t.name for t in mae.data] == ["global_mean", "lrmf"] and list(mae.data[1].y)[:2] == [4.0, 2.5]
    summary = tables.backtest_summary(_backtest_results())
    assert list(summary.iloc[:, 0]) == ["zero", "known", "random-5", "random-25", "planned-5"]
    assert summary.set_index(summary.columns[0]).loc["zero", "global_mean"] == 7.0


def test_track_record_by_evidence_and_without_intervals():
    table = _log_table()
    table["evidence"] = [None if m == "y/three" else "a measured relative" for m in table["model"]]
    no_interval = (table["model"] == "x/one") & (table["benchmark"] == "a")
    table.loc[no_interval, ["lower", "upper"]] = math.nan  # predicted without one: counts for error, not coverage
    done = tables.track_record(table)
    by = tables.track_by_evidence(done).set_index("Evidence")
    # x/one: a 55 vs 55 (no interval), b 45 vs 45 (covered); y/three (older log): a 45 vs 60 (missed)
    assert by.loc["a measured relative"].tolist() == [2, 0.0, "100%"]
    assert by.loc["not recorded"].tolist() == [1, 15.0, "0%"]
    assert tables.track_summary(done).set_index("Benchmark").loc["a", "In 90% interval"] == "0%"
