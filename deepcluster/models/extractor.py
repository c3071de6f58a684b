"""The part of a DeepCluster network worth keeping after pretraining: [Sobel] → backbone → MLP.

``DeepClusterNet`` is this plus the top layer; the top layer is dropped here because its classes are
one epoch's arbitrary cluster ids. Exports, probes and feature files all use this module.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class FeatureExtractor(nn.Module):
    def __init__(self, sobel: nn.Module | None, backbone: nn.Module, mlp: nn.Module, feature_dim: int):
        super().__init__()
        self.sobel = sobel
        self.backbone = backbone
        self.mlp = mlp
        self.feature_dim = feature_dim

    @classmethod
    def from_network(cls, net: "FeatureExtractor") -> "FeatureExtractor":
        """Shares ``net``'s modules (no copy) and keeps its train/eval mode."""
        return cls(net.sobel, net.backbone, net.mlp, net.feature_dim).train(net.training)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The representation k-means clusters (the MLP output; a ResNet's pooled layer4)."""
        if self.sobel is not None:
            x = self.sobel(x)
        return self.mlp(self.backbone(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
