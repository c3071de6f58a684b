"""Export a pretrained backbone for use outside this project, and load it back without pickle.

``export_backbone`` writes three files into a directory:

- ``backbone.safetensors``: the weights. Backbone keys carry no prefix, so a ResNet trained with
  ``model.sobel=false`` loads into ``torchvision.models.resnet18()`` (or ``resnet50()``) with only ``fc.*``
  missing. The fixed Sobel filters are stored under ``sobel.``, the DeepCluster MLP (compact net,
  AlexNet) under ``mlp.``: both are part of the feature extractor, and both would otherwise be lost.
- ``model_card.json``: architecture, Sobel, input size/channels/normalisation, feature dimension,
  training config, epoch and metrics; enough to rebuild the network.
- ``backbone.pt2``: a ``torch.export`` program (dynamic batch size) for deployment. Loading it goes
  through pickle, so it is for files you produced; ``load_backbone`` never reads it.

The card is written last, after the exported files have been re-loaded and checked against the
checkpoint on random inputs: a directory with a card is a complete, verified export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save

from .atomic import atomic_open, write_bytes_atomic, write_json_atomic
from .data.build import STATS
from .models import FeatureExtractor
from .models.export_format import (CARD_FORMAT, CARD_NAME, PROGRAM_NAME, WEIGHTS_NAME, backbone_from_card,
                                   load_backbone, read_model_card, to_file_keys)
from .pretrained import Pretrained, load_pretrained
from .version import __version__

__all__ = ["export_backbone", "load_backbone", "read_model_card", "model_card", "PROGRAM_NAME", "WEIGHTS_NAME"]


def _feature_note(arch: str) -> str:
    if arch.startswith("resnet"):
        return "global-average-pooled output of layer4 (torchvision's input to fc)"
    return "output of the DeepCluster MLP before its last ReLU (the representation k-means clustered)"


def model_card(pre: Pretrained) -> dict[str, Any]:
    source = pre.config.data
    mean, std = STATS[source.name]
    return {
        "format": CARD_FORMAT,
        "model": {"arch": pre.config.model.arch, "sobel": pre.config.model.sobel, "width": pre.config.model.width,
                  "mlp_dim": pre.config.model.mlp_dim},
        "input": {"channels": pre.channels, "size": pre.image_size, "mean": list(mean), "std": list(std),
                  "layout": "NCHW float32", "normalisation": "x = (pixels / 255 - mean) / std, per channel; "
                  "Sobel (if any) is inside the model and expects this normalised image"},
        "feature_dim": pre.extractor.feature_dim,
        "features": _feature_note(pre.config.model.arch),
        "weights": {"file": WEIGHTS_NAME, "backbone_prefix": "", "sobel_prefix": "sobel.", "mlp_prefix": "mlp.",
                    "note": "ResNet backbone keys are torchvision's; fc is not included"},
        "program": {"file": PROGRAM_NAME, "load": "torch.export.load (uses pickle: only for trusted files)"},
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


@torch.no_grad()
def check_export(reference: FeatureExtractor, out_dir: Path, card: dict, atol: float = 1e-4) -> dict:
    """Re-load both exported forms and compare them with the checkpoint's network on random inputs."""
    channels, size = card["input"]["channels"], card["input"]["size"]
    x = torch.randn(3, channels, size, size, generator=torch.Generator().manual_seed(0))
    expected = reference.eval()(x)
    reloaded = backbone_from_card(card, out_dir / WEIGHTS_NAME)(x)
    program = torch.export.load(out_dir / PROGRAM_NAME).module()(x)
    report = {"max_abs_diff_safetensors": float((reloaded - expected).abs().max()),
              "max_abs_diff_program": float((program - expected).abs().max())}
    if not torch.equal(reloaded, expected):
        raise RuntimeError(f"export check failed: the safetensors reload differs from the checkpoint ({report})")
    if not torch.allclose(program, expected, atol=atol, rtol=1e-4):
        raise RuntimeError(f"export check failed: the torch.export program differs from the checkpoint ({report})")
    return report


def export_backbone(checkpoint: str | Path, out_dir: str | Path, program: bool = True) -> dict[str, Any]:
    """Write weights, program and card for ``checkpoint`` (file, run dir or export dir); returns the card."""
    pre = load_pretrained(checkpoint)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / CARD_NAME).unlink(missing_ok=True)  # no card until the new export is complete and checked
    extractor = pre.extractor.cpu().eval()
    card = model_card(pre)
    write_bytes_atomic(out_dir / WEIGHTS_NAME, save(to_file_keys(extractor.state_dict()),
                                                    metadata={"format": CARD_FORMAT, "card": CARD_NAME}))
    if program:
        with atomic_open(out_dir / PROGRAM_NAME) as f:
            torch.export.save(export_program(extractor, pre.channels, pre.image_size), f)
        card["export_check"] = check_export(extractor, out_dir, card)
    else:
        card["program"] = None
    write_json_atomic(out_dir / CARD_NAME, card, default=float)
    return card
