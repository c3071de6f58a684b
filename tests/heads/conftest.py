"""Shared data and fitted heads for the heads tests: separated Gaussian blobs, small settings of every head."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from deepcluster.heads import build_head

K = 4
SMALL_AE = {"ae_hidden": [64, 64], "code_dim": 4, "ae_epochs": 40, "ae_batch_size": 64}
SMALL = {
    "kmeans": {},
    "ae_kmeans": dict(SMALL_AE),
    "dec": {**SMALL_AE, "max_iter": 300, "batch_size": 64, "update_interval": 20},
    "vade": {**SMALL_AE, "epochs": 15, "batch_size": 64},
    "spectralnet": {**SMALL_AE, "hidden": [64, 64], "iters": 200, "batch_size": 256},
    "spectral": {"n_neighbors": 8},
}


def blobs(n_per: int, seed: int, dim: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """K well-separated Gaussian clusters (centres 8 apart per axis on average, unit noise)."""
    centres = np.random.default_rng(123).normal(0, 4, (K, dim))
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), n_per)
    x = centres[y] + rng.normal(0, 1, (len(y), dim))
    order = rng.permutation(len(y))
    return x[order].astype(np.float32), y[order]


def assert_written_atomically(path: Path) -> None:
    """``path`` was written by ``deepcluster.atomic`` (the usual 0666 & ~umask permissions, where a bare
    mkstemp leaves 0600) and no temporary file of it is left beside it."""
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture(scope="session")
def train_blobs():
    return blobs(100, seed=0)


@pytest.fixture(scope="session")
def fitted(train_blobs, tmp_path_factory):
    """Each head fitted once on the blobs (the AE shared through a cache, as in the benchmark)."""
    cache = tmp_path_factory.mktemp("ae_cache")
    heads = {}
    for method, params in SMALL.items():
        head = build_head(method, K, seed=0, **params)
        head.ae_cache = cache
        heads[method] = head.fit(train_blobs[0])
    return heads
