"""PCA whitening and L2 normalisation of features before k-means (DeepCluster, Sec. 3.3)."""

from __future__ import annotations

import faiss
import numpy as np


def pca_whiten(features: np.ndarray, dim: int) -> np.ndarray:
    """Project onto the top ``dim`` principal axes and scale each to unit variance.

    faiss's ``PCAMatrix(eigen_power=-0.5)`` divides by the square root of the eigenvalues of the
    *unnormalised* scatter matrix, so its output has covariance I/n; we multiply by sqrt(n) to return
    identity covariance. ``epsilon`` keeps dead (zero-variance) directions from blowing up.
    """
    x = np.ascontiguousarray(features, dtype=np.float32)
    n, d = x.shape
    if dim > d:
        raise ValueError(f"cannot PCA {d}-d features to {dim} dimensions; choose cluster.pca_dim <= {d}")
    if n <= dim:
        raise ValueError(f"PCA to {dim} dimensions needs more than {dim} points, got {n}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or Inf (diverged training?); lower train.lr or enable amp=off")
    pca = faiss.PCAMatrix(d, dim, -0.5)
    n_train = min(n, pca.max_points_per_d * d)  # faiss trains on at most this many points
    pca.epsilon = float(1e-6 * n_train * x.var(axis=0).mean() + 1e-12)
    pca.train(x)
    return pca.apply(x) * np.float32(np.sqrt(n_train))


def l2_normalize(x: np.ndarray, eps: float = 1e-10) -> np.ndarray:
    """Rows to unit length; ``eps`` guards all-zero rows (the reference divides by zero there)."""
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + eps)


def preprocess_features(features: np.ndarray, pca_dim: int) -> np.ndarray:
    """PCA-whiten to ``pca_dim`` and L2-normalise: what k-means sees every epoch."""
    return l2_normalize(pca_whiten(features, pca_dim)).astype(np.float32)
