"""The export file format: what ``launch/export.py`` writes and ``load_backbone`` reads, without pickle.

An export directory holds ``backbone.safetensors`` (backbone keys unprefixed, so a ResNet trained with
``model.sobel=false`` loads into ``torchvision.models.resnet18()`` with only ``fc.*`` missing; the Sobel
filters under ``sobel.``, the DeepCluster MLP under ``mlp.``) and ``model_card.json`` (architecture, input
size/channels/normalisation, training config): enough to rebuild the feature extractor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from ..config import ModelConfig
from .extractor import FeatureExtractor
from .network import build_network

CARD_NAME = "model_card.json"
WEIGHTS_NAME = "backbone.safetensors"
PROGRAM_NAME = "backbone.pt2"
CARD_FORMAT = "deepcluster-backbone/1"
OWN_PREFIXES = ("sobel.", "mlp.")  # everything else in the file is the backbone, unprefixed


def to_file_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """FeatureExtractor state dict → file layout: ``backbone.`` prefix dropped, ``sobel.``/``mlp.`` kept."""
    out = {}
    for key, tensor in state.items():
        name = key[len("backbone."):] if key.startswith("backbone.") else key
        if key.startswith("backbone.") and name.startswith(OWN_PREFIXES):
            raise ValueError(f"backbone key {key} collides with the reserved prefixes {OWN_PREFIXES}")
        out[name] = tensor.detach().cpu().contiguous().clone()  # safetensors refuses shared storage
    return out


def from_file_keys(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k if k.startswith(OWN_PREFIXES) else f"backbone.{k}": v for k, v in tensors.items()}


def read_model_card(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CARD_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; write the export with launch/export.py "
                                "--checkpoint FILE --out DIR (a directory without a card is incomplete)")
    card = json.loads(path.read_text())
    if card.get("format") != CARD_FORMAT:
        raise ValueError(f"{path} has format {card.get('format')!r}; this version reads {CARD_FORMAT!r}")
    return card


def load_backbone(directory: str | Path) -> FeatureExtractor:
    """Rebuild the feature extractor (Sobel included) of an export directory, in eval mode, on CPU.

    Reads only JSON and safetensors (no pickle). The module has ``.card`` (the model card),
    ``.feature_dim``, and maps normalised (N, C, S, S) float images to (N, feature_dim) features.
    """
    directory = Path(directory)
    return backbone_from_card(read_model_card(directory), directory / WEIGHTS_NAME)


def backbone_from_card(card: dict[str, Any], weights: Path) -> FeatureExtractor:
    """The network the card describes, with the weights file loaded strictly (every key accounted for)."""
    model_cfg = ModelConfig(**card["model"])
    net = build_network(model_cfg, card["input"]["channels"], card["input"]["size"], k=2)
    extractor = FeatureExtractor.from_network(net)
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} is missing; re-run launch/export.py")
    state = from_file_keys(load_file(str(weights)))
    result = extractor.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{weights} does not match the card's model {card['model']}: missing "
                         f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}; re-export it")
    extractor.card = card
    return extractor.eval()
