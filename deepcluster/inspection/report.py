"""Inspect a run, checkpoint or export: grids, plots, CSV and TensorBoard images in one folder.

Output (OUT/):
  grids/cluster_XXXX.png   members nearest each centroid, nearest first, under a caption (cluster id,
                           size, and with labels its purity: the majority label and its share)
  overview.png             the largest clusters, one captioned row each
  cluster_sizes.png        sizes, largest first
  learning_curves.png      from the run's metrics.jsonl (runs and their checkpoints only)
  clusters.csv             key, index, cluster, distance, rank_in_cluster, cluster_size, label, annotation
  summary.json             where the clusters came from, sizes, label purity and majority label (with labels)
  tb/                      the grids, the size histogram and the plots for TensorBoard
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_json_atomic
from ..config import TrainConfig
from ..features import extract_features
from ..pretrained import build_checked_source, data_config, default_device, load_pretrained
from ..runtime import select_runtime
from .membership import kmeans_membership, stored_membership
from .outputs import cluster_grids, overview_sheet, write_csv, write_png
from .plots import cluster_size_figure, learning_curves_figure, save_figure
from .sheet import cluster_captions, label_names, sheet_tensor


@dataclass
class InspectSettings:
    recluster_k: int | None = None  # None: the checkpoint's own assignments (exports: k-means, cluster.k)
    per_cluster: int = 16
    max_clusters: int | None = None  # grids for the largest N clusters only (None: all)
    overview_clusters: int = 20
    tensorboard: bool = True
    data_name: str | None = None  # None: the data the network was trained on
    data_root: str | None = None
    limit: int | None = None
    seed: int = 0


def read_metrics(run_dir: Path | None) -> list[dict]:
    path = run_dir / "metrics.jsonl" if run_dir else None
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def inspect(checkpoint: str | Path, out_dir: str | Path, s: InspectSettings | None = None) -> dict:
    """Write everything listed in the module docstring for ``checkpoint``; returns the summary."""
    s = s or InspectSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pre = load_pretrained(checkpoint)
    cfg = pre.config
    own_data = s.data_name is None
    source = build_checked_source(pre, data_config(pre, s.data_name, s.data_root, None if own_data else "all", s.limit))
    device = default_device()
    features, valid = extract_features(pre.extractor.to(device), source, select_runtime(TrainConfig(amp="off"), device),
                                       batch_size=256, workers=cfg.train.workers)
    if s.recluster_k is None and pre.assignments is not None and own_data:
        m = stored_membership(features, valid, pre.assignments, cfg.cluster.pca_dim)
    else:
        m = kmeans_membership(features, valid, s.recluster_k or cfg.cluster.k, cfg.cluster.pca_dim,
                              cfg.cluster.niter, s.seed)
    sizes = m.sizes()
    by_size = [int(c) for c in np.argsort(-sizes, kind="stable") if sizes[c] > 0]
    writer = None
    if s.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out_dir / "tb"))
    data_name = s.data_name or cfg.data.name
    captions = cluster_captions(m.assignments, m.k, source.labels,
                                label_names(data_name, source.labels, source.keys))
    grids = cluster_grids(source, m, by_size[: s.max_clusters] if s.max_clusters else by_size, s.per_cluster,
                          out_dir / "grids", captions, writer)
    overview = overview_sheet(source, m, by_size[: s.overview_clusters], captions)
    files = {"overview": write_png(overview, out_dir / "overview.png")}
    figures = {"cluster_sizes": cluster_size_figure(sizes, f"cluster sizes ({m.origin})")}
    rows = read_metrics(pre.run_dir)
    if rows:
        figures["learning_curves"] = learning_curves_figure(rows)
    if writer is not None:
        writer.add_image("clusters/overview", sheet_tensor(overview), 0)
        writer.add_histogram("clusters/size", sizes, 0)
        for name, fig in figures.items():
            writer.add_figure(f"plots/{name}", fig, 0, close=False)
    for name, fig in figures.items():
        files[name] = save_figure(fig, out_dir / f"{name}.png")
    files["csv"] = write_csv(out_dir / "clusters.csv", source, m)
    if writer is not None:
        writer.close()
    summary = {"checkpoint": str(pre.path), "epoch": pre.epoch, "clusters_from": m.origin, "k": m.k,
               "n_samples": len(source), "n_left_out": int((m.assignments < 0).sum()),
               "sizes": sizes.tolist(), "purity": _by_cluster(captions, "purity"),
               "majority_label": _by_cluster(captions, "label"),
               "majority_label_name": _by_cluster(captions, "label_name"), "grids": len(grids),
               "learning_curves": bool(rows), "files": {k: str(v) for k, v in files.items()}}
    write_json_atomic(out_dir / "summary.json", summary)
    return summary


def _by_cluster(captions: dict, field: str) -> dict[int, object] | None:
    """{cluster: caption.field} for clusters in use; None when the data has no labels."""
    if not captions or next(iter(captions.values())).purity is None:
        return None
    return {c: getattr(caption, field) for c, caption in captions.items()}


__all__ = ["InspectSettings", "inspect"]
