"""deepcluster: DeepCluster self-supervised pretraining (Caron et al., ECCV 2018) and clustering heads.

Data flow, one subpackage each: ``data`` → ``models`` → ``features`` → ``cluster`` → ``sampling`` →
``train`` → ``evaluation`` / export.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``deepcluster.load_backbone`` imported lazily, so ``import deepcluster`` stays light."""
    if name == "load_backbone":
        from .export import load_backbone

        return load_backbone
    raise AttributeError(f"module 'deepcluster' has no attribute {name!r}")
