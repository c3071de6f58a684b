"""Readable cluster pictures: thumbnails of at least 64 px, captions (id, size, purity), image folders."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import torch
from PIL import Image

from conftest import REPO, write_shapes_folder
from deepcluster.config import load_config
from deepcluster.data.sources import TensorSource
from deepcluster.inspection.sheet import (CAPTION_BAND, ClusterCaption, cluster_captions, contact_sheet, enlarge,
                                          label_names, thumbnail_side)
from deepcluster.models import build_network
from deepcluster.pretrained import make_checkpoint
from deepcluster.visualize import cluster_grid


def caption_is_drawn(picture: np.ndarray, top: int = 0) -> bool:
    """Dark text on the light band that starts at row ``top`` (2 px padding, then the band)."""
    band = np.asarray(picture)[top + 2:top + CAPTION_BAND].min(axis=2)
    return bool((band == band.max()).mean() > 0.7 and (band < 100).sum() > 50)


def test_small_images_are_enlarged_by_a_whole_factor_with_nearest_neighbour():
    assert [thumbnail_side(s) for s in (28, 32, 40, 64, 96, 224)] == [84, 64, 80, 64, 96, 224]
    images = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    big = enlarge(images, 84)
    assert big.shape == (2, 3, 84, 84)
    for dy in range(3):
        for dx in range(3):
            assert torch.equal(big[:, :, dy::3, dx::3], images.expand(-1, 3, -1, -1))
    assert enlarge(torch.zeros(1, 3, 96, 96, dtype=torch.uint8), 96).shape == (1, 3, 96, 96)


def test_captions_give_id_size_purity_and_the_majority_label():
    assignments = np.array([0, 0, 0, 2, 2, -1, 2])
    labels = np.array([1, 1, 3, 7, 7, 0, 7])
    captions = cluster_captions(assignments, 3, labels, label_names("fashion_mnist", labels, []))
    assert set(captions) == {0, 2}  # empty cluster 1 gets none; the left-out sample counts nowhere
    assert captions[0].text() == "cluster 0  ·  3 samples  ·  purity 67 % (majority: label 1 Trouser)"
    assert (captions[2].size, captions[2].label, captions[2].purity) == (3, 7, 1.0)
    assert cluster_captions(assignments, 3, None)[2].text() == "cluster 2  ·  3 samples"
    names = label_names("imagefolder", np.array([0, 1, 1]), ["disc/a.png", "square/b.png", "square/c.png"])
    assert names == {0: "disc", 1: "square"}


def test_contact_sheet_sizes_and_caption_bands():
    side, cell = 84, 86
    grey, light = (torch.full((n, 1, 28, 28), v, dtype=torch.uint8) for n, v in ((12, 90), (3, 200)))
    blocks = [(ClusterCaption(4, 12, 0.5, 2, "Pullover").text(), enlarge(grey, side)),
              (ClusterCaption(9, 3).text(), enlarge(light, side))]
    sheet = np.asarray(contact_sheet(blocks, side))
    assert sheet.shape == (CAPTION_BAND + 2 * cell + CAPTION_BAND + cell + 2, 8 * cell + 2, 3)
    assert caption_is_drawn(sheet) and caption_is_drawn(sheet, CAPTION_BAND + 2 * cell)
    assert (sheet[CAPTION_BAND + 2:CAPTION_BAND + 2 + side, 2:2 + side] == 90).all()  # first thumbnail, 84 px
    wide = contact_sheet([("a caption much longer than one thumbnail is wide", blocks[1][1][:1])], side, per_row=1)
    assert wide.size[0] > cell + 2 and caption_is_drawn(np.asarray(wide))


def test_training_grid_keeps_its_cheap_native_size_layout():
    images = torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8)
    source = TensorSource(labels=None, keys=[str(i) for i in range(20)], channels=1, image_size=28, mean=(0.5,),
                          std=(0.5,), images=images)
    assignments = np.repeat([0, 1], 10)
    grid = cluster_grid(source, assignments, np.arange(20, dtype=np.float32), [0, 1], per_cluster=8)
    assert grid.dtype == torch.uint8 and grid.shape == (3, 2 * 30 + 2, 8 * 30 + 2)
    assert torch.equal(grid[0, 2:30, 2:30], images[0, 0]) and torch.equal(grid[0, 32:60, 2:30], images[10, 0])


def inspect_main(args):
    spec = importlib.util.spec_from_file_location("launch_inspect", REPO / "launch" / "inspect_clusters.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(args)


def test_image_folder_grids_name_classes_by_subfolder_and_skip_purity_without_labels(tmp_path):
    for name, with_classes in (("labelled", True), ("flat", False)):
        root = tmp_path / name
        write_shapes_folder(root, per_class=6, size=40, with_classes=with_classes)
        cfg = load_config(None, ["run_dir=unused", "data.name=imagefolder", f"data.root={root}", "data.image_size=40",
                                 "model.width=8", "model.mlp_dim=32", "cluster.k=3", "cluster.pca_dim=8"])
        torch.manual_seed(0)
        torch.save(make_checkpoint(build_network(cfg.model, 3, 40, 3), cfg, epoch=-1), tmp_path / f"{name}.pt")
        out = tmp_path / f"inspect_{name}"
        assert inspect_main(["--checkpoint", str(tmp_path / f"{name}.pt"), "--out", str(out), "--k", "3",
                             "--no-tensorboard", "--per-cluster", "4"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        grids = sorted((out / "grids").glob("*.png"))
        assert len(grids) == sum(size > 0 for size in summary["sizes"])
        for grid in grids:
            picture = np.asarray(Image.open(grid).convert("RGB"))
            assert picture.shape[:2] == (CAPTION_BAND + 82 + 2, 8 * 82 + 2)  # 40 px shown at 80 px
            assert caption_is_drawn(picture)
        if with_classes:
            assert set(summary["majority_label_name"].values()) <= {"disc", "square", "stripes"}
            assert all(0 < p <= 1 for p in summary["purity"].values())
        else:
            assert summary["purity"] is None and summary["majority_label"] is None
