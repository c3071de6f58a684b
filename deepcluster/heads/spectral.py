"""Spectral clustering on the exact k-NN graph of all points (Ng, Jordan & Weiss 2002), with out-of-sample
prediction by the Nyström extension.

SpectralNet learns an approximation of this embedding so that new points can be embedded; on 70,000 frozen
features the exact eigenvectors are cheap (ARPACK through scipy's ``eigsh``, seconds on one core), and the
Nyström formula embeds a new point from its neighbours among the training points, so nothing needs learning:

    graph    W = Gaussian weights exp(-d^2 / 2 sigma^2) on each point's ``n_neighbors`` nearest neighbours
             (faiss, exact), symmetrised by the larger weight; sigma^2 = median squared distance to the
             ``scale_neighbor``-th neighbour (as SpectralNet);
    embed    the top K eigenvectors U of D^-1/2 W D^-1/2 (eigenvalues lambda), rows scaled to unit length;
    label    k-means on the rows, or with ``assign="balanced"`` an equipartition (``balanced.py``);
    new z    u(z) = (1/lambda) * sum_j w_zj U_j / sqrt(d_z d_j) over z's nearest training points j, which
             reproduces U on the training graph, then the same row scaling and assignment rule.

Transductive cost: the head keeps the training features (N x d) to find a new point's neighbours.
``predict`` on the training points themselves also goes through the Nyström formula (each point then counts
itself among its neighbours), so it can differ from the fit's partition on a few boundary points.
"""

from __future__ import annotations

import faiss
import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import ArpackNoConvergence, eigsh

from .balanced import ASSIGNMENTS, assign_points, fit_assignment
from .base import ClusteringFailed, ClusteringHead


def exact_neighbours(train: np.ndarray, queries: np.ndarray, n_neighbors: int,
                     skip_first: bool) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances and indices (M, n_neighbors) of each query's nearest training points (faiss, exact).

    ``skip_first`` drops the first hit, for queries that are the training points themselves.
    """
    index = faiss.IndexFlatL2(train.shape[1])
    index.add(np.ascontiguousarray(train, dtype=np.float32))
    d2, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), n_neighbors + int(skip_first))
    if skip_first:
        d2, ids = d2[:, 1:], ids[:, 1:]
    return np.maximum(d2, 0), ids


def gaussian_sigma2(d2: np.ndarray, scale_neighbor: int) -> float:
    """The kernel's scale: median squared distance to the ``scale_neighbor``-th nearest neighbour."""
    return max(float(np.median(d2[:, min(scale_neighbor, d2.shape[1]) - 1])), 1e-12)


def unit_rows(u: np.ndarray) -> np.ndarray:
    return u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-12)


class SpectralClustering(ClusteringHead):
    method = "spectral"

    def __init__(self, k: int, seed: int = 0, n_neighbors: int = 10, scale_neighbor: int = 2, n_init: int = 10,
                 assign: str = "kmeans") -> None:
        super().__init__(k, seed, n_neighbors=n_neighbors, scale_neighbor=scale_neighbor, n_init=n_init,
                         assign=assign)
        if assign not in ASSIGNMENTS:
            raise ValueError(f"spectral assign={assign!r} is unknown; use one of {', '.join(ASSIGNMENTS)}")
        if self.params["n_neighbors"] < 1 or self.params["scale_neighbor"] < 1:
            raise ValueError("spectral n_neighbors and scale_neighbor must be >= 1")
        self.train: np.ndarray | None = None  # training features, to find a new point's neighbours
        self.eigvecs: np.ndarray | None = None  # U (N, K), unscaled rows
        self.eigvals: np.ndarray | None = None
        self.degrees: np.ndarray | None = None
        self.sigma2 = 1.0
        self.centroids: np.ndarray | None = None
        self.offsets: np.ndarray | None = None

    def _fit(self, x: np.ndarray) -> None:
        p, n = self.params, len(x)
        n_neighbors = min(p["n_neighbors"], n - 1)
        if self.k >= n:
            raise ValueError(f"spectral clustering needs more than k={self.k} points, got {n}")
        d2, ids = exact_neighbours(x, x, n_neighbors, skip_first=True)
        self.sigma2 = gaussian_sigma2(d2, p["scale_neighbor"])
        rows = np.repeat(np.arange(n), n_neighbors)
        w = sp.csr_matrix((np.exp(-d2 / (2 * self.sigma2)).ravel(), (rows, ids.ravel())), shape=(n, n))
        w = w.maximum(w.T)
        self.degrees = np.asarray(w.sum(axis=1), dtype=np.float64).ravel()
        isolated = np.flatnonzero(self.degrees <= 0)
        if len(isolated):  # every weight to and from the point underflowed to 0
            i = int(isolated[0])
            raise FloatingPointError(
                f"{len(isolated)} point(s) are isolated in the graph, e.g. point {i}: its nearest neighbour is "
                f"{np.sqrt(d2[i, 0] / self.sigma2):.0f} kernel widths away; remove such outliers or raise "
                "scale_neighbor (a wider kernel)")
        inv_sqrt = sp.diags(1.0 / np.sqrt(self.degrees))
        start = np.random.default_rng(self.seed).random(n)  # ARPACK's start vector: seeded, so runs repeat
        try:
            vals, vecs = eigsh(inv_sqrt @ w @ inv_sqrt, k=self.k, which="LA", v0=start)
        except ArpackNoConvergence as err:
            raise ClusteringFailed("the eigensolver did not converge; raise n_neighbors so the graph is "
                                   "better connected") from err
        self.train = np.ascontiguousarray(x, dtype=np.float32)
        self.eigvals, self.eigvecs = vals.astype(np.float64), vecs.astype(np.float32)
        self.info.update(spectral_eigenvalues=[round(float(v), 6) for v in vals])
        self.centroids, self.offsets = fit_assignment(unit_rows(self.eigvecs), self.k, p["assign"],
                                                      n_init=p["n_init"], seed=self.seed)

    def embed(self, features: np.ndarray) -> np.ndarray:
        """Nyström embedding (M, K) of new points, rows scaled to unit length."""
        d2, ids = exact_neighbours(self.train, features, min(self.params["n_neighbors"], len(self.train)),
                                   skip_first=False)
        # Scaling a row's weights by a constant scales u(z) by its square root, which the unit-row scaling
        # removes: measuring distances from the nearest neighbour keeps far points' weights from underflowing.
        d2 = d2.astype(np.float64)
        w = np.exp(-(d2 - d2[:, :1]) / (2 * self.sigma2))
        coeff = w / np.sqrt(w.sum(axis=1, keepdims=True) * self.degrees[ids])
        u = np.einsum("mn,mnk->mk", coeff, self.eigvecs[ids].astype(np.float64)) / self.eigvals
        return unit_rows(u).astype(np.float32)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        return assign_points(self.embed(x), self.centroids, self.offsets)

    def _tensors(self) -> dict[str, torch.Tensor]:
        out = {"train": self.train, "eigvecs": self.eigvecs, "eigvals": self.eigvals, "degrees": self.degrees,
               "sigma2": np.asarray([self.sigma2]), "centroids": self.centroids}
        if self.offsets is not None:
            out["offsets"] = self.offsets
        return {name: torch.from_numpy(np.ascontiguousarray(a)) for name, a in out.items()}

    def _restore(self, tensors: dict[str, torch.Tensor]) -> None:
        self.train, self.eigvecs = tensors["train"].numpy(), tensors["eigvecs"].numpy()
        self.eigvals, self.degrees = tensors["eigvals"].numpy(), tensors["degrees"].numpy()
        self.sigma2, self.centroids = float(tensors["sigma2"][0]), tensors["centroids"].numpy()
        self.offsets = tensors["offsets"].numpy() if "offsets" in tensors else None
