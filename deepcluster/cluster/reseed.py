"""Explicit re-seeding of clusters left empty by k-means' final assignment.

The paper (Sec. 3.3): when a cluster is empty, pick a non-empty cluster, give the empty one the same
centroid with a small random perturbation, and reassign the donor's points between the two. Such a
perturbation splits the donor by a random hyperplane through its centroid; we cut at the median of the
projection so each side gets half of the points (as DeeperCluster does), which guarantees that no
pseudo-label in use is empty. Donors are drawn with probability ∝ (size − 1), like faiss's own splits.

Written against ``comm`` so the same code runs on one process or with features sharded over ranks
(every rank draws the same donors and directions from the same seed; only the donor's projections and
two centroid sums cross the network).
"""

from __future__ import annotations

import numpy as np

from .comm import LocalComm
from .kmeans import KMeansResult


def reseed_empty_clusters(x: np.ndarray, result: KMeansResult, rng: np.random.Generator,
                          comm=None) -> tuple[KMeansResult, int]:
    """Return a result in which all k clusters are non-empty, and how many were empty.

    ``x`` and the result's assignments/distances are this process's rows; centroids are global.
    """
    comm = comm or LocalComm()
    k = len(result.centroids)
    assignments = result.assignments.copy()
    centroids = result.centroids.copy()
    distances = result.distances.copy()
    sizes = comm.sum(np.bincount(assignments, minlength=k))
    if k > sizes.sum():
        raise ValueError(f"cannot fill {k} clusters with {sizes.sum()} points")
    empty = np.flatnonzero(sizes == 0)
    for target in empty:
        weights = np.maximum(sizes - 1, 0).astype(np.float64)
        donor = rng.choice(k, p=weights / weights.sum())
        direction = rng.standard_normal(x.shape[1]).astype(np.float32)
        members = np.flatnonzero(assignments == donor)
        projection = (x[members] - centroids[donor]) @ direction
        pairs = comm.cat(np.stack([projection.astype(np.float64), (members + comm.offset).astype(np.float64)], 1))
        order = np.lexsort((pairs[:, 1], pairs[:, 0]))  # by projection, ties by global index
        moved_global = pairs[order[len(order) // 2 :], 1].astype(np.int64)
        moved = moved_global[(moved_global >= comm.offset) & (moved_global < comm.offset + len(x))] - comm.offset
        assignments[moved] = target
        for cluster in (donor, target):
            points = np.flatnonzero(assignments == cluster)
            totals = comm.sum(np.concatenate([x[points].sum(0, dtype=np.float64), [len(points)]]))
            centroids[cluster] = (totals[:-1] / totals[-1]).astype(np.float32)
            distances[points] = ((x[points] - centroids[cluster]) ** 2).sum(axis=1)
        sizes[target] = len(order) - len(order) // 2
        sizes[donor] = len(order) // 2
    loss = float(comm.sum(np.array([distances.sum()], dtype=np.float64))[0]) if len(empty) else result.loss
    return KMeansResult(assignments, centroids, distances, loss), len(empty)
