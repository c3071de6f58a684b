"""Features of any layer of a pretrained network, for any supported dataset, into a .npz file.

Runs deepcluster.cli.extract from a checkout, under python or torchrun; `pip install -e .`
first (which also installs the command as `deepcluster-extract`).
"""

import sys

from deepcluster.cli.extract import main

if __name__ == "__main__":
    sys.exit(main())
