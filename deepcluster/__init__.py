"""deepcluster: DeepCluster self-supervised pretraining (Caron et al., ECCV 2018) and clustering heads.

Data flow, one subpackage each: ``data`` → ``models`` → ``features`` → ``cluster`` → ``sampling`` →
``train`` → ``evaluation`` / export.
"""

__version__ = "0.1.0"
