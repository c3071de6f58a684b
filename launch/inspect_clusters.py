"""Inspect the clusters of a run, checkpoint or export: image grids, plots and a CSV for annotators.

Runs deepcluster.cli.inspect_clusters from a checkout, under python or torchrun; `pip install -e .`
first (which also installs the command as `deepcluster-inspect`).
"""

import sys

from deepcluster.cli.inspect_clusters import main

if __name__ == "__main__":
    sys.exit(main())
