"""PCA whitening and L2 normalisation of features before k-means (DeepCluster, Sec. 3.3)."""

from __future__ import annotations

import faiss
import numpy as np

BLOCK_BYTES = 64 << 20  # float32 working block when features are kept in float16 (64 MB whatever N is)
FLOAT16_ROUNDING = 2.0**-11 / np.sqrt(3)  # rms relative error of rounding to float16 (10-bit mantissa)


def fit_whitening(sample: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit PCA whitening on ``sample``; returns (A, b) so that ``x @ A.T + b`` is whitened.

    faiss finds the principal axes (``PCAMatrix`` without eigen power); each projected axis is then
    divided by its standard deviation on the sample. Dividing by faiss's eigenvalues instead breaks on
    rank-deficient features (dead ReLU units give tiny negative eigenvalues and NaNs): here a direction
    with no variance is zeroed rather than blown up. The pair is small (dim × d), so distributed
    clustering fits it once and broadcasts it. float16 samples (``cluster.feature_dtype=float16``) are
    fitted block by block instead, since faiss would need one float32 copy of them all.
    """
    n, d = sample.shape
    if dim > d:
        raise ValueError(f"cannot PCA {d}-d features to {dim} dimensions; choose cluster.pca_dim <= {d}")
    if n <= dim:
        raise ValueError(f"PCA to {dim} dimensions needs more than {dim} points, got {n}")
    if sample.dtype == np.float16:
        rotation, shift, std = _principal_axes_blockwise(sample, dim)
    else:
        x = np.ascontiguousarray(sample, dtype=np.float32)
        _check_finite(x)
        pca = faiss.PCAMatrix(d, dim)
        pca.train(x)
        rotation = faiss.vector_to_array(pca.A).reshape(-1, d)[:dim]
        shift = faiss.vector_to_array(pca.b)[:dim]
        std = (x @ rotation.T + shift).std(axis=0)
    scale = np.where(std > 1e-6 * std.max(), 1.0 / np.maximum(std, 1e-30), 0.0)
    return (rotation * scale[:, None]).astype(np.float32), (shift * scale).astype(np.float32)


def _check_finite(x: np.ndarray) -> None:
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or Inf (diverged training, or values beyond float16's ±65504 "
                         "with cluster.feature_dtype=float16); lower train.lr, set train.amp=off or "
                         "cluster.feature_dtype=float32")


def _float32_blocks(x: np.ndarray):
    """(first row, float32 rows) over ``x``: float16 a block at a time, so no full float32 copy ever exists."""
    if x.dtype != np.float16:
        yield 0, np.asarray(x, dtype=np.float32)
        return
    rows = max(1, BLOCK_BYTES // (4 * x.shape[1]))
    for start in range(0, len(x), rows):
        yield start, x[start : start + rows].astype(np.float32)


def _principal_axes_blockwise(x: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``dim`` principal axes (dim × d), the shift that centres them, and the std along each.

    Two passes over float32 blocks (mean, then the centred covariance summed in float64), then an
    eigendecomposition of the d × d covariance: the same quantities faiss's PCAMatrix computes.
    Rounding to float16 adds noise of about ``FLOAT16_ROUNDING · |x_j|`` to every coordinate; an axis
    whose variance is not well above that noise carries nothing else, and whitening would blow the
    noise up to unit variance, so its std is reported as 0 (zeroed, like a dead axis in float32).
    """
    n, d = x.shape
    total = np.zeros(d)
    for _, block in _float32_blocks(x):
        _check_finite(block)
        total += block.sum(axis=0, dtype=np.float64)
    mean = total / n
    covariance = np.zeros((d, d))
    for _, block in _float32_blocks(x):
        block -= mean.astype(np.float32)
        covariance += block.T @ block
    covariance /= n
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    rotation = eigenvectors[:, ::-1][:, :dim].T
    variance = np.maximum(eigenvalues[::-1][:dim], 0.0)
    rounding_variance = (rotation**2) @ ((np.diag(covariance) + mean**2) * FLOAT16_ROUNDING**2)
    std = np.where(variance > 10 * rounding_variance, np.sqrt(variance), 0.0)
    return rotation, -(rotation @ mean), std


def apply_whitening(x: np.ndarray, matrix: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One new (n, dim) float32 array; float16 input is converted a block at a time, the bias added in place."""
    out = np.empty((len(x), len(matrix)), dtype=np.float32)
    for start, block in _float32_blocks(x):
        np.matmul(block, matrix.T, out=out[start : start + len(block)])
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
