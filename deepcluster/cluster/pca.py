"""PCA whitening and L2 normalisation of features before k-means (DeepCluster, Sec. 3.3)."""

from __future__ import annotations

import faiss
import numpy as np


def fit_whitening(sample: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit PCA whitening on ``sample``; returns (A, b) so that ``x @ A.T + b`` is whitened.

    faiss finds the principal axes (``PCAMatrix`` without eigen power); each projected axis is then
    divided by its standard deviation on the sample. Dividing by faiss's eigenvalues instead breaks on
    rank-deficient features (dead ReLU units give tiny negative eigenvalues and NaNs): here a direction
    with no variance is zeroed rather than blown up. The pair is small (dim × d), so distributed
    clustering fits it once and broadcasts it.
    """
    x = np.ascontiguousarray(sample, dtype=np.float32)
    n, d = x.shape
    if dim > d:
        raise ValueError(f"cannot PCA {d}-d features to {dim} dimensions; choose cluster.pca_dim <= {d}")
    if n <= dim:
        raise ValueError(f"PCA to {dim} dimensions needs more than {dim} points, got {n}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or Inf (diverged training?); lower train.lr or set train.amp=off")
    pca = faiss.PCAMatrix(d, dim)
    pca.train(x)
    rotation = faiss.vector_to_array(pca.A).reshape(-1, d)[:dim]
    shift = faiss.vector_to_array(pca.b)[:dim]
    std = (x @ rotation.T + shift).std(axis=0)
    scale = np.where(std > 1e-6 * std.max(), 1.0 / np.maximum(std, 1e-30), 0.0)
    return (rotation * scale[:, None]).astype(np.float32), (shift * scale).astype(np.float32)


def apply_whitening(x: np.ndarray, matrix: np.ndarray, bias: np.ndarray) -> np.ndarray:
    out = np.asarray(x, dtype=np.float32) @ matrix.T  # one new (n, dim) array; the bias is added in place
    out += bias
    return out


def pca_whiten(features: np.ndarray, dim: int) -> np.ndarray:
    """Project onto the top ``dim`` principal axes, each scaled to unit variance."""
    return apply_whitening(features, *fit_whitening(features, dim))


def l2_normalize(x: np.ndarray, eps: float = 1e-10, inplace: bool = False) -> np.ndarray:
    """Rows to unit length; ``eps`` guards all-zero rows (the reference divides by zero there)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True) + eps
    if inplace:
        x /= norms
        return x
    return x / norms


def preprocess_features(features: np.ndarray, pca_dim: int) -> np.ndarray:
    """PCA-whiten to ``pca_dim`` and L2-normalise: what k-means sees every epoch."""
    return l2_normalize(pca_whiten(features, pca_dim), inplace=True)
