"""How many clusters do the features hold? A Dirichlet-process Gaussian mixture proposes k.

A truncated Dirichlet-process mixture (scikit-learn's ``BayesianGaussianMixture`` with
``weight_concentration_prior_type="dirichlet_process"``, variational inference, Blei & Jordan 2006) is given
``max_k`` components and empties the ones the data does not need; the suggestion is the number it keeps.

    sample    at most ``sample_size`` points, drawn without replacement from ``numpy.random.default_rng(seed)``
              (the mixture's cost grows with N x max_k x dim^2; a few thousand points fix the shape of a
              handful of classes as well as 70,000 do);
    whiten    PCA-whiten the sample to ``pca_dim`` dims and L2-normalise it (``cluster.pca``: faiss, as
              DeepCluster's clustering step), so that no few high-variance axes decide the count;
    fit       full covariances, k-means initialisation, ``random_state=seed``;
    count     the components to which at least ``threshold`` of the sample is assigned (``rule="share"``,
              each point to its most probable component) or whose mixture weight is at least ``threshold``
              (``rule="weight"``).

Defaults (``pca_dim=3``, ``rule="share"``, ``threshold=0.03``) were chosen on Fashion-MNIST's validation
split (the last 10,000 train images) only, by the mean |suggested - 10| over raw pixels and DeepCluster
features and three seeds (``benchmarks/annotation/choose_suggest_k.py``; the test and transfer scores are in
BENCHMARKS.md, "Annotation effort"). The whitening's PCA is the cost on wide inputs: ~1.5 min on one core for
4,000 x 6,272 conv3 features, a few seconds on already whitened (64-d) ones; the mixture itself 1-4 s.
At 32 dims the mixture kept 44-50 of 50 components there: classes of images are not Gaussian blobs, and a
mixture with more dimensions to fit splits each class into many. Two limits follow from the low dimension:
data with fewer groups than ``pca_dim`` + 1 is over-split (whitened noise axes put each group on a ring of
the sphere), and a few dims cannot resolve many tens of groups. Labels play no part here.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np

from ..cluster.pca import preprocess_features
from .base import check_features

RULES = ("share", "weight")
SAMPLE_SIZE = 4000  # points the mixture is fitted on, at most
THRESHOLD = 0.03  # the validation pick (BENCHMARKS.md, "Annotation effort")
RULE = "share"
PCA_DIM = 3  # the validation pick: at 32 dims the mixture keeps 44-50 of 50 components on Fashion-MNIST


@dataclass
class KSuggestion:
    """A proposed number of clusters and what it rests on."""

    k: int  # components kept: those with at least ``threshold`` of the sample (rule "share") or of the weight
    weights: np.ndarray  # (max_k,) mixture weights, sorted descending
    shares: np.ndarray  # (max_k,) fraction of the sample assigned to each component, sorted descending
    rule: str  # "share" or "weight"
    threshold: float
    n_fitted: int  # points the mixture was fitted on (the seeded sample)
    n_total: int  # points it was drawn from
    dim: int  # dims the mixture saw (after whitening)
    max_k: int
    seed: int
    converged: bool
    n_iter: int
    seconds: float

    def to_dict(self) -> dict:
        """JSON-ready: arrays as lists rounded to 6 digits."""
        out = asdict(self)
        out["weights"] = [round(float(w), 6) for w in self.weights]
        out["shares"] = [round(float(s), 6) for s in self.shares]
        return out

    def count(self, rule: str, threshold: float) -> int:
        """The number of components another rule / threshold would keep (no refit)."""
        values = {"share": self.shares, "weight": self.weights}[rule]
        return max(1, int((values >= threshold - 1e-12).sum()))


def suggest_k(features: np.ndarray, max_k: int = 50, seed: int = 0, pca_dim: int = PCA_DIM, *,
              sample_size: int = SAMPLE_SIZE, threshold: float = THRESHOLD, rule: str = RULE,
              max_iter: int = 500) -> KSuggestion:
    """Suggest k for ``features`` (N, d): the components a Dirichlet-process mixture keeps (module docstring)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    if rule not in RULES:
        raise ValueError(f"suggest_k rule={rule!r} is unknown; use one of {', '.join(RULES)}")
    if not 0 < threshold < 1:
        raise ValueError(f"suggest_k threshold must be a fraction in (0, 1), got {threshold}")
    if max_k < 2:
        raise ValueError(f"suggest_k needs max_k >= 2, got {max_k}")
    x = check_features(features)
    n, d = x.shape
    start = time.perf_counter()
    rows = np.arange(n)
    if n > sample_size:
        rows = np.sort(np.random.default_rng(seed).choice(n, sample_size, replace=False))
    dim = min(pca_dim, d)
    if len(rows) <= max(dim, max_k):
        raise ValueError(f"suggest_k needs more than max(pca_dim, max_k) = {max(dim, max_k)} points, got "
                         f"{len(rows)}; lower max_k or pca_dim")
    z = preprocess_features(np.ascontiguousarray(x[rows], dtype=np.float32), dim).astype(np.float64)
    mixture = BayesianGaussianMixture(n_components=max_k, weight_concentration_prior_type="dirichlet_process",
                                      covariance_type="full", init_params="kmeans", max_iter=max_iter,
                                      random_state=seed, reg_covar=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported as converged=False instead
        mixture.fit(z)
    shares = np.bincount(mixture.predict(z), minlength=max_k) / len(z)
    suggestion = KSuggestion(k=0, weights=np.sort(mixture.weights_)[::-1], shares=np.sort(shares)[::-1],
                             rule=rule, threshold=threshold, n_fitted=len(z), n_total=n, dim=dim, max_k=max_k,
                             seed=seed, converged=bool(mixture.converged_), n_iter=int(mixture.n_iter_),
                             seconds=0.0)
    suggestion.k = suggestion.count(rule, threshold)
    suggestion.seconds = time.perf_counter() - start
    return suggestion
