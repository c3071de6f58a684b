"""Shared fixtures: real Fashion-MNIST (Debian package), tiny image folders built on disk, torchrun."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deepcluster.data.idx import DEBIAN_FASHION_MNIST  # noqa: E402


@pytest.fixture(scope="session")
def fashion_mnist_root() -> Path:
    if not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.fail("Fashion-MNIST is missing: apt-get install -y dataset-fashion-mnist (.ci/run does this)")
    return DEBIAN_FASHION_MNIST


def write_shapes_folder(root: Path, per_class: int = 12, size: int = 40, with_classes: bool = True) -> list[str]:
    """Images of three kinds (bright square, dark disc, stripes) with noise; returns the relative paths."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    paths = []
    for c, name in enumerate(["square", "disc", "stripes"]):
        folder = root / name if with_classes else root
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
            if c == 0:
                img[8:32, 8:32] = 230
            elif c == 1:
                img[(yy - 20) ** 2 + (xx - 20) ** 2 < 150] = [200, 40, 40]
            else:
                img[:, ::6] = 255
            path = folder / f"{name}_{i:03d}.png"
            Image.fromarray(img).save(path)
            paths.append(path.relative_to(root).as_posix())
    return paths


@pytest.fixture
def shapes_folder(tmp_path) -> Path:
    write_shapes_folder(tmp_path / "shapes")
    return tmp_path / "shapes"


def run_torchrun(args: list[str], nproc: int = 1, timeout: int = 600, extra_env: dict | None = None,
                 torchrun_args: list[str] | None = None) -> subprocess.CompletedProcess:
    """Start launch/train.py under a real torchrun (gloo on CPU); output is captured for assertions."""
    env = {**os.environ, "OMP_NUM_THREADS": "1" if nproc > 1 else os.environ.get("OMP_NUM_THREADS", "2"),
           **(extra_env or {})}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           *(torchrun_args or []), str(REPO / "launch" / "train.py"), *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of a run's metrics.jsonl."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def run_train(args: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    """launch/train.py as one plain process."""
    cmd = [sys.executable, str(REPO / "launch" / "train.py"), *args]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str):
    """A size-limited tmpfs mounted at ``folder`` (root only): the full-disk tests; skipped, saying why, elsewhere."""
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if proc.returncode:
        pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip() or 'not root'}); the full-disk case "
                    "needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
