"""The k-NN monitor: who is memory and who is query, the sharded search, and that labels never steer a run."""

import numpy as np
import pytest
import torch

from conftest import read_metrics, run_torchrun, run_train, write_shapes_folder
from deepcluster.config import DataConfig, EvalConfig, TrainConfig
from deepcluster.data import TensorSource, build_held_out_source, build_source
from deepcluster.scores.knn import knn_accuracy
from deepcluster.scores.knn_monitor import hashed_queries, knn_top1, plan_knn
from deepcluster.features import LocalFeatures
from deepcluster.runtime import select_runtime
from deepcluster.train.checkpoint import list_checkpoints, load_checkpoint


def test_hashed_queries_are_a_fixed_tenth_decided_by_each_key_alone():
    keys = [f"class_{i % 7}/image_{i:05d}.png" for i in range(5000)]
    queries = hashed_queries(keys)
    assert 0.08 < queries.mean() < 0.12
    shuffled = np.random.default_rng(0).permutation(len(keys))
    assert np.array_equal(hashed_queries([keys[i] for i in shuffled]), queries[shuffled])  # order-free
    assert np.array_equal(hashed_queries(keys[:100]), queries[:100])  # other samples do not matter


def test_each_split_gets_its_own_held_out_queries(fashion_mnist_root):
    full = build_source(DataConfig(split="all"))
    plan = plan_knn(full, build_held_out_source(DataConfig(split="all")), "all")
    assert plan.held_out is None and plan.queries.sum() == 10_000 and plan.memory.sum() == 60_000
    assert not (plan.queries & plan.memory).any() and plan.queries[60_000:].all()

    train = build_source(DataConfig(split="train", limit=500))
    plan = plan_knn(train, build_held_out_source(DataConfig(split="train", limit=500)), "train")
    assert plan.queries is None and plan.memory.all() and len(plan.held_out) == 500 and "test-split" in plan.description

    fit, val = build_source(DataConfig(split="fit")), build_held_out_source(DataConfig(split="fit"))
    assert len(fit) == 50_000 and len(val) == 10_000 and "validation" in plan_knn(fit, val, "fit").description
    whole_train = build_source(DataConfig(split="train")).images
    assert torch.equal(torch.cat([fit.images, val.images]), whole_train)  # a carve of train, test untouched

    cut = build_source(DataConfig(split="all", limit=1000))  # the limit leaves no test image: hash the keys
    plan = plan_knn(cut, None, "all")
    assert plan.held_out is None and 50 < plan.queries.sum() < 150 and "CRC-32" in plan.description


def _clustered_features(n, dim, classes, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)) * 2
    labels = rng.integers(0, classes, n)
    return (centres[labels] + rng.standard_normal((n, dim))).astype(np.float32), labels.astype(np.int64)


@pytest.mark.parametrize("k", [20, 300])  # 300 > the memory: every sample votes, padding votes nothing
def test_monitor_scores_what_a_direct_weighted_knn_scores(k):
    features, labels = _clustered_features(400, 16, 5, seed=1)
    source = TensorSource(labels=labels, keys=[f"s{i}" for i in range(400)], channels=1, image_size=8,
                          mean=(0.5,), std=(0.5,), images=torch.zeros(400, 1, 8, 8, dtype=torch.uint8))
    plan = plan_knn(source, None, "all")
    local = LocalFeatures({"backbone": torch.from_numpy(features)}, torch.ones(400, dtype=torch.uint8),
                          torch.arange(400))
    runtime = select_runtime(TrainConfig(), torch.device("cpu"))
    scores = knn_top1(None, source, plan, local, runtime, EvalConfig(knn_k=k), 64, 0)
    direct = knn_accuracy(features[plan.memory], labels[plan.memory], features[plan.queries], labels[plan.queries],
                          k=k, temperature=0.07)
    assert scores["knn_top1_backbone"] == pytest.approx(direct["top1"], abs=1e-9)
    assert 0.5 < scores["knn_top1_backbone"] <= 1.0


@pytest.mark.slow
def test_labels_only_score_a_run_and_an_unlabelled_one_skips_the_monitor(tmp_path):
    """The same images with and without class folders: identical weights; only the labelled run has k-NN rows."""
    write_shapes_folder(tmp_path / "labelled", per_class=14)
    write_shapes_folder(tmp_path / "flat", per_class=14, with_classes=False)  # same pixels, same sorted order
    args = ["data.name=imagefolder", "data.image_size=32", "cluster.k=6", "cluster.pca_dim=8", "model.width=8",
            "model.mlp_dim=16", "train.epochs=2", "train.batch_size=16", "train.workers=0", "log.tensorboard=false"]
    runs = {}
    for name in ("labelled", "flat"):
        proc = run_train([f"run_dir={tmp_path / ('run_' + name)}", f"data.root={tmp_path / name}", *args])
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[name] = proc
    assert "k-NN monitor (k=20" in runs["labelled"].stderr and "CRC-32" in runs["labelled"].stderr
    assert "k-NN monitor" not in runs["flat"].stderr and "unlabelled" in runs["flat"].stderr
    assert "verdict:" in runs["labelled"].stdout and "verdict:" not in runs["flat"].stdout

    a = load_checkpoint(list_checkpoints(tmp_path / "run_labelled" / "checkpoints")[0])
    b = load_checkpoint(list_checkpoints(tmp_path / "run_flat" / "checkpoints")[0])
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert torch.equal(a["assignments"], b["assignments"])
    assert a["metrics"]["knn_top1_backbone"] is not None and "knn_top1_backbone" not in b["metrics"]


@pytest.mark.slow
def test_monitor_in_distributed_mode_and_on_epochs_that_keep_their_clusters(tmp_path, fashion_mnist_root):
    """2 ranks with sharded k-means score the random init like 1 process; an epoch without re-clustering
    still gets its k-NN row (from an extraction of its own)."""
    args = ["data.limit=700", "cluster.k=10", "cluster.pca_dim=16", "cluster.reassign_every=2", "model.width=8",
            "model.mlp_dim=32", "train.batch_size=100", "train.epochs=2", "log.tensorboard=false"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_train([f"run_dir={one}", *args]).returncode == 0
    proc = run_torchrun([f"run_dir={two}", "cluster.mode=distributed", *args], nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows_one, rows_two = read_metrics(one), read_metrics(two)
    assert [r["reclustered"] for r in rows_two] == [True, False]
    assert all(0.0 < r["knn_top1_backbone"] <= 1.0 and 0.0 < r["knn_top1_clustered"] <= 1.0 for r in rows_two)
    assert rows_one[0]["knn_top1_backbone"] == rows_two[0]["knn_top1_backbone"]
    assert rows_one[0]["knn_top1_clustered"] == rows_two[0]["knn_top1_clustered"]
