"""The pictures the page shows: one PNG per image, read by dataset index, never by a path.

An image is decoded by its source (the eval transform the network saw: for folders, resize and center
crop), enlarged by a whole factor when small (28 px -> 84 px, pixels kept sharp, as the inspection grids do)
and shrunk to ``MAX_SIDE`` when large. Encoded thumbnails are kept in a bounded cache.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

import torch
from PIL import Image

from ..data import ImageSource
from ..inspection.sheet import enlarge, thumbnail_side

MAX_SIDE = 128  # px: larger images are shrunk to this for the page
CACHE_IMAGES = 8192  # encoded thumbnails kept in memory (a few KB each)


class Thumbnails:
    def __init__(self, source: ImageSource, cache: int = CACHE_IMAGES):
        self.source = source
        self.side = thumbnail_side(source.image_size) if source.image_size < MAX_SIDE else MAX_SIDE  # px shown
        self._cache: OrderedDict[int, bytes | None] = OrderedDict()
        self._size = cache
        self._lock = threading.Lock()

    def image(self, index: int) -> torch.Tensor | None:
        """uint8 (C, S, S) of one sample, or None when it cannot be decoded."""
        for images, _ in self.source.batches([int(index)], 1, train=False, seed=0, workers=0):
            return images[0]
        return None

    def png(self, index: int) -> bytes | None:
        index = int(index)
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
        data = self._encode(index)
        with self._lock:
            self._cache[index] = data
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return data

    def _encode(self, index: int) -> bytes | None:
        image = self.image(index)
        if image is None:
            return None
        if image.shape[-1] < MAX_SIDE:
            pixels = enlarge(image[None], thumbnail_side(image.shape[-1]))[0]
            picture = Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy())
        else:
            array = image.permute(1, 2, 0).contiguous().numpy()
            picture = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
            picture = picture.resize((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return buffer.getvalue()
