"""The fixed Sobel front end of DeepCluster (Caron et al. 2018, Sec. 4.1).

Colour is an easy shortcut for k-means, so the paper feeds the network image gradients instead:
a 1×1 convolution to grayscale (weights 1/C) followed by the two 3×3 Sobel kernels. Both are buffers,
not parameters: they are saved with the model (self-contained weights) but never trained.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

SOBEL_X = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


class Sobel(nn.Module):
    out_channels = 2

    def __init__(self, in_channels: int):
        super().__init__()
        self.register_buffer("grayscale", torch.full((1, in_channels, 1, 1), 1.0 / in_channels))
        self.register_buffer("kernels", torch.stack([SOBEL_X, SOBEL_X.t()]).unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gray = F.conv2d(x, self.grayscale.to(x.dtype))
        return F.conv2d(gray, self.kernels.to(x.dtype), padding=1)
