"""Clustering with features sharded over ranks: no rank ever holds all N × d features.

DeepCluster-v2 style: PCA whitening is fitted on rank 0 from a sample gathered from every rank and
broadcast (a dim × d matrix); Lloyd's iterations assign each rank's own rows with faiss and all-reduce
per-cluster sums and counts (k × d); clusters emptied during the iterations are split from a donor as
faiss does it, and those still empty at the end are re-seeded explicitly (``reseed_empty_clusters``).
Every rank draws the same random numbers from the same seed, so all agree without extra messages.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import dist
from ..seeds import Purpose, numpy_rng, stream_seed
from .comm import GroupComm
from .kmeans import KMeansResult, flat_l2_index
from .pca import apply_whitening, fit_whitening, l2_normalize
from .reseed import reseed_empty_clusters

SPLIT_EPS = 1.0 / 1024  # faiss's relative perturbation when splitting a centroid


def whiten_distributed(x_local: np.ndarray, dim: int, sample_size: int, comm: GroupComm,
                       rng: np.random.Generator) -> np.ndarray:
    """PCA-whiten + L2 every rank's rows with one whitening fitted on a sample of all ranks' rows."""
    take = min(len(x_local), -(-sample_size * len(x_local) // comm.total))
    sample = comm.cat_to_main(x_local[np.sort(rng.choice(len(x_local), take, replace=False))])
    if dist.is_main():
        fitted = fit_whitening(sample, dim)
    else:
        fitted = (np.zeros((dim, x_local.shape[1]), np.float32), np.zeros(dim, np.float32))
    matrix, bias = comm.broadcast(fitted[0]), comm.broadcast(fitted[1])
    return l2_normalize(apply_whitening(x_local, matrix, bias), inplace=True)


def _assign(x: np.ndarray, centroids: np.ndarray, backend: str) -> tuple[np.ndarray, np.ndarray]:
    index = flat_l2_index(centroids.shape[1], backend)
    index.add(centroids)
    distances, labels = index.search(x, 1)
    return labels[:, 0].astype(np.int64), distances[:, 0]


def _split_into_empty(centroids: np.ndarray, counts: np.ndarray, rng: np.random.Generator) -> int:
    """faiss's in-loop fix: an empty centroid becomes a slightly perturbed copy of a big one."""
    empty = np.flatnonzero(counts == 0)
    signs = np.where(np.arange(centroids.shape[1]) % 2 == 0, 1.0, -1.0).astype(np.float32)
    for target in empty:
        weights = np.maximum(counts - 1, 0).astype(np.float64)
        donor = rng.choice(len(counts), p=weights / weights.sum())
        centroids[target] = centroids[donor] * (1 + SPLIT_EPS * signs)
        centroids[donor] = centroids[donor] * (1 - SPLIT_EPS * signs)
        counts[target] = counts[donor] // 2
        counts[donor] -= counts[target]
    return len(empty)


def distributed_kmeans(x_local: np.ndarray, k: int, niter: int, seed: int, comm: GroupComm,
                       backend: str = "cpu") -> KMeansResult:
    """Lloyd's k-means over the union of all ranks' rows; assignments are returned for local rows."""
    if k > comm.total:
        raise ValueError(f"k-means with k={k} needs at least k points, got {comm.total}; lower cluster.k")
    rng = np.random.default_rng(seed)
    d = x_local.shape[1]
    chosen = rng.choice(comm.total, k, replace=False)  # k distinct points as initial centroids
    centroids = np.zeros((k, d), dtype=np.float32)
    mine = (chosen >= comm.offset) & (chosen < comm.offset + len(x_local))
    centroids[mine] = x_local[chosen[mine] - comm.offset]
    centroids = comm.sum(centroids)
    for _ in range(niter):
        labels, _ = _assign(x_local, centroids, backend)
        sums = torch.zeros(k, d).index_add_(0, torch.from_numpy(labels), torch.from_numpy(x_local))
        sums = sums.double().numpy()  # float64 for the cross-rank sum
        counts = comm.sum(np.bincount(labels, minlength=k))
        sums = comm.sum(sums)
        filled = counts > 0
        centroids[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
        _split_into_empty(centroids, counts, rng)
    labels, distances = _assign(x_local, centroids, backend)
    loss = float(comm.sum(np.array([distances.sum()], dtype=np.float64))[0])
    return KMeansResult(labels, centroids, distances, loss)


def cluster_features_distributed(
    features_local: np.ndarray, valid_local: np.ndarray, k: int, pca_dim: int, niter: int, seed: int, epoch: int,
    sample_size: int, device: torch.device, backend: str = "cpu",
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """This rank's (assignments, distances) with -1 / inf for unusable rows, the loss and #re-seeded.

    Same seeds as the gathered path (``cluster_features``) for k-means and re-seeding.
    """
    usable = np.flatnonzero(valid_local)
    comm = GroupComm(len(usable), device)  # offsets among usable rows only
    rows = features_local if len(usable) == len(features_local) else features_local[usable]  # no copy if all usable
    x = whiten_distributed(rows, pca_dim, sample_size, comm,
                           numpy_rng(seed, Purpose.PCA_SAMPLE, epoch, dist.rank()))
    result = distributed_kmeans(x, k, niter, stream_seed(seed, Purpose.KMEANS, epoch, bits=31), comm, backend)
    loss = result.loss
    result, n_empty = reseed_empty_clusters(x, result, numpy_rng(seed, Purpose.RESEED, epoch), comm=comm)
    assignments = np.full(len(features_local), -1, dtype=np.int64)
    distances = np.full(len(features_local), np.inf, dtype=np.float32)
    assignments[usable], distances[usable] = result.assignments, result.distances
    return assignments, distances, loss, n_empty
