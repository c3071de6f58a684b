"""SpectralNet (Shaham et al., ICLR 2018): a network that learns the spectral embedding, so new points
can be embedded (and clustered) without recomputing eigenvectors.

The net maps x to K tanh units followed by an orthonormalisation layer: on a batch Y (m x K), with
Y^T Y = L L^T (Cholesky), the layer is Y -> sqrt(m) Y L^-T, so that (1/m) Y~^T Y~ = I (Sec. 3.1). The loss is
(1/m^2) sum_ij W_ij ||y~_i - y~_j||^2 (eq. 2), with W a k-nearest-neighbour Gaussian affinity whose scale is
the median distance to the ``scale_neighbor``-th neighbour (the TF release).

The paper alternates an orthonormalisation step (L from one batch, no gradient) with a gradient step on
another batch (``ortho_grad=False``). The net can then lower the loss by shrinking its outputs until the next
step's L is near-singular: on Fashion-MNIST codes 2 of 4 runs collapsed (ACC 0.17-0.26, Cholesky needing
jitter). By default (``ortho_grad=True``) we orthonormalise the gradient batch itself and differentiate
through L, so the loss is a true Rayleigh quotient that no collapse can lower (4 of 4 runs ACC 0.54-0.56).
Optionally W is computed in the output space of a Siamese net trained on nearest-neighbour pairs (Sec. 4.1).
Like the paper's MNIST runs, it works on autoencoder codes by default. Final labels: k-means on the embedding,
or with ``assign="balanced"`` k-means whose assignment is an equipartition (``balanced.py``: for data whose
clusters are known to be of about equal size; it stops the embedding's habit of merging look-alike classes
while splitting a diverse one).

Where the neighbours come from (``graph``): the paper finds them inside each random batch (``"batch"``), so
with 1,024 of 70,000 points they are neighbours among 1.5 % of the data. ``"global"`` builds the exact k-NN
graph of all points once (faiss) and trains on batches of random anchors plus their neighbours, with W the
graph's edges among the batch: the loss then sees the data's true neighbourhoods (BENCHMARKS.md §5).

Cholesky fails on rank-deficient batches (collapsed outputs, K larger than the batch's rank); we then retry
with growing jitter on the float64 Gram matrix. The largest, 1e-6 of its mean diagonal, is far above float64
rounding, so every finite batch (all-zero and constant ones included) gets a finite matrix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .ae_head import AutoencoderHead
from .autoencoder import apply_in_batches, mlp
from .balanced import ASSIGNMENTS, assign_points, fit_assignment
from .base import check_finite
from .spectral import exact_neighbours, gaussian_sigma2


def orthonormaliser(y: torch.Tensor) -> tuple[torch.Tensor, str]:
    """Matrix A (K, K) with (1/m) (yA)^T (yA) = I, and how it was obtained ('cholesky', or 'jitter' when the
    batch was rank-deficient)."""
    check_finite("SpectralNet output", y, "lower lr (the network diverged)")
    m, k = y.shape
    gram = y.double().T @ y.double()
    scale = float(gram.detach().diagonal().mean().clamp_min(1e-30))
    eye = torch.eye(k, dtype=gram.dtype, device=y.device)
    for attempt, jitter in enumerate((0.0, 1e-10, 1e-8, 1e-6)):
        chol, info = torch.linalg.cholesky_ex(gram + jitter * scale * eye)
        if int(info) == 0:
            inv_l = torch.linalg.solve_triangular(chol, eye, upper=False)
            a = math.sqrt(m) * inv_l.T
            if torch.isfinite(a).all():
                return a.to(y.dtype), "cholesky" if attempt == 0 else "jitter"
    raise torch.linalg.LinAlgError(
        f"SpectralNet: the {k}x{k} Gram matrix of a batch of {m} outputs is not positive definite even with "
        f"jitter 1e-6 x its mean diagonal ({scale:.3g}); report this with the batch, it should not happen "
        "for finite outputs")


def knn_gaussian_affinity(h: torch.Tensor, n_neighbors: int, scale_neighbor: int) -> torch.Tensor:
    """Symmetric affinity W: exp(-d^2 / (2 sigma^2)) on each point's k nearest neighbours, 0 elsewhere."""
    n_neighbors = min(n_neighbors, len(h) - 1)
    d2 = torch.cdist(h, h).pow(2)
    d2.fill_diagonal_(float("inf"))
    nb_d2, nb_idx = d2.topk(n_neighbors, dim=1, largest=False)
    sigma2 = nb_d2[:, min(scale_neighbor, n_neighbors) - 1].median().clamp_min(1e-12)
    w = torch.zeros_like(d2).scatter_(1, nb_idx, torch.exp(-nb_d2 / (2 * sigma2)))
    return (w + w.T) / 2


def global_knn_graph(h: torch.Tensor, n_neighbors: int, scale_neighbor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each point's ``n_neighbors`` exact nearest neighbours among all points (faiss) and their Gaussian
    weights exp(-d^2 / (2 sigma^2)), sigma^2 the median squared distance to the ``scale_neighbor``-th one."""
    x = h.detach().cpu().numpy()
    d2, neighbours = exact_neighbours(x, x, min(n_neighbors, len(h) - 1), skip_first=True)
    weights = np.exp(-d2 / (2 * gaussian_sigma2(d2, scale_neighbor))).astype(np.float32)
    return torch.from_numpy(neighbours).to(h.device), torch.from_numpy(weights).to(h.device)


def graph_batch(neighbours: torch.Tensor, weights: torch.Tensor, size: int,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """About ``size`` points (random anchors and all their neighbours) and the symmetric affinity W among
    them: every edge of the global graph whose two ends are both in the batch."""
    n, k = neighbours.shape
    anchors = torch.randperm(n, generator=generator)[: max(1, size // (k + 1))].to(neighbours.device)
    members = torch.unique(torch.cat([anchors, neighbours[anchors].flatten()]))
    position = torch.full((n,), -1, dtype=torch.long, device=neighbours.device)
    position[members] = torch.arange(len(members), device=neighbours.device)
    columns = position[neighbours[members]]  # (M, k): -1 where the neighbour is not in the batch
    inside = columns >= 0
    rows = torch.arange(len(members), device=neighbours.device)[:, None].expand_as(columns)
    w = torch.zeros(len(members), len(members), device=weights.device)
    w[rows[inside], columns[inside]] = weights[members][inside]
    return members, (w + w.T) / 2


def train_siamese(x: torch.Tensor, net: nn.Module, *, n_neighbors: int, iters: int, batch_size: int, lr: float,
                  generator: torch.Generator, progress: bool) -> None:
    """Contrastive loss: nearest neighbours (exact faiss k-NN) are pulled together, random pairs pushed to
    at least margin 1 apart (Hadsell et al. 2006), so distances in the output reflect the data's manifold."""
    x_np = x.cpu().numpy()
    n_neighbors = min(n_neighbors, len(x_np) - 1)
    _, nbrs = exact_neighbours(x_np, x_np, n_neighbors, skip_first=True)
    nbrs = torch.from_numpy(nbrs).to(x.device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in tqdm(range(iters), desc="siamese", disable=not progress, leave=False):
        anchor = torch.randint(len(x), (batch_size,), generator=generator).to(x.device)
        pick = torch.randint(n_neighbors, (batch_size,), generator=generator).to(x.device)
        positive = nbrs[anchor, pick]
        negative = torch.randint(len(x), (batch_size,), generator=generator).to(x.device)
        za, zp, zn = net(x[anchor]), net(x[positive]), net(x[negative])
        d_neg = (za - zn).norm(dim=1)
        loss = (za - zp).pow(2).sum(1).mean() + torch.relu(1.0 - d_neg).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


GRAPHS = ("batch", "global")  # where each batch's neighbours come from (module docstring)


class SpectralNet(AutoencoderHead):
    method = "spectralnet"

    def __init__(self, k: int, seed: int = 0, use_autoencoder: bool = True, hidden: tuple[int, ...] = (512, 512, 256),
                 iters: int = 1500, batch_size: int = 1024, lr: float = 1e-3, n_neighbors: int = 5,
                 scale_neighbor: int = 2, ortho_grad: bool = True, siamese: bool = False,
                 siamese_iters: int = 2000, n_init: int = 10, graph: str = "batch", assign: str = "kmeans",
                 **ae_params: Any) -> None:
        super().__init__(k, seed, use_autoencoder=use_autoencoder, hidden=hidden, iters=iters, batch_size=batch_size,
                         lr=lr, n_neighbors=n_neighbors, scale_neighbor=scale_neighbor, ortho_grad=ortho_grad,
                         siamese=siamese, siamese_iters=siamese_iters, n_init=n_init, graph=graph, assign=assign,
                         **ae_params)
        if self.params["graph"] not in GRAPHS:
            raise ValueError(f"spectralnet graph={graph!r} is unknown; use one of {', '.join(GRAPHS)}")
        if self.params["assign"] not in ASSIGNMENTS:
            raise ValueError(f"spectralnet assign={assign!r} is unknown; use one of {', '.join(ASSIGNMENTS)}")
        self.net: nn.Sequential | None = None
        self.siamese_net: nn.Sequential | None = None
        self.ortho: torch.Tensor | None = None
        self.centroids: np.ndarray | None = None
        self.offsets: np.ndarray | None = None  # per-cluster offsets of the balanced rule (assign="balanced")
        self.in_mean: torch.Tensor | None = None
        self.in_scale: torch.Tensor | None = None

    def _build(self, in_dim: int) -> None:
        p = self.params
        self.net = nn.Sequential(mlp([in_dim, *p["hidden"], self.k]), nn.Tanh()).to(self.device)
        if p["siamese"]:
            self.siamese_net = mlp([in_dim, *p["hidden"], self.k]).to(self.device)

    def _codes(self, x: np.ndarray) -> torch.Tensor:
        """Autoencoder codes of the features, or the features themselves (``use_autoencoder=False``)."""
        return apply_in_batches(self.ae.encoder, self._tensor(x)) if self.ae is not None else self._tensor(x)

    def _inputs(self, x: np.ndarray) -> torch.Tensor:
        """What the net sees: the codes centred and scaled to unit mean variance (statistics of the fit)."""
        return (self._codes(x) - self.in_mean) / self.in_scale

    def embed(self, features: np.ndarray) -> np.ndarray:
        """The orthonormalised spectral embedding (N, K) of new points."""
        return (apply_in_batches(self.net, self._inputs(features)) @ self.ortho).cpu().numpy()

    def _global_graph(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The k-NN graph of all points (in the siamese space when there is one), built once."""
        with torch.no_grad():
            space = apply_in_batches(self.siamese_net, h) if self.siamese_net is not None else h
        return global_knn_graph(space, self.params["n_neighbors"], self.params["scale_neighbor"])

    def _batch_affinity(self, h: torch.Tensor, m: int, generator: torch.Generator,
                        graph: tuple[torch.Tensor, torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Row indices of a training batch and its affinity matrix W (m, m)."""
        if graph is not None:  # the global graph's edges among the batch's members
            return graph_batch(*graph, m, generator)
        gb = torch.randperm(len(h), generator=generator)[:m].to(self.device)
        with torch.no_grad():  # the batch's own k-NN graph
            space = self.siamese_net(h[gb]) if self.siamese_net is not None else h[gb]
            return gb, knn_gaussian_affinity(space, self.params["n_neighbors"], self.params["scale_neighbor"])

    def _train(self, h: torch.Tensor, generator: torch.Generator,
               graph: tuple[torch.Tensor, torch.Tensor] | None) -> dict[str, int]:
        """Minimise the batch spectral loss; returns how often each orthonormalisation method was used."""
        p = self.params
        m = min(p["batch_size"], len(h))
        opt = torch.optim.Adam(self.net.parameters(), lr=p["lr"])
        methods: dict[str, int] = {}
        bar = tqdm(range(p["iters"]), desc="spectralnet", disable=not self.progress, leave=False)
        for _ in bar:
            if not p["ortho_grad"]:
                with torch.no_grad():  # orthonormalisation step on one batch (the paper's alternation)
                    ob = torch.randperm(len(h), generator=generator)[:m].to(self.device)
                    ortho, how = orthonormaliser(self.net(h[ob]))
                    methods[how] = methods.get(how, 0) + 1
            gb, w = self._batch_affinity(h, m, generator, graph)  # gradient step on another batch
            laplacian = torch.diag(w.sum(dim=1)) - w
            y = self.net(h[gb])
            if p["ortho_grad"]:  # orthonormalise this batch, differentiably: the outputs cannot collapse
                ortho, how = orthonormaliser(y)
                methods[how] = methods.get(how, 0) + 1
            y = y @ ortho
            # sum_ij W_ij ||y_i - y_j||^2 = 2 tr(Y^T L Y), L = D - W: no square root, so no NaN gradient at 0.
            loss = 2 * torch.trace(y.T @ (laplacian @ y)) / len(gb) ** 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.set_postfix(loss=f"{loss.item():.4f}")
        check_finite("SpectralNet loss", loss.detach(), "lower lr")
        return methods

    def _fit(self, x_np: np.ndarray) -> None:
        p = self.params
        self.ae = self._pretrain_autoencoder(x_np) if p["use_autoencoder"] else None
        raw = self._codes(x_np)
        self.in_mean = raw.mean(dim=0)
        self.in_scale = raw.var(dim=0).mean().sqrt().clamp_min(1e-12).reshape(())
        h = (raw - self.in_mean) / self.in_scale
        self._build(h.shape[1])
        generator = torch.Generator().manual_seed(self.seed + 4)
        if self.siamese_net is not None:
            train_siamese(h, self.siamese_net, n_neighbors=p["n_neighbors"], iters=p["siamese_iters"],
                          batch_size=128, lr=p["lr"], generator=generator, progress=self.progress)
            self.siamese_net.eval()
        methods = self._train(h, generator, self._global_graph(h) if p["graph"] == "global" else None)
        # Final orthonormalisation on the whole set, then the assignment rule on the embedding.
        self.ortho, how = orthonormaliser(apply_in_batches(self.net, h))
        methods[how] = methods.get(how, 0) + 1
        self.info.update(spectralnet_ortho=methods)
        self.centroids, self.offsets = fit_assignment(self.embed(x_np), self.k, p["assign"], n_init=p["n_init"],
                                                      seed=self.seed)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return assign_points(self.embed(x), self.centroids, self.offsets)

    def _tensors(self) -> dict[str, torch.Tensor]:
        out = {f"net.{k}": v for k, v in self.net.state_dict().items()} | self._autoencoder_tensors()
        if self.siamese_net is not None:
            out.update({f"siamese.{k}": v for k, v in self.siamese_net.state_dict().items()})
        if self.offsets is not None:
            out["offsets"] = torch.from_numpy(self.offsets)
        return {**out, "ortho": self.ortho, "centroids": torch.from_numpy(self.centroids),
                "in_mean": self.in_mean, "in_scale": self.in_scale}

    def _restore(self, tensors: dict[str, torch.Tensor]) -> None:
        def part(prefix: str) -> dict[str, torch.Tensor]:
            return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}

        self.ae = None
        if self.params["use_autoencoder"]:
            self._restore_autoencoder(tensors)
        in_dim = self.params["code_dim"] if self.ae is not None else self.input_dim
        self._build(in_dim)
        self.net.load_state_dict(part("net."))
        if self.siamese_net is not None:
            self.siamese_net.load_state_dict(part("siamese."))
        self.ortho, self.centroids = tensors["ortho"].to(self.device), tensors["centroids"].numpy()
        self.offsets = tensors["offsets"].numpy() if "offsets" in tensors else None
        self.in_mean, self.in_scale = tensors["in_mean"].to(self.device), tensors["in_scale"].to(self.device)
