"""Who is in which cluster, and how typical each member is (its distance to the centroid).

Two sources of clusters: the assignments a checkpoint stores (the pseudo-labels its last epoch trained
on), or a fresh k-means on the network's current features (``recluster_k``; the only option for an
export directory, which stores no assignments). Distances are squared Euclidean in the space k-means
works in (PCA-whitened, L2-normalised features, ``preprocess_features``), so "nearest to the centroid"
means the same thing as in training. For stored assignments the centroid is the mean of the members'
current features: the network has trained one epoch since it was clustered, so this is the centre of
the cluster as the saved network sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cluster import preprocess_features, run_kmeans


@dataclass
class Membership:
    assignments: np.ndarray  # (N,) int64, -1 = left out (undecodable)
    distances: np.ndarray  # (N,) float32 squared distance to the own centroid, inf where left out
    k: int
    origin: str  # "checkpoint assignments" or "k-means (k=..., seed=...)"

    def sizes(self) -> np.ndarray:
        return np.bincount(self.assignments[self.assignments >= 0], minlength=self.k)

    def rank_in_cluster(self) -> np.ndarray:
        """0 for the member nearest its centroid, 1 for the next, ...; -1 where left out."""
        ranks = np.full(len(self.assignments), -1, dtype=np.int64)
        used = np.flatnonzero(self.assignments >= 0)
        order = used[np.lexsort((self.distances[used], self.assignments[used]))]
        clusters = self.assignments[order]
        starts = np.r_[0, np.flatnonzero(np.diff(clusters)) + 1]
        first = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        ranks[order] = np.arange(len(order)) - first
        return ranks


def _scatter(valid: np.ndarray, assignments: np.ndarray, distances: np.ndarray, k: int, origin: str) -> Membership:
    full_a = np.full(len(valid), -1, dtype=np.int64)
    full_d = np.full(len(valid), np.inf, dtype=np.float32)
    full_a[valid] = assignments
    full_d[valid] = distances
    return Membership(full_a, full_d, k, origin)


def stored_membership(features: np.ndarray, valid: np.ndarray, assignments: np.ndarray, pca_dim: int) -> Membership:
    """Distances of each sample to the mean of its stored cluster, in the k-means space."""
    if len(assignments) != len(features):
        raise ValueError(f"the checkpoint assigns {len(assignments)} samples but the dataset has {len(features)}; "
                         "inspect it on its training data (same data.name, root, split and limit)")
    valid = valid & (assignments >= 0)
    x = preprocess_features(features[valid], min(pca_dim, features.shape[1]))
    a = assignments[valid]
    k = int(assignments.max()) + 1
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    np.add.at(sums, a, x)
    centroids = sums / np.maximum(np.bincount(a, minlength=k), 1)[:, None]
    distances = ((x - centroids[a]) ** 2).sum(axis=1).astype(np.float32)
    return _scatter(valid, a, distances, k, "checkpoint assignments")


def kmeans_membership(features: np.ndarray, valid: np.ndarray, k: int, pca_dim: int, niter: int = 20,
                      seed: int = 0) -> Membership:
    """Fresh faiss k-means on the PCA-whitened, L2-normalised features of the decodable samples."""
    if k > int(valid.sum()):
        raise ValueError(f"--k {k} is larger than the {int(valid.sum())} decodable samples; lower --k")
    x = preprocess_features(features[valid], min(pca_dim, features.shape[1]))
    result = run_kmeans(x, k, niter, seed=seed)
    return _scatter(valid, result.assignments, result.distances, k, f"k-means (k={k}, seed={seed})")
