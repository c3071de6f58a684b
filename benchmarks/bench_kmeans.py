"""Gather-on-rank-0 faiss k-means vs. distributed k-means: time and peak memory per rank.

    torchrun --standalone --nproc_per_node=2 benchmarks/bench_kmeans.py --mode gather --points 70000 \
        --dim 256 --k 1000 --out benchmarks/results/kmeans

Each rank synthesises only its own block of a Gaussian-mixture feature set (as extraction would leave
it), then clusters it both ways with the production code (PCA-whitening to --pca-dim, L2, k-means,
re-seeding). Peak memory is the rank's resident-set high-water mark (VmHWM, reset once the block
exists) above its level then: what clustering adds on top of the features a rank already holds.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from deepcluster import dist  # noqa: E402
from deepcluster.cluster import cluster_features  # noqa: E402
from deepcluster.cluster.distributed import cluster_features_distributed  # noqa: E402
from deepcluster.features import assemble_on_main  # noqa: E402


def reset_peak_rss() -> None:
    """Linux: make VmHWM (the peak resident set) restart from the current RSS."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def make_block(n: int, dim: int, lo: int, hi: int, centers: int = 1000) -> np.ndarray:
    """Rows lo..hi of a fixed synthetic set: a mixture of ``centers`` Gaussians in ``dim`` dims."""
    means = np.random.default_rng(0).normal(size=(centers, dim)).astype(np.float32)
    rng = np.random.default_rng([1, lo])
    block = means[rng.integers(0, centers, hi - lo)]
    block += 0.5 * rng.standard_normal(size=block.shape, dtype=np.float32)
    return block


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, required=True)
    parser.add_argument("--mode", choices=("gather", "distributed"), required=True)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--pca-dim", type=int, default=256)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--niter", type=int, default=20)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    dist.init_distributed()
    lo, hi = dist.shard_bounds(args.points, dist.rank(), dist.world_size())
    block = make_block(args.points, args.dim, lo, hi)  # what extraction would leave on this rank
    valid = np.ones(len(block), dtype=bool)
    dist.barrier()
    reset_peak_rss()
    base = peak_rss_mb()
    t0 = time.perf_counter()
    if args.mode == "gather":  # exactly the production path: assemble on rank 0, cluster there, broadcast
        features, _ = assemble_on_main(torch.from_numpy(block), torch.ones(len(block), dtype=torch.uint8),
                                       torch.arange(lo, hi), args.points, torch.device("cpu"))
        loss, labels = None, torch.empty(args.points, dtype=torch.int64)
        if dist.is_main():
            valid = np.ones(args.points, bool)
            result = cluster_features(features, valid, args.k, args.pca_dim, args.niter, 0, 0, "cpu")
            loss, labels = result.loss, torch.from_numpy(result.assignments)
        labels = dist.broadcast_tensor(labels)
    else:
        local, _, loss, _ = cluster_features_distributed(block, valid, args.k, args.pca_dim, args.niter, 0, 0,
                                                         100000, torch.device("cpu"))
        labels = dist.all_gather_varlen(torch.from_numpy(local))
    seconds = time.perf_counter() - t0
    record = {"mode": args.mode, "n": args.points, "dim": args.dim, "k": args.k, "world_size": dist.world_size(),
              "rank": dist.rank(), "seconds": seconds, "peak_mb_above_start": peak_rss_mb() - base,
              "block_mb": block.nbytes / 2**20, "kmeans_loss": loss, "labels": int(labels.numel())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.mode}_{args.points}_rank{dist.rank()}.json").write_text(json.dumps(record))
    print(json.dumps(record), flush=True)
    dist.shutdown()


if __name__ == "__main__":
    main()
