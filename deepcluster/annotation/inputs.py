"""What an annotation folder annotates: the clustering to start from, and the images behind it.

Three inputs, as for ``launch/inspect_clusters.py``:

- a run directory or checkpoint file: its stored assignments (what its last epoch trained on) on its own
  training data, or with ``k`` a fresh k-means of the network's features (always for an export directory);
- a features file from ``launch/extract.py``: a k-means with ``k`` clusters of its features; the images come
  from the dataset named by ``data`` / ``data_root`` / ``split`` / ``limit`` (the ones it was extracted
  from), matched by the file's ``index`` and checked against its ``keys``.

The spec (a plain dict) is stored with the annotations, so a restarted server rebuilds the same image source
without extracting or clustering again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import DataConfig, TrainConfig
from ..data import ImageSource, build_source
from ..features import extract_features
from ..heads.inputs import load_features_file
from ..inspection.membership import Membership, kmeans_membership, stored_membership
from ..pretrained import build_checked_source, data_config, default_device, load_pretrained
from ..runtime import select_runtime

SPEC_FIELDS = ("checkpoint", "features", "data", "data_root", "split", "limit", "k", "seed", "pca_dim")


@dataclass
class Clustering:
    """One row per image that can be annotated (undecodable ones are left out)."""

    indices: np.ndarray  # (n,) int64 dataset positions
    keys: list[str]
    clusters: np.ndarray  # (n,) int64
    distances: np.ndarray  # (n,) float32 squared distance to the centroid, in the k-means space
    k: int
    origin: str  # "checkpoint assignments" or "k-means (k=..., seed=...)"
    features: np.ndarray | None  # (n, d) raw features, for the suggested number of clusters


def make_spec(checkpoint: str | None = None, features: str | None = None, data: str | None = None,
              data_root: str | None = None, split: str | None = None, limit: int | None = None,
              k: int | None = None, seed: int = 0, pca_dim: int | None = None) -> dict:
    """The spec, with paths made absolute (a restart from another folder finds the same files)."""
    if bool(checkpoint) == bool(features):
        raise ValueError("give either --checkpoint (run directory, checkpoint or export) or --features (an .npz "
                         "from launch/extract.py)")
    if features and not data:
        raise ValueError("--features needs --data (and --data-root for imagefolder, mnist, cifar10): the dataset "
                         "the file was extracted from, whose images the page shows")
    if features and not k:
        raise ValueError("--features needs --k, the number of k-means clusters to start from")
    absolute = (lambda p: str(Path(p).resolve()) if p else None)
    return {"checkpoint": absolute(checkpoint), "features": absolute(features), "data": data,
            "data_root": absolute(data_root), "split": split, "limit": limit, "k": k, "seed": int(seed),
            "pca_dim": pca_dim}


def _checked(source: ImageSource) -> ImageSource:
    if source.streaming:
        raise ValueError("the annotate page shows images by dataset index, which WebDataset shards cannot give; "
                         "annotate an image folder (data.name=imagefolder) or an in-memory dataset instead")
    return source


def open_source(spec: dict) -> ImageSource:
    """The images of the spec's dataset, at the size the page shows them from."""
    if spec["checkpoint"]:
        pre = load_pretrained(spec["checkpoint"])
        split = None if spec["data"] is None else spec["split"] or "all"  # None: the split it trained on
        cfg = data_config(pre, spec["data"], spec["data_root"], split, spec["limit"])
        return _checked(build_checked_source(pre, cfg))
    return _checked(build_source(DataConfig(name=spec["data"], root=spec["data_root"], split=spec["split"] or "all",
                                            limit=spec["limit"])))


def _rows(m: Membership, features: np.ndarray, source: ImageSource, indices: np.ndarray | None = None) -> Clustering:
    used = np.flatnonzero(m.assignments >= 0)
    positions = used if indices is None else indices[used]
    return Clustering(positions.astype(np.int64), [source.keys[i] for i in positions], m.assignments[used],
                      m.distances[used], m.k, m.origin, features[used])


def checkpoint_clustering(spec: dict, source: ImageSource) -> Clustering:
    pre = load_pretrained(spec["checkpoint"])
    cfg = pre.config
    device = default_device()
    features, valid = extract_features(pre.extractor.to(device), source, select_runtime(TrainConfig(amp="off"), device),
                                       batch_size=256, workers=cfg.train.workers)
    pca_dim = spec["pca_dim"] or cfg.cluster.pca_dim
    if spec["k"] is None and pre.assignments is not None and spec["data"] is None:
        m = stored_membership(features, valid, pre.assignments, pca_dim)
    else:
        m = kmeans_membership(features, valid, spec["k"] or cfg.cluster.k, pca_dim, cfg.cluster.niter, spec["seed"])
    return _rows(m, features, source)


def features_clustering(spec: dict, source: ImageSource) -> Clustering:
    features, _ = load_features_file(spec["features"])
    with np.load(spec["features"], allow_pickle=False) as f:
        index = f["index"].astype(np.int64) if "index" in f else np.arange(len(features))
        keys = [str(k) for k in f["keys"]] if "keys" in f else None
    where = f"--data {spec['data']}" + (f" --data-root {spec['data_root']}" if spec["data_root"] else "")
    if len(index) and (index.min() < 0 or index.max() >= len(source)):
        raise ValueError(f"{spec['features']} indexes samples up to {int(index.max())} but {where} has "
                         f"{len(source)}; pass the dataset, split and limit it was extracted from")
    if keys is not None:
        wrong = [(i, key) for i, key in zip(index.tolist(), keys) if source.keys[i] != key]
        if wrong:
            (i, key) = wrong[0]
            raise ValueError(f"{spec['features']} was not extracted from {where}: its sample {i} is {key!r} there "
                             f"but {source.keys[i]!r} here ({len(wrong)} keys differ); pass the --data, --data-root, "
                             "--split and --limit it was extracted with")
    pca_dim = min(spec["pca_dim"] or 64, features.shape[1], len(features))
    m = kmeans_membership(features, np.ones(len(features), dtype=bool), spec["k"], pca_dim, seed=spec["seed"])
    return _rows(m, features, source, index)


def initial_clustering(spec: dict, source: ImageSource) -> Clustering:
    """The clustering the annotation starts from (extraction and k-means: the slow part of a first start)."""
    return checkpoint_clustering(spec, source) if spec["checkpoint"] else features_clustering(spec, source)


def describe(spec: dict) -> str:
    """One line for the page's header."""
    what = f"checkpoint {spec['checkpoint']}" if spec["checkpoint"] else f"features {spec['features']}"
    data = f" on {spec['data']}" + (f" ({spec['data_root']})" if spec["data_root"] else "") if spec["data"] else ""
    return what + data
