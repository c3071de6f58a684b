"""The DeepCluster network: [Sobel] → backbone → MLP → ReLU → top layer (one logit per cluster).

The MLP output (before its last ReLU, as in the reference code) is what gets clustered. The top layer
maps it to the current k pseudo-classes; since cluster ids are an arbitrary permutation each epoch,
it is re-initialised every epoch (``reset_top_layer``) and trained without momentum.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import ConfigError, ModelConfig
from .alexnet import AlexNetTrunk, alexnet_mlp
from .compact import CompactNet
from .extractor import FeatureExtractor
from .resnet import build_resnet
from .sobel import Sobel


TAP_BACKBONE = "backbone"  # the backbone's output, globally average-pooled
TAP_CLUSTERED = "clustered"  # the representation k-means clusters (the MLP output)


class DeepClusterNet(FeatureExtractor):
    """The feature extractor plus a top layer with one logit per current cluster."""

    def __init__(self, sobel: nn.Module | None, backbone: nn.Module, mlp: nn.Module, feature_dim: int, k: int):
        super().__init__(sobel, backbone, mlp, feature_dim)
        self.top_layer = nn.Linear(feature_dim, k)

    @property
    def tap_names(self) -> tuple[str, ...]:
        """What ``feature_taps`` returns: a ResNet's pooled output *is* its clustered layer (no MLP)."""
        return (TAP_BACKBONE,) if isinstance(self.mlp, nn.Identity) else (TAP_BACKBONE, TAP_CLUSTERED)

    @property
    def clustered_tap(self) -> str:
        """The name under which ``feature_taps`` returns the clustered layer."""
        return self.tap_names[-1]

    def feature_taps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """From one forward pass: the backbone's globally average-pooled output and the clustered layer.

        The pooled backbone output is what people transfer (a ResNet's avgpool, AlexNet's conv5 or the
        compact net's last stage, averaged over space); the clustered layer is what k-means sees. The
        k-NN monitor scores both, so one extraction per epoch serves clustering and monitoring alike.
        """
        if self.sobel is not None:
            x = self.sobel(x)
        if not hasattr(self.backbone, "spatial"):  # torchvision ResNet: already pooled; its MLP is Identity
            return {TAP_BACKBONE: self.backbone(x)}
        maps = self.backbone.spatial(x)
        taps = {TAP_BACKBONE: maps.mean(dim=(2, 3))}
        if TAP_CLUSTERED in self.tap_names:
            taps[TAP_CLUSTERED] = self.mlp(self.backbone.flatten(maps))
        return taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.top_layer(F.relu(self.features(x)))

    @torch.no_grad()
    def reset_top_layer(self, generator: torch.Generator) -> None:
        """Fresh top layer for a new set of pseudo-labels: weights N(0, 0.01), bias 0 (reference)."""
        weight = torch.randn(self.top_layer.weight.shape, generator=generator) * 0.01
        self.top_layer.weight.copy_(weight)
        self.top_layer.bias.zero_()


def _init_reference(module: nn.Module) -> None:
    """DeepCluster's init: conv N(0, sqrt(2/(k·k·out))), BN (1, 0), linear N(0, 0.01)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def _trunk_output_dim(trunk: nn.Module, in_channels: int, image_size: int, arch: str) -> int:
    try:
        with torch.no_grad():
            was_training = trunk.training
            out = trunk.eval()(torch.zeros(1, in_channels, image_size, image_size))
            trunk.train(was_training)
    except RuntimeError as err:
        raise ConfigError(
            f"model.arch={arch} cannot process {image_size}px images ({err}); raise data.image_size "
            f"(alexnet and resnets expect ~224) or use model.arch=compact for 28-32 px data"
        ) from err
    return out.shape[1]


def build_network(cfg: ModelConfig, image_channels: int, image_size: int, k: int) -> DeepClusterNet:
    sobel = Sobel(image_channels) if cfg.sobel else None
    in_channels = Sobel.out_channels if cfg.sobel else image_channels
    if cfg.arch == "compact":
        trunk = CompactNet(in_channels, cfg.width)
        flat = _trunk_output_dim(trunk, in_channels, image_size, cfg.arch)
        mlp = nn.Sequential(
            nn.Linear(flat, cfg.mlp_dim), nn.BatchNorm1d(cfg.mlp_dim), nn.ReLU(inplace=True),
            nn.Linear(cfg.mlp_dim, cfg.mlp_dim),
        )
        feature_dim = cfg.mlp_dim
        _init_reference(trunk)
        _init_reference(mlp)
    elif cfg.arch == "alexnet":
        trunk = AlexNetTrunk(in_channels)
        flat = _trunk_output_dim(trunk, in_channels, image_size, cfg.arch)
        mlp = alexnet_mlp(flat)
        feature_dim = 4096
        _init_reference(trunk)
        _init_reference(mlp)
    else:
        trunk = build_resnet(cfg.arch, in_channels)
        feature_dim = _trunk_output_dim(trunk, in_channels, image_size, cfg.arch)
        mlp = nn.Identity()
    return DeepClusterNet(sobel, trunk, mlp, feature_dim, k)
