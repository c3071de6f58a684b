"""Balanced k-means: equipartition assignments, the errors of plain k-means it repairs, and its
out-of-sample rule. CPU, small, real faiss and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepcluster.heads.balanced import balanced_assign, balanced_kmeans, equipartition_offsets
from deepcluster.heads.kmeans import kmeans_centroids, nearest_centroid
from deepcluster.metrics import cluster_accuracy


def merge_and_split_data(n_per: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four equal-size classes where plain k-means errs twice: classes 0 and 1 lie close together (one
    cluster is cheaper), class 2 is two tight sub-blobs far apart (two clusters are cheaper), class 3 alone."""
    rng = np.random.default_rng(seed)
    half = n_per // 2
    parts = [rng.normal([0, 0], 1.0, (n_per, 2)), rng.normal([4.5, 0], 1.0, (n_per, 2)),
             rng.normal([20, 0], 0.5, (half, 2)), rng.normal([40, 0], 0.5, (n_per - half, 2)),
             rng.normal([20, 30], 1.0, (n_per, 2))]
    y = np.concatenate([np.full(n_per, 0), np.full(n_per, 1), np.full(n_per, 2), np.full(n_per, 3)])
    return np.concatenate(parts).astype(np.float32), y


def test_plain_kmeans_merges_and_splits_where_balanced_recovers_the_classes():
    x, y = merge_and_split_data(400, seed=0)
    plain = nearest_centroid(x, kmeans_centroids(x, 4, n_init=5, seed=0))
    assert cluster_accuracy(y, plain) <= 0.80  # A+B merged, the two halves of C apart
    centroids, offsets, labels = balanced_kmeans(x, 4, n_init=3, seed=0)
    assert cluster_accuracy(y, labels) >= 0.95
    assert np.bincount(labels, minlength=4).min() >= 0.9 * 400


def test_new_points_follow_the_fitted_balanced_rule():
    x, y = merge_and_split_data(400, seed=0)
    centroids, offsets, labels = balanced_kmeans(x, 4, n_init=3, seed=0)
    np.testing.assert_array_equal(balanced_assign(x, centroids, offsets), labels)
    x_new, y_new = merge_and_split_data(100, seed=5)
    assert cluster_accuracy(y_new, balanced_assign(x_new, centroids, offsets)) >= 0.95


def test_a_run_stopped_by_max_iter_still_returns_one_consistent_rule():
    """Cut short before convergence, the returned labels are still what the returned centroids and offsets
    assign, so predict() applies the rule the fit ended on."""
    x, _ = merge_and_split_data(400, seed=0)
    for max_iter in (1, 2):
        centroids, offsets, labels = balanced_kmeans(x, 4, n_init=1, seed=0, max_iter=max_iter)
        np.testing.assert_array_equal(balanced_assign(x, centroids, offsets), labels)


def test_equipartition_offsets_split_any_cost_evenly():
    """Even a cost matrix that sends every row to cluster 0 is split about evenly once offset."""
    rng = np.random.default_rng(1)
    cost = torch.from_numpy(rng.random((3000, 6)))
    cost[:, 0] -= 1.0
    assert torch.bincount(cost.argmin(1), minlength=6)[0] == 3000
    eps = 0.05 * float(cost.mean())
    counts = torch.bincount((cost - equipartition_offsets(cost, eps)).argmin(1), minlength=6)
    assert counts.min() >= 0.9 * 500 and counts.max() <= 1.1 * 500


def test_same_seed_same_result_and_bad_k():
    x, _ = merge_and_split_data(200, seed=2)
    first, second = balanced_kmeans(x, 4, seed=3), balanced_kmeans(x, 4, seed=3)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="k=900 is larger than the 800 samples"):
        balanced_kmeans(x, 900)
