"""The headline table under the protocol of BENCHMARKS.md: finished runs against their random init and raw pixels.

For every run directory: the network at random init (rebuilt exactly as the run built it, from its seed)
and after its last checkpoint, each scored on

- k-NN top-1 (cosine, k = 20, T = 0.07) of the pooled backbone and of the clustered layer: memory = the
  split trained on, queries = its held-out split (test beside train, validation beside fit), or the
  hashed 10 % the engine's monitor uses where there is none;
- k-means with k = #classes (PCA-whitened to the run's cluster.pca_dim, L2, 5 restarts picked by objective)
  on the held-out queries alone and on everything (train + held-out: what clustering papers report);

- a linear probe: multinomial logistic regression (scikit-learn, L-BFGS, C = 1, features standardised
  on the memory split; no augmentation, nothing tuned) on the backbone's full output (what the MLP
  reads: 128 x 3 x 3 for the compact net), trained on the memory split and scored on the queries;

and raw pixels on the same splits. Prints a markdown table (mean ± std over the runs, i.e. over
pretraining seeds) and writes every number to --out.

    python benchmarks/protocol/headline.py runs/headline/fmnist_train_seed{0,1,2} \
        --out benchmarks/results/protocol/fmnist.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from deepcluster.seeds import Purpose, stream_seed
from deepcluster.config import config_from_dict
from deepcluster.data import TensorSource, build_held_out_source, build_source
from deepcluster.data.decode import load_rgb
from deepcluster.data.sources import image_transform
from deepcluster.scores import kmeans_label_scores
from deepcluster.scores.knn import knn_accuracy
from deepcluster.scores.knn_monitor import plan_knn
from deepcluster.features import extract_local
from deepcluster.models import build_network
from deepcluster.runtime import select_runtime
from deepcluster.train.checkpoint import list_checkpoints, load_checkpoint

PROBE = "probe_input"  # the linear probe's features: the backbone's full output (raw pixels for the pixel row)


class _BackboneOutput(torch.nn.Module):
    """``features`` = the backbone's flattened output (the linear probe's input), for ``extract_local``."""

    def __init__(self, net, source):
        super().__init__()
        self.net = net
        with torch.no_grad():
            blank = torch.zeros(1, source.channels, source.image_size, source.image_size)
            self.feature_dim = self.eval().features(blank).shape[1]

    def features(self, x):
        return self.net.backbone(x if self.net.sobel is None else self.net.sobel(x)).flatten(1)


def _features(net, source, runtime) -> dict[str, np.ndarray]:
    """Every tap of ``net`` and the backbone output on every sample of ``source`` (the engine's eval transform)."""
    workers = 0 if source.augment_on_device else 2
    local = extract_local(net, source, runtime, 512, workers, taps=True)
    out = {name: f.float().numpy() for name, f in local.outputs.items()}
    probe = _BackboneOutput(net, source)
    out[PROBE] = extract_local(probe, source, runtime, 512, workers).outputs["features"].float().numpy()
    return out


def linear_probe(train_x, train_y, test_x, test_y) -> float:
    """Test accuracy of a multinomial logistic regression on standardised frozen features (fixed settings)."""
    scaler = StandardScaler().fit(train_x)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(train_x), train_y)
    return float(model.score(scaler.transform(test_x), test_y))


def _pixels(source) -> dict[str, np.ndarray]:
    """Raw pixels in [0, 1], after the same eval transform the network sees."""
    if isinstance(source, TensorSource):
        pixels = source.images.flatten(1).float().numpy() / 255
    else:
        transform = image_transform(source.image_size, False, 1.0, False)
        pixels = np.stack([transform(load_rgb(source.root / key)).flatten().float().numpy() / 255
                           for key in source.keys])
    return {"pixels": pixels, PROBE: pixels}


def score(memory: dict, queries: dict, memory_labels, query_labels, pca_dim: int, seed: int) -> dict:
    out = {"linear_probe": linear_probe(memory.pop(PROBE), memory_labels, queries.pop(PROBE), query_labels)}
    for name in memory:
        knn = knn_accuracy(memory[name], memory_labels, queries[name], query_labels)
        out[f"knn_top1_{name}"] = knn["top1"]
        held = kmeans_label_scores(queries[name], query_labels, pca_dim, seed=seed)
        everything = kmeans_label_scores(np.concatenate([memory[name], queries[name]]),
                                         np.concatenate([memory_labels, query_labels]), pca_dim, seed=seed)
        out.update({f"kmeans_heldout_{k}_{name}": v for k, v in held.items()})
        out.update({f"kmeans_all_{k}_{name}": v for k, v in everything.items()})
    return out


def evaluate_run(run_dir: Path, baselines: dict | None = None) -> dict:
    """Scores of the run's final network; of its random init and of raw pixels too, unless ``baselines``
    (an earlier result for the same seed and data, e.g. a run that differs only in its learning rate) has them."""
    newest = list_checkpoints(run_dir / "checkpoints")[0]
    state = load_checkpoint(newest)
    cfg = config_from_dict(state["config"])
    source = build_source(cfg.data)
    plan = plan_knn(source, build_held_out_source(cfg.data), cfg.data.split)  # as the run's monitor split it
    runtime = select_runtime(cfg.train, torch.device("cpu"))
    torch.manual_seed(stream_seed(cfg.seed, Purpose.INIT))  # what the runner does: the run's own random init
    net = build_network(cfg.model, source.channels, source.image_size, cfg.cluster.k)

    def split(features):
        if plan.held_out is not None:
            return features(source), features(plan.held_out), source.labels, plan.held_out.labels
        f = features(source)
        return ({k: v[plan.memory] for k, v in f.items()}, {k: v[plan.queries] for k, v in f.items()},
                source.labels[plan.memory], source.labels[plan.queries])

    result = {"run_dir": str(run_dir), "seed": cfg.seed, "epochs": state["epoch"] + 1, "protocol": plan.description}
    if baselines is not None:
        if (baselines["seed"], baselines["protocol"]) != (cfg.seed, plan.description):
            raise SystemExit(f"--baselines: {baselines['run_dir']} is not seed {cfg.seed} on the same split")
        result["random_init"], result["pixels"] = baselines["random_init"], baselines["pixels"]
        result["baselines_from"] = baselines["run_dir"]
    else:
        result["random_init"] = score(*split(lambda s: _features(net, s, runtime)), cfg.cluster.pca_dim, cfg.seed)
        result["pixels"] = score(*split(_pixels), cfg.cluster.pca_dim, cfg.seed)
    net.load_state_dict(state["model"])
    result["final"] = score(*split(lambda s: _features(net, s, runtime)), cfg.cluster.pca_dim, cfg.seed)
    return result


def _cell(values: list[float], percent: bool) -> str:
    scale = 100 if percent else 1
    spec = ".1f" if percent else ".3f"
    mean = format(scale * statistics.mean(values), spec)
    return mean if len(values) < 2 else f"{mean} ± {format(scale * statistics.stdev(values), spec)}"


def table(results: list[dict]) -> str:
    columns = [("linear probe %", "linear_probe", True), ("k-NN % backbone", "knn_top1_backbone", True),
               ("k-NN % clustered", "knn_top1_clustered", True),
               ("k-means ACC held-out (backbone)", "kmeans_heldout_acc_backbone", False),
               ("NMI held-out (backbone)", "kmeans_heldout_nmi_backbone", False),
               ("ACC all (backbone)", "kmeans_all_acc_backbone", False),
               ("ACC held-out (clustered)", "kmeans_heldout_acc_clustered", False),
               ("ACC all (clustered)", "kmeans_all_acc_clustered", False)]
    lines = ["| features | " + " | ".join(c[0] for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row, label in (("pixels", "raw pixels"), ("random_init", "random init (same seeds)"),
                       ("final", f"DeepCluster, {results[0]['epochs']} epochs")):
        cells = []
        for _, key, percent in columns:
            if row == "pixels":  # one representation: shown in the backbone columns
                key = key.replace("_backbone", "_pixels")
            values = [r[row][key] for r in results if key in r[row]]
            cells.append(_cell(values, percent) if values else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append(f"\n{len(results)} pretraining seeds ({', '.join(str(r['seed']) for r in results)}); "
                 f"k-NN: {results[0]['protocol']}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="finished run directories (one per pretraining seed)")
    p.add_argument("--out", type=Path, required=True, help="JSON file for every number")
    p.add_argument("--baselines", type=Path, help="an earlier --out of runs with the same seeds and data: reuse "
                   "its random-init and raw-pixel rows (the same weights and pixels) instead of recomputing them")
    args = p.parse_args()
    earlier = {r["seed"]: r for r in json.loads(args.baselines.read_text())} if args.baselines else {}
    results = []
    for run_dir in args.runs:
        seed = config_from_dict(load_checkpoint(list_checkpoints(run_dir / "checkpoints")[0])["config"]).seed
        if args.baselines and seed not in earlier:
            raise SystemExit(f"--baselines {args.baselines} has no run with seed {seed}")
        results.append(evaluate_run(run_dir, earlier.get(seed)))
        print(f"scored {run_dir}", file=sys.stderr, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
