"""Decoding image files robustly: odd-but-valid images are converted, broken ones are reported.

Real folders hold CMYK JPEGs, 16-bit PNGs, grayscale with alpha and palette images; all of them are
valid pictures and are converted to 8-bit RGB, or to 8-bit grayscale for a grayscale folder (one channel).
Zero-byte, truncated and non-image files raise ``UnreadableImage``, which the loaders catch, count and
report once instead of crashing a long run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N"}
GRAYSCALE_MODES = {"1", "L", "I", *_SIXTEEN_BIT}  # PIL modes of one-channel pictures (no alpha, no palette)


class UnreadableImage(Exception):
    """A file that is not a decodable image (empty, truncated, or another format)."""


def _to_8bit_gray(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer grayscale: scale to 0..255 rather than clip (PIL's convert clips)."""
    arr = np.asarray(img, dtype=np.float64)
    top = 65535.0 if img.mode in _SIXTEEN_BIT else max(float(arr.max()), 1.0)
    return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB; transparent pixels are composited onto white."""
    if img.mode in _SIXTEEN_BIT or img.mode == "I":
        img = _to_8bit_gray(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def to_gray(img: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit grayscale ("L"); colour pictures become their luma (ITU-R 601)."""
    if img.mode in ("1", "L"):
        return img.convert("L")
    return to_rgb(img).convert("L")


def load_image(path: str | Path, channels: int = 3) -> Image.Image:
    """Open, fully decode and convert one file to RGB (3 channels) or grayscale (1); raise UnreadableImage if
    it is not a usable image."""
    try:
        with Image.open(path) as img:
            img.load()  # decode now: truncation only shows when the pixel data is read
            return to_rgb(img) if channels == 3 else to_gray(img)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise UnreadableImage(f"{path}: {err}") from err


def load_rgb(path: str | Path) -> Image.Image:
    """``load_image`` to 8-bit RGB."""
    return load_image(path, 3)
