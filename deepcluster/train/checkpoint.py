"""Atomic, pickle-free checkpoints and resume from the newest readable one.

A checkpoint is written to a temporary file in the same folder, flushed to disk, then renamed over its
final name (``os.replace`` is atomic on POSIX): a crash mid-write leaves the previous checkpoints whole.
Contents are tensors, plain dicts, lists and numbers only, so ``torch.load(weights_only=True)`` reads
them and no untrusted pickle is ever executed.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from ..atomic import atomic_open

log = logging.getLogger(__name__)
_NAME = re.compile(r"^epoch_(\d+)\.pt$")


def checkpoint_path(folder: Path, epoch: int) -> Path:
    return folder / f"epoch_{epoch:04d}.pt"


def list_checkpoints(folder: str | Path) -> list[Path]:
    """Checkpoints in ``folder``, newest epoch first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def save_checkpoint(state: dict[str, Any], folder: str | Path, epoch: int, keep: int) -> Path:
    """Write ``state`` atomically as ``epoch_XXXX.pt`` and delete all but the newest ``keep``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(folder, epoch)
    with atomic_open(final) as f:
        torch.save(state, f)
    for old in list_checkpoints(folder)[keep:]:
        old.unlink(missing_ok=True)
    return final


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=map_location, weights_only=True)


def load_latest_checkpoint(folder: str | Path) -> tuple[dict[str, Any], Path] | None:
    """The newest checkpoint that loads; corrupt or truncated ones are reported and skipped."""
    for path in list_checkpoints(folder):
        try:
            state = load_checkpoint(path)
            if "epoch" not in state or "model" not in state:
                raise ValueError("not a deepcluster checkpoint (no 'epoch'/'model' entries)")
            return state, path
        except Exception as err:  # a half-written or damaged file: fall back to the previous one
            log.warning("checkpoint %s is unreadable (%s: %s); trying the previous one", path, type(err).__name__, err)
    return None
