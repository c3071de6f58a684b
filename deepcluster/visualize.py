"""Pictures of clusters: a grid with one row of images per cluster, nearest to the centroid first."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.utils import make_grid

from .data import ImageSource


def nearest_members(assignments: np.ndarray, distances: np.ndarray, cluster: int, count: int) -> np.ndarray:
    members = np.flatnonzero(assignments == cluster)
    return members[np.argsort(distances[members], kind="stable")[:count]]


def cluster_grid(
    source: ImageSource, assignments: np.ndarray, distances: np.ndarray, clusters: list[int], per_cluster: int = 8
) -> torch.Tensor | None:
    """uint8 (3, H, W) grid, row i = the ``per_cluster`` images closest to the centroid of ``clusters[i]``."""
    rows = []
    for cluster in clusters:
        picked = nearest_members(assignments, distances, cluster, per_cluster)
        row = torch.zeros(per_cluster, source.channels, source.image_size, source.image_size, dtype=torch.uint8)
        if len(picked):
            images = torch.cat([b for b, _ in source.batches(picked, len(picked), train=False, seed=0, workers=0)])
            row[: len(images)] = images
        rows.append(row)
    if not rows:
        return None
    return make_grid(torch.cat(rows), nrow=per_cluster, padding=2, pad_value=255)
