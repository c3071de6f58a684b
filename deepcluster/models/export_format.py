"""The export file format: what ``launch/export.py`` writes and ``load_backbone`` reads, without pickle.

An export directory holds ``backbone.safetensors`` (backbone keys unprefixed, so a ResNet trained with
``model.sobel=false`` loads into ``torchvision.models.resnet18()`` with only ``fc.*`` missing; the Sobel
filters under ``sobel.``, the DeepCluster MLP under ``mlp.``) and ``model_card.json`` (architecture, input
size/channels/normalisation, training config): enough to rebuild the feature extractor.

Format 2 (this version writes it; format 1 files still load): a ResNet trained on 1-channel images
without Sobel stores a 3-channel ``conv1`` so that torchvision's RGB ``conv1`` takes it. Each of the
three input channels holds the grayscale kernel / 3; the third absorbs the rounding, so the three sum
back to the trained kernel bit for bit (``spread_channels``/``fold_channels``). On a grayscale image
replicated to RGB that conv computes what the trained 1-channel conv computes; the card records
``weights.conv1_replicated_from: 1`` and ``load_backbone`` folds the kernel back into the network as
trained (1-channel input, identical features).
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
CARD_FORMAT = "deepcluster-backbone/2"
READABLE_FORMATS = ("deepcluster-backbone/1", CARD_FORMAT)  # 1: no replicated conv1, no torchvision section
OWN_PREFIXES = ("sobel.", "mlp.")  # everything else in the file is the backbone, unprefixed
REPLICATED_KEY = "conv1.weight"  # the file key of the ResNet conv a grayscale export widens to RGB
RGB = 3


def replicates_conv1(model: dict[str, Any], channels: int) -> bool:
    """Whether the export widens ``conv1`` to RGB: a ResNet without Sobel trained on 1-channel images."""
    return model["arch"].startswith("resnet") and not model["sobel"] and channels == 1


def spread_channels(weight: torch.Tensor) -> torch.Tensor:
    """(out, 1, k, k) → (out, 3, k, k): weight / 3 on each channel, summing back to ``weight`` exactly.

    ``weight - 2 * third`` is exact (Sterbenz: ``2 * third`` is within a factor 2 of ``weight``), so
    ``(third + third) + rest == weight`` in floating point; ``rest`` differs from ``third`` by an ulp or so.
    """
    if weight.shape[1] != 1:
        raise ValueError(f"spread_channels takes a 1-channel kernel, got shape {tuple(weight.shape)}")
    third = weight / RGB
    return torch.cat([third, third, weight - 2 * third], dim=1).contiguous()


def fold_channels(weight: torch.Tensor) -> torch.Tensor:
    """The inverse of ``spread_channels``: (out, 3, k, k) → (out, 1, k, k), summed in the order that is exact."""
    if weight.shape[1] != RGB:
        raise ValueError(f"fold_channels takes a 3-channel kernel, got shape {tuple(weight.shape)}")
    return (weight[:, 0:1] + weight[:, 1:2]) + weight[:, 2:3]


def to_file_keys(state: dict[str, torch.Tensor], replicate_conv1: bool = False) -> dict[str, torch.Tensor]:
    """FeatureExtractor state dict → file layout: ``backbone.`` prefix dropped, ``sobel.``/``mlp.`` kept;
    with ``replicate_conv1`` the 1-channel ``conv1`` spread over 3 channels (see ``spread_channels``)."""
    out = {}
    for key, tensor in state.items():
        name = key[len("backbone."):] if key.startswith("backbone.") else key
        if key.startswith("backbone.") and name.startswith(OWN_PREFIXES):
            raise ValueError(f"backbone key {key} collides with the reserved prefixes {OWN_PREFIXES}")
        out[name] = tensor.detach().cpu().contiguous().clone()  # safetensors refuses shared storage
    if replicate_conv1:
        out[REPLICATED_KEY] = spread_channels(out[REPLICATED_KEY])
    return out


def from_file_keys(tensors: dict[str, torch.Tensor], conv1_replicated_from: int | None = None
                   ) -> dict[str, torch.Tensor]:
    """File layout → FeatureExtractor state dict; a replicated ``conv1`` is folded back to its channels."""
    if conv1_replicated_from is not None:
        if conv1_replicated_from != 1:
            raise ValueError(f"conv1_replicated_from={conv1_replicated_from}: only 1-channel kernels are replicated")
        if REPLICATED_KEY not in tensors:
            raise ValueError(f"the card says {REPLICATED_KEY} is replicated but the weights file has no such key")
        tensors = {**tensors, REPLICATED_KEY: fold_channels(tensors[REPLICATED_KEY])}
    return {k if k.startswith(OWN_PREFIXES) else f"backbone.{k}": v for k, v in tensors.items()}


def read_model_card(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / CARD_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; write the export with launch/export.py "
                                "--checkpoint FILE --out DIR (a directory without a card is incomplete)")
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a model card (not JSON: {err}); re-run launch/export.py") from None
    if not isinstance(card, dict) or card.get("format") not in READABLE_FORMATS:
        found = card.get("format") if isinstance(card, dict) else type(card).__name__
        raise ValueError(f"{path} has format {found!r}; this version reads {', '.join(READABLE_FORMATS)}")
    return card


def load_backbone(directory: str | Path) -> FeatureExtractor:
    """Rebuild the feature extractor (Sobel included) of an export directory, in eval mode, on CPU.

    Reads only JSON and safetensors (no pickle). The module has ``.card`` (the model card),
    ``.feature_dim``, and maps normalised (N, C, S, S) float images to (N, feature_dim) features, with
    C = ``card["input"]["channels"]``: the channels it was trained on (1 for a grayscale ResNet, even
    though its weights file holds the RGB ``conv1`` torchvision loads).
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
    state = from_file_keys(load_file(str(weights)), card.get("weights", {}).get("conv1_replicated_from"))
    try:
        result = extractor.load_state_dict(state, strict=False)
    except RuntimeError as err:  # a shape mismatch: the file was written for another network
        raise ValueError(f"{weights} does not match the card's model {card['model']} ({err}); re-export it") from None
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{weights} does not match the card's model {card['model']}: missing "
                         f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}; re-export it")
    extractor.card = card
    return extractor.eval()
