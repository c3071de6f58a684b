"""Method names (as on the command line) -> head classes, and loading a saved head of any method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .ae_kmeans import AEKMeans
from .base import ClusteringHead, read_config
from .dec import DEC
from .kmeans import KMeans
from .spectral import SpectralClustering
from .spectralnet import SpectralNet
from .vade import VaDE

HEADS: dict[str, type[ClusteringHead]] = {
    cls.method: cls for cls in (KMeans, AEKMeans, DEC, VaDE, SpectralNet, SpectralClustering)
}


def build_head(method: str, k: int, seed: int = 0, **params: Any) -> ClusteringHead:
    if method not in HEADS:
        raise ValueError(f"unknown clustering method {method!r}; choose one of {', '.join(HEADS)}")
    return HEADS[method](k, seed, **params)


def load_head(directory: str | Path) -> ClusteringHead:
    """Load a head saved with ``save``, whatever its method (read from its config.json)."""
    method = read_config(directory)["method"]
    if method not in HEADS:
        raise ValueError(f"{directory} holds an unknown method {method!r}")
    return HEADS[method].load(directory)
