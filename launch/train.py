"""DeepCluster pretraining.

Runs deepcluster.cli.train from a checkout, under python or torchrun; `pip install -e .`
first (which also installs the command as `deepcluster-train`).
"""

import sys

from deepcluster.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
