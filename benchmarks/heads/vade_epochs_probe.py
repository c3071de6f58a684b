"""How VaDE's ELBO and scores move with training length, on the cached autoencoder of a benchmark seed.

Why: the library's VaDE trains 10 epochs (the CPU budget), the reference 300. This trains one seed's VaDE
once for the longest length and scores it after every ``--every`` epochs; the scores are printed, never fed
back (a run to E epochs is bit-identical to the first E epochs of a longer one: same random streams, and
scoring draws none). The autoencoder is read from the benchmark's cache, so run the benchmark's seed first.

  OMP_NUM_THREADS=1 python benchmarks/heads/vade_epochs_probe.py --seed 0 --epochs 60 --every 10 \\
      --ae-cache runs/heads_sgd100_bf16/ae_cache
"""

from __future__ import annotations

import argparse
import json
import time

from deepcluster.heads import VaDE
from deepcluster.heads.inputs import raw_pixels
from deepcluster.metrics import score_clustering

# The autoencoder recipe of BENCHMARKS.md §3's bf16 rows (their cache key must match).
AE_RECIPE = {"ae_init": "fan_in", "ae_optimizer": "sgd", "ae_lr": 1, "ae_epochs": 100, "ae_precision": "bf16"}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--ae-cache", required=True)
    args = p.parse_args()
    x, labels = raw_pixels("fashion_mnist", None)
    start = time.process_time()

    class ProbedVaDE(VaDE):
        def _initialise_from(self, ae, x_tensor) -> None:
            super()._initialise_from(ae, x_tensor)
            self._epoch_end(0, float("nan"))  # the mixture prior as initialised, before any VaDE training

        def _epoch_end(self, epoch: int, loss: float) -> None:
            if epoch % args.every == 0 or epoch == args.epochs:
                scores = {k: round(v, 4) for k, v in score_clustering(labels, self._predict(x)).items()}
                print(json.dumps({"seed": args.seed, "epoch": epoch, "loss": round(loss, 3), **scores,
                                  "cpu_s": round(time.process_time() - start),
                                  "ae_cached": self.info.get("ae_cached")}), flush=True)

    head = ProbedVaDE(10, seed=args.seed, epochs=args.epochs, lr=args.lr, **AE_RECIPE)
    head.ae_cache = args.ae_cache
    head.fit(x)


if __name__ == "__main__":
    main()
