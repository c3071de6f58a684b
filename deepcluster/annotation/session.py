"""Opening an annotation folder: resume the one there, or cluster the inputs and create it.

A first start extracts features (run or checkpoint) or reads them (features file), clusters them and writes
the store; every later start only reopens the store and the dataset, so it takes seconds and shows exactly
the clusters and labels the last one left, whatever k-means would draw today.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import ImageSource
from ..heads.inputs import load_features_file
from .inputs import describe, initial_clustering, open_source
from .store import AnnotationStore, store_exists

log = logging.getLogger(__name__)


@dataclass
class Session:
    store: AnnotationStore
    source: ImageSource
    features: np.ndarray | None  # for the suggested k, when it is still to be computed
    created: bool


def _check_same_inputs(out: Path, stored: dict, spec: dict) -> None:
    differ = [f"{k}={spec.get(k)!r} (stored: {stored.get(k)!r})" for k in stored if spec.get(k) != stored.get(k)]
    if differ:
        raise ValueError(f"{out} already annotates {describe(stored)}; these inputs differ: {', '.join(differ)}. "
                         "Start it with --out alone to resume, or give a new --out for other inputs")


def _check_keys(store: AnnotationStore, source: ImageSource) -> None:
    indices, keys = store.items_table()
    if len(indices) and indices.max() >= len(source):
        raise ValueError(f"the annotations hold image {int(indices.max())} but the dataset now has {len(source)}; "
                         "it changed since the annotation started")
    wrong = [(i, key) for i, key in zip(indices.tolist(), keys) if source.keys[i] != key]
    if wrong:
        i, key = wrong[0]
        raise ValueError(f"the dataset changed since the annotation started: image {i} was {key!r}, now "
                         f"{source.keys[i]!r} ({len(wrong)} differ)")


def open_session(out: str | Path, spec: dict | None, writer: bool = True) -> Session:
    """The store in ``out`` (created from ``spec`` when there is none) and the images it annotates."""
    out = Path(out)
    if store_exists(out):
        store = AnnotationStore(out, writer=writer)
        try:
            stored = store.meta("spec")
            if spec is not None:
                _check_same_inputs(out, stored, spec)
            source = open_source(stored)
            _check_keys(store, source)
        except BaseException:
            store.close()
            raise
        features = None
        if writer and stored["features"] and store.meta("suggested_k") is None:
            features = load_features_file(stored["features"])[0]
        log.info("resumed %s: %d actions so far", out, store.version())
        return Session(store, source, features, created=False)
    if spec is None:
        raise FileNotFoundError(f"{out} holds no annotations yet; give --checkpoint or --features to start them")
    source = open_source(spec)
    clustering = initial_clustering(spec, source)
    info = {"description": describe(spec), "origin": clustering.origin, "k": clustering.k,
            "images": len(clustering.indices), "left_out": len(source) - len(clustering.indices)}
    store = AnnotationStore.create(out, spec, clustering.indices, clustering.keys, clustering.clusters,
                                   clustering.distances, info)
    if not writer:
        store.close()
        store = AnnotationStore(out, writer=False)
    return Session(store, source, clustering.features, created=True)
