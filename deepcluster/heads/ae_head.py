"""The base of every head that starts from a pretrained autoencoder: AE + k-means, DEC, VaDE, SpectralNet.

``AutoencoderHead`` holds the autoencoder's hyperparameters (``AE_DEFAULTS``, each settable on every such
head) and gets the pretrained autoencoder, from the cache folder when one is set
(``autoencoder.pretrained_autoencoder``), so that the heads of one seed share one pretraining.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .autoencoder import INITS, OPTIMIZERS, PRECISIONS, Autoencoder, pretrained_autoencoder
from .base import ClusteringHead

# Chosen for Fashion-MNIST 70k on a small CPU: BENCHMARKS.md §3 gives what they score and cost.
AE_DEFAULTS: dict[str, Any] = {"ae_hidden": [500, 500, 2000], "code_dim": 10, "ae_epochs": 20, "ae_lr": 1e-3,
                               "ae_batch_size": 256, "ae_dropout": 0.0, "ae_init": "glorot",
                               "ae_optimizer": "adam", "ae_precision": "fp32"}


class AutoencoderHead(ClusteringHead):
    """Base for heads that start from a pretrained autoencoder (DEC, VaDE, AE + k-means, SpectralNet)."""

    shared_hyperparameters = AE_DEFAULTS

    def __init__(self, k: int, seed: int = 0, **params: Any) -> None:
        super().__init__(k, seed, **{**AE_DEFAULTS, **params})
        p = self.params
        if p["ae_init"] not in INITS:
            raise ValueError(f"ae_init={p['ae_init']!r} is unknown; use one of {', '.join(INITS)}")
        if p["ae_optimizer"] not in OPTIMIZERS:
            raise ValueError(f"ae_optimizer={p['ae_optimizer']!r} is unknown; use one of {', '.join(OPTIMIZERS)}")
        if p["ae_precision"] not in PRECISIONS:
            raise ValueError(f"ae_precision={p['ae_precision']!r} is unknown; use one of {', '.join(PRECISIONS)}")
        self.ae_cache: str | Path | None = None  # a folder for pretrained weights; not a hyperparameter
        self.ae: Autoencoder | None = None

    def _pretrain_autoencoder(self, x: np.ndarray) -> Autoencoder:
        p = self.params
        # A whole-number lr is keyed as an int: the cache files of `ae_lr=1` runs, made when the value stayed
        # as typed, keep their names (the training is the same either way).
        lr = int(p["ae_lr"]) if p["ae_lr"].is_integer() else p["ae_lr"]
        settings = {"hidden": p["ae_hidden"], "code_dim": p["code_dim"], "epochs": p["ae_epochs"],
                    "lr": lr, "batch_size": p["ae_batch_size"]}
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
