"""Choose suggest_k's whitening dims and counting rule on Fashion-MNIST's validation split only.

Inputs (the last 10,000 train images, data.split=val): raw pixels, and conv3 features of the validation
sweep's shipped network (pretrained on the fit split, so it never saw these labels or images' labels), whitened
to 64 dims as the recipe head sees them. Grid: pca_dim in {2, 3, 4, 8, 32} x rule in {share, weight} x
threshold in {0.5, 1, 2, 3, 5} %, suggest_k seeds 0, 1, 2 (one mixture fit per input, dims and seed; the
rules only recount it). Criterion, fixed before looking: the mean |suggested k - 10| over the 6 fits; ties go
to the larger threshold range over which the count stays within 1 of 10 (less sensitive). No test split is read.

    python launch/extract.py --checkpoint runs/val_sweep/shipped --layer conv3 --max-dims 0 --split val \\
        --out runs/annotation/fmnist_val_conv3.npz
    OMP_NUM_THREADS=1 python benchmarks/annotation/choose_suggest_k.py runs/annotation/fmnist_val_conv3.npz \\
        --out benchmarks/results/annotation/suggest_k_val.json
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path

import numpy as np

from deepcluster.atomic import write_json_atomic
from deepcluster.heads.normalise import FeatureNormaliser
from deepcluster.heads.suggest_k import RULES, suggest_k

PCA_DIMS = (2, 3, 4, 8, 32)
THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.05)
SEEDS = (0, 1, 2)
TRUE_K = 10


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("val_features", help="conv3 features of the val split (launch/extract.py --split val)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from pixels_npz import split_pixels

    start = time.process_time()
    pixels, labels, _ = split_pixels("fashion_mnist:val")
    with np.load(args.val_features) as f:
        if not np.array_equal(f["labels"], labels):
            raise ValueError(f"{args.val_features} is not the val split in order (its labels differ)")
        features = FeatureNormaliser("whiten:64").fit_transform(f["features"])
    assert len(np.unique(labels)) == TRUE_K
    fits = []
    for (name, x), dim, seed in itertools.product([("pixels", pixels), ("conv3 whiten:64", features)],
                                                  PCA_DIMS, SEEDS):
        s = suggest_k(x, seed=seed, pca_dim=dim)
        counts = {f"{rule}@{t}": s.count(rule, t) for rule in RULES for t in THRESHOLDS}
        fits.append({"input": name, "pca_dim": dim, "seed": seed, "counts": counts, "n_iter": s.n_iter,
                     "converged": s.converged, "seconds": s.seconds})
        print(name, dim, seed, counts, flush=True)
    table = []
    for dim, rule, t in itertools.product(PCA_DIMS, RULES, THRESHOLDS):
        ks = [f["counts"][f"{rule}@{t}"] for f in fits if f["pca_dim"] == dim]
        stable = sum(all(abs(f["counts"][f"{rule}@{u}"] - TRUE_K) <= 1 for f in fits if f["pca_dim"] == dim)
                     for u in THRESHOLDS)
        table.append({"pca_dim": dim, "rule": rule, "threshold": t, "ks": ks,
                      "mean_abs_error": statistics.fmean(abs(k - TRUE_K) for k in ks), "stable_thresholds": stable})
    table.sort(key=lambda r: (r["mean_abs_error"], -r["stable_thresholds"]))
    pick = table[0]
    write_json_atomic(Path(args.out), {"criterion": "mean |k - 10| over pixels and conv3 x seeds 0-2 (val split)",
                                       "pick": pick, "table": table, "fits": fits,
                                       "cpu_seconds": time.process_time() - start})
    for row in table[:8]:
        print(row)
    print(f"pick: {pick}; wrote {args.out}")


if __name__ == "__main__":
    main()
