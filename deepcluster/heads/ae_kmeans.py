"""Heads built on autoencoder codes: their shared base, and AE + k-means.

``AutoencoderHead`` holds the autoencoder hyperparameters and gets a pretrained autoencoder (from the
cache folder when one is set, see ``autoencoder.pretrained_autoencoder``). ``AEKMeans`` is the
'AE + K-Means' baseline: k-means (n_init 20, as DEC) on the 10-d codes; ``kmeans_pick`` chooses among the
restarts (``kmeans.kmeans_centroids``), as in DEC and VaDE.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .autoencoder import INITS, OPTIMIZERS, PRECISIONS, Autoencoder, apply_in_batches, pretrained_autoencoder
from .base import ClusteringHead
from .kmeans import check_pick, kmeans_centroids, nearest_centroid

# Chosen for Fashion-MNIST 70k on a small CPU: BENCHMARKS.md §3 gives what they score and cost.
AE_DEFAULTS: dict[str, Any] = {"ae_hidden": [500, 500, 2000], "code_dim": 10, "ae_epochs": 20, "ae_lr": 1e-3,
                               "ae_batch_size": 256, "ae_dropout": 0.0, "ae_init": "glorot",
                               "ae_optimizer": "adam", "ae_precision": "fp32"}


class AutoencoderHead(ClusteringHead):
    """Base for heads that start from a pretrained autoencoder (DEC, VaDE, AE + k-means, SpectralNet)."""

    def __init__(self, k: int, seed: int = 0, **params: Any) -> None:
        # A misspelt override (--set max_iters=...) must fail, not be stored and ignored: the valid names are
        # the autoencoder's and the subclass's own keyword arguments.
        known = set(AE_DEFAULTS) | set(inspect.signature(type(self).__init__).parameters)
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"{self.method} has no hyperparameter {', '.join(unknown)}; "
                             f"valid: {', '.join(sorted(known - {'self', 'k', 'seed', 'params', 'ae_params'}))}")
        merged = {**AE_DEFAULTS, **params}
        merged["ae_hidden"] = [int(h) for h in merged["ae_hidden"]]
        if merged["ae_init"] not in INITS:
            raise ValueError(f"ae_init={merged['ae_init']!r} is unknown; use one of {', '.join(INITS)}")
        if merged["ae_optimizer"] not in OPTIMIZERS:
            raise ValueError(f"ae_optimizer={merged['ae_optimizer']!r} is unknown; use one of {', '.join(OPTIMIZERS)}")
        if merged["ae_precision"] not in PRECISIONS:
            raise ValueError(f"ae_precision={merged['ae_precision']!r} is unknown; use one of {', '.join(PRECISIONS)}")
        super().__init__(k, seed, **merged)
        self.ae_cache: str | Path | None = None  # a folder for pretrained weights; not a hyperparameter
        self.ae: Autoencoder | None = None

    def _pretrain_autoencoder(self, x: np.ndarray) -> Autoencoder:
        p = self.params
        settings = {"hidden": p["ae_hidden"], "code_dim": p["code_dim"], "epochs": p["ae_epochs"],
                    "lr": p["ae_lr"], "batch_size": p["ae_batch_size"]}
        if p["ae_dropout"]:
            settings["dropout"] = p["ae_dropout"]  # only when set, so caches of plain runs stay valid
        if p["ae_init"] != "glorot":
            settings["init"] = p["ae_init"]
        if p["ae_optimizer"] != "adam":
            settings["optimizer"] = p["ae_optimizer"]
        if p["ae_precision"] != "fp32":
            settings["precision"] = p["ae_precision"]
        ae, info = pretrained_autoencoder(x, settings, seed=self.seed, device=self.device,
                                          cache_dir=self.ae_cache, progress=self.progress)
        self.info.update(info)
        # Reseed so that what follows is the same whether the weights were trained or read from the cache.
        torch.manual_seed(self.seed + 1)
        return ae

    def _new_autoencoder(self) -> Autoencoder:
        p = self.params
        return Autoencoder(self.input_dim, tuple(p["ae_hidden"]), p["code_dim"])

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)

    def _autoencoder_tensors(self) -> dict[str, torch.Tensor]:
        """The autoencoder's weights under an ``ae.`` prefix, for ``_tensors`` (none without an autoencoder)."""
        return {} if self.ae is None else {f"ae.{k}": v for k, v in self.ae.state_dict().items()}

    def _restore_autoencoder(self, tensors: dict[str, torch.Tensor]) -> None:
        """Rebuild the autoencoder from the ``ae.`` entries of saved tensors."""
        self.ae = self._new_autoencoder().to(self.device)
        self.ae.load_state_dict({k[3:]: v for k, v in tensors.items() if k.startswith("ae.")})


class AEKMeans(AutoencoderHead):
    """k-means on the codes of a pretrained autoencoder."""

    method = "ae_kmeans"

    def __init__(self, k: int, seed: int = 0, n_init: int = 20, kmeans_pick: str = "lowest", **params: Any) -> None:
        super().__init__(k, seed, n_init=int(n_init), kmeans_pick=check_pick(kmeans_pick), **params)
        self.centroids: np.ndarray | None = None

    def encode(self, features: np.ndarray) -> np.ndarray:
        """Autoencoder codes (N, code_dim) of new points."""
        return apply_in_batches(self.ae.encoder, self._tensor(features)).cpu().numpy()

    def _fit(self, x: np.ndarray) -> None:
        self.ae = self._pretrain_autoencoder(x)
        self.centroids = kmeans_centroids(self.encode(x), self.k, n_init=self.params["n_init"], seed=self.seed,
                                          pick=self.params["kmeans_pick"])

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return nearest_centroid(self.encode(x), self.centroids)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {**self._autoencoder_tensors(), "centroids": torch.from_numpy(self.centroids)}

    def _restore(self, tensors: dict[str, torch.Tensor]) -> None:
        self._restore_autoencoder(tensors)
        self.centroids = tensors["centroids"].numpy()
