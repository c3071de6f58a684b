"""launch/extract.py: features of any layer into the .npz that launch/cluster.py reads."""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

from conftest import REPO, write_shapes_folder
from deepcluster.config import load_config
from deepcluster.evaluation.frozen_features import extract_for_checkpoint
from deepcluster.heads.inputs import load_features_file
from deepcluster.models import build_network
from deepcluster.pretrained import make_checkpoint


def extract_main(args):
    spec = importlib.util.spec_from_file_location("launch_extract", REPO / "launch" / "extract.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(args)


def checkpoint(path, overrides, channels, size):
    cfg = load_config(None, ["run_dir=unused", "model.width=8", "model.mlp_dim=32", *overrides])
    torch.manual_seed(0)
    torch.save(make_checkpoint(build_network(cfg.model, channels, size, 5), cfg, epoch=0), path)
    return path


def test_fashion_mnist_layers_into_cluster_input(tmp_path, fashion_mnist_root):
    ckpt = checkpoint(tmp_path / "ck.pt", [], 1, 28)
    out = tmp_path / "penultimate.npz"
    assert extract_main(["--checkpoint", str(ckpt), "--limit", "250", "--out", str(out)]) == 0
    with np.load(out, allow_pickle=False) as f:
        assert f["features"].dtype == np.float32 and f["features"].shape == (250, 32)
        assert f["labels"].dtype == np.int64 and f["index"].dtype == np.int64
        assert f["index"].tolist() == list(range(250)) and f["keys"][:3].tolist() == ["0", "1", "2"]
        saved = f["features"]
    features, labels = load_features_file(out)  # the clustering heads' reader accepts it
    assert features.shape == (250, 32) and len(np.unique(labels)) == 10
    # same numbers as the shim the clustering heads call for --checkpoint
    direct, direct_labels = extract_for_checkpoint(str(ckpt), "fashion_mnist", None, limit=250)
    np.testing.assert_allclose(direct, saved, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(direct_labels, labels)

    assert extract_main(["--checkpoint", str(ckpt), "--layer", "conv2", "--split", "test", "--limit", "40",
                         "--target-dims", "1024", "--out", str(tmp_path / "conv2.npz")]) == 0
    with np.load(tmp_path / "conv2.npz") as f:
        assert f["features"].shape == (40, 16 * 8 * 8)  # 16 channels at 14 px, pooled to 8 px (~1,024 dims)
        assert (f["features"] >= 0).all()  # read after the ReLU, as the probe protocol


def test_image_folder_keeps_keys_and_skips_unreadable(tmp_path):
    root = tmp_path / "shapes"
    paths = write_shapes_folder(root, per_class=4, size=40)
    (root / "disc" / "broken.png").write_bytes(b"not an image")
    ckpt = checkpoint(tmp_path / "ck.pt", ["data.name=imagefolder", f"data.root={root}", "data.image_size=32"], 3, 32)
    out = tmp_path / "folder.npz"
    assert extract_main(["--checkpoint", str(ckpt), "--workers", "0", "--out", str(out)]) == 0
    with np.load(out) as f:
        keys, index, labels = f["keys"].tolist(), f["index"], f["labels"]
    assert sorted(keys) == sorted(paths) and "disc/broken.png" not in keys
    assert len(index) == 12 and len(np.unique(labels)) == 3
    assert all(k.split("/")[0] == ["disc", "square", "stripes"][label] for k, label in zip(keys, labels))


def test_unknown_layer_and_wrong_channels_are_refused(tmp_path, fashion_mnist_root, capsys):
    ckpt = checkpoint(tmp_path / "ck.pt", [], 1, 28)
    assert extract_main(["--checkpoint", str(ckpt), "--layer", "layer3", "--out", str(tmp_path / "x.npz")]) == 2
    assert "choose from conv1, conv2, conv3, penultimate" in capsys.readouterr().err
    root = tmp_path / "shapes"
    write_shapes_folder(root, per_class=2, size=28)
    assert extract_main(["--checkpoint", str(ckpt), "--data", "imagefolder", "--data-root", str(root),
                         "--out", str(tmp_path / "y.npz")]) == 2
    assert "1-channel images" in capsys.readouterr().err
