"""Method names (as on the command line) -> head classes, and loading a saved head of any method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .ae_kmeans import AEKMeans
from .base import ClusteringHead, read_config
from .dec import DEC
from .hyperparameters import check_names
from .kmeans import KMeans
from .spectral import SpectralClustering
from .spectralnet import SpectralNet
from .vade import VaDE

HEADS: dict[str, type[ClusteringHead]] = {
    cls.method: cls for cls in (KMeans, AEKMeans, DEC, VaDE, SpectralNet, SpectralClustering)
}


def build_head(method: str, k: int, seed: int = 0, **params: Any) -> ClusteringHead:
    """A new head of ``method``. A misspelt hyperparameter is refused with the closest valid name; values are
    converted to the hyperparameter's type where that loses nothing (``hyperparameters.py``)."""
    if method not in HEADS:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {', '.join(HEADS)}")
    head_class = HEADS[method]
    check_names(method, head_class.hyperparameters(), params)
    return head_class(k, seed, **params)


def load_head(directory: str | Path) -> ClusteringHead:
    """Load a head saved with ``save``, whatever its method (read from its config.json)."""
    method = read_config(directory)["method"]
    if method not in HEADS:
        raise ValueError(f"{directory} holds an unknown method {method!r}")
    return HEADS[method].load(directory)
