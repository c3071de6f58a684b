"""What a run leaves for people: ``metrics.jsonl`` (one JSON object per epoch) and TensorBoard logs.

Only rank 0 writes. metrics.jsonl is appended line by line and, on resume, cut back to the epochs the
checkpoint covers, so a crash between checkpoint and log line never leaves duplicates or gaps.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch


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
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def truncate_after(self, last_epoch: int) -> None:
        """Keep only rows with epoch <= last_epoch (rows of an epoch that had no checkpoint go)."""
        rows = [r for r in self.read() if r["epoch"] <= last_epoch]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def append(self, row: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps({k: _clean(v) for k, v in row.items()}) + "\n")
            f.flush()


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
    """The text printed at the end of a run: per-epoch curves, then the label scores of the features."""
    def cell(value, width, spec=".3f"):
        return f"{'-' if value is None else format(value, spec):>{width}}"

    lines = ["", "epoch  kmeans_loss  train_loss  nmi_prev  nmi_labels  acc_labels  empty  epoch_s"]
    for r in rows:
        seconds = r["time_extract_s"] + r["time_cluster_s"] + r["time_train_s"]
        lines.append(f"{r['epoch']:5d}  {cell(r['kmeans_loss'], 11, '.1f')}  {cell(r['train_loss'], 10)}  "
                     f"{cell(r['nmi_prev'], 8)}  {cell(r['nmi_labels'], 10)}  {cell(r['acc_labels'], 10)}  "
                     f"{r['n_empty']:5d}  {seconds:7.1f}")
    if evaluation:
        lines += ["", "features scored by k-means with k = #classes:   ACC     NMI     ARI"]
        for name, s in evaluation.items():
            label = f"{name} (after {s['epochs_trained']} epochs)"
            lines.append(f"  {label:<46}{s['acc']:.3f}   {s['nmi']:.3f}   {s['ari']:.3f}")
    return "\n".join(lines)
