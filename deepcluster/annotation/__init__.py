"""Labelling clusters in bulk: a local web page over a clustering, every action saved as it happens.

``inputs`` turns a run, checkpoint or features file into the clustering to start from, ``store`` keeps the
annotation in one SQLite file (``actions`` says what an annotator can do, and what counts as one action),
``session`` resumes or creates it, ``server`` is the Flask page, ``export`` writes CSV, JSON and an
image-folder tree, ``suggest`` the number of clusters the data suggests.

Names are imported lazily, so ``from deepcluster.annotation import AnnotationStore`` (a benchmark replaying
actions) does not pull in torch.
"""

import importlib

_WHERE = {"KINDS": "actions", "ActionError": "actions", "AnnotationStore": "store", "STORE_FILE": "store",
          "StoreBusy": "store", "store_exists": "store", "Session": "session", "open_session": "session",
          "make_spec": "inputs", "export_all": "export", "write_image_folder": "export",
          "write_labels_csv": "export", "write_labels_json": "export"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'deepcluster.annotation' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
