"""Pictures of numbers: cluster sizes and learning curves (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..atomic import atomic_open  # noqa: E402

# metrics.jsonl keys worth a curve, grouped into panels
CURVES = {
    "train loss (pseudo-labels)": ("train_loss",),
    "k-means objective": ("kmeans_loss",),
    "k-NN top-1 (held-out queries)": ("knn_top1_backbone", "knn_top1_clustered"),
    "clustering vs. labels": ("nmi_labels", "purity_labels", "ari_labels", "acc_labels"),  # acc: older runs
    "stability (NMI t-1 vs t)": ("nmi_prev",),
    "cluster sizes": ("cluster_size_min", "cluster_size_max", "n_empty"),
}


def cluster_size_figure(sizes: np.ndarray, title: str = "cluster sizes"):
    """Bar chart of cluster sizes, largest first: skew and empty clusters are visible at a glance."""
    order = np.argsort(-sizes, kind="stable")
    fig, ax = plt.subplots(figsize=(max(6.0, min(len(sizes) * 0.12, 20.0)), 3.5))
    ax.bar(np.arange(len(sizes)), sizes[order], width=0.9, color="tab:blue")
    ax.axhline(sizes.mean(), color="tab:red", linewidth=1, label=f"mean {sizes.mean():.0f}")
    ax.set_xlabel("clusters, largest first")
    ax.set_ylabel("samples")
    ax.set_title(f"{title} (k={len(sizes)}, min {sizes.min()}, max {sizes.max()}, empty {(sizes == 0).sum()})")
    ax.legend()
    fig.tight_layout()
    return fig


def learning_curves_figure(rows: list[dict]):
    """One panel per group of CURVES, epoch on the x axis; missing or null values are skipped."""
    panels = [(title, keys) for title, keys in CURVES.items() if any(r.get(k) is not None for r in rows for k in keys)]
    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(4 * max(len(panels), 1), 3.5), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            points = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
            if points:
                epochs, values = zip(*points)
                ax.plot(epochs, values, marker="o", label=key)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save_figure(fig, path: Path) -> Path:
    with atomic_open(path) as f:
        fig.savefig(f, dpi=100, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return path
