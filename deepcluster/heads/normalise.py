"""Feature normalisation in front of a clustering head: none, L2, or PCA-whitening to D dims then L2.

Frozen convnet features are anisotropic: a few high-variance directions (often brightness and size) can
dominate Euclidean distances. Whitening the top D principal axes and L2-normalising, as DeepCluster's own
clustering step does, lets the heads see every retained direction equally. The transform is fitted on
the features being clustered (no labels) and saved beside a head, so new points get the same treatment.

The PCA is faiss's (``cluster.pca.fit_whitening``, the one DeepCluster's own clustering step uses): its
cost is a d x d covariance over all N rows and that matrix's eigendecomposition, minutes for d in the
thousands on a CPU, so ``fit`` logs the sizes before it starts and the time it took.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..cluster.pca import apply_whitening, fit_whitening, l2_normalize

CHOICES = "none, l2 or whiten:D (PCA-whiten to D dims, then L2)"

log = logging.getLogger(__name__)


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
            n, d = x.shape
            if self.kind > d:
                raise ValueError(f"cannot whiten {d}-d features to {self.kind} dims; use whiten:D with D <= {d}")
            log.info("%s: PCA with faiss on %s x %s features (%s): the %s x %s covariance and its "
                     "eigendecomposition, then each of the top %d axes scaled to unit variance%s", self.spec,
                     f"{n:,}", f"{d:,}", f"{x.nbytes / 2**20:,.0f} MB", f"{d:,}", f"{d:,}", self.kind,
                     "; minutes at this width on a CPU (extract fewer dims to go faster)" if d > 4096 else "")
            start = time.perf_counter()
            self.matrix, self.bias = fit_whitening(x, self.kind)
            kept = int((np.abs(self.matrix).sum(axis=1) > 0).sum())
            log.info("%s: PCA fitted in %.1f s (%d of %d axes have variance; the others are zeroed)", self.spec,
                     time.perf_counter() - start, kept, self.kind)
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
        self.fit(x)
        start = time.perf_counter()
        out = self.transform(x)
        if self.kind != "none":
            log.info("%s: %s rows -> %s x %s in %.1f s", self.spec, f"{len(x):,}", f"{out.shape[0]:,}",
                     f"{out.shape[1]:,}", time.perf_counter() - start)
        return out

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
