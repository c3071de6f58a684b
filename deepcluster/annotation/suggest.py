"""The number of clusters the data itself suggests, shown on the page beside the k being annotated.

``deepcluster.heads.suggest_k`` (a Dirichlet-process Gaussian mixture) is imported lazily: where it is not
installed the page shows no suggestion. It runs once per annotation folder on the raw features (it samples
and whitens them itself), in a background thread so the page opens at once; its answer is kept with the
annotations (not an action: nothing the annotator did).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from .store import AnnotationStore

log = logging.getLogger(__name__)


def suggest_k_function():
    """``suggest_k`` when the module exists, else None."""
    try:
        from ..heads.suggest_k import suggest_k
    except ImportError:
        return None
    return suggest_k


def compute_suggestion(features: np.ndarray, max_k: int = 50, seed: int = 0) -> dict | None:
    suggest_k = suggest_k_function()
    if suggest_k is None or features is None or len(features) < 2:
        return None
    max_k = min(max_k, len(features) - 1)
    result = suggest_k(np.asarray(features, dtype=np.float32), max_k=max_k, seed=seed)
    return {"k": int(result.k), "rows": int(getattr(result, "n_fitted", len(features))), "max_k": int(max_k)}


def start_suggestion(store: AnnotationStore, features: np.ndarray | None, seed: int = 0) -> threading.Thread | None:
    """Compute and store the suggestion in the background, unless it is stored already or cannot be made."""
    if store.meta("suggested_k") is not None or features is None or suggest_k_function() is None:
        return None

    def work():
        try:
            found = compute_suggestion(features, seed=seed)
        except Exception as err:  # a failed suggestion must not take the annotation down
            log.warning("suggested number of clusters failed: %s", err)
            return
        if found is not None:
            store.set_meta("suggested_k", found)
            log.info("suggested number of clusters: %d", found["k"])

    thread = threading.Thread(target=work, name="suggest-k", daemon=True)
    thread.start()
    return thread
