"""Linear probes (DeepCluster protocol) and a k-NN score for a pretrained backbone.

The backbone is frozen in eval mode; one linear classifier per layer is trained on the labelled train
split and scored on the test split (top-1, top-5). The same probes are then trained on the network's
random init (the weights its run started from: same arch, same seed) and both are printed side by side;
--no-random-init skips that and halves the cost. Writes OUT/linear_eval.json (the network's scores, and
the random init's under "random_init"), OUT/linear_probes.safetensors and
OUT/linear_probes_random_init.safetensors.

    python launch/eval_linear.py --checkpoint runs/fmnist --out runs/fmnist/linear --epochs 10
    torchrun --standalone --nproc_per_node=2 launch/eval_linear.py --checkpoint runs/fmnist/checkpoints/epoch_0009.pt \
        --out runs/fmnist/linear --layers conv3 penultimate
    python launch/eval_linear.py --checkpoint exports/fmnist --data fashion_mnist --out runs/probe   # an export dir

--checkpoint takes a checkpoint file, a run directory (its newest checkpoint) or an export directory.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


from deepcluster import dist
from deepcluster.config import ConfigError
from deepcluster.evaluation.linear import ProbeSettings, run_linear_eval
from deepcluster.evaluation.linear_report import format_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = ProbeSettings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="checkpoint file, run directory or export directory")
    p.add_argument("--out", required=True, help="output folder for linear_eval.json and linear_probes.safetensors")
    p.add_argument("--data", default=None, help="dataset (default: the one it was trained on): fashion_mnist, mnist, "
                   "cifar10 (their train/test splits) or imagefolder (with --data-root and --test-root)")
    p.add_argument("--data-root", default=None, help="dataset folder (imagefolder: the train folder)")
    p.add_argument("--test-root", default=None, help="imagefolder only: the test folder")
    p.add_argument("--limit", type=int, default=None, help="first N samples of each split (smoke tests)")
    p.add_argument("--layers", nargs="+", default=None, help="layers to probe (default all): compact conv1-3, "
                   "alexnet conv1-5, resnet layer1-4, and penultimate")
    p.add_argument("--epochs", type=int, default=d.epochs,
                   help="probe epochs (protocol: 90; 10 gets close on small sets)")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="global batch, split over processes")
    p.add_argument("--lr", type=float, default=d.lr, help="initial lr (protocol: 0.01), decayed as lr/sqrt(1+lr*wd*t)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay, help="protocol: 1e-4")
    p.add_argument("--target-dims", type=int, default=d.target_dims, help="pool each conv layer to about this "
                   "many dims (protocol: ~9,000)")
    p.add_argument("--no-augment", action="store_true", help="train probes without crop/flip: features are then "
                   "extracted once and cached (float16, host memory), so 90 epochs take minutes on a CPU")
    p.add_argument("--knn-k", type=int, default=d.knn_k, help="neighbours of the k-NN score (0: skip it)")
    p.add_argument("--no-random-init", action="store_true", help="skip the random-init reference (the run's "
                   "initial weights, probed with the same settings); it doubles the cost")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the probes' initial weights and batch order "
                   "(the random-init network always takes the run's own seed)")
    p.add_argument("--workers", type=int, default=d.workers, help="loader processes (image folders only)")
    p.add_argument("--amp", default=d.amp, choices=["off", "auto", "bf16", "fp16"], help="autocast of the backbone")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rank = int(os.environ.get("RANK", 0))
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s [rank {rank}] %(message)s", datefmt="%H:%M:%S")
    settings = ProbeSettings(layers=args.layers, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             weight_decay=args.weight_decay, augment=not args.no_augment, target_dims=args.target_dims,
                             knn_k=args.knn_k, random_init=not args.no_random_init, seed=args.seed,
                             workers=args.workers, amp=args.amp)
    device = dist.init_distributed()
    try:
        report = run_linear_eval(args.checkpoint, args.out, settings, device, args.data, args.data_root,
                                 args.test_root, args.limit)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        dist.shutdown()
    if report is not None:
        print(format_report(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
