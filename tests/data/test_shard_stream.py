"""Training batches streamed from real tar shards exactly as the epoch plan says, with and without loader workers."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import webdataset as wds
from PIL import Image

from conftest import REPO, run_train
from deepcluster.config import DataConfig
from deepcluster.data import build_source
from deepcluster.sampling import shard_epoch_plan
from deepcluster.train.checkpoint import list_checkpoints, load_checkpoint

N, SIZE, BATCH = 240, 16, 16
SHARD_SIZES = (70, 70, 60, 40)


def write_shards(folder, corrupt=()):
    """Four shards of 16-px PNGs (keys 000000.., a ``cls`` each); the keys in ``corrupt`` get bytes that are no PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    index = 0
    for shard, count in enumerate(SHARD_SIZES):
        with wds.TarWriter(str(folder / f"part-{shard:02d}.tar")) as tar:
            for _ in range(count):
                buffer = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(buffer, format="PNG")
                payload = b"\x89PNG but truncated" if index in corrupt else buffer.getvalue()
                tar.write({"__key__": f"{index:06d}", "png": payload, "cls": index % 3})
                index += 1
    return str(folder / f"part-{{00..{len(SHARD_SIZES) - 1:02d}}}.tar")


def assignments_for(n=N):
    """Six clusters of very unequal size (120, 60, 30, 20, 8, 2): small ones are drawn many times."""
    sizes = [120, 60, 30, 20, 8, 2]
    return np.random.default_rng(3).permutation(np.repeat(np.arange(len(sizes)), sizes))[:n]


def planned(plan):
    numbered = {int(n): b for s in plan.streams for n, b in zip(s.numbers, s.batches)}
    return [numbered[n].tolist() for n in range(plan.steps)]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    urls = write_shards(tmp_path_factory.mktemp("shards"))
    return build_source(DataConfig(name="webdataset", urls=urls, image_size=SIZE))


def test_the_source_lists_each_shard_in_tar_order(source):
    assert [len(m) for m in source.shard_members] == list(SHARD_SIZES)
    assert np.array_equal(np.concatenate(source.shard_members), np.arange(N))


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_are_the_planned_ones_in_order_and_bit_exact_twice(source, workers):
    assignments = assignments_for()
    for rank in range(2):  # rank 1 of 2 starts inside a shard rank 0 also reads
        plan = shard_epoch_plan(assignments, source.shard_members, 0, 4, rank, 2, workers, BATCH)
        first = list(source.train_batches(plan, seed=11, workers=workers))
        assert [idx.tolist() for _, idx in first] == planned(plan)
        assert all(images.shape == (len(idx), 3, SIZE, SIZE) and images.dtype == torch.uint8 for images, idx in first)
        again = list(source.train_batches(plan, seed=11, workers=workers))
        assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again)), "a rerun (a resume) must see the same crops"


def test_each_copy_of_a_sample_gets_its_own_crop(source):
    assignments = assignments_for()
    plan = shard_epoch_plan(assignments, source.shard_members, 0, 0, 0, 1, 0, BATCH)
    seen: dict[int, list[torch.Tensor]] = {}
    for images, idx in source.train_batches(plan, seed=1, workers=0):
        for image, i in zip(images, idx.tolist()):
            seen.setdefault(i, []).append(image)
    repeated = [crops for crops in seen.values() if len(crops) > 1]
    assert repeated and any(not torch.equal(crops[0], crops[1]) for crops in repeated)


def test_a_corrupt_member_is_skipped_and_counted(tmp_path):
    assignments = assignments_for()
    bad = int(np.flatnonzero(assignments == 4)[0])  # a member of an 8-sample cluster: drawn five times
    shards = build_source(DataConfig(name="webdataset", urls=write_shards(tmp_path, corrupt={bad}), image_size=SIZE))
    plan = shard_epoch_plan(assignments, shards.shard_members, 0, 0, 0, 1, 2, BATCH)
    batches = list(shards.train_batches(plan, seed=0, workers=2))
    assert bad in {i for b in planned(plan) for i in b}, "the test must draw the corrupt sample"
    assert shards.unreadable == {bad}
    assert [idx.tolist() for _, idx in batches] == [[i for i in b if i != bad] for b in planned(plan)]


@pytest.mark.slow
def test_three_torchrun_ranks_draw_every_cluster_equally(tmp_path):
    """Real ranks (gloo), each with two loader workers, reading the shards the one global plan gives them."""
    urls = write_shards(tmp_path / "shards")
    out = tmp_path / "drawn.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=3",
           str(REPO / "tests" / "data" / "shard_ranks_probe.py"), urls, str(out), str(BATCH)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = json.loads(out.read_text())
    assert len(ranks) == 3 and len({len(batches) for batches in ranks}) == 1, "equal steps on every rank"
    assignments = assignments_for()
    drawn = np.array([i for batches in ranks for batch in batches for i in batch])
    counts = np.bincount(assignments[drawn])
    assert counts.max() - counts.min() <= 1, counts
    sizes = np.bincount(assignments)
    for batch in (b for batches in ranks for b in batches):
        values, times = np.unique(batch, return_counts=True)
        assert all(sizes[assignments[v]] < BATCH for v in values[times > 1])


@pytest.mark.slow
def test_a_resumed_streaming_run_ends_with_the_same_weights(tmp_path):
    """Two loader workers: what the plan and the per-batch crop seeds make exact survives a restart."""
    urls = write_shards(tmp_path / "shards")
    args = ["data.name=webdataset", f"data.urls={urls}", f"data.image_size={SIZE}", "cluster.k=6", "cluster.pca_dim=8",
            "model.width=8", "model.mlp_dim=16", f"train.batch_size={BATCH}", "train.workers=2",
            "log.tensorboard=false"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_train([f"run_dir={straight}", "train.epochs=2", *args]).returncode == 0
    assert run_train([f"run_dir={resumed}", "train.epochs=1", *args]).returncode == 0
    proc = run_train([f"run_dir={resumed}", "train.epochs=2", *args])
    assert proc.returncode == 0 and "resuming from" in proc.stderr, proc.stderr[-3000:]
    a, b = (load_checkpoint(list_checkpoints(run / "checkpoints")[0]) for run in (straight, resumed))
    assert a["epoch"] == b["epoch"] == 1 and torch.equal(a["assignments"], b["assignments"])
    assert all(torch.equal(a["model"][key], b["model"][key]) for key in a["model"])
