"""The two reductions clustering needs, for one process or across a torch.distributed group.

Re-seeding and distributed k-means are written once against this interface: ``LocalComm`` when rank 0
clusters gathered features alone (the other ranks wait), ``GroupComm`` when every rank keeps its own
block of features and only sums and small gathers cross the network.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import dist


class LocalComm:
    offset = 0  # global index of this process's first row

    def sum(self, array: np.ndarray) -> np.ndarray:
        return array

    def cat(self, array: np.ndarray) -> np.ndarray:
        return array


class GroupComm:
    def __init__(self, n_local: int, device: torch.device):
        self.device = device
        lengths = self.cat(np.array([n_local], dtype=np.int64))
        self.offset = int(lengths[: dist.rank()].sum())
        self.total = int(lengths.sum())

    def sum(self, array: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return dist.all_reduce_sum(tensor).cpu().numpy()

    def cat(self, array: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return dist.all_gather_varlen(tensor).cpu().numpy()

    def cat_to_main(self, array: np.ndarray) -> np.ndarray | None:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        parts = dist.gather_parts(tensor, to_main_only=True)
        return None if parts is None else torch.cat(parts).cpu().numpy()

    def broadcast(self, array: np.ndarray) -> np.ndarray:
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return dist.broadcast_tensor(tensor).cpu().numpy()
