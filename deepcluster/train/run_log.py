"""What a run leaves for people: ``metrics.jsonl`` (one JSON object per epoch) and TensorBoard logs.

Only rank 0 writes. metrics.jsonl is appended line by line and, on resume, cut back to the epochs the
checkpoint covers, so a crash between checkpoint and log line never leaves duplicates or gaps.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import append_line, write_text_atomic

log = logging.getLogger(__name__)

KNN_KEYS = ("knn_top1_backbone", "knn_top1_clustered")  # the k-NN monitor's taps (deepcluster.models)
KNN_NAMES = {"knn_top1_backbone": "backbone, pooled", "knn_top1_clustered": "clustered layer"}


def _clean(value: Any) -> Any:
    """JSON-safe numbers: numpy scalars to Python, NaN/Inf to null."""
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


class MetricsLog:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        """The epoch rows; a line a crash tore (or any line that is not an epoch row) is dropped with a warning."""
        if not self.path.exists():
            return []
        rows = []
        lines = self.path.read_bytes().decode("utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
                    raise ValueError("not an epoch row")
            except ValueError as err:
                where = "its last line" if number == len(lines) else f"line {number}"
                log.warning("%s: dropping %s (%s), as a crash mid-write leaves it; the epochs the checkpoints "
                            "cover are rewritten on resume", self.path, where, err)
                continue
            rows.append(row)
        return rows

    def truncate_after(self, last_epoch: int) -> None:
        """Keep only rows with epoch <= last_epoch (rows of an epoch that had no checkpoint go)."""
        rows = [r for r in self.read() if r["epoch"] <= last_epoch]
        write_text_atomic(self.path, "".join(json.dumps(r) + "\n" for r in rows))

    def append(self, row: dict[str, Any]) -> None:
        append_line(self.path, json.dumps({k: _clean(v) for k, v in row.items()}))


class TensorBoardLog:
    """Scalars of each epoch, a histogram of cluster sizes and a grid of images from a few clusters."""

    def __init__(self, folder: str | Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(folder))

    def epoch(self, row: dict[str, Any], cluster_sizes: np.ndarray, grid: torch.Tensor | None) -> None:
        step = row["epoch"]
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and value is not None and math.isfinite(value):
                self.writer.add_scalar(f"epoch/{key}", value, step)
        self.writer.add_histogram("clusters/size", cluster_sizes, step)
        if grid is not None:
            self.writer.add_image("clusters/samples", grid, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def summary_table(rows: list[dict[str, Any]], evaluation: dict[str, Any]) -> str:
    """The text printed at the end of a run: per-epoch curves, random init against final, a verdict."""
    def cell(value, width, spec=".3f"):
        return f"{'-' if value is None else format(value, spec):>{width}}"

    lines = ["", "epoch  kmeans_loss  train_loss  nmi_prev  nmi_labels  purity  knn_backbone  knn_clustered  "
             "empty  epoch_s"]
    for r in rows:
        seconds = r["time_extract_s"] + r["time_cluster_s"] + r.get("time_knn_s", 0.0) + r["time_train_s"]
        knn = [None if r.get(k) is None else 100 * r[k] for k in KNN_KEYS]
        lines.append(f"{r['epoch']:5d}  {cell(r['kmeans_loss'], 11, '.1f')}  {cell(r['train_loss'], 10)}  "
                     f"{cell(r['nmi_prev'], 8)}  {cell(r['nmi_labels'], 10)}  {cell(r.get('purity_labels'), 6)}  "
                     f"{cell(knn[0], 12, '.1f')}  {cell(knn[1], 13, '.1f')}  {r['n_empty']:5d}  {seconds:7.1f}")
    lines.append("(nmi_prev: NMI between this epoch's clusters and the previous epoch's; nmi_labels, purity: "
                 "clusters against the classes; knn_*: k-NN top-1 % of the features the epoch started from)")
    if "random_init" in evaluation and "final" in evaluation:
        lines += ["", *compare_to_random_init(evaluation["random_init"], evaluation["final"])]
    return "\n".join(lines)


def compare_to_random_init(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Random init against the final network, metric by metric, and one verdict line in plain words."""
    epochs = after["epochs_trained"]
    lines = [f"did pretraining help?{'':24}random init   after {epochs} epochs   change"]
    for key in KNN_KEYS:
        if before.get(key) is not None and after.get(key) is not None:
            a, b = 100 * before[key], 100 * after[key]
            lines.append(f"  k-NN top-1 %, {KNN_NAMES[key]:<28}{a:>8.1f}   {b:>14.1f}   {b - a:+6.1f} points")
    for key in ("acc", "nmi", "ari"):
        label = f"k-means k=#classes, {key.upper()}"
        lines.append(f"  {label:<42}{before[key]:>8.3f}   {after[key]:>14.3f}   {after[key] - before[key]:+6.3f}")
    if after.get("knn_protocol"):
        lines.append(f"  (k-NN: {after['knn_protocol']})")
    lines.append(verdict(before, after))
    return lines


def verdict(before: dict[str, Any], after: dict[str, Any]) -> str:
    """One sentence: better or no better than random init, by how much, on the monitor's main score."""
    epochs = after["epochs_trained"]
    if before.get("knn_top1_backbone") is not None and after.get("knn_top1_backbone") is not None:
        a, b = 100 * before["knn_top1_backbone"], 100 * after["knn_top1_backbone"]
        measure, change = f"k-NN top-1 of the pooled backbone {a:.1f} % -> {b:.1f} %", f"{b - a:+.1f} points"
        gain = b - a
    else:
        a, b = before["acc"], after["acc"]
        measure, change = f"k-means ACC {a:.3f} -> {b:.3f}", f"{b - a:+.3f}"
        gain = b - a
    words = "better than" if gain > 0 else "no better than"
    return (f"verdict: after {epochs} epochs the network is {words} its random init ({measure}, {change}); "
            "one run: the spread over pretraining seeds is in BENCHMARKS.md")
