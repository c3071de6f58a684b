"""Which classes a head merges and which it splits: class x cluster counts, plain vs. balanced assignment.

Issue 7's diagnosis of the spectral head's ACC: on Fashion-MNIST features, k-means in the spectral
embedding puts pullover, coat and shirt into one cluster and gives bags two; the balanced assignment is
meant to undo both. This prints both confusion tables (rows: true classes, columns: clusters in the
Hungarian order, so a clean result is diagonal) and writes them to a JSON file. Labels only score.

    python benchmarks/recipe/confusion.py --features runs/recipe/features_conv3.npz --out confusion.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy.optimize import linear_sum_assignment  # noqa: E402

from deepcluster.heads import build_head  # noqa: E402
from deepcluster.heads.inputs import load_inputs  # noqa: E402
from deepcluster.heads.normalise import FeatureNormaliser  # noqa: E402
from deepcluster.metrics import score_clustering  # noqa: E402

FASHION_MNIST = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def confusion(labels: np.ndarray, clusters: np.ndarray, k: int) -> np.ndarray:
    """Counts (classes x clusters) with the columns put in the Hungarian matching's order."""
    table = np.zeros((labels.max() + 1, k), dtype=np.int64)
    np.add.at(table, (labels, clusters), 1)
    rows, cols = linear_sum_assignment(-table)
    order = list(cols[np.argsort(rows)]) + [c for c in range(k) if c not in cols]
    return table[:, order]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", required=True, help=".npz from launch/extract.py")
    p.add_argument("--data", default="fashion_mnist", help="dataset name, for the class names")
    p.add_argument("--normalise", default="whiten:64")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--n-neighbors", type=int, default=10)
    p.add_argument("--out", required=True, help="results .json")
    args = p.parse_args()
    x, labels, source = load_inputs(args.data, None, args.features, None, None)
    x = FeatureNormaliser(args.normalise).fit_transform(x)
    names = FASHION_MNIST if args.data == "fashion_mnist" else [str(c) for c in range(labels.max() + 1)]
    result = {"source": source, "normalise": args.normalise, "class_names": names}
    for assign in ("kmeans", "balanced"):
        clusters = build_head("spectral", args.k, seed=0, n_neighbors=args.n_neighbors, assign=assign).fit(x).predict(x)
        table = confusion(labels, clusters, args.k)
        scores = score_clustering(labels, clusters)
        result[assign] = {"confusion": table.tolist(), **scores}
        print(f"\nspectral, assign={assign}: " + "  ".join(f"{m.upper()} {v:.3f}" for m, v in scores.items()))
        print(f"{'':>9}" + "".join(f"{c:>6}" for c in range(args.k)))
        for name, row in zip(names, table):
            print(f"{name:>9}" + "".join(f"{v:>6}" for v in row))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
