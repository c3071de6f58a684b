"""Run under torchrun by test_shard_stream.py: every rank streams its part of the epoch plan; rank 0 writes all.

    python -m torch.distributed.run --nproc_per_node=3 tests/data/shard_ranks_probe.py URLS OUT.json BATCH
"""

import json
import sys
from pathlib import Path

import torch.distributed as torch_dist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (conftest), beside this folder

from test_shard_stream import SIZE, assignments_for  # noqa: E402
from deepcluster import dist  # noqa: E402
from deepcluster.config import DataConfig  # noqa: E402
from deepcluster.data import build_source  # noqa: E402
from deepcluster.sampling import shard_epoch_plan  # noqa: E402


def main() -> None:
    urls, out, batch = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    dist.init_distributed()
    source = build_source(DataConfig(name="webdataset", urls=urls, image_size=SIZE))
    plan = shard_epoch_plan(assignments_for(len(source)), source.shard_members, 7, 2, dist.rank(),
                            dist.world_size(), 2, batch)
    mine = [idx.tolist() for _, idx in source.train_batches(plan, seed=dist.rank(), workers=2)]
    everyone = [None] * dist.world_size()
    torch_dist.all_gather_object(everyone, mine)
    if dist.is_main():
        out.write_text(json.dumps(everyone))
    dist.shutdown()


if __name__ == "__main__":
    main()
