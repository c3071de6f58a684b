"""The DeepCluster AlexNet: AlexNet with BatchNorm after every convolution (Caron et al. 2018)."""

from __future__ import annotations

import torch.nn as nn

# (out_channels, kernel, stride, padding, max-pool after)
ALEXNET_CONVS = [
    (96, 11, 4, 2, True), (256, 5, 1, 2, True), (384, 3, 1, 1, False), (384, 3, 1, 1, False), (256, 3, 1, 1, True),
]


class AlexNetTrunk(nn.Module):
    """conv1–conv5 with BN; ``conv_outputs`` lists the modules whose outputs the linear probes read."""

    def __init__(self, in_channels: int):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for cout, kernel, stride, pad, pool in ALEXNET_CONVS:
            layers += [nn.Conv2d(cin, cout, kernel, stride, pad), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool2d(kernel_size=3, stride=2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()

    def spatial(self, x):
        """conv5's pooled (B, 256, 6, 6) map at 224 px, before flattening (the k-NN monitor pools it)."""
        return self.features(x)

    def forward(self, x):
        return self.flatten(self.features(x))


def alexnet_mlp(in_dim: int, dim: int = 4096) -> nn.Sequential:
    """The reference classifier; its last ReLU is applied by the network, so this ends on the features."""
    return nn.Sequential(
        nn.Dropout(0.5), nn.Linear(in_dim, dim), nn.ReLU(inplace=True), nn.Dropout(0.5), nn.Linear(dim, dim),
    )
