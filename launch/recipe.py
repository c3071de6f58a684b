"""The whole recipe in one command: DeepCluster pretraining → frozen features → clustering head → scores.

Runs deepcluster.cli.recipe from a checkout, under python or torchrun; `pip install -e .`
first (which also installs the command as `deepcluster-recipe`).
"""

import sys

from deepcluster.cli.recipe import main

if __name__ == "__main__":
    sys.exit(main())
