"""Put the shift backtests beside the random folds: one table and one plot per suite.

Reads the ``results.csv`` of each split's report (``lm-eval-predict backtest --split ...`` or
``backtest_real.py --split ...``) and writes ``summary.md`` and ``shift.png`` into the suite's shift
folder. A split may list several report folders: their methods are joined (the same held-out
models, folds and random plans, e.g. the baselines run apart from a committed report with the same
``--folds``/``--seed``/``--max-models``/``--settings``); a method is taken from the first folder that has it.

Usage: ``python benchmarks/shift_summary.py OUT_DIR --split NAME=DIR[,DIR...] [--split ...]
[--methods ...] [--title ...]``
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

METRICS = ("mae", "bias", "coverage", "width")
DEFAULT_METHODS = ("lrmf", "random_sampling", "random_regression", "aipw", "subset_mapping", "metadata_regression",
                   "global_mean")


def load(dirs: list[Path]) -> pd.DataFrame:
    """Per-benchmark rows over all held-out models of each method, first folder first."""
    parts, seen = [], set()
    for d in dirs:
        frame = pd.read_csv(d / "results.csv")
        frame = frame[(frame.benchmark != "mean") & (frame.subset == "all") & ~frame.method.isin(seen)]
        seen |= set(frame.method)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def means(frame: pd.DataFrame, benchmarks: list[str] | None) -> pd.DataFrame:
    """Means over ``benchmarks`` (all when None) per setting and method, and the most models judged
    on one benchmark (``n``), as the reports' ``mean`` rows are."""
    if benchmarks:
        frame = frame[frame.benchmark.isin(benchmarks)]
    return frame.groupby(["setting", "method"], sort=False).agg(
        n=("n", "max"), **{m: (m, "mean") for m in METRICS}).reset_index()


def table(frames: dict[str, pd.DataFrame], methods: list[str]) -> str:
    """Markdown: one row per split and setting, ``MAE / bias / coverage / width`` per method."""
    head = ["split", "setting", "models", *methods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for split, frame in frames.items():
        for setting in dict.fromkeys(frame.setting):
            rows = frame[frame.setting == setting].set_index("method")
            cells = []
            for m in methods:
                if m not in rows.index:
                    cells.append("–")
                    continue
                r = rows.loc[m]
                # reports made before the bias column (the committed v1) have none: a dash, not "nan"
                bias, cov, width = (("–" if pd.isna(v) else fmt.format(v)) for v, fmt in
                                    ((r.bias, "{:+.2f}"), (r.coverage, "{:.2f}"), (r.width, "{:.1f}")))
                cells.append(f"{r.mae:.2f} / {bias} / {cov} / {width}")
            lines.append(f"| {split} | {setting} | {int(rows.n.max())} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(frames: dict[str, pd.DataFrame], methods: list[str], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, metric in zip(axes, ("mae", "coverage")):
        labels = [f"{s}\n{t}" for s, f in frames.items() for t in dict.fromkeys(f.setting)]
        for i, m in enumerate(methods):
            ys = [f[(f.setting == t) & (f.method == m)][metric].mean() for f in frames.values()
                  for t in dict.fromkeys(f.setting)]
            ax.plot(range(len(labels)), ys, marker="o", label=m, alpha=0.85)
        if metric == "coverage":
            ax.axhspan(0.85, 0.95, color="green", alpha=0.1)
        ax.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7)
        ax.set_title(f"{metric} (mean over benchmarks)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--split", action="append", required=True, metavar="NAME=DIR[,DIR]")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--title", default="Backtests under shift")
    parser.add_argument("--item-benchmarks", nargs="+", default=None, metavar="NAME",
                        help="also a table of means over these (the benchmarks the item baselines can read)")
    args = parser.parse_args(argv)
    frames = {}
    for spec in args.split:
        name, _, dirs = spec.partition("=")
        paths = [Path(d) for d in dirs.split(",") if d]
        missing = [str(p) for p in paths if not (p / "results.csv").exists()]
        if not name or not paths or missing:
            parser.error(f"--split {spec!r}: expected NAME=DIR[,DIR] with a results.csv in each DIR "
                         f"(missing: {', '.join(missing) or 'none'})")
        frames[name] = load(paths)
    methods = [m for m in args.methods if any(m in set(f.method) for f in frames.values())]
    args.out.mkdir(parents=True, exist_ok=True)
    every = {name: means(f, None) for name, f in frames.items()}
    plot(every, methods, args.out / "shift.png")
    text = [f"# {args.title}", "",
            "Each cell: MAE / mean signed error (predicted - measured) / 90% interval coverage / mean interval "
            "width, all means over benchmarks, on the split's held-out models (`models`: the most judged on one "
            "benchmark). Every report folder beside this file has the per-benchmark tables and the notes saying "
            "how each split was chosen.", "", "## Every benchmark", "", table(every, methods), ""]
    if args.item_benchmarks:
        items = {name: means(f, args.item_benchmarks) for name, f in frames.items()}
        text += [f"## The benchmarks with items ({', '.join(args.item_benchmarks)})", "",
                 "Where the item baselines read items; elsewhere they fall back to the global mean.", "",
                 table(items, methods), ""]
    text += ["![MAE and coverage](shift.png)", ""]
    (args.out / "summary.md").write_text("\n".join(text))
    print(f"wrote {args.out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
