"""WebDataset tar shards as a streaming image source.

Shards are read sequentially (the point of the format): each rank streams its own shards
(``wds.split_by_node``) and each loader worker its own share of those (``wds.split_by_worker``).
Every sample keeps a stable global index — its position among all sample keys in sorted order, found
once by listing the tar headers — so features, cluster assignments and pseudo-labels follow the
sample wherever it is streamed. Members that fail to decode are left out of the batch and recorded in
``unreadable``, like unreadable files in an image folder.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader

from ..config import ConfigError
from ..seeds import Purpose, stream_seed
from .decode import IMAGE_EXTENSIONS, UnreadableImage, load_rgb
from .sources import ImageSource, collate_skipping_unreadable, image_transform

IMAGE_SUFFIXES = tuple(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)


def expand_shards(urls: str) -> list[str]:
    """'data/shard-{000000..000009}.tar' → the ten paths (webdataset's brace expansion)."""
    return list(wds.shardlists.expand_urls(urls))


def scan_shards(shards: list[str]) -> tuple[list[str], np.ndarray | None]:
    """Sorted sample keys of all shards and their ``cls`` labels (None unless every sample has one)."""
    labels: dict[str, int] = {}
    keys: set[str] = set()
    for shard in shards:
        with tarfile.open(shard) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, _, suffix = member.name.partition(".")
                keys.add(key)
                if suffix == "cls":
                    labels[key] = int(tar.extractfile(member).read().decode().strip())
    ordered = sorted(keys)
    if ordered and len(labels) == len(ordered):
        return ordered, np.array([labels[k] for k in ordered], dtype=np.int64)
    return ordered, None


def _decode(sample: dict, transform, index_of: dict[str, int]):
    """(uint8 image or None if undecodable, global index)."""
    index = index_of[sample["__key__"]]
    payload = next((sample[s] for s in IMAGE_SUFFIXES if s in sample), None)
    try:
        if payload is None:
            raise UnreadableImage(f"{sample['__key__']}: no image member")
        return transform(load_rgb(io.BytesIO(payload))), index
    except UnreadableImage:
        return None, index


@dataclass
class ShardSource(ImageSource):
    shards: list[str] = field(default_factory=list)
    crop_min_scale: float = 0.08
    flip: bool = True

    streaming = True

    def __post_init__(self):
        self.index_of = {key: i for i, key in enumerate(self.keys)}

    def check_split(self, world_size: int, workers: int) -> None:
        """Every rank's every worker needs at least one shard, or ranks would stream nothing."""
        needed = world_size * max(workers, 1)
        if len(self.shards) < needed:
            raise ConfigError(
                f"{len(self.shards)} shard(s) for {world_size} rank(s) x {max(workers, 1)} loader worker(s): each "
                f"needs its own shard; write more shards (launch/make_shards.py --shard-size) or lower train.workers"
            )

    def _transform(self, train: bool):
        return image_transform(self.image_size, train, self.crop_min_scale, self.flip)

    def _stream(self, train: bool, seed: int, batch_size: int, workers: int, copies: np.ndarray | None):
        pipeline = wds.WebDataset(
            self.shards, nodesplitter=wds.split_by_node, workersplitter=wds.split_by_worker,
            shardshuffle=False, handler=wds.warn_and_continue, empty_check=False, seed=seed,
        ).map(lambda sample: _decode(sample, self._transform(train), self.index_of), handler=wds.warn_and_continue)
        if copies is not None:  # uniform-over-clusters sampling: each sample as often as the sampler drew it
            pipeline = pipeline.compose(lambda src: (s for s in src for _ in range(int(copies[s[1]]))))
            pipeline = pipeline.shuffle(2000, seed=seed)
        pipeline = pipeline.batched(batch_size, collation_fn=collate_skipping_unreadable, partial=True)
        loader = DataLoader(pipeline, batch_size=None, num_workers=workers,
                            generator=torch.Generator().manual_seed(seed), pin_memory=torch.cuda.is_available())
        for images, idx, bad in loader:
            self.unreadable.update(bad.tolist())
            if images is not None:
                yield images, idx

    def local_batches(self, batch_size: int, workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's samples once, with the eval transform (feature extraction)."""
        return self._stream(False, 0, batch_size, workers, None)

    def train_batches(self, copies: np.ndarray, steps: int, batch_size: int, seed: int, workers: int):
        """Exactly ``steps`` training batches from this rank's shards (streams again if they run short),
        so every rank takes the same number of optimizer steps whatever its shards hold."""
        produced, rounds = 0, 0
        while produced < steps:
            before = produced
            round_seed = stream_seed(seed, Purpose.SHARD_ROUND, rounds)
            for batch in self._stream(True, round_seed, batch_size, workers, copies):
                yield batch
                produced += 1
                if produced == steps:
                    return
            rounds += 1
            if produced == before:
                raise RuntimeError("this rank's shards hold no trainable sample; check the shards and data.urls")

    def batches(self, indices, batch_size, train, seed, workers):
        """Random access by index (image grids, inspection): scans the shards for the wanted keys."""
        wanted = {int(i) for i in indices}
        found: dict[int, torch.Tensor] = {}
        transform = self._transform(False)
        for sample in wds.WebDataset(self.shards, shardshuffle=False, empty_check=False,
                                     nodesplitter=lambda src: src, workersplitter=lambda src: src):
            if self.index_of[sample["__key__"]] in wanted:
                image, index = _decode(sample, transform, self.index_of)
                if image is not None:
                    found[index] = image
                if len(found) == len(wanted):
                    break
        order = [i for i in map(int, indices) if i in found]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            yield torch.stack([found[i] for i in chunk]), torch.tensor(chunk, dtype=torch.int64)
