"""Files an annotation team works from: per-cluster image grids (PNG and TensorBoard) and a sortable CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..atomic import atomic_open
from ..data import ImageSource
from ..runtime import progress
from ..visualize import cluster_grid
from .membership import Membership

CSV_COLUMNS = ("key", "index", "cluster", "distance", "rank_in_cluster", "cluster_size", "label", "annotation")


def write_png(grid: torch.Tensor, path: Path) -> Path:
    with atomic_open(path) as f:
        Image.fromarray(grid.permute(1, 2, 0).contiguous().numpy()).save(f, format="PNG")
    return path


def cluster_grids(source: ImageSource, m: Membership, clusters: list[int], per_cluster: int,
                  folder: Path, writer=None) -> list[Path]:
    """grids/cluster_XXXX.png for each cluster: its ``per_cluster`` members nearest the centroid, in rows
    of 8, nearest first. With a TensorBoard ``writer`` the same images go under ``clusters/XXXX``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for cluster in progress(clusters, total=len(clusters), desc="grids"):
        if per_cluster <= 8:  # one row
            grid = cluster_grid(source, m.assignments, m.distances, [cluster], per_cluster)
        else:  # long rows folded into rows of 8: a readable, square-ish image
            grid = _fold(source, m, cluster, per_cluster)
        paths.append(write_png(grid, folder / f"cluster_{cluster:04d}.png"))
        if writer is not None:
            writer.add_image(f"clusters/{cluster:04d}", grid, 0)
    return paths


def _fold(source: ImageSource, m: Membership, cluster: int, per_cluster: int) -> torch.Tensor:
    from torchvision.utils import make_grid

    from ..visualize import nearest_members

    picked = nearest_members(m.assignments, m.distances, cluster, per_cluster)
    images = torch.cat([b for b, _ in source.batches(picked, max(len(picked), 1), train=False, seed=0, workers=0)])
    return make_grid(images, nrow=8, padding=2, pad_value=255)


def write_csv(path: Path, source: ImageSource, m: Membership) -> Path:
    """One line per sample, grouped by cluster and nearest-first inside it (left-out samples last), so an
    annotator can read a cluster top to bottom and fill the ``annotation`` column once per cluster."""
    ranks = m.rank_in_cluster()
    sizes = m.sizes()
    used = np.flatnonzero(m.assignments >= 0)
    order = np.r_[used[np.lexsort((ranks[used], m.assignments[used]))], np.flatnonzero(m.assignments < 0)]
    with atomic_open(path, "w") as f:
        out = csv.writer(f)
        out.writerow(CSV_COLUMNS)
        for i in order:
            c = int(m.assignments[i])
            label = "" if source.labels is None else int(source.labels[i])
            out.writerow([source.keys[i], int(i), c, f"{m.distances[i]:.6f}" if c >= 0 else "",
                          int(ranks[i]), int(sizes[c]) if c >= 0 else 0, label, ""])
    return path


def purity(source: ImageSource, m: Membership) -> dict[int, float] | None:
    """Share of each cluster's members carrying its most common label (None without labels)."""
    if source.labels is None:
        return None
    out = {}
    for c in np.unique(m.assignments[m.assignments >= 0]):
        members = source.labels[m.assignments == c]
        out[int(c)] = float(np.bincount(members).max() / len(members))
    return out
