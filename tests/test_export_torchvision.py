"""Export into plain torchvision: grayscale ResNets widen conv1 to RGB, Sobel/compact/AlexNet say how to load them.

The bar (issue 29): ``launch/export.py`` on a ``model.arch=resnet18 model.sobel=false`` Fashion-MNIST checkpoint
loads into ``torchvision.models.resnet18()`` with only ``fc.*`` missing, and gives the trained features on the
grayscale image replicated to RGB; ``deepcluster.load_backbone`` still rebuilds the 1-channel network exactly.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch
import torchvision
from safetensors.torch import load_file, save_file

from deepcluster.cli.export import main as export_main
from deepcluster.export import PROGRAM_NAME, WEIGHTS_NAME, export_backbone, load_backbone, load_torchvision
from deepcluster.models.export_format import fold_channels, spread_channels
from deepcluster.pretrained import load_pretrained
from test_export import save_checkpoint_like

GRAY_RESNET = ["model.arch=resnet18", "model.sobel=false"]  # Fashion-MNIST: 1 channel, 28 px
FMNIST_MEAN, FMNIST_STD = 0.2860, 0.3530


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def plain_torchvision(arch: str, weights) -> torch.nn.Module:
    """What a user without this package does: strict except for the classifier, which is not exported."""
    model = getattr(torchvision.models, arch)()
    result = model.load_state_dict(load_file(str(weights)), strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"] and result.unexpected_keys == []
    model.fc = torch.nn.Identity()
    return model.eval()


def test_spread_channels_folds_back_bit_for_bit():
    w = torch.randn(4096, 1, 1, 1) * torch.logspace(-40, 30, 4096).view(-1, 1, 1, 1)
    w = torch.cat([w, torch.tensor([0.0, -0.0, torch.finfo().tiny, -torch.finfo().max / 2]).view(-1, 1, 1, 1)])
    spread = spread_channels(w)
    assert spread.shape == (w.shape[0], 3, 1, 1)
    assert torch.equal(spread[:, 0], spread[:, 1]) and torch.equal(spread[:, 0], w[:, 0] / 3)
    torch.testing.assert_close(spread[:, 2], w[:, 0] / 3)  # the rounding remainder: within an ulp or so
    assert torch.equal(fold_channels(spread), w)


def test_grayscale_resnet18_cli_export_loads_into_plain_torchvision(tmp_path, umask_022, capsys):
    net = save_checkpoint_like(tmp_path / "ck.pt", GRAY_RESNET, 1, 28)
    out = tmp_path / "exp"
    assert export_main(["--checkpoint", str(tmp_path / "ck.pt"), "--out", str(out)]) == 0
    assert "replicated to 3 channels" in capsys.readouterr().out

    card = json.loads((out / "model_card.json").read_text())
    assert card["format"] == "deepcluster-backbone/2" and card["weights"]["conv1_replicated_from"] == 1
    assert card["input"]["channels"] == 1 and card["input"]["mean"] == pytest.approx([FMNIST_MEAN])
    tv = card["torchvision"]
    assert tv["loads"] and tv["input"]["channels"] == 3
    assert tv["input"]["mean"] == pytest.approx([FMNIST_MEAN] * 3) and tv["input"]["std"] == pytest.approx(
        [FMNIST_STD] * 3)
    assert set(card["export_check"]) == {"max_abs_diff_safetensors", "max_abs_diff_torchvision",
                                         "max_abs_diff_program"}
    state = load_file(str(out / WEIGHTS_NAME))
    assert state["conv1.weight"].shape == (64, 3, 7, 7)
    assert torch.equal(state["conv1.weight"][:, :2], (net.backbone.conv1.weight / 3).expand(-1, 2, -1, -1))

    pixels = torch.rand(4, 1, 28, 28)  # a grayscale image, 0..1
    gray = (pixels - FMNIST_MEAN) / FMNIST_STD
    rgb_mean = torch.tensor(tv["input"]["mean"]).view(1, 3, 1, 1)
    rgb_std = torch.tensor(tv["input"]["std"]).view(1, 3, 1, 1)
    rgb = (pixels.expand(-1, 3, -1, -1) - rgb_mean) / rgb_std  # replicated to RGB, normalised as the card says
    with torch.no_grad():
        expected = net.features(gray)
        torch.testing.assert_close(plain_torchvision("resnet18", out / WEIGHTS_NAME)(rgb), expected,
                                   rtol=1e-4, atol=1e-4)  # 3x the products, summed in another order
        assert torch.equal(load_backbone(out)(gray), expected)  # our loader folds conv1 back: bit for bit
        torch.testing.assert_close(torch.export.load(out / PROGRAM_NAME).module()(gray), expected,
                                   rtol=1e-5, atol=1e-5)
    pre = load_pretrained(out)  # the export still serves probes on 1-channel data
    assert pre.channels == 1 and pre.image_size == 28 and pre.config.model.sobel is False

    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes == {"backbone.safetensors": 0o644, "backbone.pt2": 0o644, "model_card.json": 0o644}


def test_grayscale_resnet50_loads_into_plain_torchvision(tmp_path):
    net = save_checkpoint_like(tmp_path / "ck.pt", ["model.arch=resnet50", "model.sobel=false"], 1, 28)
    card = export_backbone(tmp_path / "ck.pt", tmp_path / "exp", program=False)
    assert card["torchvision"]["loads"] and card["program"] is None
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        expected = net.features(x)
        reference = plain_torchvision("resnet50", tmp_path / "exp" / WEIGHTS_NAME)
        torch.testing.assert_close(reference(x.expand(-1, 3, -1, -1)), expected, rtol=1e-4, atol=1e-4)
        assert torch.equal(load_backbone(tmp_path / "exp")(x), expected)


def test_format_1_exports_still_load(tmp_path):
    """An export written before format 2: 1-channel conv1 in the file, no torchvision section."""
    net = save_checkpoint_like(tmp_path / "ck.pt", GRAY_RESNET, 1, 28)
    out = tmp_path / "exp"
    export_backbone(tmp_path / "ck.pt", out, program=False)
    card = json.loads((out / "model_card.json").read_text())
    state = load_file(str(out / WEIGHTS_NAME))
    state["conv1.weight"] = fold_channels(state["conv1.weight"])
    save_file(state, str(out / WEIGHTS_NAME))
    for key in ("torchvision", "load"):
        del card[key]
    del card["weights"]["conv1_replicated_from"]
    card["format"] = "deepcluster-backbone/1"
    (out / "model_card.json").write_text(json.dumps(card))
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(load_backbone(out)(x), net.features(x))
    assert load_pretrained(out).channels == 1
    with pytest.raises(ValueError, match="does not load into plain torchvision"):
        load_torchvision(out)
    card["format"] = "deepcluster-backbone/9"
    (out / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="has format 'deepcluster-backbone/9'; this version reads"):
        load_backbone(out)


def test_sobel_resnet_card_says_how_to_load_it(tmp_path):
    overrides = ["model.arch=resnet18", "data.name=imagefolder", "data.root=unused", "data.image_size=32"]
    save_checkpoint_like(tmp_path / "ck.pt", overrides, 3, 32)
    card = export_backbone(tmp_path / "ck.pt", tmp_path / "exp", program=False)
    assert card["torchvision"]["loads"] is False and "Sobel" in card["torchvision"]["why"]
    assert "Not loadable into plain torchvision" in card["load"] and "deepcluster.load_backbone" in card["load"]
    assert "backbone.pt2" in card["load"] and "conv1_replicated_from" not in card["weights"]
    with pytest.raises(ValueError, match="Sobel"):
        load_torchvision(tmp_path / "exp")


def test_alexnet_export_roundtrip(tmp_path):
    net = save_checkpoint_like(tmp_path / "ck.pt", ["model.arch=alexnet", "data.image_size=64"], 1, 64)
    card = export_backbone(tmp_path / "ck.pt", tmp_path / "exp", program=False)
    assert card["torchvision"]["loads"] is False and card["feature_dim"] == 4096
    assert "max_abs_diff_torchvision" not in card["export_check"]
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(load_backbone(tmp_path / "exp")(x), net.features(x))
