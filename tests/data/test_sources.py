import gzip
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_shapes_folder
from deepcluster.config import DataConfig
from deepcluster.data import build_source
from deepcluster.data.augment import random_resized_crop_flip
from deepcluster.data.idx import read_idx
from deepcluster.data.imagefolder import spread_sample


def test_fashion_mnist_from_the_debian_files(fashion_mnist_root):
    source = build_source(DataConfig(name="fashion_mnist", limit=100))
    assert len(source) == 100 and source.images.shape == (100, 1, 28, 28) and source.images.dtype == torch.uint8
    assert source.labels[:5].tolist() == [9, 0, 0, 3, 0]  # the published first training labels
    full = build_source(DataConfig(name="fashion_mnist", split="test"))
    assert len(full) == 10000


def test_idx_reader_rejects_truncated_files(tmp_path):
    header = bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + bytes(100)))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_image_folder_with_classes_has_labels(tmp_path):
    write_shapes_folder(tmp_path / "f", per_class=4)
    source = build_source(DataConfig(name="imagefolder", root=str(tmp_path / "f"), image_size=32))
    assert len(source) == 12 and sorted(set(source.labels.tolist())) == [0, 1, 2]
    images, idx = next(source.batches(range(12), 12, train=False, seed=0, workers=0))
    assert images.shape == (12, 3, 32, 32) and images.dtype == torch.uint8


def test_flat_image_folder_is_unlabelled(tmp_path):
    write_shapes_folder(tmp_path / "f", per_class=3, with_classes=False)
    source = build_source(DataConfig(name="imagefolder", root=str(tmp_path / "f"), image_size=32))
    assert source.labels is None and len(source) == 9


def test_odd_images_are_converted_and_broken_ones_skipped_and_counted(tmp_path):
    root = tmp_path / "mixed"
    write_shapes_folder(root, per_class=2, with_classes=False)
    Image.new("CMYK", (30, 30), (0, 255, 0, 0)).save(root / "cmyk.jpg")
    Image.fromarray((np.arange(900).reshape(30, 30) * 70).astype(np.uint16)).save(root / "deep16.png")
    Image.new("LA", (30, 30), (128, 200)).save(root / "gray_alpha.png")
    (root / "empty.png").write_bytes(b"")
    (root / "notes.jpg").write_text("not an image at all")
    full = root / "truncated.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(full)
    full.write_bytes(full.read_bytes()[:300])
    source = build_source(DataConfig(name="imagefolder", root=str(root), image_size=24))
    got = [i for _, idx in source.batches(range(len(source)), 4, train=False, seed=0, workers=2) for i in idx.tolist()]
    bad = {source.keys[i] for i in source.unreadable}
    assert bad == {"empty.png", "notes.jpg", "truncated.png"}
    assert {source.keys[i] for i in got} == set(source.keys) - bad
    assert {"cmyk.jpg", "deep16.png", "gray_alpha.png"} <= {source.keys[i] for i in got}


def test_batched_crop_is_seeded_and_keeps_the_size():
    images = torch.rand(16, 2, 28, 28)
    a = random_resized_crop_flip(images, torch.Generator().manual_seed(1), min_scale=0.3)
    b = random_resized_crop_flip(images, torch.Generator().manual_seed(1), min_scale=0.3)
    c = random_resized_crop_flip(images, torch.Generator().manual_seed(2), min_scale=0.3)
    assert a.shape == images.shape and torch.equal(a, b) and not torch.equal(a, c)
    identity = random_resized_crop_flip(images, torch.Generator().manual_seed(1), min_scale=1.0, flip=False,
                                        ratio=(1.0, 1.0))
    torch.testing.assert_close(identity, images, atol=1e-5, rtol=0)


def gray_folder(root, n=6, size=(20, 20), mode="L"):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, size[::-1], dtype=np.uint8), mode="L").convert(mode).save(
            root / f"{i:03d}.png")
    return root


def test_an_image_folder_takes_its_native_size_and_says_why(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="deepcluster.data.build")
    write_shapes_folder(tmp_path / "f", per_class=3, size=40)
    cfg = DataConfig(name="imagefolder", root=str(tmp_path / "f"))
    source = build_source(cfg)
    assert (source.image_size, source.channels, cfg.image_size) == (40, 3, 40)  # recorded for the checkpoints
    images, _ = next(source.batches(range(9), 9, train=False, seed=0, workers=0))
    assert images.shape == (9, 3, 40, 40)
    assert "40 px (native: every sampled image is 40x40" in caplog.text and "3 channels (RGB" in caplog.text
    assert "9 of 9 files sampled" in caplog.text


def test_mixed_sizes_fall_back_to_224_and_an_explicit_size_wins(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="deepcluster.data.build")
    write_shapes_folder(tmp_path / "f", per_class=2, size=40)
    gray_folder(tmp_path / "f" / "other", n=2, size=(30, 30), mode="RGB")
    assert build_source(DataConfig(name="imagefolder", root=str(tmp_path / "f"))).image_size == 224
    assert "224 px (224: the sampled images have 2 sizes (40x40, 30x30)" in caplog.text
    assert build_source(DataConfig(name="imagefolder", root=str(tmp_path / "f"), image_size=32)).image_size == 32
    assert "32 px (data.image_size=32)" in caplog.text
    gray_folder(tmp_path / "wide", size=(36, 24), mode="RGB")  # one shared non-square size: its shorter side
    assert build_source(DataConfig(name="imagefolder", root=str(tmp_path / "wide"))).image_size == 24


def test_a_grayscale_folder_is_one_channel_unless_a_network_needs_three(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="deepcluster.data.build")
    root = gray_folder(tmp_path / "g", n=7)
    source = build_source(DataConfig(name="imagefolder", root=str(root)))
    assert (source.channels, source.image_size, len(source.mean), len(source.std)) == (1, 20, 1, 1)
    images, _ = next(source.batches(range(7), 7, train=False, seed=0, workers=0))
    crops, _ = next(source.batches(range(7), 7, train=True, seed=0, workers=0))
    assert images.shape == crops.shape == (7, 1, 20, 20)
    assert "1 channel: every sampled image is grayscale (mode L)" in caplog.text
    as_rgb = build_source(DataConfig(name="imagefolder", root=str(root)), channels=3)
    rgb, _ = next(as_rgb.batches(range(7), 7, train=False, seed=0, workers=0))
    assert rgb.shape == (7, 3, 20, 20) and torch.equal(rgb[:, :1].expand(-1, 3, -1, -1), rgb)
    assert torch.equal(rgb[:, 0], images[:, 0])
    Image.new("RGB", (20, 20), (200, 10, 10)).save(root / "colour.png")  # one colour image: RGB folder
    assert build_source(DataConfig(name="imagefolder", root=str(root))).channels == 3


def test_the_sample_is_spread_over_the_whole_folder():
    files = [f"{i:04d}.png" for i in range(1000)]
    sample = spread_sample(files)
    assert len(sample) == 64 == len(set(sample)) and sample[0] == files[0] and sample[-1] == files[-1]
    assert spread_sample(files[:10]) == files[:10]
