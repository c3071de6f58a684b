"""DEC, Deep Embedded Clustering (Xie, Girshick & Farhadi, ICML 2016).

From a pretrained autoencoder, keep the encoder f, put k-means centres mu_j (n_init 20) on the codes, then
fine-tune f and mu together by minimising KL(P || Q) where
  q_ij = (1 + ||z_i - mu_j||^2 / alpha)^(-(alpha+1)/2) / sum_j' (...)      (eq. 1, Student's t kernel)
  p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j'),  f_j = sum_i q_ij        (eq. 3, target distribution)
P is recomputed over the *whole* dataset every ``update_interval`` iterations (DEC-keras: T = 140) and held
fixed in between; recomputing it per batch, as some ports do, chases a moving target. Training stops when
fewer than ``tol`` (0.1 %) of the hard labels change between two refreshes, or after ``max_iter`` steps
(20,000 as DEC-keras; on Fashion-MNIST the tolerance took 6,900-19,500 iterations, BENCHMARKS.md §3).
Batches come from a fresh permutation of the data each pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .ae_head import AutoencoderHead
from .autoencoder import apply_in_batches
from .base import check_finite
from .kmeans import kmeans_centroids


def student_t_assignment(z: torch.Tensor, centres: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Soft assignment Q (eq. 1), rows summing to 1, computed in log space so far points do not underflow."""
    d2 = torch.cdist(z, centres).pow(2)
    logits = -(alpha + 1.0) / 2.0 * torch.log1p(d2 / alpha)
    return torch.softmax(logits, dim=1)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """Auxiliary target P (eq. 3): sharpens Q and divides by cluster frequency so large clusters do not win."""
    weight = q.pow(2) / q.sum(dim=0).clamp_min(1e-12)
    return weight / weight.sum(dim=1, keepdim=True)


class DEC(AutoencoderHead):
    method = "dec"
    retired_hyperparameters = frozenset({"kmeans_pick", "batch_order"})

    def __init__(self, k: int, seed: int = 0, alpha: float = 1.0, lr: float = 0.01, momentum: float = 0.9,
                 batch_size: int = 256, update_interval: int = 140, tol: float = 0.001, max_iter: int = 20000,
                 n_init: int = 20, **ae_params: Any) -> None:
        super().__init__(k, seed, alpha=alpha, lr=lr, momentum=momentum, batch_size=batch_size,
                         update_interval=update_interval, tol=tol, max_iter=max_iter, n_init=n_init, **ae_params)
        self.centres: nn.Parameter | None = None

    def _soft_assign_all(self, x: torch.Tensor) -> torch.Tensor:
        return student_t_assignment(apply_in_batches(self.ae.encoder, x), self.centres.detach(),
                                    self.params["alpha"])

    def _fit(self, x_np: np.ndarray) -> None:
        p = self.params
        self.ae = self._pretrain_autoencoder(x_np)
        encoder = self.ae.encoder
        x = self._tensor(x_np)
        codes = apply_in_batches(encoder, x).cpu().numpy()
        init = kmeans_centroids(codes, self.k, n_init=p["n_init"], seed=self.seed)
        self.centres = nn.Parameter(torch.from_numpy(init).to(self.device))
        opt = torch.optim.SGD([*encoder.parameters(), self.centres], lr=p["lr"], momentum=p["momentum"])
        generator = torch.Generator().manual_seed(self.seed + 2)
        previous = None
        target = None
        order = torch.randperm(len(x), generator=generator)
        cursor = 0
        delta = float("nan")
        step = 0
        self.info.update(dec_stopped="max_iter")
        bar = tqdm(range(p["max_iter"]), desc="dec", disable=not self.progress, leave=False)
        for step in bar:
            if step % p["update_interval"] == 0:
                q_all = self._soft_assign_all(x)
                check_finite("DEC soft assignment", q_all, "lower lr (the codes diverged)")
                target = target_distribution(q_all)
                labels = q_all.argmax(dim=1)
                if previous is not None:
                    delta = float((labels != previous).float().mean())
                    bar.set_postfix(changed=f"{delta:.4f}")
                    if delta < p["tol"]:
                        self.info.update(dec_stopped="tol")
                        break
                previous = labels
            if cursor >= len(x):
                order = torch.randperm(len(x), generator=generator)
                cursor = 0
            idx = order[cursor : cursor + p["batch_size"]].to(self.device)
            cursor += p["batch_size"]
            q = student_t_assignment(encoder(x[idx]), self.centres, p["alpha"])
            # KL(P || Q) averaged over the batch; P is a fixed target (no gradient).
            loss = torch.sum(target[idx] * (torch.log(target[idx].clamp_min(1e-12)) - torch.log(q.clamp_min(1e-12))))
            loss = loss / len(idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        iterations = step if self.info["dec_stopped"] == "tol" else p["max_iter"]  # step: last index run
        self.info.update(dec_iterations=iterations, dec_last_change=delta)
        check_finite("DEC centres", self.centres, "lower lr")

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return self._soft_assign_all(self._tensor(x)).argmax(dim=1).cpu().numpy()

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {**self._autoencoder_tensors(), "centres": self.centres.detach()}

    def _restore(self, tensors: dict[str, torch.Tensor]) -> None:
        self._restore_autoencoder(tensors)
        self.centres = nn.Parameter(tensors["centres"].to(self.device))
