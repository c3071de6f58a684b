"""k-means with faiss over every point, on GPU when faiss-gpu and a GPU are both present."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faiss
import numpy as np
import torch

log = logging.getLogger(__name__)


@dataclass
class KMeansResult:
    assignments: np.ndarray  # (N,) int64 cluster of each point
    centroids: np.ndarray  # (k, d) float32
    distances: np.ndarray  # (N,) float32 squared distance of each point to its centroid
    loss: float  # final k-means objective (sum of squared distances) from faiss's iteration_stats


def faiss_gpu_available() -> bool:
    return hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


def kmeans_backend() -> str:
    """'gpu' or 'cpu'; a GPU without faiss-gpu is a silent 10× slowdown, so it is warned about."""
    if faiss_gpu_available():
        return "gpu"
    if torch.cuda.is_available():
        log.warning("CUDA is available but faiss has no GPU support: k-means runs on CPU (pip install faiss-gpu-cu12)")
    return "cpu"


def run_kmeans(x: np.ndarray, k: int, niter: int, seed: int, backend: str = "cpu") -> KMeansResult:
    """Lloyd's k-means on all of ``x`` (no subsampling), then the final assignment of every point.

    faiss subsamples to 256 points per centroid by default; ``max_points_per_centroid`` is raised so
    that k × it covers N and every point takes part, as the paper intends.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if k > n:
        raise ValueError(f"k-means with k={k} needs at least k points, got {n}; lower cluster.k")
    kmeans = faiss.Kmeans(
        d,
        k,
        niter=niter,
        seed=int(seed),
        max_points_per_centroid=n // k + 1,
        gpu=backend == "gpu",
        verbose=False,
    )
    kmeans.train(x)
    distances, assignments = kmeans.index.search(x, 1)
    return KMeansResult(
        assignments=assignments[:, 0].astype(np.int64),
        centroids=kmeans.centroids.copy(),
        distances=distances[:, 0].copy(),
        loss=float(kmeans.iteration_stats[-1]["obj"]),
    )
