"""Write a dataset as WebDataset tar shards, for streaming with data.name=webdataset.

Runs deepcluster.cli.make_shards from a checkout, under python or torchrun; `pip install -e .`
first (which also installs the command as `deepcluster-make-shards`).
"""

import sys

from deepcluster.cli.make_shards import main

if __name__ == "__main__":
    sys.exit(main())
