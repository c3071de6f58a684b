"""k-means with faiss over every point, on this rank's GPU when the run is on CUDA and faiss has GPU support."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
import torch


@dataclass
class KMeansResult:
    assignments: np.ndarray  # (N,) int64 cluster of each point
    centroids: np.ndarray  # (k, d) float32
    distances: np.ndarray  # (N,) float32 squared distance of each point to its centroid
    loss: float  # final k-means objective (sum of squared distances) from faiss's iteration_stats


# One StandardGpuResources per GPU and process: it reserves scratch memory, so it is made once, not per call.
_GPU_RESOURCES: dict[int, faiss.StandardGpuResources] = {}


def flat_l2_index(d: int, backend: str = "cpu"):
    """Exact L2 index on CPU, or on this process's GPU (the one ``init_distributed`` gave its local rank).

    faiss.Kmeans(gpu=True) would spread over every GPU of the node, including those of ranks that are
    busy with their own work; one index on our own device keeps ranks out of each other's memory.
    """
    if backend != "gpu":
        return faiss.IndexFlatL2(d)
    device = torch.cuda.current_device()
    if device not in _GPU_RESOURCES:
        _GPU_RESOURCES[device] = faiss.StandardGpuResources()
    config = faiss.GpuIndexFlatConfig()
    config.device = device
    return faiss.GpuIndexFlatL2(_GPU_RESOURCES[device], d, config)


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
        verbose=False,
    )
    kmeans.index = flat_l2_index(d, backend)  # Lloyd's assignments and the final search run on it
    kmeans.train(x)
    distances, assignments = kmeans.index.search(x, 1)
    return KMeansResult(
        assignments=assignments[:, 0].astype(np.int64),
        centroids=kmeans.centroids.copy(),
        distances=distances[:, 0].copy(),
        loss=float(kmeans.iteration_stats[-1]["obj"]),
    )
