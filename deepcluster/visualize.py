"""Pictures of clusters: a grid with one row of images per cluster, nearest to the centroid first.

``cluster_grid`` is the cheap, caption-free grid the training loop logs to TensorBoard every epoch (native
size, one tensor op). The readable, captioned and upscaled pictures for people are built from the same
``nearest_members`` / ``load_images`` in ``inspection/sheet.py``.
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision.utils import make_grid

from .data import ImageSource


def nearest_members(assignments: np.ndarray, distances: np.ndarray, cluster: int, count: int) -> np.ndarray:
    members = np.flatnonzero(assignments == cluster)
    return members[np.argsort(distances[members], kind="stable")[:count]]


def load_images(source: ImageSource, indices) -> dict[int, torch.Tensor]:
    """uint8 (C, S, S) image of each of ``indices`` that decodes (eval transform, no augmentation), in one
    pass over the source (a sharded source is scanned once, not once per cluster)."""
    wanted = sorted({int(i) for i in indices})
    found: dict[int, torch.Tensor] = {}
    if wanted:
        for images, idx in source.batches(wanted, 256, train=False, seed=0, workers=0):
            found.update(zip(idx.tolist(), images))
    return found


def cluster_grid(
    source: ImageSource, assignments: np.ndarray, distances: np.ndarray, clusters: list[int], per_cluster: int = 8
) -> torch.Tensor | None:
    """uint8 (3, H, W) grid, row i = the ``per_cluster`` images closest to the centroid of ``clusters[i]``."""
    if not clusters:
        return None
    picked = [nearest_members(assignments, distances, cluster, per_cluster) for cluster in clusters]
    images = load_images(source, np.concatenate(picked))
    blank = torch.zeros(source.channels, source.image_size, source.image_size, dtype=torch.uint8)
    rows = [[images[int(i)] for i in members if int(i) in images] for members in picked]
    cells = [row[j] if j < len(row) else blank for row in rows for j in range(per_cluster)]
    return make_grid(torch.stack(cells), nrow=per_cluster, padding=2, pad_value=255)
