"""launch/extract.py: features of any layer into the .npz that launch/cluster.py reads."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, write_shapes_folder
from deepcluster.config import load_config
from deepcluster.data import build_source
from deepcluster.evaluation.frozen_features import extract_for_checkpoint
from deepcluster.heads.inputs import load_features_file
from deepcluster.models import build_network
from deepcluster.models.taps import pool_side_at_most
from deepcluster.pretrained import load_pretrained, make_checkpoint


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


def test_conv_layers_are_pooled_to_at_most_2048_dims_by_default_and_say_so(
        tmp_path, fashion_mnist_root, caplog, capsys):
    """conv3 of the shipped compact net (width 32) is 128 x 7 x 7 = 6,272 dims: the default file holds 2,048."""
    caplog.set_level(logging.INFO)
    ckpt = checkpoint(tmp_path / "ck.pt", ["model.width=32"], 1, 28)
    widths = {}
    for extra in ([], ["--max-dims", "4000"], ["--max-dims", "0"]):
        out = tmp_path / f"conv3{len(widths)}.npz"
        assert extract_main(["--checkpoint", str(ckpt), "--layer", "conv3", "--split", "test", "--limit", "30", *extra,
                             "--out", str(out)]) == 0
        with np.load(out) as f:
            widths[" ".join(extra) or "default"] = f["features"].shape[1]
    assert widths == {"default": 128 * 4 * 4, "--max-dims 4000": 128 * 5 * 5, "--max-dims 0": 128 * 7 * 7}
    said = caplog.text
    assert ("conv3 of compact: 128 x 7 x 7 = 6,272 dims, average-pooled to 128 x 4 x 4 = 2,048 (--max-dims 2048, "
            "the default; raise it for more, 0 keeps all 6,272)") in said
    assert "128 x 7 x 7 = 6,272 dims, unpooled (--max-dims 0)" in said
    capsys.readouterr()
    with pytest.raises(SystemExit):
        extract_main(["--help"])
    assert "default 2,048" in " ".join(capsys.readouterr().out.split())


BOUNDS = [(128, 7, 2048), (96, 13, 2048), (256, 6, 2048), (64, 14, 1000), (2048, 7, 2048), (32, 7, 100000)]


@pytest.mark.parametrize("channels, side, max_dims", BOUNDS)
def test_the_bound_is_never_exceeded_and_the_grid_is_the_largest_within_it(channels, side, max_dims):
    s = pool_side_at_most(channels, side, max_dims)
    assert channels * s * s <= max_dims and 1 <= s <= side
    assert s == side or channels * (s + 1) ** 2 > max_dims


def test_a_grayscale_folder_at_native_size_round_trips_through_a_checkpoint(tmp_path, caplog):
    """Trained on a folder of 20-px grayscale PNGs without data.image_size: the saved config says 20 px, so
    the checkpoint rebuilds at 20 px and 1 channel; a 3-channel network still reads the folder (as RGB)."""
    caplog.set_level(logging.INFO)
    root = tmp_path / "gray"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8), mode="L").save(root / label / f"{i}.png")
    cfg = load_config(None, ["run_dir=unused", "model.width=8", "model.mlp_dim=32", "data.name=imagefolder",
                             f"data.root={root}"])
    source = build_source(cfg.data)
    assert (source.channels, source.image_size, cfg.data.image_size) == (1, 20, 20)
    torch.manual_seed(0)
    torch.save(make_checkpoint(build_network(cfg.model, 1, 20, 5), cfg, epoch=0), tmp_path / "gray.pt")
    pre = load_pretrained(tmp_path / "gray.pt")
    assert (pre.channels, pre.image_size) == (1, 20)
    assert extract_main(["--checkpoint", str(tmp_path / "gray.pt"), "--workers", "0", "--out",
                         str(tmp_path / "g.npz")]) == 0
    rgb = checkpoint(tmp_path / "rgb.pt", ["data.name=imagefolder", f"data.root={root}", "data.image_size=20"], 3, 20)
    assert extract_main(["--checkpoint", str(rgb), "--workers", "0", "--out", str(tmp_path / "rgb.npz")]) == 0
    with np.load(tmp_path / "g.npz") as g, np.load(tmp_path / "rgb.npz") as c:
        assert g["features"].shape == c["features"].shape == (10, 32)
    assert "read as 3 channels for the network" in caplog.text
