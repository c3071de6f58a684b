"""How well do features cluster into the true classes? PCA-whiten + L2, k-means with k = #classes, score.

The quick semantic check printed after pretraining and used in BENCHMARKS.md to compare learned and
random-init features. One protocol whether the features sit on rank 0 (``cluster.mode=gather``) or stay
sharded over ranks (``distributed``): whiten to ``pca_dim``, then the best of ``RESTARTS`` k-means runs of
``NITER`` iterations, the best chosen by the k-means objective, never by accuracy (labels only score).
"""

from __future__ import annotations

import faiss
import numpy as np
import torch

from .. import dist
from ..cluster import preprocess_features
from ..cluster.comm import GroupComm
from ..cluster.distributed import distributed_kmeans, whiten_distributed
from ..metrics import score_clustering
from ..seeds import Purpose, numpy_rng, stream_seed

RESTARTS, NITER = 5, 50


def kmeans_label_scores(
    features: np.ndarray, labels: np.ndarray, pca_dim: int, seed: int = 0, restarts: int = RESTARTS,
    niter: int = NITER,
) -> dict[str, float]:
    """Rank 0's gathered (N, d) features against their labels."""
    n_classes = len(np.unique(labels))
    x = preprocess_features(features, min(pca_dim, features.shape[1]))
    kmeans = faiss.Kmeans(x.shape[1], n_classes, niter=niter, nredo=restarts, seed=seed,
                          max_points_per_centroid=len(x) // n_classes + 1, verbose=False)
    kmeans.train(x)
    _, assignments = kmeans.index.search(x, 1)
    return score_clustering(labels, assignments[:, 0])


def kmeans_label_scores_sharded(features: np.ndarray, valid: np.ndarray, rows: np.ndarray, labels: np.ndarray,
                                pca_dim: int, seed: int, pca_sample: int, device: torch.device,
                                backend: str = "cpu") -> dict[str, float] | None:
    """The same protocol on features that stay sharded: each rank passes its own rows (dataset indices
    ``rows``); the whitening is fitted on a sample of ``pca_sample`` points over all ranks (every point when
    there are fewer). Rank 0 gets the scores, other ranks None."""
    usable = np.flatnonzero(valid)
    comm = GroupComm(len(usable), device)
    sample_rng = numpy_rng(seed, Purpose.PCA_SAMPLE, 0, dist.rank())
    x = whiten_distributed(features[usable], pca_dim, pca_sample, comm, sample_rng)
    n_classes = len(np.unique(labels))
    runs = [distributed_kmeans(x, n_classes, NITER, stream_seed(seed, Purpose.KMEANS, restart, bits=31), comm,
                               backend) for restart in range(RESTARTS)]
    best = min(runs, key=lambda run: run.loss)
    found = dist.gather_parts(torch.from_numpy(np.ascontiguousarray(rows[usable])).to(device), to_main_only=True)
    assigned = dist.gather_parts(torch.from_numpy(best.assignments).to(device), to_main_only=True)
    if not dist.is_main():
        return None
    found = torch.cat([part.cpu() for part in found]).numpy()
    assigned = torch.cat([part.cpu() for part in assigned]).numpy()
    return score_clustering(labels[found], assigned)
