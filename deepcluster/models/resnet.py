"""torchvision ResNet backbones, kept under torchvision's own parameter names.

Only ``conv1`` changes when the input is not RGB (2 Sobel channels, or 1 for grayscale data without
Sobel) and ``fc`` becomes an identity, so the exported weights load into ``torchvision.models.resnetXX()``
with only ``fc.*`` missing.
"""

from __future__ import annotations

import torch.nn as nn
from torchvision import models

RESNETS = {"resnet18": models.resnet18, "resnet50": models.resnet50}


def build_resnet(arch: str, in_channels: int) -> nn.Module:
    net = RESNETS[arch](weights=None)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    net.fc = nn.Identity()
    return net
