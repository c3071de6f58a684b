"""Issue 7's ceiling check: classical spectral clustering on a global k-NN graph of frozen features.

The shipped SpectralNet head builds its affinity inside each 1,024-point batch, so its neighbours are
neighbours among a random 1.5 % of the data. This script asks what the features support when the graph
is built over all N points: faiss k-NN (exact) → Gaussian weights with the median squared distance as
scale → symmetrised → the top K eigenvectors of D^-1/2 W D^-1/2 (scipy eigsh) → rows L2-normalised →
faiss k-means (Ng, Jordan & Weiss 2002). Transductive only (no out-of-sample prediction): a measurement,
not a head. Labels score the result and choose nothing.

    python benchmarks/recipe/graph_spectral.py --features feats.npz --normalise whiten:64 --seeds 5 --out r.json
    python benchmarks/recipe/graph_spectral.py --data fashion_mnist --normalise whiten:64 --out pixels.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.sparse.linalg import eigsh  # noqa: E402

from deepcluster.heads.inputs import load_inputs  # noqa: E402
from deepcluster.heads.normalise import FeatureNormaliser  # noqa: E402
from deepcluster.metrics import score_clustering  # noqa: E402


def spectral_embedding(x: np.ndarray, k: int, n_neighbors: int) -> np.ndarray:
    """Rows of the top-k eigenvectors of the normalised k-NN affinity, each scaled to unit length."""
    index = faiss.IndexFlatL2(x.shape[1])
    index.add(x)
    sq_dist, neighbours = index.search(x, n_neighbors + 1)  # the first hit is the point itself
    sq_dist, neighbours = sq_dist[:, 1:], neighbours[:, 1:]
    weights = np.exp(-sq_dist / max(float(np.median(sq_dist)), 1e-12))
    rows = np.repeat(np.arange(len(x)), n_neighbors)
    w = sp.csr_matrix((weights.ravel(), (rows, neighbours.ravel())), shape=(len(x), len(x)))
    w = w.maximum(w.T)
    inv_sqrt_degree = sp.diags(1.0 / np.sqrt(np.asarray(w.sum(axis=1)).ravel()))
    _, vectors = eigsh(inv_sqrt_degree @ w @ inv_sqrt_degree, k=k, which="LA")
    return np.ascontiguousarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--features", default=None, help=".npz from launch/extract.py (default: raw pixels of --data)")
    p.add_argument("--data", default="fashion_mnist", help="dataset for raw pixels (as launch/cluster.py)")
    p.add_argument("--normalise", default="whiten:64", help="none, l2 or whiten:D, as launch/cluster.py")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--neighbors", type=int, default=10)
    p.add_argument("--seeds", type=int, default=5, help="k-means seeds on the one embedding")
    p.add_argument("--out", required=True, help="results .json")
    args = p.parse_args()
    x, labels, source = load_inputs(args.data, None, args.features, None, None)
    if labels is None:
        sys.exit(f"error: {source} has no labels to score against")
    t0 = time.perf_counter()
    x = np.ascontiguousarray(FeatureNormaliser(args.normalise).fit_transform(x), dtype=np.float32)
    embedding = spectral_embedding(x, args.k, args.neighbors)
    runs = []
    for seed in range(args.seeds):
        km = faiss.Kmeans(args.k, args.k, niter=100, nredo=10, seed=seed, max_points_per_centroid=len(x))
        km.train(embedding)
        runs.append({"seed": seed, **score_clustering(labels, km.index.search(embedding, 1)[1][:, 0])})
    summary = {m: {"mean": float(np.mean([r[m] for r in runs])), "std": float(np.std([r[m] for r in runs])),
                   "median": float(np.median([r[m] for r in runs]))} for m in ("acc", "nmi", "ari")}
    result = {"source": source, "normalise": args.normalise, "k": args.k, "neighbors": args.neighbors,
              "seconds": round(time.perf_counter() - t0, 1), "runs": runs, **summary}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{source} {args.normalise}: " + "  ".join(
        f"{m.upper()} {summary[m]['mean']:.3f}±{summary[m]['std']:.3f}" for m in ("acc", "nmi", "ari"))
        + f"  ({result['seconds']} s)")


if __name__ == "__main__":
    main()
