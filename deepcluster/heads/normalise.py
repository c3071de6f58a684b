"""Feature normalisation in front of a clustering head: none, L2, or PCA-whitening to D dims then L2.

Frozen convnet features are anisotropic: a few high-variance directions (often brightness and size) can
dominate Euclidean distances. Whitening the top D principal axes and L2-normalising, as DeepCluster's own
clustering step does, lets the heads see every retained direction equally. The transform is fitted on
the features being clustered (no labels) and saved beside a head, so new points get the same treatment.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..cluster.pca import apply_whitening, fit_whitening, l2_normalize

CHOICES = "none, l2 or whiten:D (PCA-whiten to D dims, then L2)"


def parse_spec(spec: str) -> int | str:
    """'none' / 'l2' as is; 'whiten:D' → D. Anything else is refused with the valid forms."""
    if spec in ("none", "l2"):
        return spec
    kind, _, dim = spec.partition(":")
    if kind == "whiten" and dim.isdigit() and int(dim) > 0:
        return int(dim)
    raise ValueError(f"unknown feature normalisation {spec!r}; use {CHOICES}")


class FeatureNormaliser:
    def __init__(self, spec: str = "none"):
        self.spec = spec
        self.kind = parse_spec(spec)
        self.matrix: np.ndarray | None = None
        self.bias: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "FeatureNormaliser":
        if isinstance(self.kind, int):
            if self.kind > x.shape[1]:
                raise ValueError(f"cannot whiten {x.shape[1]}-d features to {self.kind} dims; "
                                 f"use whiten:D with D <= {x.shape[1]}")
            self.matrix, self.bias = fit_whitening(x, self.kind)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "none":
            return x
        if isinstance(self.kind, int):
            if self.matrix is None:
                raise RuntimeError("FeatureNormaliser.transform before fit")
            return l2_normalize(apply_whitening(x, self.matrix, self.bias), inplace=True)
        return l2_normalize(np.asarray(x, dtype=np.float32))

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def save(self, path: str | Path) -> None:
        """Write the spec and fitted whitening to ``path`` (.npz), atomically."""
        path = Path(path)
        arrays = {"spec": np.asarray(self.spec)}
        if self.matrix is not None:
            arrays.update(matrix=self.matrix, bias=self.bias)
        with atomic_open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "FeatureNormaliser":
        with np.load(path, allow_pickle=False) as f:
            normaliser = cls(str(f["spec"]))
            if "matrix" in f:
                normaliser.matrix, normaliser.bias = f["matrix"], f["bias"]
        return normaliser
