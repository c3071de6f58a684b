"""Inspection of a real (tiny) DeepCluster run: grids, plots, CSV, TensorBoard; export of the same run."""

from __future__ import annotations

import csv
import importlib.util
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, run_train
from deepcluster.export import export_backbone, load_backbone
from deepcluster.inspection.sheet import CAPTION_BAND, LABEL_NAMES
from deepcluster.pretrained import build_checked_source, data_config, load_pretrained
from deepcluster.train.checkpoint import list_checkpoints, load_checkpoint

K = 10


def assert_captioned(picture: np.ndarray, top: int) -> None:
    """The caption band starting at row ``top`` carries dark text on its light background."""
    band = picture[top + 2:top + CAPTION_BAND].min(axis=2)
    assert (band == band.max()).mean() > 0.7  # mostly background
    assert (band < 100).sum() > 50  # and text


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, fashion_mnist_root):
    run_dir = tmp_path_factory.mktemp("run") / "fmnist"
    result = run_train(["--config", "configs/fashion_mnist.yaml", f"run_dir={run_dir}", "data.limit=600",
                        f"cluster.k={K}", "cluster.pca_dim=16", "model.width=8", "model.mlp_dim=32",
                        "train.epochs=1", "log.tensorboard=false"])
    assert result.returncode == 0, result.stderr
    return run_dir


def inspect_main(args):
    spec = importlib.util.spec_from_file_location("launch_inspect", REPO / "launch" / "inspect_clusters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(args)


@pytest.mark.slow
def test_inspect_run_writes_grids_plots_csv_and_tensorboard(tiny_run, tmp_path):
    out = tmp_path / "inspect"
    assert inspect_main(["--checkpoint", str(tiny_run), "--out", str(out), "--per-cluster", "12"]) == 0
    stored = load_checkpoint(list_checkpoints(tiny_run / "checkpoints")[0])["assignments"].numpy()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clusters_from"] == "checkpoint assignments" and summary["epoch"] == 0
    assert summary["learning_curves"] and summary["sizes"] == np.bincount(stored, minlength=K).tolist()

    grids = sorted((out / "grids").glob("cluster_*.png"))
    assert len(grids) == int((np.bincount(stored, minlength=K) > 0).sum())
    # 12 images of 28 px shown at 84 px in rows of 8, 2 px padding, under a caption band
    cell = 84 + 2
    for grid in grids:
        picture = np.asarray(Image.open(grid).convert("RGB"))
        assert picture.shape == (CAPTION_BAND + 2 * cell + 2, 8 * cell + 2, 3)
        assert_captioned(picture, 0)
    overview = np.asarray(Image.open(out / "overview.png").convert("RGB"))
    assert overview.shape == (len(grids) * (CAPTION_BAND + cell) + 2, 8 * cell + 2, 3)  # one row per cluster
    for row in range(len(grids)):
        assert_captioned(overview, row * (CAPTION_BAND + cell))
    for name in ("cluster_sizes.png", "learning_curves.png"):
        assert Image.open(out / name).size[0] > 100
    largest = int(np.argmax(np.bincount(stored, minlength=K)))
    labels = build_checked_source(load_pretrained(tiny_run), data_config(load_pretrained(tiny_run))).labels
    counts = np.bincount(labels[stored == largest], minlength=10)
    assert summary["majority_label"][str(largest)] == int(counts.argmax())
    assert summary["purity"][str(largest)] == pytest.approx(counts.max() / counts.sum())
    assert summary["majority_label_name"][str(largest)] == LABEL_NAMES["fashion_mnist"][int(counts.argmax())]

    with open(out / "clusters.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 600 and set(rows[0]) >= {"key", "cluster", "distance", "label", "annotation"}
    assert [int(r["cluster"]) for r in rows] == sorted(int(r["cluster"]) for r in rows)  # grouped by cluster
    by_index = {int(r["index"]): r for r in rows}
    assert all(int(by_index[i]["cluster"]) == stored[i] for i in range(600))
    for c in range(K):
        d = [float(r["distance"]) for r in rows if int(r["cluster"]) == c]
        assert d == sorted(d) and all(x >= 0 for x in d)  # nearest to the centroid first
    assert int(rows[0]["rank_in_cluster"]) == 0

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tb"), size_guidance={"images": 0}).Reload()
    tags = events.Tags()["images"]
    assert "clusters/overview" in tags and sum(t.startswith("clusters/0") for t in tags) == len(grids)
    assert any(t.startswith("plots/learning_curves") for t in tags)


@pytest.mark.slow
def test_recluster_and_export_of_the_run(tiny_run, tmp_path):
    out = tmp_path / "re"
    assert inspect_main(["--checkpoint", str(tiny_run), "--out", str(out), "--k", "4", "--no-tensorboard",
                         "--per-cluster", "6"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clusters_from"].startswith("k-means (k=4") and len(summary["sizes"]) == 4
    assert not (out / "tb").exists() and len(list((out / "grids").glob("*.png"))) == 4

    export_backbone(tiny_run, tmp_path / "exp", program=False)  # a run directory exports its newest checkpoint
    pre = load_pretrained(tiny_run)
    source = build_checked_source(pre, data_config(pre))
    images = next(source.batches(range(64), 64, train=False, seed=0, workers=0))[0]
    from deepcluster.data.augment import normalize

    x = normalize(images, source.mean, source.std)
    with torch.no_grad():
        assert torch.equal(load_backbone(tmp_path / "exp")(x), pre.extractor(x))
    card = json.loads((tmp_path / "exp" / "model_card.json").read_text())
    assert card["epoch"] == 0 and "nmi_labels" in card["metrics"]
    assert inspect_main(["--checkpoint", str(tmp_path / "exp"), "--out", str(tmp_path / "ex"), "--limit", "200",
                         "--data", "fashion_mnist", "--no-tensorboard", "--max-clusters", "3"]) == 0
    summary = json.loads((tmp_path / "ex" / "summary.json").read_text())
    assert summary["k"] == K and summary["n_samples"] == 200 and summary["grids"] == 3
