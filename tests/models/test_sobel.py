import numpy as np
import torch

from deepcluster.models import Sobel, build_network
from deepcluster.config import ModelConfig


def hand_sobel(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation with the Sobel kernels, zero padding, written out by hand."""
    padded = np.pad(gray, 1)
    gx = np.zeros_like(gray)
    gy = np.zeros_like(gray)
    h, w = gray.shape
    for i in range(h):
        for j in range(w):
            p = padded[i : i + 3, j : j + 3]
            gx[i, j] = (p[0, 0] + 2 * p[1, 0] + p[2, 0]) - (p[0, 2] + 2 * p[1, 2] + p[2, 2])
            gy[i, j] = (p[0, 0] + 2 * p[0, 1] + p[0, 2]) - (p[2, 0] + 2 * p[2, 1] + p[2, 2])
    return gx, gy


def test_sobel_matches_hand_computed_gradients_of_the_grayscale_image():
    rng = np.random.default_rng(0)
    rgb = rng.normal(size=(3, 7, 9)).astype(np.float32)
    out = Sobel(in_channels=3)(torch.from_numpy(rgb)[None])[0].numpy()
    gx, gy = hand_sobel(rgb.mean(axis=0))
    np.testing.assert_allclose(out[0], gx, atol=1e-5)
    np.testing.assert_allclose(out[1], gy, atol=1e-5)


def test_sobel_on_a_vertical_edge_responds_only_horizontally():
    img = torch.zeros(1, 1, 5, 5)
    img[..., 3:] = 1.0
    out = Sobel(1)(img)[0]
    assert torch.all(out[0, 1:-1, 2:4] == -4.0)  # left minus right columns: a rising edge is negative
    assert torch.all(out[1, 1:-1, :] == 0.0)


def test_sobel_is_fixed_and_saved_with_the_model():
    net = build_network(ModelConfig(arch="compact", sobel=True), image_channels=1, image_size=28, k=10)
    trainable = {name for name, p in net.named_parameters() if p.requires_grad}
    assert not any(name.startswith("sobel") for name in trainable)
    assert {"sobel.grayscale", "sobel.kernels"} <= set(net.state_dict())
