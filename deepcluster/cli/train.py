"""DeepCluster pretraining.

One process (CPU or one GPU):
    python launch/train.py --config configs/fashion_mnist.yaml run_dir=runs/fmnist

Several processes on one node (one per GPU; on CPU, gloo processes):
    torchrun --standalone --nproc_per_node=4 launch/train.py --config configs/fashion_mnist.yaml run_dir=runs/fmnist
    deepcluster-train --nproc-per-node 4 --config configs/fashion_mnist.yaml run_dir=runs/fmnist   # the same, but
        # the config and every input are checked once before any worker starts (no torchrun traceback on a typo)

Several nodes (run on every node, same endpoint):
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d --rdzv-endpoint=HOST:29400 \
        launch/train.py --config configs/imagenet_alexnet.yaml run_dir=/shared/runs/in1k

Any config key can be overridden as key.sub=value. Starting again with the same run_dir resumes. A config or
input error is printed once (by rank 0) and exits with code 2 before any work.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from deepcluster import dist
from deepcluster.config import Config, ConfigError, load_config
from deepcluster.data.preflight import check_run_inputs
from deepcluster.train.runner import RunStopped, run

EXIT_STOPPED = 75  # EX_TEMPFAIL: fix the cause (free disk space) and run the same command again


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML recipe from configs/ (defaults apply without one)")
    parser.add_argument("--nproc-per-node", type=int, default=None, metavar="N",
                        help="start N local worker processes through torchrun (--standalone) after checking the "
                        "config and inputs here; without it, run in this process (or as one torchrun worker)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=0.05 cluster.k=100")
    return parser.parse_args(argv)


def checked_config(args: argparse.Namespace) -> Config:
    """The validated config, its inputs checked; ConfigError otherwise."""
    cfg = load_config(args.config, args.overrides)
    check_run_inputs(cfg)
    return cfg


def launch_workers(args: argparse.Namespace, argv: list[str]) -> None:
    """Replace this process by torchrun running N copies of this command (the checks already passed)."""
    passed = [a for i, a in enumerate(argv) if not a.startswith("--nproc-per-node")
              and not (i > 0 and argv[i - 1] == "--nproc-per-node")]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={args.nproc_per_node}", "-m", "deepcluster.cli.train", *passed]
    sys.stdout.flush()
    os.execv(sys.executable, command)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    rank = int(os.environ.get("RANK", 0))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s [rank {rank}] %(message)s", datefmt="%H:%M:%S")

    def refuse(err: ConfigError) -> int:
        if rank == 0:  # every rank finds the same error; one message says it
            print(f"config error: {err}", file=sys.stderr)
        return 2

    try:
        cfg = checked_config(args)
    except ConfigError as err:
        return refuse(err)
    if args.nproc_per_node is not None and "LOCAL_RANK" not in os.environ:
        if args.nproc_per_node < 1:
            return refuse(ConfigError(f"--nproc-per-node {args.nproc_per_node} must be >= 1"))
        launch_workers(args, argv)
    try:
        run(cfg)
    except ConfigError as err:
        return refuse(err)
    except RunStopped as err:
        if rank == 0:
            print(f"stopped: {err}", file=sys.stderr)
        return EXIT_STOPPED
    finally:
        dist.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
