"""Issue 7's search: pretrain variants of the Fashion-MNIST recipe, then score their frozen features.

Each variant is one `launch/train.py` run (the base config plus its overrides); its final checkpoint is then
read back, features of every requested layer are extracted for the full dataset, and k-means with
k = #classes scores them under several feature normalisations. Labels only score: they choose nothing
inside a run. Finished runs are reused, so an interrupted sweep resumes.

    python benchmarks/recipe/sweep.py --out runs/sweep --common data.limit=20000 train.epochs=8 \
        --variant default= --variant sobel_off=model.sobel=false --variant k30=cluster.k=30
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import faiss  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from deepcluster.cluster.pca import l2_normalize, pca_whiten  # noqa: E402
from deepcluster.metrics import score_clustering  # noqa: E402
from deepcluster.evaluation.frozen_features import extract_layer  # noqa: E402
from deepcluster.pretrained import build_checked_source, data_config, load_pretrained  # noqa: E402

NORMALISATIONS = {
    "whiten16+l2": lambda f: l2_normalize(pca_whiten(f, min(16, f.shape[1]))),
    "whiten32+l2": lambda f: l2_normalize(pca_whiten(f, min(32, f.shape[1]))),
    "whiten64+l2": lambda f: l2_normalize(pca_whiten(f, min(64, f.shape[1]))),
}


def kmeans_scores(x: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict[str, float]:
    """k-means (5 restarts, best objective) with k = #classes, scored against the labels."""
    k = len(np.unique(labels))
    x = np.ascontiguousarray(x, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=50, nredo=5, seed=seed, max_points_per_centroid=len(x) // k + 1)
    km.train(x)
    return score_clustering(labels, km.index.search(x, 1)[1][:, 0])


def train(run_dir: Path, config: str, overrides: list[str]) -> float:
    done = run_dir / "eval.json"
    if done.is_file() and "final" in json.loads(done.read_text()):  # written when the last epoch is over
        return 0.0
    t0 = time.time()
    cmd = [sys.executable, str(ROOT / "launch/train.py"), "--config", config, f"run_dir={run_dir}", *overrides]
    with open(run_dir.parent / f"{run_dir.name}.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    return time.time() - t0


def score_checkpoint(checkpoint: Path, layers: list[str], data: str) -> dict:
    pre = load_pretrained(checkpoint)
    source = build_checked_source(pre, data_config(pre, name=data, split="all"))
    labels = np.asarray(source.labels)
    scores = {}
    for layer in layers:
        features, _ = extract_layer(pre, source, layer, torch.device("cpu"), 512, 0, 2048)
        for name, normalise in NORMALISATIONS.items():
            scores[f"{layer}/{name}"] = kmeans_scores(normalise(features.astype(np.float32)), labels)
    return scores


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--config", default=str(ROOT / "configs/fashion_mnist.yaml"))
    p.add_argument("--common", nargs="*", default=[], help="overrides shared by every variant")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=OVERRIDES",
                   help="NAME=key=value,key=value (empty after the first '=' for the base recipe)")
    p.add_argument("--reference", action="append", default=[], metavar="NAME=CHECKPOINT",
                   help="score an existing checkpoint (e.g. a random-init network) without training")
    p.add_argument("--layers", default="penultimate,conv3,conv2")
    p.add_argument("--data", default="fashion_mnist", help="dataset the features are scored on (all of it)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(*spec.partition("=")[::2], False) for spec in args.variant]
    jobs += [(*spec.partition("=")[::2], True) for spec in args.reference]
    for name, rest, reference in jobs:
        if reference:
            overrides, seconds, checkpoint = [f"checkpoint={rest}"], 0.0, Path(rest)
        else:
            overrides = [*args.common, *[o for o in rest.split(",") if o]]
            seconds, checkpoint = train(out / name, args.config, overrides), out / name
        scores = score_checkpoint(checkpoint, args.layers.split(","), args.data)
        row = {"variant": name, "overrides": overrides, "train_seconds": round(seconds, 1), "scores": scores}
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        cells = ", ".join(f"{key} {v['acc']:.3f}/{v['nmi']:.3f}" for key, v in scores.items())
        print(f"{name}: {cells}  (train {seconds:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
