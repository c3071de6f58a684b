"""Export a pretrained backbone: safetensors weights, a model card and a torch.export program.

Runs deepcluster.cli.export from a checkout, under python or torchrun; `pip install -e .`
first (which also installs the command as `deepcluster-export`).
"""

import sys

from deepcluster.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
