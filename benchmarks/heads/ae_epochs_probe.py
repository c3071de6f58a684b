"""How AE + K-Means moves while the SGD lr-1 autoencoder trains: scores of its codes every few epochs.

Why: on this CPU, 300 bf16 epochs scored lower than 100 on every seed (BENCHMARKS.md §3), while DEC-keras
reports its best numbers after 300 fp32 epochs. This trains one seed's autoencoder on the same code path and
random streams as ``launch/cluster.py`` (so epoch E here is the E-epoch benchmark autoencoder) and, every
``--every`` epochs, runs the AE + K-Means head's k-means (n_init 20, the seed) on the codes and scores it,
as DEC-keras's pretraining callback does. The scores are printed, never fed back: k-means and scoring draw
nothing from torch's random streams, so training goes on exactly as without them.

  OMP_NUM_THREADS=1 python benchmarks/heads/ae_epochs_probe.py --seed 0 --epochs 300 --every 20 \\
      --precision fp32
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from deepcluster.heads.autoencoder import Autoencoder, apply_in_batches, pretrain
from deepcluster.heads.inputs import raw_pixels
from deepcluster.heads.kmeans import kmeans_centroids, nearest_centroid
from deepcluster.metrics import score_clustering


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--every", type=int, default=20)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    args = p.parse_args()
    x, labels = raw_pixels("fashion_mnist", None)
    xt = torch.from_numpy(x)
    start = time.process_time()
    torch.manual_seed(args.seed)  # as ClusteringHead.fit, so the weights start as in the benchmark
    ae = Autoencoder(x.shape[1], (500, 500, 2000), 10, init="fan_in")

    def score(epoch: int, mse: float) -> None:
        if epoch % args.every and epoch != args.epochs:
            return
        codes = apply_in_batches(ae.encoder, xt).numpy()
        centroids = kmeans_centroids(codes, 10, n_init=20, seed=args.seed)
        scores = score_clustering(labels, nearest_centroid(codes, centroids))
        print(json.dumps({"seed": args.seed, "precision": args.precision, "epoch": epoch, "mse": round(mse, 6),
                          **{k: round(v, 4) for k, v in scores.items()},
                          "cpu_s": round(time.process_time() - start)}), flush=True)

    pretrain(ae, xt, epochs=args.epochs, batch_size=256, lr=1.0, optimizer="sgd", precision=args.precision,
             generator=torch.Generator().manual_seed(args.seed), on_epoch_end=score)


if __name__ == "__main__":
    main()
