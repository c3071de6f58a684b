"""deepcluster: DeepCluster self-supervised pretraining (Caron et al., ECCV 2018) and clustering heads.

The layers, lowest first, each importing only from those before it (docs/architecture.md):
config → data → runtime → models → features → cluster → scores → sampling → train → pretrained / export →
evaluation → heads → inspection → annotation → cli.
"""

from .version import __version__

__all__ = ["__version__", "load_backbone"]


def __getattr__(name: str):
    """``deepcluster.load_backbone`` imported lazily, so ``import deepcluster`` stays light."""
    if name == "load_backbone":
        from .models.export_format import load_backbone

        return load_backbone
    raise AttributeError(f"module 'deepcluster' has no attribute {name!r}")
