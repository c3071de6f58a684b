"""The clustering half of an epoch: features of the whole dataset → cluster assignments on every rank.

Two modes (``cluster.mode``): ``gather`` assembles the features on rank 0, runs faiss k-means there
(GPU faiss when present) and broadcasts the assignments; ``distributed`` leaves each rank with its own
block of features and runs k-means with all-reduced sums, so no rank ever holds all N × d features.
Either way every rank ends with the same (N,) assignments, which the pseudo-label sampler needs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import dist
from ..cluster import cluster_features
from ..cluster.distributed import cluster_features_distributed
from ..config import Config
from ..data import ImageSource
from ..scores.kmeans import kmeans_label_scores, kmeans_label_scores_sharded
from ..features import FEATURES, LocalFeatures, assemble_on_main, extract_local
from ..models import DeepClusterNet
from ..runtime import Runtime


@dataclass
class EpochClusters:
    assignments: np.ndarray  # (N,) int64 on every rank, -1 for samples left out
    distances: np.ndarray | None  # (N,) squared distance to the centroid, on rank 0
    valid: np.ndarray | None  # (N,) bool, decodable samples, on rank 0
    features: np.ndarray | None  # (N, d) on rank 0 in gather mode; None in distributed mode
    local: LocalFeatures | None  # this rank's share of the extraction (every tap, for the k-NN monitor)
    loss: float | None  # k-means objective (rank 0)
    n_empty: int  # clusters re-seeded after k-means (rank 0)
    time_extract_s: float
    time_cluster_s: float


def sync_device(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gathers(cfg: Config) -> bool:
    return cfg.cluster.mode == "gather" or dist.world_size() == 1


def _extract(net: DeepClusterNet, source: ImageSource, runtime: Runtime, cfg: Config,
             taps: bool) -> tuple[LocalFeatures, torch.Tensor]:
    """This rank's extraction (every tap with ``taps``) and its block of the clustered layer."""
    local = extract_local(net, source, runtime, cfg.train.batch_size, cfg.train.workers, taps=taps)
    return local, local.outputs[net.clustered_tap if taps else FEATURES]


def cluster_dataset(net: DeepClusterNet, source: ImageSource, runtime: Runtime, cfg: Config, epoch: int,
                    k: int | None = None, taps: bool = False) -> EpochClusters:
    """Extract (with ``taps``: every tap of ``net.feature_taps`` from the same pass), then cluster the
    clustered layer into ``k`` (default ``cluster.k``) groups."""
    k = k or cfg.cluster.k
    comm_device = runtime.device if runtime.device.type == "cuda" else torch.device("cpu")
    gather = gathers(cfg)
    sync_device(runtime.device)
    t0 = time.perf_counter()
    dist.broadcast_buffers(net)
    local, clustered = _extract(net, source, runtime, cfg, taps)
    if gather:  # on rank 0; None elsewhere
        features, valid = assemble_on_main(clustered, local.valid, local.indices, len(source), runtime.device)
    sync_device(runtime.device)
    time_extract = time.perf_counter() - t0

    t0 = time.perf_counter()
    distances, loss, n_empty = None, None, 0
    if gather:
        labels = torch.empty(len(source), dtype=torch.int64)
        if dist.is_main():
            clustering = cluster_features(features, valid, k, cfg.cluster.pca_dim, cfg.cluster.niter, cfg.seed,
                                          epoch, runtime.kmeans_backend)
            labels = torch.from_numpy(clustering.assignments)
            distances, loss, n_empty = clustering.distances, clustering.loss, clustering.n_empty
        assignments = dist.broadcast_tensor(labels.to(comm_device)).cpu().numpy()
    else:
        local_features, local_valid, local_rows = clustered.numpy(), local.valid.numpy().astype(bool), \
            local.indices.numpy()  # this rank's rows only
        local_assign, local_dist, loss, n_empty = cluster_features_distributed(
            local_features, local_valid, k, cfg.cluster.pca_dim, cfg.cluster.niter, cfg.seed, epoch,
            cfg.cluster.pca_sample, comm_device, runtime.kmeans_backend)
        assignments, distances, valid = _scatter_everywhere(len(source), local_rows, local_assign, local_dist,
                                                            local_valid, comm_device)
        features = None
    return EpochClusters(assignments, distances, valid, features, local, loss, n_empty, time_extract,
                         time.perf_counter() - t0)


def _scatter_everywhere(n: int, rows: np.ndarray, assignments: np.ndarray, distances: np.ndarray,
                        valid: np.ndarray, device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every rank's per-row results placed at their dataset indices, on every rank (N-sized, small)."""
    parts = [dist.all_gather_varlen(torch.from_numpy(np.ascontiguousarray(a)).to(device)).cpu().numpy()
             for a in (rows, assignments, distances, valid.astype(np.uint8))]
    full_assign = np.full(n, -1, dtype=np.int64)
    full_dist = np.full(n, np.inf, dtype=np.float32)
    full_valid = np.zeros(n, dtype=bool)
    full_assign[parts[0]], full_dist[parts[0]], full_valid[parts[0]] = parts[1], parts[2], parts[3].astype(bool)
    return full_assign, full_dist, full_valid


def label_scores(net: DeepClusterNet, source: ImageSource, runtime: Runtime, cfg: Config,
                 clusters: EpochClusters | None = None, taps: bool = False
                 ) -> tuple[dict[str, float] | None, LocalFeatures]:
    """ACC/NMI/ARI of k-means with k = #classes on the current features (rank 0; None elsewhere), and
    this rank's share of the extraction they came from (with ``taps``, every tap, for the k-NN monitor).

    One protocol in both cluster modes (``deepcluster.scores.kmeans``): the best of several k-means restarts,
    chosen by objective. ``clusters`` may carry this epoch's features to save an extraction.
    """
    if gathers(cfg):
        if clusters is None:  # decided identically on every rank: extraction is a collective
            dist.broadcast_buffers(net)
            local, clustered = _extract(net, source, runtime, cfg, taps)
            features, valid = assemble_on_main(clustered, local.valid, local.indices, len(source), runtime.device)
        else:
            features, valid, local = clusters.features, clusters.valid, clusters.local
        if not dist.is_main():
            return None, local
        return kmeans_label_scores(features[valid], source.labels[valid], cfg.cluster.pca_dim, seed=cfg.seed), local
    if clusters is None or clusters.local is None:
        dist.broadcast_buffers(net)
        local, clustered = _extract(net, source, runtime, cfg, taps)
    else:
        local = clusters.local
        clustered = local.outputs[net.clustered_tap if FEATURES not in local.outputs else FEATURES]
    comm_device = runtime.device if runtime.device.type == "cuda" else torch.device("cpu")
    scores = kmeans_label_scores_sharded(clustered.float().numpy(), local.valid.numpy().astype(bool),
                                         local.indices.numpy(), source.labels, cfg.cluster.pca_dim, cfg.seed,
                                         cfg.cluster.pca_sample, comm_device, runtime.kmeans_backend)
    return scores, local
