"""A compact convnet for 28–32 px images (MNIST-like, CIFAR).

Three conv-BN-ReLU-pool stages (width w, 2w, 4w), sized so that a full DeepCluster epoch over the
70,000 Fashion-MNIST images fits in about a minute on two CPU cores; the stages end in a flat vector
for the DeepCluster MLP.
"""

from __future__ import annotations

import torch.nn as nn


def conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class CompactNet(nn.Module):
    def __init__(self, in_channels: int, width: int = 32):
        super().__init__()
        widths = [width, 2 * width, 4 * width]
        layers: list[nn.Module] = []
        cin = in_channels
        for cout in widths:
            layers += [*conv_bn_relu(cin, cout), nn.MaxPool2d(2)]
            cin = cout
        self.stages = nn.Sequential(*layers)
        self.flatten = nn.Flatten()

    def spatial(self, x):
        """The last stage's (B, 4w, S/8, S/8) map, before flattening (the k-NN monitor pools it)."""
        return self.stages(x)

    def forward(self, x):
        return self.flatten(self.stages(x))
