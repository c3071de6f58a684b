"""VaDE, Variational Deep Embedding (Jiang et al., IJCAI 2017), made numerically safe.

Generative model: c ~ Cat(pi), z | c ~ N(mu_c, diag sigma_c^2), x | z from the decoder. The encoder gives
q(z|x) = N(mu~, diag sigma~^2); the loss is the negative ELBO of eq. 17 with one reparameterised sample:
  recon + 1/2 sum_c gamma_c sum_j [log s_cj + s~_j / s_cj + (mu~_j - mu_cj)^2 / s_cj]
        - sum_c gamma_c log(pi_c / gamma_c) - 1/2 sum_j (1 + log s~_j),        gamma_c = q(c | z)  (eq. 16)
Initialisation, as the reference: the encoder/decoder of a pretrained autoencoder, pi uniform, and mu_c, s_c
from a diagonal GMM fitted by EM on its codes, started at the k-means centroids.

Fixes to the reference's known failure modes: pi = softmax(logits), so it can never go negative; gamma by
log-sum-exp (no underflow to 0/0); variances are floor + exp(.) so none reaches 0; prediction is the argmax
of gamma at the mean code mu~ (deterministic) rather than at a sampled z. The decoder is Gaussian with a
fixed noise variance equal to the pretrained autoencoder's per-dimension MSE (its maximum-likelihood value),
which puts reconstruction and KL on the scale the Bernoulli decoder of the paper gives on pixels, and works
for features that are not in [0, 1].
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import nn
from tqdm.auto import tqdm

from .ae_head import AutoencoderHead
from .autoencoder import Autoencoder, apply_in_batches
from .base import check_finite
from .kmeans import kmeans_centroids


class VaDEModel(nn.Module):
    def __init__(self, input_dim: int, hidden: list[int], code_dim: int, k: int) -> None:
        super().__init__()
        ae = Autoencoder(input_dim, tuple(hidden), code_dim)
        self.body = ae.encoder[:-1]  # up to the last hidden ReLU
        self.mu_head = ae.encoder[-1]
        self.logvar_head = nn.Linear(hidden[-1], code_dim)
        self.decoder = ae.decoder
        self.pi_logits = nn.Parameter(torch.zeros(k))
        self.mu_c = nn.Parameter(torch.zeros(k, code_dim))
        self.logvar_c = nn.Parameter(torch.zeros(k, code_dim))
        self.register_buffer("var_floor", torch.tensor(1e-6))
        self.register_buffer("noise_var", torch.tensor(1.0))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x)
        return self.mu_head(h), self.var_floor + self.logvar_head(h).clamp(-30.0, 20.0).exp()

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """log pi_c + log N(z | mu_c, s_c), shape (B, K)."""
        var_c = self.var_floor + self.logvar_c.exp()
        log_pi = torch.log_softmax(self.pi_logits, dim=0)
        diff2 = (z.unsqueeze(1) - self.mu_c).pow(2) / var_c
        log_normal = -0.5 * (diff2 + var_c.log() + math.log(2 * math.pi)).sum(dim=2)
        return log_pi + log_normal

    def cluster_logits(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.encode(x)
        return self.log_joint(mu)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, var = self.encode(x)
        z = mu + var.sqrt() * torch.randn_like(mu)
        recon = (self.decoder(z) - x).pow(2).sum(dim=1) / (2 * self.noise_var)
        log_gamma = torch.log_softmax(self.log_joint(z), dim=1)  # log-sum-exp normalisation
        gamma = log_gamma.exp()
        var_c = self.var_floor + self.logvar_c.exp()
        per_c = (var_c.log() + var.unsqueeze(1) / var_c + (mu.unsqueeze(1) - self.mu_c).pow(2) / var_c).sum(dim=2)
        log_pi = torch.log_softmax(self.pi_logits, dim=0)
        kl = 0.5 * (gamma * per_c).sum(1) - (gamma * (log_pi - log_gamma)).sum(1) - 0.5 * (1 + var.log()).sum(1)
        return (recon + kl).mean()


class VaDE(AutoencoderHead):
    method = "vade"
    retired_hyperparameters = frozenset({"kmeans_pick", "prior_init"})

    def __init__(self, k: int, seed: int = 0, epochs: int = 10, lr: float = 1e-3, batch_size: int = 256,
                 lr_decay: float = 0.9, n_init: int = 20, **ae_params: Any) -> None:
        super().__init__(k, seed, epochs=epochs, lr=lr, batch_size=batch_size, lr_decay=lr_decay, n_init=n_init,
                         **ae_params)
        if self.params["epochs"] < 1:
            raise ValueError(f"vade needs epochs >= 1, got {self.params['epochs']}")
        self.model: VaDEModel | None = None

    def _new_model(self) -> VaDEModel:
        p = self.params
        return VaDEModel(self.input_dim, p["ae_hidden"], p["code_dim"], self.k).to(self.device)

    def _initialise(self, x: torch.Tensor, x_np: np.ndarray) -> None:
        """Copy the pretrained autoencoder in and fit the mixture prior on its codes."""
        ae = self._pretrain_autoencoder(x_np)
        with torch.no_grad():
            m = self.model = self._new_model()
            m.body.load_state_dict(ae.encoder[:-1].state_dict())
            m.mu_head.load_state_dict(ae.encoder[-1].state_dict())
            m.decoder.load_state_dict(ae.decoder.state_dict())
            codes = apply_in_batches(ae.encoder, x).cpu().numpy().astype(np.float64)
            code_var = float(codes.var(axis=0).mean())
            centroids = kmeans_centroids(codes.astype(np.float32), self.k, n_init=self.params["n_init"], seed=self.seed)
            gmm = GaussianMixture(self.k, covariance_type="diag", means_init=centroids, reg_covar=1e-6 * code_var,
                                  max_iter=100, random_state=self.seed).fit(codes)
            means, variances = gmm.means_, gmm.covariances_
            self.info.update(gmm_converged=bool(gmm.converged_))
            m.var_floor.fill_(1e-4 * code_var)
            m.mu_c.copy_(torch.from_numpy(means).float())
            # var_c = floor + exp(logvar_c) must equal the mixture's variance at the start.
            component_var = np.maximum(variances - 1e-4 * code_var, 1e-8 * code_var)
            m.logvar_c.copy_(torch.from_numpy(np.log(component_var)).float())
            # q(z|x) starts narrow (a tenth of the mean cluster variance): the codes stay where k-means saw them.
            nn.init.zeros_(m.logvar_head.weight)
            nn.init.constant_(m.logvar_head.bias, math.log(0.1 * float(variances.mean())))
            mse = float(((apply_in_batches(ae, x) - x) ** 2).mean())
            m.noise_var.fill_(max(mse, 1e-6))
            self.info.update(vade_noise_var=mse)

    def _fit(self, x_np: np.ndarray) -> None:
        p = self.params
        x = self._tensor(x_np)
        self._initialise(x, x_np)
        m = self.model
        opt = torch.optim.Adam(m.parameters(), lr=p["lr"])
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=p["lr_decay"])  # reference: x0.9 / 10 ep
        generator = torch.Generator().manual_seed(self.seed + 3)
        bar = tqdm(range(p["epochs"]), desc="vade", disable=not self.progress, leave=False)
        for _ in bar:
            m.train()
            order = torch.randperm(len(x), generator=generator).to(self.device)
            total = torch.zeros((), device=self.device)
            for i in range(0, len(x), p["batch_size"]):
                batch = x[order[i : i + p["batch_size"]]]
                loss = m.loss(batch)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach() * len(batch)
            check_finite("VaDE loss", total, "lower lr (the ELBO diverged)")
            sched.step()
            mean_loss = float(total) / len(x)
            bar.set_postfix(loss=f"{mean_loss:.3f}")
        self.info.update(vade_loss=mean_loss)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        self.model.eval()
        xt = self._tensor(x)
        logits = torch.cat([self.model.cluster_logits(xt[i : i + 4096]) for i in range(0, len(xt), 4096)])
        return logits.argmax(dim=1).cpu().numpy()

    def _tensors(self) -> dict[str, torch.Tensor]:
        return dict(self.model.state_dict())

    def _restore(self, tensors: dict[str, torch.Tensor]) -> None:
        self.model = self._new_model()
        self.model.load_state_dict(tensors)
