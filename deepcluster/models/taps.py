"""Which layers a linear probe reads, and how each is pooled (DeepCluster's eval_linear protocol).

The paper probes every convolutional layer of AlexNet, after its ReLU, average-pooled so that each
probe sees about 9,000 dimensions (conv1: 96·10·10 = 9,600; conv2: 256·6·6 = 9,216; conv3/4: 384·5·5
= 9,600; conv5: 256·6·6 = 9,216). We pool every spatial layer with an adaptive average pool whose
output side ``s`` makes ``C·s²`` closest to ``target_dims`` (never upsampling), which reproduces those
sizes at 224 px and gives comparable probes for the compact net and ResNet stages. Feature files for the
clustering heads bound the width instead (``max_dims``: the largest side with ``C·s² <= max_dims``), so a
file never holds more dimensions than asked for. ``penultimate`` is the representation the top layer reads
(the clustered features; a ResNet's pooled layer4); it is never pooled.

Layer names:  compact: conv1–conv3 · alexnet: conv1–conv5 · resnet18/50: layer1–layer4 · all: penultimate
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .extractor import FeatureExtractor

PENULTIMATE = "penultimate"
DEFAULT_TARGET_DIMS = 9216
SPATIAL_LAYERS = {
    "compact": ("conv1", "conv2", "conv3"),
    "alexnet": ("conv1", "conv2", "conv3", "conv4", "conv5"),
    "resnet18": ("layer1", "layer2", "layer3", "layer4"),
    "resnet50": ("layer1", "layer2", "layer3", "layer4"),
}


def available_layers(arch: str) -> tuple[str, ...]:
    return (*SPATIAL_LAYERS[arch], PENULTIMATE)


def resolve_layers(arch: str, requested: list[str] | None) -> list[str]:
    """``None`` or ``["all"]`` → every layer of ``arch``; unknown names are refused with the valid ones."""
    allowed = available_layers(arch)
    if not requested or requested == ["all"]:
        return list(allowed)
    unknown = [name for name in requested if name not in allowed]
    if unknown:
        raise ValueError(f"layer {unknown[0]!r} does not exist in model.arch={arch}; choose from {', '.join(allowed)}")
    return [name for name in allowed if name in requested]  # network order, no duplicates


def pool_side(channels: int, side: int, target_dims: int) -> int:
    """Output side of the average pool: C·s² closest to ``target_dims``, 1 <= s <= side."""
    return max(1, min(side, round(math.sqrt(target_dims / channels))))


def pool_side_at_most(channels: int, side: int, max_dims: int) -> int:
    """Output side of the average pool: the largest s with C·s² <= ``max_dims`` (at least 1, at most
    ``side``); ``max_dims`` 0 means no bound (the layer unpooled)."""
    if max_dims == 0:
        return side
    return max(1, min(side, math.isqrt(max_dims // channels)))


class LayerTaps(nn.Module):
    """Runs a frozen extractor once and returns {layer: pooled, flattened activations (B, dims[layer])}.

    One forward pass feeds every probe, so probing five layers costs one backbone pass, not five.
    The extractor is registered as a submodule only to follow ``.to(device)``; it is never trained here.
    """

    def __init__(self, extractor: FeatureExtractor, arch: str, layers: list[str], channels: int, image_size: int,
                 target_dims: int = DEFAULT_TARGET_DIMS, max_dims: int | None = None):
        """Spatial layers are pooled to C·s² closest to ``target_dims`` or, when ``max_dims`` is given, to
        the largest C·s² <= ``max_dims`` (0: unpooled)."""
        super().__init__()
        self.extractor = extractor
        self.arch = arch
        self.layers = resolve_layers(arch, layers)
        self.pools = nn.ModuleDict()
        self.dims: dict[str, int] = {}
        self.pool_sides: dict[str, int] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}  # unpooled activation shape per sample: (C, H, W) or (d,)
        was_training = extractor.training
        extractor.eval()
        with torch.no_grad():
            raw = self._activations(torch.zeros(1, channels, image_size, image_size))
        extractor.train(was_training)
        for name, act in raw.items():
            self.shapes[name] = tuple(act.shape[1:])
            if act.ndim == 4:
                side = (pool_side(act.shape[1], act.shape[-1], target_dims) if max_dims is None
                        else pool_side_at_most(act.shape[1], act.shape[-1], max_dims))
                self.pools[name] = nn.AdaptiveAvgPool2d(side) if side < act.shape[-1] else nn.Identity()
                self.pool_sides[name] = side if side < act.shape[-1] else act.shape[-1]
                self.dims[name] = act.shape[1] * self.pool_sides[name] ** 2
            else:
                self.pools[name] = nn.Identity()
                self.dims[name] = act.shape[1]

    def _sequential_trunk(self, trunk: nn.Sequential, x: torch.Tensor, out: dict, deepest: int) -> torch.Tensor:
        """Walk a conv-BN-ReLU(-pool) trunk, recording the output of the i-th ReLU as ``conv{i}``."""
        count = 0
        for module in trunk:
            x = module(x)
            if isinstance(module, nn.ReLU):
                count += 1
                if f"conv{count}" in self.layers:
                    out[f"conv{count}"] = x  # later modules never write in place
                if count >= deepest:
                    return x
        return x

    def _activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        ext = self.extractor
        if ext.sobel is not None:
            x = ext.sobel(x)
        need_top = PENULTIMATE in self.layers
        spatial = [name for name in self.layers if name != PENULTIMATE]
        deepest = max((int(name[-1]) for name in spatial), default=0)
        bb = ext.backbone
        if self.arch in ("compact", "alexnet"):
            trunk = bb.stages if self.arch == "compact" else bb.features
            x = self._sequential_trunk(trunk, x, out, 10**6 if need_top else deepest)
            if need_top:
                out[PENULTIMATE] = ext.mlp(bb.flatten(x))
        else:  # torchvision ResNet, fc = Identity
            x = bb.maxpool(bb.relu(bb.bn1(bb.conv1(x))))
            for i in range(1, 5):
                if i > deepest and not need_top:
                    break
                x = getattr(bb, f"layer{i}")(x)
                if f"layer{i}" in self.layers:
                    out[f"layer{i}"] = x
            if need_top:
                out[PENULTIMATE] = ext.mlp(torch.flatten(bb.avgpool(x), 1))
        return out

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raw = self._activations(x)
        return {name: torch.flatten(self.pools[name](raw[name]), 1) for name in self.layers}

    def describe(self) -> dict[str, dict[str, int]]:
        return {name: {"dims": self.dims[name], "pool_side": self.pool_sides.get(name, 0)} for name in self.layers}
