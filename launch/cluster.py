"""Run a clustering head (kmeans, ae_kmeans, dec, vade, spectralnet, spectral) on frozen features, over seeds.

Runs deepcluster.cli.cluster from a checkout, under python or torchrun; `pip install -e .`
first (which also installs the command as `deepcluster-cluster`).
"""

import sys

from deepcluster.cli.cluster import main

if __name__ == "__main__":
    sys.exit(main())
