"""AE + K-Means, the baseline of the DEC paper: k-means (n_init 20, as DEC) on a pretrained autoencoder's codes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .ae_head import AutoencoderHead
from .autoencoder import apply_in_batches
from .kmeans import kmeans_centroids, nearest_centroid


class AEKMeans(AutoencoderHead):
    """k-means on the codes of a pretrained autoencoder."""

    method = "ae_kmeans"
    retired_hyperparameters = frozenset({"kmeans_pick"})

    def __init__(self, k: int, seed: int = 0, n_init: int = 20, **params: Any) -> None:
        super().__init__(k, seed, n_init=n_init, **params)
        self.centroids: np.ndarray | None = None

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Autoencoder codes (N, code_dim) of new points."""
        return apply_in_batches(self.ae.encoder, self._tensor(features)).cpu().numpy()

    def _fit(self, x: np.ndarray) -> None:
        self.ae = self._pretrain_autoencoder(x)
        self.centroids = kmeans_centroids(self.encode(x), self.k, n_init=self.params["n_init"], seed=self.seed)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return nearest_centroid(self.encode(x), self.centroids)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {**self._autoencoder_tensors(), "centroids": torch.from_numpy(self.centroids)}

    def _restore(self, tensors: dict[str, torch.Tensor]) -> None:
        self._restore_autoencoder(tensors)
        self.centroids = tensors["centroids"].numpy()
