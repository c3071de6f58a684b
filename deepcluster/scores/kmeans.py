"""How well do features cluster into the true classes? PCA-whiten + L2, k-means with k = #classes, score.

The quick semantic check printed after pretraining and used in BENCHMARKS.md to compare learned and
random-init features. Labels only score the result: the best of ``restarts`` runs is chosen by the
k-means objective, never by accuracy.
"""

from __future__ import annotations

import faiss
import numpy as np

from ..cluster import preprocess_features
from ..metrics import score_clustering


def kmeans_label_scores(
    features: np.ndarray, labels: np.ndarray, pca_dim: int, seed: int = 0, restarts: int = 5, niter: int = 50
) -> dict[str, float]:
    n_classes = len(np.unique(labels))
    x = preprocess_features(features, min(pca_dim, features.shape[1]))
    kmeans = faiss.Kmeans(x.shape[1], n_classes, niter=niter, nredo=restarts, seed=seed,
                          max_points_per_centroid=len(x) // n_classes + 1, verbose=False)
    kmeans.train(x)
    _, assignments = kmeans.index.search(x, 1)
    return score_clustering(labels, assignments[:, 0])
