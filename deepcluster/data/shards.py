"""WebDataset tar shards as a streaming image source.

Shards are read sequentially (the point of the format). Feature extraction streams each rank's own
shards (``wds.split_by_node``) and each loader worker its share of those (``wds.split_by_worker``).
Training follows the epoch's plan (``deepcluster.sampling.shard_epoch_plan``, the same on every rank):
each loader worker reads the shards its stream names, keeps the planned samples' bytes until their last
batch, and decodes every copy on its own, with crops seeded by the batch's number. Every sample keeps a
stable global index — its position among all sample keys in sorted order, found once by listing the tar
headers — so features, cluster assignments and pseudo-labels follow the sample wherever it is streamed.
Members that fail to decode are left out of the batch and recorded in ``unreadable``, like unreadable
files in an image folder.
"""

from __future__ import annotations

import functools
import io
import os
import tarfile
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

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
    keys_by_shard, labels = _scan(tuple((s, *_stamp(s)) for s in shards))
    ordered = sorted({key for keys in keys_by_shard for key in keys})
    if ordered and len(labels) == len(ordered):
        return ordered, np.array([labels[k] for k in ordered], dtype=np.int64)
    return ordered, None


def _stamp(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=1)  # build the source, then list its shards' members: one pass over the headers
def _scan(stamped: tuple[tuple[str, int, int], ...]) -> tuple[list[list[str]], dict[str, int]]:
    """Each shard's sample keys in tar order (a key seen in an earlier shard is left out) and the labels."""
    labels: dict[str, int] = {}
    seen: set[str] = set()
    keys_by_shard = []
    for shard, _, _ in stamped:
        keys: list[str] = []
        with tarfile.open(shard) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, _, suffix = member.name.partition(".")
                if key not in seen:
                    seen.add(key)
                    keys.append(key)
                if suffix == "cls":
                    labels[key] = int(tar.extractfile(member).read().decode().strip())
        keys_by_shard.append(keys)
    return keys_by_shard, labels


def _image_bytes(sample: dict) -> bytes | None:
    return next((sample[s] for s in IMAGE_SUFFIXES if s in sample), None)


def _decode_bytes(payload: bytes | None, transform, name: str):
    """uint8 image, or None if the sample has no image member or it does not decode."""
    try:
        if payload is None:
            raise UnreadableImage(f"{name}: no image member")
        return transform(load_rgb(io.BytesIO(payload)))
    except UnreadableImage:
        return None


def _decode(sample: dict, transform, index_of: dict[str, int]):
    """(uint8 image or None if undecodable, global index)."""
    return _decode_bytes(_image_bytes(sample), transform, sample["__key__"]), index_of[sample["__key__"]]


def _whole(src):
    return src  # no node or worker splitting: the plan already says who reads which shard


class _PlannedStreams(IterableDataset):
    """A rank's training plan as a dataset: loader worker w (or the main process) emits stream w."""

    def __init__(self, source: "ShardSource", plan, seed: int):
        self.source, self.plan, self.seed = source, plan, seed

    def __iter__(self):
        info = get_worker_info()
        return self.source._emit_stream(self.plan.streams[info.id if info else 0], self.seed)


@dataclass
class ShardSource(ImageSource):
    shards: list[str] = field(default_factory=list)
    crop_min_scale: float = 0.08
    flip: bool = True

    streaming = True

    def __post_init__(self):
        self.index_of = {key: i for i, key in enumerate(self.keys)}
        keys_by_shard, _ = _scan(tuple((s, *_stamp(s)) for s in self.shards))
        self.shard_members = [np.array([self.index_of[k] for k in keys], dtype=np.int64) for keys in keys_by_shard]

    def check_split(self, world_size: int, workers: int) -> None:
        """Feature extraction splits the shards over every rank's every loader worker: each needs one.

        (Training does not: its plan lets two neighbouring streams share a shard.)
        """
        needed = world_size * max(workers, 1)
        if len(self.shards) < needed:
            raise ConfigError(
                f"{len(self.shards)} shard(s) for {world_size} rank(s) x {max(workers, 1)} loader worker(s): each "
                f"needs its own shard; write more shards (launch/make_shards.py --shard-size) or lower train.workers"
            )

    def _transform(self, train: bool):
        return image_transform(self.image_size, train, self.crop_min_scale, self.flip)

    def _stream(self, batch_size: int, workers: int):
        pipeline = wds.WebDataset(
            self.shards, nodesplitter=wds.split_by_node, workersplitter=wds.split_by_worker,
            shardshuffle=False, handler=wds.warn_and_continue, empty_check=False,
        ).map(lambda sample: _decode(sample, self._transform(False), self.index_of), handler=wds.warn_and_continue)
        pipeline = pipeline.batched(batch_size, collation_fn=collate_skipping_unreadable, partial=True)
        loader = DataLoader(pipeline, batch_size=None, num_workers=workers,  # a generator: the global RNG stays
                            generator=torch.Generator().manual_seed(0), pin_memory=torch.cuda.is_available())
        for images, idx, bad in loader:
            self.unreadable.update(bad.tolist())
            if images is not None:
                yield images, idx

    def local_batches(self, batch_size: int, workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's samples once, with the eval transform (feature extraction)."""
        return self._stream(batch_size, workers)

    def train_batches(self, plan, seed: int, workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's ``plan.steps`` training batches, in order (``plan``: ``sampling.shard_epoch_plan``).

        Loader workers emit their streams' batches tagged with their number; batches are passed on in
        number order whatever order the workers finish them in.
        """
        if len(plan.streams) != max(workers, 1):
            raise ValueError(f"the plan has {len(plan.streams)} stream(s) for {max(workers, 1)} loader worker(s)")
        loader = DataLoader(_PlannedStreams(self, plan, seed), batch_size=None, num_workers=workers,
                            generator=torch.Generator().manual_seed(seed), pin_memory=torch.cuda.is_available())
        waiting, due = {}, 0
        for number, images, idx, bad in loader:
            waiting[number] = images, idx, bad
            while due in waiting:
                images, idx, bad = waiting.pop(due)
                due += 1
                self.unreadable.update(bad.tolist())
                if images is not None:
                    yield images, idx

    def _emit_stream(self, stream, seed: int):
        """Read the stream's shards once; emit each batch as soon as its samples have arrived.

        A sample's bytes are kept from its arrival to its last batch. Samples that never arrive (a
        damaged shard) and members that do not decode are left out of their batches and reported.
        """
        if not stream.batches:
            return
        last_use = {int(i): j for j, batch in enumerate(stream.batches) for i in batch}
        wanted, held, arrived, due = set(stream.members.tolist()), {}, 0, 0
        transform = self._transform(True)
        urls = [self.shards[s] for s in stream.shards]
        for sample in wds.WebDataset(urls, shardshuffle=False, nodesplitter=_whole, workersplitter=_whole,
                                     handler=wds.warn_and_continue, empty_check=False):
            index = self.index_of.get(sample["__key__"])
            if index not in wanted:
                continue
            wanted.discard(index)
            held[index] = _image_bytes(sample)
            arrived += 1
            while due < len(stream.batches) and stream.ready[due] <= arrived:
                yield self._planned_batch(stream, due, held, last_use, transform, seed)
                due += 1
            if due == len(stream.batches):
                return
        while due < len(stream.batches):
            yield self._planned_batch(stream, due, held, last_use, transform, seed)
            due += 1

    def _planned_batch(self, stream, j: int, held: dict, last_use: dict, transform, seed: int):
        """(its number on the rank, images or None, indices, unreadable indices); frees bytes used for the last time."""
        number = int(stream.numbers[j])
        with torch.random.fork_rng(devices=[]):  # crops depend on the batch, not on worker or timing
            torch.manual_seed(stream_seed(seed, Purpose.SHARD_CROPS, number))
            samples = [(_decode_bytes(held.get(int(i)), transform, self.keys[i]), int(i)) for i in stream.batches[j]]
        for i in stream.batches[j]:
            if last_use[int(i)] == j:
                held.pop(int(i), None)
        return (number, *collate_skipping_unreadable(samples))

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
