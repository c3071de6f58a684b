"""ACC (Hungarian) against brute force over all cluster-to-class matchings; NMI/ARI sanity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from deepcluster.metrics import ari, cluster_accuracy, nmi, score_clustering


def brute_force_accuracy(labels: np.ndarray, assignments: np.ndarray) -> float:
    """Best one-to-one map of clusters to classes, by trying every injective matching."""
    clusters, classes = np.unique(assignments), np.unique(labels)
    size = max(len(clusters), len(classes))
    best = 0
    for perm in itertools.permutations(range(size), len(clusters)):
        hits = sum(int(np.sum((assignments == c) & (labels == classes[j])))
                   for c, j in zip(clusters, perm) if j < len(classes))
        best = max(best, hits)
    return best / len(labels)


@pytest.mark.parametrize("case", range(40))
def test_accuracy_matches_brute_force(case: int) -> None:
    rng = np.random.default_rng(case)
    n = int(rng.integers(1, 30))
    n_classes, n_clusters = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    labels = rng.integers(0, n_classes, n)
    assignments = rng.integers(0, n_clusters, n) * 7 + 3  # arbitrary cluster ids, not 0..k-1
    assert cluster_accuracy(labels, assignments) == pytest.approx(brute_force_accuracy(labels, assignments))


def test_relabelled_partition_is_perfect() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    assignments = np.array([5, 5, 0, 0, 9, 9, 9])
    assert score_clustering(labels, assignments) == {"acc": 1.0, "nmi": pytest.approx(1.0), "ari": pytest.approx(1.0)}


def test_known_value() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    assignments = np.array([1, 1, 0, 0, 0, 0])  # best map 1->0, 0->1: 2 + 3 = 5 of 6
    assert cluster_accuracy(labels, assignments) == pytest.approx(5 / 6)
    assert 0.0 < nmi(labels, assignments) < 1.0
    assert ari(labels, assignments) < 1.0


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="3 labels but 2"):
        cluster_accuracy(np.array([0, 1, 2]), np.array([0, 1]))
