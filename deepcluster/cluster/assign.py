"""One epoch's clustering: features of the whole dataset → pseudo-labels for every usable sample."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..seeds import Purpose, numpy_rng, stream_seed
from .kmeans import run_kmeans
from .pca import preprocess_features
from .reseed import reseed_empty_clusters


@dataclass
class Clustering:
    assignments: np.ndarray  # (N,) int64, -1 for samples left out (unreadable files)
    distances: np.ndarray  # (N,) float32 squared distance to the centroid, inf where left out
    loss: float  # k-means objective before re-seeding
    n_empty: int  # clusters that were empty in k-means' final assignment and got re-seeded


def cluster_features(
    features: np.ndarray, valid: np.ndarray, k: int, pca_dim: int, niter: int, seed: int, epoch: int, backend: str
) -> Clustering:
    """PCA-whiten + L2 the usable rows, faiss k-means, re-seed empty clusters, scatter back to N rows."""
    usable = np.flatnonzero(valid)
    if k > len(usable):
        raise ValueError(f"cluster.k={k} is larger than the {len(usable):,} decodable samples; lower cluster.k")
    rows = features if len(usable) == len(features) else features[usable]  # no copy when every row is usable
    x = preprocess_features(rows, pca_dim)  # float32 (N, pca_dim) from float32 or float16 features
    result = run_kmeans(x, k, niter, seed=stream_seed(seed, Purpose.KMEANS, epoch, bits=31), backend=backend)
    loss = result.loss
    result, n_empty = reseed_empty_clusters(x, result, numpy_rng(seed, Purpose.RESEED, epoch))
    assignments = np.full(len(features), -1, dtype=np.int64)
    distances = np.full(len(features), np.inf, dtype=np.float32)
    assignments[usable] = result.assignments
    distances[usable] = result.distances
    return Clustering(assignments, distances, loss, n_empty)
