"""WebDataset shards: writing them, streaming them across ranks, corrupt members, too few shards."""

import io
import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import torch
from torchvision.transforms import v2 as T

from conftest import REPO, run_torchrun
from deepcluster.config import DataConfig
from deepcluster.data import build_source
from deepcluster.train.checkpoint import load_checkpoint

TINY = ["data.name=webdataset", "data.image_size=28", "model.width=8", "model.mlp_dim=32", "cluster.k=10",
        "cluster.pca_dim=16", "train.batch_size=64", "log.tensorboard=false"]


def make_shards(out, limit=1000, shard_size=300):
    """Fashion-MNIST's first ``limit`` images in shards of uneven size (300, 300, 300, 100)."""
    proc = subprocess.run([sys.executable, str(REPO / "launch" / "make_shards.py"), "--data", "fashion_mnist",
                           "--limit", str(limit), "--out", str(out), "--shard-size", str(shard_size)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split("data.urls='")[1].split("'")[0]


def corrupt_member(shard, key):
    """Rewrite ``shard`` with the PNG bytes of sample ``key`` replaced by garbage."""
    with tarfile.open(shard) as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(shard, "w") as tar:
        for member, payload in members:
            if member.name == f"{key}.png":
                payload = b"\x89PNG but truncated"
                member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))


@pytest.fixture(scope="module")
def shard_urls(tmp_path_factory):
    return make_shards(tmp_path_factory.mktemp("shards"))


@pytest.mark.slow
def test_shards_keep_index_and_labels(shard_urls, fashion_mnist_root):
    shards = build_source(DataConfig(name="webdataset", urls=shard_urls, image_size=28))
    tensors = build_source(DataConfig(name="fashion_mnist", limit=1000))
    assert len(shards) == 1000 and len(shards.shards) == 4
    np.testing.assert_array_equal(shards.labels, tensors.labels)
    images, idx = next(shards.batches([5, 999, 0], 8, train=False, seed=0, workers=0))
    assert idx.tolist() == [5, 999, 0] and images.shape == (3, 3, 28, 28)
    # lossless PNG: the same pixels as the in-memory dataset after the same eval transform (resize, crop)
    expected = T.Compose([T.Resize(32, antialias=True), T.CenterCrop(28)])(tensors.images[[5, 999, 0]])
    assert torch.equal(images[:, 0], images[:, 1])  # grayscale comes back as equal RGB channels
    assert (images[:, 0].int() - expected[:, 0].int()).abs().max() <= 1


@pytest.mark.slow
def test_too_few_shards_for_ranks_and_workers_is_a_clear_error(shard_urls, tmp_path, fashion_mnist_root):
    two = shard_urls.replace("000003", "000001")
    overrides = [f"run_dir={tmp_path}", f"data.urls={two}", "train.workers=2", "train.epochs=1", *TINY]
    proc = run_torchrun(overrides, nproc=2)
    assert proc.returncode != 0
    assert "2 shard(s) for 2 rank(s) x 2 loader worker(s)" in proc.stderr


@pytest.mark.slow
def test_two_ranks_stream_like_one_and_skip_a_corrupt_member(tmp_path, fashion_mnist_root):
    urls = make_shards(tmp_path / "shards")
    corrupt_member(str(tmp_path / "shards" / "shard-000001.tar"), "000000310")
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_torchrun([f"run_dir={one}", f"data.urls={urls}", "train.epochs=1", "train.workers=1", *TINY],
                        nproc=1, extra_env={"OMP_NUM_THREADS": "1"}).returncode == 0
    proc = run_torchrun([f"run_dir={two}", f"data.urls={urls}", "train.epochs=2", "train.workers=2", *TINY], nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 file(s) could not be decoded" in proc.stderr
    a = load_checkpoint(one / "checkpoints" / "epoch_0000.pt")["assignments"]
    b = load_checkpoint(two / "checkpoints" / "epoch_0000.pt")["assignments"]
    assert torch.equal(a, b), "sharded extraction must be index-aligned whatever the number of ranks"
    assert int(b[310]) == -1 and int((b == -1).sum()) == 1
    rows = [json.loads(line) for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1] and all(r["cluster_size_min"] >= 1 for r in rows)
