"""Explicit re-seeding of clusters left empty by k-means' final assignment.

The paper (Sec. 3.3): when a cluster is empty, pick a non-empty cluster, give the empty one the same
centroid with a small random perturbation, and reassign the donor's points between the two. Such a
perturbation splits the donor by a random hyperplane through its centroid; we cut at the median of the
projection so each side gets half of the points (as DeeperCluster does), which guarantees that no
pseudo-label in use is empty. Donors are drawn with probability ∝ (size − 1), like faiss's own splits.
"""

from __future__ import annotations

import numpy as np

from .kmeans import KMeansResult


def reseed_empty_clusters(x: np.ndarray, result: KMeansResult, rng: np.random.Generator) -> tuple[KMeansResult, int]:
    """Return a result in which all k clusters are non-empty, and how many were empty."""
    k = len(result.centroids)
    if k > len(x):
        raise ValueError(f"cannot fill {k} clusters with {len(x)} points")
    assignments = result.assignments.copy()
    centroids = result.centroids.copy()
    distances = result.distances.copy()
    sizes = np.bincount(assignments, minlength=k)
    empty = np.flatnonzero(sizes == 0)
    for target in empty:
        weights = np.maximum(sizes - 1, 0).astype(np.float64)
        donor = rng.choice(k, p=weights / weights.sum())
        members = np.flatnonzero(assignments == donor)
        direction = rng.standard_normal(x.shape[1]).astype(np.float32)
        projection = (x[members] - centroids[donor]) @ direction
        moved = members[np.argsort(projection, kind="stable")[len(members) // 2 :]]
        kept = np.setdiff1d(members, moved, assume_unique=True)
        assignments[moved] = target
        for cluster, points in ((donor, kept), (target, moved)):
            centroids[cluster] = x[points].mean(axis=0)
            distances[points] = ((x[points] - centroids[cluster]) ** 2).sum(axis=1)
        sizes[donor], sizes[target] = len(kept), len(moved)
    reseeded = KMeansResult(assignments, centroids, distances, float(distances.sum()) if len(empty) else result.loss)
    return reseeded, len(empty)
