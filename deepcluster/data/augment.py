"""Batch-level image transforms applied on the compute device.

For in-memory datasets (MNIST-like, CIFAR) the per-sample PIL pipeline costs more than the network:
here one ``affine_grid`` + ``grid_sample`` call applies a different random-resized-crop and flip to
every image of a batch, on CPU or GPU, with a seeded generator so a resumed run sees the same crops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def normalize(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 (B, C, H, W) → float32 normalised with per-channel mean and std (given in [0, 1] units)."""
    mean_t = torch.tensor(mean, device=images.device).view(1, -1, 1, 1) * 255.0
    std_t = torch.tensor(std, device=images.device).view(1, -1, 1, 1) * 255.0
    return (images.float() - mean_t) / std_t


def random_resized_crop_flip(
    images: torch.Tensor,
    generator: torch.Generator,
    min_scale: float,
    flip: bool = True,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Per-sample random-resized-crop (area in [min_scale, 1], aspect in ``ratio``) and horizontal flip.

    Same distribution as torchvision's RandomResizedCrop, except that an aspect ratio that does not
    fit is clamped instead of re-drawn. ``images`` is float (B, C, H, W); the output has the same size.
    """
    b = images.shape[0]
    draw = lambda: torch.rand(b, generator=generator, device=generator.device)  # noqa: E731
    area = min_scale + (1.0 - min_scale) * draw()
    log_ratio = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * draw()
    aspect = torch.exp(log_ratio)
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fractions of the full width/height
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    center_x = (1.0 - width) * (2.0 * draw() - 1.0)  # normalised coordinates in [-1, 1]
    center_y = (1.0 - height) * (2.0 * draw() - 1.0)
    sign = torch.where(draw() < 0.5, -1.0, 1.0) if flip else torch.ones(b, device=generator.device)
    theta = torch.zeros(b, 2, 3, device=generator.device)
    theta[:, 0, 0] = width * sign
    theta[:, 0, 2] = center_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = center_y
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
