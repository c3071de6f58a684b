"""How an autoencoder of the SGD lr-1 recipe looks after its first epochs: does it collapse, and how early?

Why: a collapsed autoencoder (BENCHMARKS.md §3, seeds 3 and 6 in bf16) is refused only after its last
epoch. This trains the seed's autoencoder from scratch for each given number of epochs, on the same code
path and random streams as ``launch/cluster.py``, and prints the reconstruction MSE against the mean
predictor's, the codes' largest standard deviation and how many last-hidden-layer ReLUs are still alive.

  OMP_NUM_THREADS=1 python benchmarks/heads/collapse_probe.py --seed 6 --epochs 1 3
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from deepcluster.heads.autoencoder import Autoencoder, apply_in_batches, pretrain
from deepcluster.heads.inputs import raw_pixels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--epochs", type=int, nargs="+", required=True, help="one independent run per value")
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    args = p.parse_args()
    x, _ = raw_pixels("fashion_mnist", None)
    xt = torch.from_numpy(x)
    mean_mse = float(np.var(x, axis=0, dtype=np.float64).mean())
    for epochs in args.epochs:
        torch.manual_seed(args.seed)  # as ClusteringHead.fit, so the weights start as in the benchmark
        ae = Autoencoder(784, (500, 500, 2000), 10, init="fan_in")
        mse = pretrain(ae, xt, epochs=epochs, batch_size=256, lr=1.0, optimizer="sgd", precision=args.precision,
                       generator=torch.Generator().manual_seed(args.seed))
        with torch.no_grad():
            codes = apply_in_batches(ae.encoder, xt[:4096])
            hidden = apply_in_batches(ae.encoder[:-1], xt[:4096])
        alive = int((hidden.max(dim=0).values > 0).sum())
        print(f"seed {args.seed}, {epochs} epoch(s): MSE {mse:.5f} (mean predictor {mean_mse:.5f}), "
              f"largest code std {float(codes.std(dim=0).max()):.3g}, {alive} of {hidden.shape[1]} "
              "last-layer ReLUs alive", flush=True)


if __name__ == "__main__":
    main()
