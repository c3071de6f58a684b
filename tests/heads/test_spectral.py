"""Spectral clustering on the global k-NN graph (spectral.py), the recipe's head: rings k-means cannot split,
Nyström prediction of new and far points, isolated training points."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_circles

from deepcluster.heads import build_head
from deepcluster.metrics import cluster_accuracy


def test_spectral_separates_rings_that_kmeans_cannot_and_embeds_new_points():
    """The reason for a graph head: two concentric rings. k-means cuts them in halves; the k-NN graph keeps each
    ring whole, and the Nyström extension places new points from the same rings on the right one."""
    x, y = make_circles(600, noise=0.04, factor=0.4, random_state=0)
    x_new, y_new = make_circles(200, noise=0.04, factor=0.4, random_state=1)
    x, x_new = x.astype(np.float32), x_new.astype(np.float32)
    assert cluster_accuracy(y, build_head("kmeans", 2).fit_predict(x)) < 0.7
    for assign in ("kmeans", "balanced"):
        head = build_head("spectral", 2, seed=0, n_neighbors=8, assign=assign).fit(x)
        assert cluster_accuracy(y, head.predict(x)) >= 0.98 and cluster_accuracy(y_new, head.predict(x_new)) >= 0.98
    with pytest.raises(ValueError, match="spectral assign='gmm' is unknown; use one of kmeans, balanced"):
        build_head("spectral", 2, assign="gmm")


def test_spectral_places_far_new_points_and_names_an_isolated_training_point():
    """A new point hundreds of kernel widths from the data still gets its neighbours' cluster (no weight
    underflow to 0/0); a training point that far from every other cannot be embedded, and the error says so."""
    x, y = make_circles(600, noise=0.04, factor=0.4, random_state=0)
    x = x.astype(np.float32)
    head = build_head("spectral", 2, seed=0, n_neighbors=8).fit(x)
    outer = np.bincount(head.predict(x)[y == 0]).argmax()  # make_circles: label 0 is the outer ring
    far = np.array([[30.0, 0.0], [0.0, -40.0]], np.float32)
    assert head.predict(far).tolist() == [outer, outer]
    with pytest.raises(FloatingPointError, match="1 point.s. are isolated in the graph, e.g. point 600"):
        build_head("spectral", 2, seed=0, n_neighbors=8).fit(np.vstack([x, far[:1]]))
