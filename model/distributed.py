"""Where training runs: the device, and the ranks of a `torchrun` job (PyTorch distributed data parallel).

Launched by `torchrun`, each process reads its place from the environment torchrun sets (`RANK`,
`WORLD_SIZE`, `LOCAL_RANK`, and the rendezvous variables), joins the process group (gloo on the
CPU, NCCL on CUDA), and trains on its shard of every epoch's windows; `DistributedDataParallel`
averages the gradients, so every rank holds the same weights after each step. Rank 0 alone scores,
writes the bundle and the experiment run. Without torchrun there is one rank and no process group.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")
# A rank that waits longer than this for the others (one died, or hangs) fails instead of waiting forever.
COLLECTIVE_TIMEOUT = dt.timedelta(minutes=10)


@dataclasses.dataclass(frozen=True)
class Ranks:
    """This process's place in a training job.

    Attributes:
        rank: 0..world_size - 1; rank 0 is the main one.
        world_size: Processes training together (1 without torchrun).
        local_rank: Its index on this node, the CUDA device it uses.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process scores and writes the results."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether several processes train together."""
        return self.world_size > 1


def ranks_from_environment(environ: Mapping[str, str] = os.environ) -> Ranks:
    """The ranks torchrun set, or a single process.

    Raises:
        ValueError: A variable is not an integer.
    """
    return Ranks(int(environ.get("RANK", 0)), int(environ.get("WORLD_SIZE", 1)), int(environ.get("LOCAL_RANK", 0)))


def training_device(setting: str, ranks: Ranks) -> torch.device:
    """The device of `training.device` (auto: CUDA when present) for this rank.

    Raises:
        ValueError: `cuda` is asked for and there is none.
    """
    if setting == "cuda" and not torch.cuda.is_available():
        raise ValueError("training.device is cuda, but torch sees no CUDA device")
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", ranks.local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def join(ranks: Ranks, device: torch.device) -> None:
    """Join the job's process group (nothing for a single process)."""
    if ranks.distributed and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=COLLECTIVE_TIMEOUT)


def leave() -> None:
    """Leave the process group, if joined."""
    if dist.is_initialized():
        dist.destroy_process_group()


def shard(items: list[T], ranks: Ranks) -> list[T]:
    """This rank's share of an epoch's windows: every world_size-th, from its rank, cut to the same
    length on every rank (DistributedDataParallel needs the same number of steps everywhere). With a
    per-rank batch of B, the ranks' i-th batches together are the one-process i-th batch of B x world_size."""
    usable = len(items) - len(items) % ranks.world_size
    return items[ranks.rank : usable : ranks.world_size]


def parallel(model: torch.nn.Module, ranks: Ranks, device: torch.device) -> torch.nn.Module:
    """`model` on `device`, wrapped to average its gradients over the ranks when there are several."""
    model.to(device)
    if not ranks.distributed:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
