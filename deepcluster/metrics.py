"""Clustering scores against ground-truth labels: ACC (Hungarian matching), NMI and ARI.

ACC matches clusters to classes one-to-one with scipy's ``linear_sum_assignment`` on the contingency
table, as every deep-clustering paper reports it; NMI and ARI come from scikit-learn.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix


def _check(labels: np.ndarray, assignments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).ravel()
    assignments = np.asarray(assignments).ravel()
    if labels.shape != assignments.shape:
        raise ValueError(f"{len(labels)} labels but {len(assignments)} cluster assignments")
    if labels.size == 0:
        raise ValueError("cannot score an empty set of assignments")
    return labels, assignments


def cluster_accuracy(labels: np.ndarray, assignments: np.ndarray) -> float:
    """Accuracy under the best one-to-one mapping of clusters to classes.

    With more clusters than classes, the unmatched clusters count as errors (the standard definition).
    """
    labels, assignments = _check(labels, assignments)
    _, label_ids = np.unique(labels, return_inverse=True)
    _, cluster_ids = np.unique(assignments, return_inverse=True)
    table = np.zeros((cluster_ids.max() + 1, label_ids.max() + 1), dtype=np.int64)
    np.add.at(table, (cluster_ids, label_ids), 1)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / labels.size)


def purity(labels: np.ndarray, assignments: np.ndarray) -> float:
    """Many-to-one accuracy: every cluster predicts its majority class. Meaningful for k > #classes,
    where one-to-one ACC cannot exceed #classes / k of the clusters."""
    labels, assignments = _check(labels, assignments)
    table = contingency_matrix(labels, assignments)
    return float(table.max(axis=0).sum() / labels.size)


def nmi(a: np.ndarray, b: np.ndarray) -> float:
    a, b = _check(a, b)
    return float(normalized_mutual_info_score(a, b))


def ari(a: np.ndarray, b: np.ndarray) -> float:
    a, b = _check(a, b)
    return float(adjusted_rand_score(a, b))


def score_clustering(labels: np.ndarray, assignments: np.ndarray) -> dict[str, float]:
    """ACC, NMI and ARI of ``assignments`` against ``labels``, as a dict."""
    return {
        "acc": cluster_accuracy(labels, assignments),
        "nmi": nmi(labels, assignments),
        "ari": ari(labels, assignments),
    }
