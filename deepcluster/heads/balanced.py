"""Balanced k-means: Lloyd iterations whose assignment step is an equipartition of the points.

On frozen image features a spectral embedding tends to merge look-alike classes into one large cluster
(Fashion-MNIST's pullover, coat and shirt) while splitting a visually diverse class in two (bags with and
without handles), and k-means accepts both. When the clusters are known to be of about equal size, as in
most benchmarks and as DeepCluster's own uniform pseudo-label sampling assumes, asking for an equipartition
repairs both errors at once. That is a prior about the data, not label information, so it is an option.

The assignment step solves entropic optimal transport between the points (mass 1/N each) and the clusters
(mass 1/K each) with Sinkhorn's iterations (Cuturi 2013; the equipartition of SeLa and SwAV). What it leaves
is one offset per cluster: a point goes to ``argmin_j ||x - c_j||^2 - offset_j``. Keeping the offsets makes
out-of-sample prediction use exactly the rule that produced the balanced fit.
"""

from __future__ import annotations

import numpy as np
import torch

from .kmeans import kmeans_centroids, nearest_centroid

ASSIGNMENTS = ("kmeans", "balanced")  # how an embedding becomes labels: plain k-means or an equipartition

# Entropic regularisation as a fraction of the mean squared distance: small enough that the plan is nearly
# a hard partition, large enough that 50 Sinkhorn iterations (10 when warm-started) converge.
EPSILON = 0.05


def squared_distances(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """(N, K) squared Euclidean distances, float64 so that the Sinkhorn exponents stay exact."""
    return (x.pow(2).sum(1, keepdim=True) - 2 * x @ centroids.T + centroids.pow(2).sum(1)).clamp_min(0)


def equipartition_offsets(cost: torch.Tensor, eps: float, start: torch.Tensor | None = None) -> torch.Tensor:
    """Per-cluster offsets (K,) such that ``argmin_j cost_ij - offset_j`` splits the rows about evenly.

    Log-domain Sinkhorn on the kernel exp(-cost / eps) with uniform marginals; ``start`` warm-starts the
    cluster potentials from the previous Lloyd iteration, which then needs far fewer iterations.
    """
    n, k = cost.shape
    log_kernel = -cost / eps
    v = torch.zeros(k, dtype=cost.dtype) if start is None else start / eps
    log_n, log_k = float(np.log(n)), float(np.log(k))
    for _ in range(50 if start is None else 10):
        u = -log_n - torch.logsumexp(log_kernel + v, dim=1)
        v = -log_k - torch.logsumexp(log_kernel + u[:, None], dim=0)
    return eps * (v - v.mean())


def balanced_assign(x: np.ndarray, centroids: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Cluster of each row under the balanced rule (nearest centroid after the per-cluster offsets)."""
    x64, c64 = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (x, centroids))
    cost = squared_distances(x64, c64)
    return (cost - torch.from_numpy(np.asarray(offsets, np.float64))).argmin(1).numpy().astype(np.int64)


def balanced_lloyd(x: torch.Tensor, centroids: torch.Tensor, max_iter: int = 50
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Lloyd iterations from ``centroids`` with equipartition assignments, until no label changes.

    Returns centroids, offsets, labels and the k-means objective of that assignment (its sum of squared
    distances), which is how restarts are compared.
    """
    cost = squared_distances(x, centroids)
    eps = EPSILON * float(cost.mean())
    offsets, labels = None, None
    for _ in range(max_iter):
        offsets = equipartition_offsets(cost, eps, start=offsets)
        new_labels = (cost - offsets).argmin(1)
        if labels is not None and torch.equal(new_labels, labels):
            break
        labels = new_labels
        counts = torch.bincount(labels, minlength=len(centroids)).to(x.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        filled = counts > 0
        centroids = torch.where(filled[:, None], sums / counts.clamp_min(1)[:, None], centroids)
        cost = squared_distances(x, centroids)
    else:  # not converged: the offsets and labels of the final centroids, the rule predict will apply
        offsets = equipartition_offsets(cost, eps, start=offsets)
        labels = (cost - offsets).argmin(1)
    objective = float(cost.gather(1, labels[:, None]).sum())
    return centroids, offsets, labels, objective


def balanced_kmeans(x: np.ndarray, k: int, *, n_init: int = 5, seed: int = 0, max_iter: int = 50
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroids (K, d), offsets (K,) and labels (N,) of the best of ``n_init`` balanced runs.

    Each run starts from a plain faiss k-means with its own seed, ``seed * n_init + r`` for run r, so that
    two seeds share no start; the run with the lowest k-means objective is kept (labels never enter the
    choice).
    """
    if k > len(x):
        raise ValueError(f"k={k} is larger than the {len(x)} samples; lower k")
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    best = None
    n_init = max(1, int(n_init))
    for r in range(n_init):
        start = torch.from_numpy(kmeans_centroids(x, k, n_init=1, seed=seed * n_init + r).astype(np.float64))
        run = balanced_lloyd(xt, start, max_iter)
        if best is None or run[3] < best[3]:
            best = run
    centroids, offsets, labels, _ = best
    if not torch.isfinite(centroids).all() or not torch.isfinite(offsets).all():
        raise FloatingPointError("balanced k-means produced non-finite centroids; check the features' scale")
    return centroids.float().numpy(), offsets.numpy(), labels.numpy().astype(np.int64)


def fit_assignment(embedding: np.ndarray, k: int, assign: str, *, n_init: int, seed: int
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Centroids and, for ``assign="balanced"``, offsets that turn an embedding into k clusters."""
    if assign == "balanced":
        centroids, offsets, _ = balanced_kmeans(embedding, k, n_init=n_init, seed=seed)
        return centroids, offsets
    return kmeans_centroids(embedding, k, n_init=n_init, seed=seed), None


def assign_points(embedding: np.ndarray, centroids: np.ndarray, offsets: np.ndarray | None) -> np.ndarray:
    """Labels of new points under the rule ``fit_assignment`` produced (offsets None: nearest centroid)."""
    if offsets is None:
        return nearest_centroid(embedding, centroids)
    return balanced_assign(embedding, centroids, offsets)
