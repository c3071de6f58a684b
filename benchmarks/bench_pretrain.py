"""Benchmark a full DeepCluster pretraining run: per-epoch time split, throughput, FLOP/s, NMI curves.

    python benchmarks/bench_pretrain.py --config configs/fashion_mnist.yaml --out benchmarks/results/pretrain_fmnist \
        train.epochs=10

Measures this machine's fp32 matmul FLOP/s in the same process (before and after the run), counts the
network's training FLOPs per image with torch's FlopCounterMode, runs the real training loop, and writes
``summary.md`` (the tables for BENCHMARKS.md), ``results.json`` and ``curves.png`` into --out.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from deepcluster.config import load_config  # noqa: E402
from deepcluster.data import build_source  # noqa: E402
from deepcluster.models import build_network  # noqa: E402
from deepcluster.train.runner import run  # noqa: E402


def matmul_flops(n: int = 2048, repeats: int = 15) -> float:
    """Median fp32 matmul FLOP/s of an n×n×n product on all threads torch uses."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times)


def network_flops(cfg) -> tuple[float, float]:
    """(training FLOPs per image: forward + backward, inference FLOPs per image)."""
    source = build_source(cfg.data.__class__(**{**cfg.data.__dict__, "limit": 8}))
    net = build_network(cfg.model, source.channels, source.image_size, cfg.cluster.k)
    x = torch.randn(cfg.train.batch_size, source.channels, source.image_size, source.image_size)
    y = torch.zeros(cfg.train.batch_size, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(x), y).backward()
    train = counter.get_total_flops() / len(x)
    net.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net.features(x)
    return train, counter.get_total_flops() / len(x)


def plot_curves(rows: list[dict], path: Path) -> None:
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].plot(epochs[1:], [r["nmi_prev"] for r in rows[1:]], "o-", label="NMI(t-1, t)")
    axes[0].plot(epochs, [r["nmi_labels"] for r in rows], "s-", label="NMI(labels, t)")
    axes[0].set_xlabel("epoch"), axes[0].set_ylim(0, 1), axes[0].legend(), axes[0].grid(alpha=0.3)
    axes[0].set_title("cluster stability and semantics")
    for key in ("time_extract_s", "time_cluster_s", "time_train_s"):
        axes[1].plot(epochs, [r[key] for r in rows], "o-", label=key.replace("time_", "").replace("_s", ""))
    axes[1].set_xlabel("epoch"), axes[1].set_ylabel("seconds"), axes[1].legend(), axes[1].grid(alpha=0.3)
    axes[1].set_title("time per epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/fashion_mnist.yaml")
    parser.add_argument("--out", required=True, help="output folder (its run/ subfolder is the training run)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config(args.config, [*args.overrides, f"run_dir={out / 'run'}"])

    flops_before = matmul_flops()
    train_flops, infer_flops = network_flops(cfg)
    t0 = time.perf_counter()
    rows = run(cfg)
    wall = time.perf_counter() - t0
    flops_after = matmul_flops()
    peak = statistics.median([flops_before, flops_after])
    evaluation = json.loads((out / "run" / "eval.json").read_text())

    lines = [
        f"matmul fp32: {flops_before / 1e9:.1f} GFLOP/s before, {flops_after / 1e9:.1f} after "
        f"(reference: their mean {peak / 1e9:.1f}); network: {train_flops / 1e6:.1f} MFLOP/image to train, "
        f"{infer_flops / 1e6:.1f} to extract; total wall time {wall:.0f} s for {len(rows)} epochs",
        "",
        "| epoch | extract s | cluster s | train s | epoch s | train img/s | train GFLOP/s | % of matmul "
        "| kmeans loss | NMI(t-1,t) | NMI labels | purity (k clusters) | empty |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        achieved = r["train_images_per_s"] * train_flops
        epoch_s = r["time_extract_s"] + r["time_cluster_s"] + r["time_train_s"]
        nmi_prev = "-" if r["nmi_prev"] is None else f"{r['nmi_prev']:.3f}"
        lines.append(
            f"| {r['epoch']} | {r['time_extract_s']:.1f} | {r['time_cluster_s']:.1f} | {r['time_train_s']:.1f} | "
            f"{epoch_s:.1f} | {r['train_images_per_s']:.0f} | {achieved / 1e9:.1f} | {100 * achieved / peak:.0f} % | "
            f"{r['kmeans_loss']:.0f} | {nmi_prev} | {r['nmi_labels']:.3f} | {r['purity_labels']:.3f} | {r['n_empty']} |"
        )
    epoch_times = [r["time_extract_s"] + r["time_cluster_s"] + r["time_train_s"] for r in rows]
    rates = [r["train_images_per_s"] * train_flops / peak for r in rows]
    lines += [
        "",
        f"median epoch: {statistics.median(epoch_times):.1f} s; median training efficiency: "
        f"{100 * statistics.median(rates):.0f} % of matmul FLOP/s",
        "",
        "| features | k-means k=#classes ACC | NMI | ARI |",
        "|---|---|---|---|",
    ]
    for name, s in evaluation.items():
        scores = f"{s['acc']:.3f} | {s['nmi']:.3f} | {s['ari']:.3f}"
        lines.append(f"| {name} (after {s['epochs_trained']} epochs) | {scores} |")
    summary = "\n".join(lines)
    (out / "summary.md").write_text(summary + "\n")
    (out / "results.json").write_text(json.dumps({
        "matmul_flops": [flops_before, flops_after], "train_flops_per_image": train_flops,
        "extract_flops_per_image": infer_flops, "wall_s": wall, "epochs": rows, "eval": evaluation,
    }, indent=2))
    plot_curves(rows, out / "curves.png")
    print(summary)


if __name__ == "__main__":
    main()
