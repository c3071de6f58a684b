"""Inspect the clusters of a run, checkpoint or export: image grids, plots and a CSV for annotators.

    python launch/inspect_clusters.py --checkpoint runs/fmnist --out runs/fmnist/inspect      # newest checkpoint
    python launch/inspect_clusters.py --checkpoint runs/fmnist/checkpoints/epoch_0004.pt --out insp --per-cluster 32
    python launch/inspect_clusters.py --checkpoint exports/fmnist --k 50 --out insp           # fresh k-means, k=50
    tensorboard --logdir runs/fmnist/inspect/tb

Clusters are the checkpoint's own assignments (what its last epoch trained on) unless --k asks for a
fresh k-means on the network's features (always the case for an export directory). Every grid is captioned
with the cluster's id, its size and, when the data has labels, its purity (the share of its majority label,
and which label); images under 64 px are enlarged by a whole factor (28-px Fashion-MNIST: 84 px, pixels
kept sharp). OUT/clusters.csv has
one line per sample (key, index, cluster, distance to centroid, rank in cluster, cluster size, true label,
an empty annotation column), grouped by cluster, nearest to the centroid first.

(Not named launch/inspect.py: Python puts a script's folder first on the import path, so a file called
inspect.py there would replace the standard library's ``inspect`` for every script in launch/.)
"""

from __future__ import annotations

import sys


import argparse
import json

from deepcluster.config import ConfigError
from deepcluster.inspection import InspectSettings, inspect


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="run directory, checkpoint file or export directory")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--k", type=int, default=None, help="re-cluster with k-means into K clusters instead of using "
                   "the checkpoint's assignments")
    p.add_argument("--per-cluster", type=int, default=16, help="images per cluster grid (nearest to the centroid)")
    p.add_argument("--max-clusters", type=int, default=None, help="grids for the N largest clusters only")
    p.add_argument("--data", default=None, help="other data to cluster (needs --k): fashion_mnist, mnist, cifar10, "
                   "imagefolder; default: the training data")
    p.add_argument("--data-root", default=None, help="folder of --data")
    p.add_argument("--limit", type=int, default=None, help="first N samples of --data")
    p.add_argument("--no-tensorboard", action="store_true", help="PNG and CSV only")
    p.add_argument("--seed", type=int, default=0, help="k-means seed with --k")
    args = p.parse_args(argv)
    settings = InspectSettings(recluster_k=args.k, per_cluster=args.per_cluster, max_clusters=args.max_clusters,
                               tensorboard=not args.no_tensorboard, data_name=args.data, data_root=args.data_root,
                               limit=args.limit, seed=args.seed)
    try:
        summary = inspect(args.checkpoint, args.out, settings)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sizes = summary["sizes"]
    print(f"{summary['k']} clusters from {summary['clusters_from']} over {summary['n_samples']} samples "
          f"(sizes {min(sizes)}-{max(sizes)}); wrote {summary['grids']} grids and:")
    print(json.dumps(summary["files"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
