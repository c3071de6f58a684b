"""Files an annotation team works from: captioned per-cluster image grids (PNG and TensorBoard) and a
sortable CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..atomic import atomic_open
from ..data import ImageSource
from ..runtime import progress
from ..visualize import load_images, nearest_members
from .membership import Membership
from .sheet import PER_ROW, ClusterCaption, contact_sheet, enlarge, sheet_tensor, thumbnail_side

CSV_COLUMNS = ("key", "index", "cluster", "distance", "rank_in_cluster", "cluster_size", "label", "annotation")


def write_png(picture: Image.Image, path: Path) -> Path:
    with atomic_open(path) as f:
        picture.save(f, format="PNG")
    return path


IMAGES_PER_PASS = 2048  # images held in memory at once while drawing grids (one pass over the source each)


def _sheets(source: ImageSource, m: Membership, blocks: list[list[int]], per_cluster: int,
            captions: dict[int, ClusterCaption]):
    """Yield (block, sheet) for each block of clusters: their captions and ``per_cluster`` members nearest
    the centroid, read from the source a bounded number of images at a time."""
    side = thumbnail_side(source.image_size)
    per_pass = max(1, IMAGES_PER_PASS // max(per_cluster * max(map(len, blocks), default=1), 1))
    for start in range(0, len(blocks), per_pass):
        chunk = blocks[start:start + per_pass]
        picked = {c: nearest_members(m.assignments, m.distances, c, per_cluster) for block in chunk for c in block}
        images = load_images(source, np.concatenate(list(picked.values())) if picked else [])
        for block in chunk:
            parts = []
            for c in block:
                found = [images[int(i)] for i in picked[c] if int(i) in images]
                stacked = torch.stack(found) if found else torch.zeros(0, 3, side, side, dtype=torch.uint8)
                parts.append((captions[c].text(), enlarge(stacked, side)))
            yield block, contact_sheet(parts, side)


def cluster_grids(source: ImageSource, m: Membership, clusters: list[int], per_cluster: int,
                  folder: Path, captions: dict[int, ClusterCaption], writer=None) -> list[Path]:
    """grids/cluster_XXXX.png for each cluster: a caption (id, size, purity) over its ``per_cluster``
    members nearest the centroid, in rows of 8, nearest first, at least 64 px each. With a TensorBoard
    ``writer`` the same pictures go under ``clusters/XXXX``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    sheets = _sheets(source, m, [[c] for c in clusters], per_cluster, captions)
    for (cluster,), sheet in progress(sheets, total=len(clusters), desc="grids"):
        paths.append(write_png(sheet, folder / f"cluster_{cluster:04d}.png"))
        if writer is not None:
            writer.add_image(f"clusters/{cluster:04d}", sheet_tensor(sheet), 0)
    return paths


def overview_sheet(source: ImageSource, m: Membership, clusters: list[int],
                   captions: dict[int, ClusterCaption], per_cluster: int = PER_ROW) -> Image.Image:
    """One picture of several clusters: each captioned, with one row of its members nearest the centroid."""
    return next(_sheets(source, m, [clusters], per_cluster, captions))[1]


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
