"""DeepCluster pretraining.

One process (CPU or one GPU):
    python launch/train.py --config configs/fashion_mnist.yaml run_dir=runs/fmnist

Several processes on one node (one per GPU; on CPU, gloo processes):
    torchrun --standalone --nproc_per_node=4 launch/train.py --config configs/fashion_mnist.yaml run_dir=runs/fmnist

Several nodes (run on every node, same endpoint):
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29400 \
        launch/train.py --config configs/imagenet_alexnet.yaml run_dir=/shared/runs/in1k

Any config key can be overridden as key.sub=value. Starting again with the same run_dir resumes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


from deepcluster import dist
from deepcluster.config import ConfigError, load_config
from deepcluster.train.runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML recipe from configs/ (defaults apply without one)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=0.05 cluster.k=100")
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", 0))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s [rank {rank}] %(message)s", datefmt="%H:%M:%S")
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    try:
        run(cfg)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    finally:
        dist.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
