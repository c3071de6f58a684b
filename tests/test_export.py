"""Export: safetensors + model card + torch.export program, reloaded without pickle, equal to the checkpoint."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import pytest
import torch
import torchvision
from safetensors.torch import load_file

from conftest import REPO
from deepcluster.config import load_config
import deepcluster
from deepcluster.export import PROGRAM_NAME, WEIGHTS_NAME, export_backbone, load_backbone
from deepcluster.models import build_network
from deepcluster.pretrained import load_pretrained, make_checkpoint


def save_checkpoint_like(path, overrides, channels, size, k=7, seed=0):
    cfg = load_config(None, ["run_dir=unused", *overrides])
    torch.manual_seed(seed)
    net = build_network(cfg.model, channels, size, k)
    with torch.no_grad():  # non-trivial BN statistics, so a wrong buffer mapping would show
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    torch.save(make_checkpoint(net.eval(), cfg, epoch=3, metrics={"nmi_labels": 0.5}), path)
    return net.eval()


def no_pickle(monkeypatch):
    """Make any unpickling fail, so a passing load proves that none happened."""
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)


@pytest.mark.slow
def test_compact_sobel_export_roundtrip(tmp_path, monkeypatch):
    net = save_checkpoint_like(tmp_path / "ck.pt", ["model.width=8", "model.mlp_dim=32"], 1, 28)
    cmd = [sys.executable, str(REPO / "launch" / "export.py"), "--checkpoint", str(tmp_path / "ck.pt"),
           "--out", str(tmp_path / "exp")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "exp"
    card = json.loads((out / "model_card.json").read_text())
    assert card["model"] == {"arch": "compact", "sobel": True, "width": 8, "mlp_dim": 32}
    assert card["input"]["size"] == 28 and card["input"]["channels"] == 1
    assert card["input"]["mean"] == pytest.approx([0.2860]) and card["input"]["std"] == pytest.approx([0.3530])
    assert card["epoch"] == 3 and card["metrics"] == {"nmi_labels": 0.5}
    assert card["training_config"]["model"]["width"] == 8 and card["feature_dim"] == 32
    assert card["torchvision"]["loads"] is False and "deepcluster.load_backbone" in card["load"]
    assert set(card["export_check"]) == {"max_abs_diff_safetensors", "max_abs_diff_program"}
    keys = set(load_file(str(out / WEIGHTS_NAME)))
    assert {"sobel.grayscale", "sobel.kernels"} <= keys and any(k.startswith("mlp.") for k in keys)
    assert not any(k.startswith(("backbone.", "top_layer.")) for k in keys)

    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        expected = net.features(x)
        program = torch.export.load(out / PROGRAM_NAME).module()
        torch.testing.assert_close(program(x), expected, rtol=1e-5, atol=1e-5)
        (out / PROGRAM_NAME).unlink()  # load_backbone must not need the pickled program
        no_pickle(monkeypatch)
        reloaded = deepcluster.load_backbone(out)  # the public entry point
        assert not reloaded.training
        assert torch.equal(reloaded(x), expected)
        assert torch.equal(reloaded.sobel.kernels, net.sobel.kernels)


@pytest.mark.slow
def test_resnet_without_sobel_loads_into_torchvision(tmp_path):
    overrides = ["model.arch=resnet18", "model.sobel=false", "data.name=imagefolder", "data.root=unused",
                 "data.image_size=32"]
    net = save_checkpoint_like(tmp_path / "ck.pt", overrides, 3, 32)
    export_backbone(tmp_path / "ck.pt", tmp_path / "exp", program=False)  # the program is tested above
    state = load_file(str(tmp_path / "exp" / WEIGHTS_NAME))
    reference = torchvision.models.resnet18()
    assert state["conv1.weight"].shape == (64, 3, 7, 7)  # an RGB network: conv1 as trained
    result = reference.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"] and result.unexpected_keys == []
    reference.fc = torch.nn.Identity()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(reference.eval()(x), net.features(x), rtol=0, atol=0)
        torch.testing.assert_close(load_backbone(tmp_path / "exp")(x), net.features(x), rtol=0, atol=0)


def test_resnet_with_sobel_keeps_filters_under_own_prefix(tmp_path):
    overrides = ["model.arch=resnet18", "data.name=imagefolder", "data.root=unused", "data.image_size=32"]
    net = save_checkpoint_like(tmp_path / "ck.pt", overrides, 3, 32)
    export_backbone(tmp_path / "ck.pt", tmp_path / "exp", program=False)
    state = load_file(str(tmp_path / "exp" / WEIGHTS_NAME))
    assert state["sobel.grayscale"].shape == (1, 3, 1, 1) and state["sobel.kernels"].shape == (2, 1, 3, 3)
    assert state["conv1.weight"].shape[1] == 2 and "layer4.1.bn2.running_var" in state
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(load_backbone(tmp_path / "exp")(x), net.features(x))
    pre = load_pretrained(tmp_path / "exp")  # export dirs serve everything checkpoints serve
    assert pre.kind == "export" and pre.image_size == 32 and pre.channels == 3 and pre.epoch == 3


class NotATensor:
    pass


def test_untrusted_pickles_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "config": {}, "epoch": 0, "payload": NotATensor()}, path)
    with pytest.raises(ValueError, match="weights_only"):
        load_pretrained(path)


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint file, a run directory or an export directory"):
        load_pretrained(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a deepcluster checkpoint"):
        load_pretrained(tmp_path / "other.pt")
    (tmp_path / "half").mkdir()
    with pytest.raises(FileNotFoundError, match="model_card.json"):
        load_backbone(tmp_path / "half")


def test_stale_training_only_settings_do_not_block_loading(tmp_path):
    save_checkpoint_like(tmp_path / "ck.pt", ["model.width=8", "model.mlp_dim=32"], 1, 28)
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    state["config"]["train"]["amp"] = "an option from another version"
    torch.save(state, tmp_path / "old.pt")
    assert load_pretrained(tmp_path / "old.pt").config.model.width == 8  # train.* cannot change the network
    state["config"]["model"]["arch"] = "vgg"
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="model.arch='vgg'"):
        load_pretrained(tmp_path / "bad.pt")
