import logging
import tracemalloc

import faiss
import numpy as np
import pytest
import torch

from deepcluster.cluster import (
    cluster_features, l2_normalize, pca, pca_whiten, preprocess_features, reseed_empty_clusters, run_kmeans,
)
from deepcluster.runtime import faiss_gpu_available, kmeans_backend
from deepcluster.cluster.kmeans import flat_l2_index


def correlated(n=4000, d=48, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) * np.linspace(0.1, 5.0, d)
    return (rng.normal(size=(n, d)) @ mix + 3.0).astype(np.float32)


def test_pca_whitening_gives_identity_covariance():
    white = pca_whiten(correlated(), 16)
    assert white.shape == (4000, 16)
    np.testing.assert_allclose(white.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(np.cov(white, rowvar=False, bias=True), np.eye(16), atol=1e-3)


def test_l2_normalisation_survives_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    out = l2_normalize(x)
    np.testing.assert_allclose(out[0], [0.6, 0.8], atol=1e-6)
    assert np.all(np.isfinite(out)) and np.all(out[1] == 0)


def test_preprocess_refuses_nan_and_impossible_dims():
    x = correlated(200, 8)
    with pytest.raises(ValueError, match="cluster.pca_dim <= 8"):
        pca_whiten(x, 9)
    x[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        preprocess_features(x, 4)


def test_kmeans_uses_every_point_and_is_seeded():
    x = preprocess_features(correlated(6000, 32), 16)
    a = run_kmeans(x, k=8, niter=10, seed=3)
    b = run_kmeans(x, k=8, niter=10, seed=3)
    np.testing.assert_array_equal(a.assignments, b.assignments)
    assert a.assignments.shape == (6000,)
    # With faiss' default cap (256 points/centroid) only 2,048 of 6,000 points would train; with all
    # points, the reported objective is the one of the final centroids over the whole set.
    recomputed = ((x - a.centroids[a.assignments]) ** 2).sum()
    assert abs(recomputed - a.loss) / a.loss < 0.02


def test_reseeding_leaves_no_empty_cluster():
    x = preprocess_features(correlated(2000, 32), 16)
    result = run_kmeans(x, k=20, niter=10, seed=0)
    result.assignments[np.isin(result.assignments, [3, 7, 11])] = 5  # empty three clusters
    fixed, n_empty = reseed_empty_clusters(x, result, np.random.default_rng(0))
    sizes = np.bincount(fixed.assignments, minlength=20)
    assert n_empty == 3
    assert sizes.min() > 0 and sizes.sum() == 2000
    # the re-seeded clusters' centroids and distances describe their new members
    moved = np.isin(fixed.assignments, [3, 7, 11])
    expected = ((x[moved] - fixed.centroids[fixed.assignments[moved]]) ** 2).sum(1)
    np.testing.assert_allclose(fixed.distances[moved], expected, rtol=1e-4)


def test_epoch_clustering_with_k_close_to_n_fills_every_cluster_and_skips_invalid_rows():
    features = np.repeat(correlated(40, 16), 5, axis=0)  # duplicates: k-means leaves clusters empty
    valid = np.ones(200, dtype=bool)
    valid[[0, 50, 199]] = False
    result = cluster_features(features, valid, k=150, pca_dim=8, niter=20, seed=0, epoch=0, backend="cpu")
    assert np.all(result.assignments[~valid] == -1)
    sizes = np.bincount(result.assignments[valid], minlength=150)
    assert sizes.min() >= 1, "every pseudo-label in use has members"
    assert result.n_empty > 0


# ---------------- float16 host features (cluster.feature_dtype=float16) ----------------
def test_float16_whitening_matches_float32_block_by_block(monkeypatch):
    """The block-wise float16 fit equals faiss's float32 PCA up to each axis' sign and float16 rounding."""
    x = correlated(6000, 48)
    x[:, 7] = 0.0  # a dead unit: its direction must be zeroed, not blown up
    reference = pca_whiten(x, 16)
    monkeypatch.setattr(pca, "BLOCK_BYTES", 48 * 4 * 500)  # 12 blocks of 500 rows
    white = pca_whiten(x.astype(np.float16), 16)
    assert white.dtype == np.float32 and white.shape == (6000, 16)
    np.testing.assert_allclose(np.cov(white, rowvar=False, bias=True), np.eye(16), atol=1e-3)
    signs = np.sign((white * reference).sum(axis=0))
    np.testing.assert_allclose(white * signs, reference, atol=2e-2)
    matrix, _ = pca.fit_whitening(x.astype(np.float16), 48)
    assert np.isfinite(matrix).all() and (np.abs(matrix).sum(axis=1) == 0).sum() == 1


def test_float16_rounding_noise_is_not_whitened_into_a_signal():
    """An axis with less variance than float16's rounding noise is zeroed, not scaled up to unit variance."""
    x = correlated(4000, 8).astype(np.float64)
    x[:, 7] = x[:, 6] + 1e-4 * np.random.default_rng(1).standard_normal(4000)  # that axis: std 7e-5 << rounding
    reference, white = pca_whiten(x.astype(np.float32), 8), pca_whiten(x.astype(np.float16), 8)
    assert np.abs(reference[:, 7]).max() > 1, "float32 resolves the thin axis and whitens it"
    assert np.all(white[:, 7] == 0)
    signs = np.sign((white[:, :7] * reference[:, :7]).sum(axis=0))
    np.testing.assert_allclose(white[:, :7] * signs, reference[:, :7], atol=5e-2)  # rounding, after whitening


def test_float16_preprocessing_never_makes_a_full_float32_copy(monkeypatch):
    """Peak memory of whitening float16 features stays below half a float32 copy of them."""
    features = correlated(20000, 256).astype(np.float16)  # 10 MB; a float32 copy would be 20 MB
    monkeypatch.setattr(pca, "BLOCK_BYTES", 1 << 20)
    tracemalloc.start()
    try:
        x = preprocess_features(features, 32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert x.shape == (20000, 32) and np.isfinite(x).all()
    assert peak < 0.5 * features.size * 4, f"peak {peak / 1e6:.1f} MB"


def test_float16_overflow_is_refused_with_the_fix():
    x = correlated(200, 8).astype(np.float16)
    x[5, 1] = np.inf  # what a feature beyond ±65504 becomes in float16
    with pytest.raises(ValueError, match="cluster.feature_dtype=float32"):
        preprocess_features(x, 4)


# ---------------- faiss on GPU, or CPU faiss with a warning ----------------
@pytest.mark.skipif(faiss_gpu_available(), reason="this install has GPU faiss and a GPU: no fallback to see")
def test_cuda_run_without_gpu_faiss_falls_back_to_cpu_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="deepcluster.cluster.kmeans"):
        assert kmeans_backend(torch.device("cuda", 0)) == "cpu"
    assert "falls back to CPU faiss" in caplog.text and "pip install faiss-cuda" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="deepcluster.cluster.kmeans"):
        assert kmeans_backend(torch.device("cpu")) == "cpu"
    assert caplog.text == "", "a CPU run expects CPU faiss: nothing to warn about"
    assert isinstance(flat_l2_index(16, "cpu"), faiss.IndexFlatL2)
    x = preprocess_features(correlated(1000, 16), 8)
    result = run_kmeans(x, k=5, niter=5, seed=0, backend=kmeans_backend(torch.device("cuda", 0)))
    assert result.assignments.shape == (1000,)
