"""suggest_k: the number of groups a Dirichlet-process mixture keeps, on Gaussian blobs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepcluster.heads.suggest_k import KSuggestion, suggest_k


def gaussian_blobs(k: int, seed: int, n: int = 1500, dim: int = 20) -> np.ndarray:
    """k clusters with centres drawn N(0, 4^2) per axis and unit noise: well separated in 20 dims."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (k, dim))
    return (centres[rng.integers(0, k, n)] + rng.normal(0, 1, (n, dim))).astype(np.float32)


@pytest.mark.parametrize("k", [4, 6, 10])
def test_recovers_the_number_of_blobs_within_one(k):
    for seed in (0, 1):
        suggestion = suggest_k(gaussian_blobs(k, seed), max_k=20, seed=seed)
        assert abs(suggestion.k - k) <= 1, (k, seed, suggestion.shares[: k + 3])


def test_fewer_groups_than_the_whitened_dims_need_a_smaller_pca_dim():
    """Three blobs in 3 whitened dims become rings and are over-split; 2 dims hold them (docstring)."""
    assert suggest_k(gaussian_blobs(3, 0), max_k=20, pca_dim=2).k == 3


def test_the_suggestion_says_what_it_was_fitted_on():
    x = gaussian_blobs(5, 0, n=6000)
    suggestion = suggest_k(x, max_k=12, seed=3, sample_size=2000)
    assert isinstance(suggestion, KSuggestion)
    assert (suggestion.n_fitted, suggestion.n_total, suggestion.dim, suggestion.max_k, suggestion.seed) == (
        2000, 6000, 3, 12, 3)
    assert len(suggestion.weights) == len(suggestion.shares) == 12
    assert np.all(np.diff(suggestion.weights) <= 0) and np.all(np.diff(suggestion.shares) <= 0)
    assert suggestion.shares.sum() == pytest.approx(1.0) and suggestion.weights.sum() == pytest.approx(1.0)
    assert suggestion.k == suggestion.count("share", suggestion.threshold)
    assert suggestion.count("weight", 0.99) == 1  # a rule keeps at least one component
    record = json.loads(json.dumps(suggestion.to_dict()))
    assert record["k"] == suggestion.k and len(record["weights"]) == 12


def test_same_seed_same_suggestion():
    x = gaussian_blobs(6, 1, n=5000)
    a, b = suggest_k(x, max_k=15, seed=7), suggest_k(x, max_k=15, seed=7)
    assert a.k == b.k and np.array_equal(a.weights, b.weights)


@pytest.mark.parametrize("kwargs, message", [
    ({"rule": "mass"}, "rule='mass' is unknown"),
    ({"threshold": 1.5}, "threshold must be a fraction"),
    ({"max_k": 1}, "max_k >= 2"),
    ({"max_k": 400}, "needs more than max(pca_dim, max_k) = 400 points"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        suggest_k(gaussian_blobs(3, 0, n=300), **kwargs)
