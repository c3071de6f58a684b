import numpy as np
import pytest

from deepcluster.cluster import cluster_features, l2_normalize, pca_whiten, preprocess_features, reseed_empty_clusters, run_kmeans


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
