"""Export a pretrained backbone for use outside this project, and load it back without pickle.

``export_backbone`` writes three files into a directory:

- ``backbone.safetensors``: the weights. Backbone keys carry no prefix, so a ResNet trained with
  ``model.sobel=false`` loads into ``torchvision.models.resnet18()`` (or ``resnet50()``) with only ``fc.*``
  missing, on RGB or grayscale data: a grayscale ResNet's 1-channel ``conv1`` is stored spread over 3
  channels (kernel / 3 each), so it takes a grayscale image replicated to RGB and gives the trained
  features. The fixed Sobel filters are stored under ``sobel.``, the DeepCluster MLP (compact net,
  AlexNet) under ``mlp.``: both are part of the feature extractor, and both would otherwise be lost;
  such networks load with ``load_backbone`` (or the program), not into plain torchvision.
- ``model_card.json``: architecture, Sobel, input size/channels/normalisation, feature dimension, how to
  load it (``load``, ``torchvision``), training config, epoch and metrics; enough to rebuild the network.
- ``backbone.pt2``: a ``torch.export`` program (dynamic batch size) for deployment. Loading it goes
  through pickle, so it is for files you produced; ``load_backbone`` never reads it.

The card is written last, after every exported form has been re-loaded and checked against the
checkpoint on random inputs (``load_backbone``'s rebuild bit for bit; torchvision and the program to
1e-4): a directory with a card is a complete, verified export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

from .atomic import atomic_open, write_bytes_atomic, write_json_atomic
from .data.build import STATS
from .models import FeatureExtractor
from .models.export_format import (CARD_FORMAT, CARD_NAME, PROGRAM_NAME, RGB, WEIGHTS_NAME, backbone_from_card,
                                   load_backbone, read_model_card, replicates_conv1, to_file_keys)
from .models.resnet import RESNETS
from .pretrained import Pretrained, load_pretrained
from .version import __version__

__all__ = ["export_backbone", "load_backbone", "load_torchvision", "read_model_card", "model_card",
           "PROGRAM_NAME", "WEIGHTS_NAME"]

TORCHVISION_MISSING = ["fc.bias", "fc.weight"]
OWN_LOADERS = ("deepcluster.load_backbone(DIR) (JSON + safetensors, no pickle), or "
               "torch.export.load('DIR/backbone.pt2').module() (pickle: only for trusted files)")


def _feature_note(arch: str) -> str:
    if arch.startswith("resnet"):
        return "global-average-pooled output of layer4 (torchvision's input to fc)"
    return "output of the DeepCluster MLP before its last ReLU (the representation k-means clustered)"


def torchvision_section(arch: str, sobel: bool, channels: int, mean: list, std: list) -> dict[str, Any]:
    """Whether (and how) ``backbone.safetensors`` loads into a plain torchvision model."""
    if sobel:
        return {"loads": False, "why": "the fixed Sobel front end (sobel.*: grayscale, then 2 gradient maps) "
                "comes before conv1, which takes those 2 channels; plain torchvision has no place for it"}
    if not arch.startswith("resnet"):
        return {"loads": False, "why": f"{arch} is DeepCluster's own network, not a torchvision architecture"}
    if channels not in (1, RGB):
        return {"loads": False, "why": f"conv1 takes {channels}-channel images; torchvision's takes 3"}
    gray = channels == 1
    how = ("replicate the grayscale image to 3 channels and normalise each with the grayscale mean/std "
           "(the same as normalising, then replicating)" if gray else "x = (pixels / 255 - mean) / std, per channel")
    return {"loads": True, "model": f"torchvision.models.{arch}()", "strict_false_missing": TORCHVISION_MISSING,
            "input": {"channels": RGB, "mean": mean * RGB if len(mean) == 1 else mean,
                      "std": std * RGB if len(std) == 1 else std, "normalisation": how},
            "conv1": "the trained 1-channel kernel / 3 on each RGB channel (they sum back to it)" if gray
            else "as trained"}


def _load_note(tv: dict[str, Any], arch: str, gray: bool) -> str:
    if not tv["loads"]:
        return f"Not loadable into plain torchvision ({tv['why']}). Use {OWN_LOADERS}."
    note = (f"torchvision.models.{arch}().load_state_dict(safetensors.torch.load_file('DIR/{WEIGHTS_NAME}'), "
            "strict=False) reports only fc.weight and fc.bias missing; set .fc = torch.nn.Identity() for the "
            "features (or use deepcluster.export.load_torchvision(DIR)).")
    if gray:
        note += (" Its input is RGB: a grayscale image replicated to 3 channels, normalised with "
                 "torchvision.input.mean/std (each channel the grayscale stats). deepcluster.load_backbone(DIR) "
                 "rebuilds the network as trained (1-channel input, input.mean/std).")
    return note


def model_card(pre: Pretrained, program: bool = True) -> dict[str, Any]:
    model = {"arch": pre.config.model.arch, "sobel": pre.config.model.sobel, "width": pre.config.model.width,
             "mlp_dim": pre.config.model.mlp_dim}
    mean, std = (list(s) for s in STATS[pre.config.data.name])
    replicated = replicates_conv1(model, pre.channels)
    tv = torchvision_section(model["arch"], model["sobel"], pre.channels, mean, std)
    weights = {"file": WEIGHTS_NAME, "backbone_prefix": "", "sobel_prefix": "sobel.", "mlp_prefix": "mlp.",
               "note": "ResNet backbone keys are torchvision's; fc is not included"}
    if replicated:
        weights["conv1_replicated_from"] = 1  # load_backbone folds conv1.weight back: sum over its 3 channels
    return {
        "format": CARD_FORMAT,
        "model": model,
        "input": {"channels": pre.channels, "size": pre.image_size, "mean": mean, "std": std,
                  "layout": "NCHW float32", "normalisation": "x = (pixels / 255 - mean) / std, per channel; "
                  "Sobel (if any) is inside the model and expects this normalised image; this is the input of "
                  "load_backbone and the program (torchvision's is under torchvision.input)"},
        "feature_dim": pre.extractor.feature_dim,
        "features": _feature_note(model["arch"]),
        "load": _load_note(tv, model["arch"], replicated),
        "torchvision": tv,
        "weights": weights,
        "program": {"file": PROGRAM_NAME, "load": "torch.export.load (uses pickle: only for trusted files)"}
        if program else None,
        "training_config": pre.raw_config or pre.config.to_dict(),
        "epoch": pre.epoch,
        "metrics": pre.metrics,
        "source_checkpoint": str(pre.path),
        "deepcluster_version": __version__,
        "torch_version": torch.__version__,
    }


def export_program(extractor: FeatureExtractor, channels: int, size: int) -> torch.export.ExportedProgram:
    """``torch.export`` of the eval-mode extractor with a dynamic batch dimension."""
    example = torch.randn(2, channels, size, size)
    batch = torch.export.Dim("batch", min=1, max=65536)
    return torch.export.export(extractor.eval(), (example,), dynamic_shapes=({0: batch},))


def load_torchvision(directory: str | Path, card: dict | None = None) -> torch.nn.Module:
    """The export as a plain torchvision ResNet (``fc`` = identity, eval mode): what a user without this
    package gets. Refused, with the card's reason, for networks torchvision cannot hold (Sobel, compact, AlexNet)."""
    directory = Path(directory)
    card = card or read_model_card(directory)
    tv = card.get("torchvision") or {"loads": card["model"]["arch"].startswith("resnet") and not card["model"]["sobel"]
                                     and card["input"]["channels"] == RGB, "why": "format 1 export"}
    if not tv["loads"]:
        raise ValueError(f"{directory} does not load into plain torchvision: {tv['why']}; use {OWN_LOADERS}")
    model = RESNETS[card["model"]["arch"]](weights=None)
    result = model.load_state_dict(load_file(str(directory / WEIGHTS_NAME)), strict=False)
    if sorted(result.missing_keys) != TORCHVISION_MISSING or result.unexpected_keys:
        raise ValueError(f"{directory / WEIGHTS_NAME} does not load into torchvision with only fc.* missing: "
                         f"missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    model.fc = torch.nn.Identity()
    return model.eval()


@torch.no_grad()
def check_export(reference: FeatureExtractor, out_dir: Path, card: dict, atol: float = 1e-4) -> dict:
    """Re-load every exported form and compare it with the checkpoint's network on random inputs:
    ``load_backbone``'s rebuild must be bit-identical; torchvision's (on the input replicated to RGB when the
    network is grayscale) and the program within ``atol``/1e-4 relative."""
    channels, size = card["input"]["channels"], card["input"]["size"]
    x = torch.randn(3, channels, size, size, generator=torch.Generator().manual_seed(0))
    expected = reference.eval()(x)
    outputs = {"safetensors": backbone_from_card(card, out_dir / WEIGHTS_NAME)(x)}
    if card["torchvision"]["loads"]:
        outputs["torchvision"] = load_torchvision(out_dir, card)(x.expand(-1, RGB, -1, -1) if channels == 1 else x)
    if card["program"]:
        outputs["program"] = torch.export.load(out_dir / PROGRAM_NAME).module()(x)
    report = {f"max_abs_diff_{name}": float((out - expected).abs().max()) for name, out in outputs.items()}
    for name, out in outputs.items():
        same = torch.equal(out, expected) if name == "safetensors" else torch.allclose(out, expected, atol=atol,
                                                                                       rtol=1e-4)
        if not same:
            raise RuntimeError(f"export check failed: the {name} reload differs from the checkpoint ({report})")
    return report


def export_backbone(checkpoint: str | Path, out_dir: str | Path, program: bool = True) -> dict[str, Any]:
    """Write weights, program and card for ``checkpoint`` (file, run dir or export dir); returns the card."""
    pre = load_pretrained(checkpoint)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CARD_NAME).unlink(missing_ok=True)  # no card until the new export is complete and checked
    extractor = pre.extractor.cpu().eval()
    card = model_card(pre, program)
    replicate = "conv1_replicated_from" in card["weights"]
    write_bytes_atomic(out_dir / WEIGHTS_NAME, save(to_file_keys(extractor.state_dict(), replicate),
                                                    metadata={"format": CARD_FORMAT, "card": CARD_NAME}))
    if program:
        with atomic_open(out_dir / PROGRAM_NAME) as f:
            torch.export.save(export_program(extractor, pre.channels, pre.image_size), f)
    else:
        (out_dir / PROGRAM_NAME).unlink(missing_ok=True)  # a previous export's program would not match
    card["export_check"] = check_export(extractor, out_dir, card)
    write_json_atomic(out_dir / CARD_NAME, card, default=float)
    return card
