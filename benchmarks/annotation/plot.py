"""Curves and tables of the simulated annotator: reads simulate.py's summaries, draws one panel per dataset
(correctly labelled % against actions, log scale), writes the Markdown tables (tables.md beside the PNG).

    python benchmarks/annotation/plot.py benchmarks/results/annotation \
        --out benchmarks/results/annotation/annotation_curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from deepcluster.atomic import write_text_atomic  # noqa: E402

DATASETS = {"fmnist": "Fashion-MNIST test (10,000)", "digits": "scikit-learn digits (1,797)"}
METHODS = {"dc_k10": ("DeepCluster conv3 + recipe head, k=10", "tab:blue"),
           "dc_kauto": ("DeepCluster conv3 + recipe head, k auto", "tab:cyan"),
           "px_k10": ("raw-pixel k-means, k=10", "tab:orange"),
           "px_kauto": ("raw-pixel k-means, k auto", "tab:olive")}
TARGETS = (80, 90, 95)


def cell(summary: dict, key: str) -> str:
    mean, std = summary[key]["mean"], summary[key]["std"]
    return f"{mean:,.0f} ± {std:,.0f}" if std else f"{mean:,.0f}"


def actions_table(found: dict) -> list[str]:
    lines = ["| dataset | method | k | correct after naming % | actions to 80 % | to 90 % | to 95 % | "
             "wrong images in the farthest 20 % of their grid |", "|---" * 8 + "|"]
    for set_key, set_name in DATASETS.items():
        for method_key, (method_name, _) in METHODS.items():
            data = found.get((set_key, method_key))
            if data is None:
                continue
            s, n = data["summary"], data["n"]
            ks = sorted({r["k"] for r in data["runs"]})
            named = s["correct_after_naming"]
            after = f"{100 * named['mean'] / n:.1f} ± {100 * named['std'] / n:.1f}"
            lines.append(f"| {set_name} | {method_name} | {', '.join(map(str, ks))} | {after} | "
                         + " | ".join(cell(s, f"actions_{t}") for t in TARGETS)
                         + f" | {100 * s['wrong_in_farthest_20pct']['mean']:.0f} ± "
                         f"{100 * s['wrong_in_farthest_20pct']['std']:.0f} % |")
        data = next((d for (k, _), d in found.items() if k == set_key), None)
        if data is not None:
            one = data["one_by_one"]
            lines.append(f"| {set_name} | one by one | - | 0 | "
                         + " | ".join(f"{one[f'actions_{t}']:,}" for t in TARGETS) + " | (random: 20 %) |")
    return lines


def suggestion_table(found: dict) -> list[str]:
    lines = ["| dataset | features | true k | suggested k (seeds 0, 1, 2) |", "|---|---|---|---|"]
    for set_key, set_name in DATASETS.items():
        for kind, name in (("dc", "DeepCluster conv3, whiten:64"), ("px", "raw pixels")):
            data = found.get((set_key, f"{kind}_kauto"))
            if data is not None:
                lines.append(f"| {set_name} | {name} | 10 | {', '.join(str(r['k']) for r in data['runs'])} |")
    return lines


def dense_curve(curve: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The naming steps, then the fixing line (slope 1) sampled densely, so it is a line of data on a log axis."""
    actions, correct = np.asarray(curve["actions"], float), np.asarray(curve["correct"], float)
    k = len(actions) - 2
    fixing = np.geomspace(max(k, 1), actions[-1], 100)
    x = np.concatenate([actions[: k + 1], fixing])
    y = np.concatenate([correct[: k + 1], correct[k] + fixing - k])
    return np.maximum(x, 0.8), 100 * np.minimum(y, n) / n


def plot(found: dict, out: Path) -> None:
    fig, axes = plt.subplots(1, len(DATASETS), figsize=(12, 5.2), sharey=True)
    for ax, (set_key, set_name) in zip(axes, DATASETS.items()):
        n = None
        for method_key, (method_name, colour) in METHODS.items():
            data = found.get((set_key, method_key))
            if data is None:
                continue
            n = data["n"]
            for i, run in enumerate(data["runs"]):
                x, y = dense_curve(run["curve"], n)
                ax.plot(x, y, color=colour, lw=1.4, alpha=0.85,
                        ls="-" if method_key.endswith("k10") else "--",
                        label=f"{method_name} ({len(data['runs'])} seeds)" if i == 0 else None)
        if n is None:
            continue
        grid = np.geomspace(0.8, n, 200)
        ax.plot(grid, 100 * grid / n, color="black", lw=1.2, ls=":", label="one by one")
        for t in TARGETS:
            ax.axhline(t, color="grey", lw=0.6, ls="-", alpha=0.5)
        ax.set_xscale("log")
        ax.set_xlim(0.8, n * 1.1)
        ax.set_ylim(0, 101)
        ax.set_yticks([0, 20, 40, 60, 80, 90, 100])
        ax.set_title(set_name)
        ax.set_xlabel("annotator actions (naming a cluster or fixing an image = 1)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("correctly labelled images, %")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=8.5, frameon=False)
    fig.suptitle("Simulated annotator: name each cluster by its majority (1 action), then fix wrong images "
                 "(1 action each); grey lines: 80 / 90 / 95 %", fontsize=10.5)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", help="folder of simulate.py summaries (SET_METHOD.json)")
    p.add_argument("--out", required=True, help="PNG to write")
    args = p.parse_args(argv)
    found = {}
    for path in sorted(Path(args.results).glob("*_k*.json")):
        set_key, _, method_key = path.stem.partition("_")
        found[(set_key, method_key)] = json.loads(path.read_text())
    plot(found, Path(args.out))
    tables = "\n".join(actions_table(found)) + "\n\n" + "\n".join(suggestion_table(found)) + "\n"
    write_text_atomic(Path(args.out).with_name("tables.md"), tables)
    print(tables)
    print(f"wrote {args.out} and {Path(args.out).with_name('tables.md')}")


if __name__ == "__main__":
    main()
