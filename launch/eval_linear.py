"""Linear probes (DeepCluster protocol) and a k-NN score for a pretrained backbone.

Runs deepcluster.cli.eval_linear from a checkout, under python or torchrun; `pip install -e .`
first (which also installs the command as `deepcluster-eval-linear`).
"""

import sys

from deepcluster.cli.eval_linear import main

if __name__ == "__main__":
    sys.exit(main())
