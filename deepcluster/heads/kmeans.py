"""k-means with faiss: the baseline head, and the centroid initialiser every deep head uses.

faiss's ``nredo`` keeps the run with the lowest objective (the scikit-learn ``n_init`` behaviour), and
``max_points_per_centroid`` is raised so faiss never silently trains on a subsample of k·256 points.
"""

from __future__ import annotations

import faiss
import numpy as np
import torch

from .base import ClusteringHead


def kmeans_centroids(x: np.ndarray, k: int, *, n_init: int = 10, n_iter: int = 100, seed: int = 0) -> np.ndarray:
    """Centroids (k, d) float32 of the lowest-objective of ``n_init`` Lloyd runs (random starts, as faiss)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if k > len(x):
        raise ValueError(f"k={k} is larger than the {len(x)} samples; lower k")
    km = faiss.Kmeans(x.shape[1], k, niter=n_iter, nredo=n_init, seed=int(seed) % (2**31 - 1),
                      max_points_per_centroid=10**7, min_points_per_centroid=1, verbose=False)
    km.train(x)
    centroids = km.centroids.reshape(k, x.shape[1]).copy()
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
        super().__init__(k, seed, n_init=n_init, n_iter=n_iter)
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
