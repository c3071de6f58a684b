"""End-to-end pretraining runs through the real launcher (torchrun on gloo, or one plain process)."""

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import read_metrics, run_torchrun, run_train, write_shapes_folder
from deepcluster.train.checkpoint import list_checkpoints, load_checkpoint

SMALL = ["data.limit=1200", "cluster.k=20", "cluster.pca_dim=32", "train.batch_size=128", "model.width=16",
         "model.mlp_dim=64"]
REQUIRED = {"epoch", "kmeans_loss", "train_loss", "nmi_prev", "nmi_labels", "purity_labels", "ari_labels", "n_empty",
            "knn_top1_backbone", "knn_top1_clustered", "time_knn_s",
            "cluster_size_min", "cluster_size_max", "time_extract_s", "time_cluster_s", "time_train_s"}


@pytest.mark.slow
def test_two_epochs_on_fashion_mnist_through_torchrun(tmp_path, fashion_mnist_root):
    run_dir = tmp_path / "run"
    proc = run_torchrun(["--config", "configs/fashion_mnist.yaml", f"run_dir={run_dir}", "train.epochs=2", *SMALL])
    assert proc.returncode == 0, proc.stderr[-3000:]

    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["cluster"]["k"] == 20 and saved["data"]["limit"] == 1200

    rows = read_metrics(run_dir)
    assert [r["epoch"] for r in rows] == [0, 1]
    assert REQUIRED <= set(rows[0])
    assert rows[0]["nmi_prev"] is None and 0.0 < rows[1]["nmi_prev"] <= 1.0
    assert all(0.0 < r["nmi_labels"] < 1.0 and r["cluster_size_min"] >= 1 for r in rows)
    assert all(np.isfinite(r["train_loss"]) and r["kmeans_loss"] > 0 for r in rows)

    state = load_checkpoint(list_checkpoints(run_dir / "checkpoints")[0])  # weights_only=True
    assert state["epoch"] == 1 and state["assignments"].shape == (1200,)
    assert not any(k.startswith("module.") for k in state["model"])
    assert list((run_dir / "tb").glob("events.out.tfevents.*"))
    scores = json.loads((run_dir / "eval.json").read_text())
    assert scores["random_init"]["epochs_trained"] == 0 and scores["final"]["epochs_trained"] == 2
    assert 0.1 < scores["final"]["acc"] <= 1.0
    assert all(0.0 < scores[name]["knn_top1_backbone"] <= 1.0 for name in ("random_init", "final"))
    assert "did pretraining help?" in proc.stdout and "verdict: after 2 epochs the network is" in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("amp", ["off", "fp16"])
def test_resumed_run_ends_with_the_same_weights(tmp_path, fashion_mnist_root, amp):
    """In every precision: fp16 also resumes its GradScaler (loss scale and growth tracker) exactly."""
    args = ["data.limit=600", "cluster.k=10", "cluster.pca_dim=16", "train.batch_size=100", "model.width=8",
            "model.mlp_dim=32", "log.tensorboard=false", f"train.amp={amp}"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_train([f"run_dir={straight}", "train.epochs=3", *args]).returncode == 0
    assert run_train([f"run_dir={resumed}", "train.epochs=2", *args]).returncode == 0
    proc = run_train([f"run_dir={resumed}", "train.epochs=3", *args])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming from" in proc.stderr

    a = load_checkpoint(list_checkpoints(straight / "checkpoints")[0])
    b = load_checkpoint(list_checkpoints(resumed / "checkpoints")[0])
    assert a["epoch"] == b["epoch"] == 2
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert torch.equal(a["assignments"], b["assignments"])
    if amp == "fp16":
        assert a["grad_scaler"]["_growth_tracker"] == 18 and a["grad_scaler"] == b["grad_scaler"]
    else:
        assert "grad_scaler" not in a
    assert [r["epoch"] for r in read_metrics(resumed)] == [0, 1, 2]
    knn = ("knn_top1_backbone", "knn_top1_clustered")
    assert [[r[k] for k in knn] for r in read_metrics(resumed)] == [[r[k] for k in knn] for r in read_metrics(straight)]


@pytest.mark.slow
def test_resume_refuses_changed_settings(tmp_path, fashion_mnist_root):
    args = ["data.limit=300", "cluster.k=5", "cluster.pca_dim=8", "model.width=8", "model.mlp_dim=16",
            "train.epochs=1", "log.tensorboard=false"]
    assert run_train([f"run_dir={tmp_path}", *args]).returncode == 0
    proc = run_train([f"run_dir={tmp_path}", *args, "cluster.k=6"])
    assert proc.returncode == 2 and "cluster.k: 5 → 6" in proc.stderr


@pytest.mark.slow
def test_two_processes_assign_like_one(tmp_path, fashion_mnist_root):
    args = [*SMALL, "data.limit=1001", "train.epochs=1", "log.tensorboard=false"]  # 1001: uneven shards
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_torchrun([f"run_dir={one}", *args], nproc=1, extra_env={"OMP_NUM_THREADS": "1"}).returncode == 0
    proc = run_torchrun([f"run_dir={two}", *args], nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a = load_checkpoint(one / "checkpoints" / "epoch_0000.pt")
    b = load_checkpoint(two / "checkpoints" / "epoch_0000.pt")
    assert torch.equal(a["assignments"], b["assignments"])
    for key in ("knn_top1_backbone", "knn_top1_clustered"):  # memory sharded over 2 ranks, then merged
        assert read_metrics(one)[0][key] == read_metrics(two)[0][key], key


@pytest.mark.slow
def test_image_folder_run_leaves_broken_files_out(tmp_path):
    root = tmp_path / "images"
    write_shapes_folder(root, per_class=10)
    (root / "disc" / "zero.png").write_bytes(b"")
    (root / "square" / "junk.jpg").write_text("no pixels here")
    Image.new("CMYK", (40, 40), (0, 200, 0, 0)).save(root / "stripes" / "cmyk.jpg")
    run_dir = tmp_path / "run"
    proc = run_train([f"run_dir={run_dir}", "data.name=imagefolder", f"data.root={root}", "data.image_size=32",
                      "cluster.k=4", "cluster.pca_dim=8", "model.width=8", "model.mlp_dim=16", "train.epochs=2",
                      "train.batch_size=8", "train.workers=2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 file(s) could not be decoded" in proc.stderr
    assert proc.stderr.count("could not be decoded") == 1, "reported once, not every epoch"
    assert sorted((run_dir / "unreadable.txt").read_text().split()) == ["disc/zero.png", "square/junk.jpg"]
    state = load_checkpoint(list_checkpoints(run_dir / "checkpoints")[0])
    assignments = state["assignments"].numpy()
    assert (assignments == -1).sum() == 2 and len(assignments) == 33
    assert all(r["cluster_size_min"] >= 1 for r in read_metrics(run_dir))


@pytest.mark.slow
def test_bf16_autocast_path_runs_on_cpu(tmp_path, fashion_mnist_root):
    """The mixed-precision path GPU nodes use (autocast + channels-last) also runs, and stays finite, on CPU."""
    proc = run_train([f"run_dir={tmp_path}", "train.amp=bf16", "train.channels_last=true", "train.epochs=1",
                      "data.limit=400", "cluster.k=8", "cluster.pca_dim=16", "model.width=8", "model.mlp_dim=32",
                      "log.tensorboard=false"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "amp=bfloat16 channels_last=True" in proc.stderr
    assert np.isfinite(read_metrics(tmp_path)[0]["train_loss"])
