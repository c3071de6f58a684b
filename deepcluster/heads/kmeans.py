"""k-means with faiss: the baseline head, and the centroid initialiser every deep head uses.

faiss's ``nredo`` keeps the run with the lowest objective (the scikit-learn ``n_init`` behaviour), and
``max_points_per_centroid`` is raised so faiss never silently trains on a subsample of k·256 points.

On autoencoder codes the objective has near-ties: partitions within 0.5 % of the lowest whose ACC differs by
up to 0.12 (BENCHMARKS.md §3, "Why ACC jumps"). ``pick="even"`` keeps, among the restarts that close to the
lowest objective, the one with the most even cluster sizes. That is a prior, not a better optimum: use it
where the clusters are expected to be of similar size, never on long-tailed data.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch

from .base import ClusteringHead


PICKS = ("lowest", "even")
NEAR_TIE = 0.005  # restarts within 0.5 % of the lowest objective count as ties for pick="even"


def _faiss_kmeans(x: np.ndarray, k: int, n_iter: int, n_init: int, seed: int) -> faiss.Kmeans:
    km = faiss.Kmeans(x.shape[1], k, niter=n_iter, nredo=n_init, seed=int(seed) % (2**31 - 1),
                      max_points_per_centroid=10**7, min_points_per_centroid=1, verbose=False)
    km.train(x)
    return km


def size_evenness(labels: np.ndarray, k: int) -> float:
    """Entropy of the cluster sizes over log k: 1 for equal sizes, lower the more uneven."""
    p = np.bincount(labels, minlength=k) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(k)) if k > 1 else 1.0


def check_pick(pick: str) -> str:
    """``pick`` itself, or a ValueError naming the choices (heads call this before any work starts)."""
    if pick not in PICKS:
        raise ValueError(f"k-means pick={pick!r} is unknown; use 'lowest' (objective) or 'even' (most even sizes "
                         "among near-ties)")
    return pick


def kmeans_centroids(x: np.ndarray, k: int, *, n_init: int = 10, n_iter: int = 100, seed: int = 0,
                     pick: str = "lowest") -> np.ndarray:
    """Centroids (k, d) float32 of one of ``n_init`` Lloyd runs (random starts, as faiss): the lowest objective,
    or with ``pick="even"`` the most even sizes among the runs within ``NEAR_TIE`` of it (labels never enter)."""
    check_pick(pick)
    x = np.ascontiguousarray(x, dtype=np.float32)
    if k > len(x):
        raise ValueError(f"k={k} is larger than the {len(x)} samples; lower k")
    if pick == "lowest":
        centroids = _faiss_kmeans(x, k, n_iter, n_init, seed).centroids
    else:  # every restart kept, each with its own start (seed * n_init + r: two seeds share none)
        runs = [_faiss_kmeans(x, k, n_iter, 1, seed * n_init + r) for r in range(max(1, n_init))]
        lowest = min(float(km.obj[-1]) for km in runs)
        ties = [km for km in runs if float(km.obj[-1]) <= lowest * (1 + NEAR_TIE)]
        centroids = max(ties, key=lambda km: size_evenness(nearest_centroid(x, km.centroids), k)).centroids
    centroids = centroids.reshape(k, x.shape[1]).copy()
    if not np.isfinite(centroids).all():
        raise FloatingPointError("k-means produced non-finite centroids; check the features' scale")
    return centroids


def nearest_centroid(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (squared L2) of each row; exact, with faiss's flat index."""
    index = faiss.IndexFlatL2(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    _, ids = index.search(np.ascontiguousarray(x, dtype=np.float32), 1)
    return ids[:, 0].astype(np.int64)


class KMeans(ClusteringHead):
    """Plain k-means on the features (the 'K-Means' row of the study's table)."""

    method = "kmeans"

    def __init__(self, k: int, seed: int = 0, n_init: int = 10, n_iter: int = 100) -> None:
        super().__init__(k, seed, n_init=int(n_init), n_iter=int(n_iter))
        self.centroids: np.ndarray | None = None

    def _fit(self, x: np.ndarray) -> None:
        self.centroids = kmeans_centroids(x, self.k, n_init=self.params["n_init"], n_iter=self.params["n_iter"],
                                          seed=self.seed)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return nearest_centroid(x, self.centroids)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {"centroids": torch.from_numpy(self.centroids)}

    def _restore(self, tensors: dict[str, torch.Tensor]) -> None:
        self.centroids = tensors["centroids"].numpy()
