"""Contact sheets a person can read: thumbnails of at least 64 px, each cluster captioned above its images.

A caption says which cluster it is, how many samples it holds and, when the data has labels, its purity:
the share of its members carrying its most common label, and which label that is ("cluster 7 · 412
samples · purity 83 % (majority: label 9 Ankle boot)"). Images smaller than ``MIN_THUMB`` are enlarged
by a whole factor with nearest-neighbour sampling (a 28-px Fashion-MNIST image becomes 84 px of crisp
3 x 3 blocks, no invented detail); larger ones stay at their native size. Captions use Pillow's built-in
font (no TTF file on disk is needed, so a bare Debian image draws them too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

MIN_THUMB = 64  # px: the smallest side a thumbnail is shown at
PAD = 2  # px of white between thumbnails (as torchvision's make_grid)
PER_ROW = 8  # thumbnails per row
CAPTION_BAND = 22  # px: height of the caption band above each cluster's images
FONT_SIZE = 14
BAND_COLOUR = (232, 236, 242)
TEXT_COLOUR = (20, 20, 20)

# class names of the built-in labelled sets (their label ids are these lists' positions)
LABEL_NAMES = {
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def thumbnail_side(image_size: int, minimum: int = MIN_THUMB) -> int:
    """The smallest whole multiple of ``image_size`` that is at least ``minimum`` (28 -> 84, 32 -> 64)."""
    return image_size * max(1, math.ceil(minimum / image_size))


def enlarge(images: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 (N, C, S, S) -> uint8 (N, 3, side, side): whole-factor nearest-neighbour, grayscale as RGB."""
    factor = side // images.shape[-1]
    if factor > 1:
        images = images.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def caption_font(size: int = FONT_SIZE):
    """Pillow's embedded font at ``size`` (FreeType build), else its fixed bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # old Pillow or no FreeType: the bitmap font
        return ImageFont.load_default()


@dataclass
class ClusterCaption:
    cluster: int
    size: int
    purity: float | None = None  # share of the majority label; None without labels
    label: int | None = None  # the majority label
    label_name: str | None = None

    def text(self) -> str:
        words = [f"cluster {self.cluster}", f"{self.size:,} sample{'s' if self.size != 1 else ''}"]
        if self.purity is not None:
            name = f" {self.label_name}" if self.label_name else ""
            words.append(f"purity {100 * self.purity:.0f} % (majority: label {self.label}{name})")
        return "  \u00b7  ".join(words)


def label_names(data_name: str, labels: np.ndarray | None, keys: list[str]) -> dict[int, str]:
    """Readable class names: the built-in sets' lists, or an image folder's subfolder per label."""
    if labels is None:
        return {}
    if data_name in LABEL_NAMES:
        return dict(enumerate(LABEL_NAMES[data_name]))
    if data_name == "imagefolder":
        names = {}
        for label, key in zip(labels.tolist(), keys):
            if label not in names and "/" in key:
                names[label] = key.split("/", 1)[0]
        return names
    return {}


def cluster_captions(assignments: np.ndarray, k: int, labels: np.ndarray | None,
                     names: dict[int, str] | None = None) -> dict[int, ClusterCaption]:
    """A caption per cluster in use: its size and, with labels, its majority label and that label's share."""
    names = names or {}
    captions = {}
    used = assignments >= 0
    sizes = np.bincount(assignments[used], minlength=k)
    for c in np.flatnonzero(sizes):
        caption = ClusterCaption(int(c), int(sizes[c]))
        if labels is not None:
            counts = np.bincount(labels[assignments == c])
            caption.label = int(counts.argmax())
            caption.purity = float(counts.max() / sizes[c])
            caption.label_name = names.get(caption.label)
        captions[int(c)] = caption
    return captions


def contact_sheet(blocks: list[tuple[str, torch.Tensor]], side: int, per_row: int = PER_ROW) -> Image.Image:
    """One RGB picture: for each (caption, uint8 (N, 3, side, side) images) a caption band, then the images
    in rows of ``per_row``. The sheet is widened when a caption is longer than its row of images."""
    font = caption_font()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    cell = side + PAD
    width = max([per_row * cell + PAD] + [int(measure.textlength(text, font=font)) + 4 * PAD + 8
                                          for text, _ in blocks])
    heights = [CAPTION_BAND + max(1, math.ceil(len(images) / per_row)) * cell for _, images in blocks]
    sheet = Image.new("RGB", (width, sum(heights) + PAD), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    top = 0
    for (text, images), height in zip(blocks, heights):
        draw.rectangle([0, top + PAD, width - 1, top + CAPTION_BAND - 1], fill=BAND_COLOUR)
        left, upper, _, lower = draw.textbbox((0, 0), text, font=font)
        y = top + PAD + (CAPTION_BAND - PAD - (lower - upper)) // 2 - upper  # centred in the band
        draw.text((PAD + 4 - left, y), text, fill=TEXT_COLOUR, font=font)
        pixels = images.permute(0, 2, 3, 1).contiguous().numpy()
        for j, image in enumerate(pixels):
            row, col = divmod(j, per_row)
            sheet.paste(Image.fromarray(image), (PAD + col * cell, top + CAPTION_BAND + PAD + row * cell))
        top += height
    return sheet


def sheet_tensor(sheet: Image.Image) -> torch.Tensor:
    """uint8 (3, H, W), as TensorBoard's ``add_image`` takes it."""
    return torch.from_numpy(np.asarray(sheet).copy()).permute(2, 0, 1)
