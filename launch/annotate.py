"""Label clusters in bulk in a local web page: name clusters, move strays, export the labels.

Runs deepcluster.cli.annotate from a checkout; `pip install -e .` first (which also installs the command as
`deepcluster-annotate`).
"""

import sys

from deepcluster.cli.annotate import main

if __name__ == "__main__":
    sys.exit(main())
