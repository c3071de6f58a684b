"""Our AE + K-Means and DEC runs against DEC-keras's 10 published trials, run by run (ACC against NMI).

A mean hides what matters here: ACC is bimodal across seeds (near-tied k-means partitions, BENCHMARKS.md §3)
while NMI is not. So this plots every run, and prints per head and recipe the medians, ACC's mean±std
(over runs, ddof 0) and a two-sided Mann-Whitney U test against DEC-keras's trials (rank based: no normality
assumed with 4 to 10 runs a side).

  python benchmarks/heads/plot_vs_dec_keras.py --out vs_dec_keras.png \
      "SGD 100 bf16 (CPU)=benchmarks/results/heads/cpu_sgd100_bf16" \
      "SGD 300 fp32 (CPU)=benchmarks/results/heads/cpu_sgd300_fp32"
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from statistics import mean, median, pstdev

import matplotlib
from scipy.stats import mannwhitneyu

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

HEADS = {"ae_kmeans": "AE + K-Means", "dec": "DEC"}
DEC_KERAS = Path(__file__).resolve().parents[1] / "results" / "heads" / "dec_keras_fmnist_trials.csv"


def dec_keras_runs(path: Path = DEC_KERAS) -> dict[str, list[dict[str, float]]]:
    """DEC-keras's per-trial ACC / NMI for each head, from the committed copy of its results file."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    runs: dict[str, list[dict[str, float]]] = {head: [] for head in HEADS}
    for row in csv.DictReader(lines):
        runs[row["method"]].append({"acc": float(row["acc"]), "nmi": float(row["nmi"])})
    return runs


def our_runs(folder: Path) -> dict[str, list[dict[str, float]]]:
    """Per-seed scores of each head in a folder of ``run_heads.py --export`` results (failed seeds have none)."""
    runs = {}
    for head in HEADS:
        file = folder / f"{head}.json"
        if not file.is_file():
            raise SystemExit(f"{file} is missing: pass a folder written by run_heads.py --export")
        runs[head] = [{"acc": r["acc"], "nmi": r["nmi"]} for r in json.loads(file.read_text())["runs"]]
    return runs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="+", metavar="LABEL=FOLDER", help="our exported results, one folder per recipe")
    p.add_argument("--out", required=True, help="PNG to write")
    args = p.parse_args()
    recipes = {"DEC-keras, 10 trials (published)": dec_keras_runs()}
    for spec in args.recipes:
        label, sep, folder = spec.partition("=")
        if not sep:
            raise SystemExit(f"expected LABEL=FOLDER, got {spec!r}")
        recipes[label] = our_runs(Path(folder))
    reference = recipes["DEC-keras, 10 trials (published)"]

    fig, axes = plt.subplots(1, len(HEADS), figsize=(12, 5), sharex=True, sharey=True)
    print("| head | runs | ACC median | ACC mean±std | NMI median | Mann-Whitney p vs DEC-keras: ACC | NMI |")
    print("|---|---|---|---|---|---|---|")
    for ax, (head, title) in zip(axes, HEADS.items()):
        for (label, runs), marker in zip(recipes.items(), "*osd^v"):
            points = runs[head]
            acc, nmi = [r["acc"] for r in points], [r["nmi"] for r in points]
            ax.scatter(nmi, acc, marker=marker, s=90 if marker == "*" else 45, alpha=0.8,
                       label=f"{label}: {len(points)} runs")
            if runs is reference:
                tests = "- | -"
            else:
                ref_acc, ref_nmi = [r["acc"] for r in reference[head]], [r["nmi"] for r in reference[head]]
                tests = (f"{mannwhitneyu(acc, ref_acc).pvalue:.3f} | {mannwhitneyu(nmi, ref_nmi).pvalue:.3f}")
            print(f"| {title}, {label} | {len(points)} | {median(acc):.3f} | {mean(acc):.3f}±{pstdev(acc):.3f} | "
                  f"{median(nmi):.3f} | {tests} |")
        ax.set_title(f"{title}, one point per run")
        ax.set_xlabel("NMI")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel("ACC (Hungarian)")
    fig.suptitle("Fashion-MNIST 70k, raw pixels, DEC-keras's autoencoder recipe (SGD lr 1, fan_in init)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
