"""A DataLoader that resumes mid-epoch exactly: its order is a function of (seed, epoch) and its
position travels in Lightning checkpoints.

Lightning saves ``state_dict()`` of any train loader that has one and hands it back through
``load_state_dict`` on resume (``CombinedLoader._state_dicts``).  The position saved is the
number of batches the training loop has *processed* in the current epoch (read from the bound
trainer's progress, not from the iterator, which prefetches ahead); on resume the sampler skips
exactly those.  Under DDP every rank takes its own stride of the same permutation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class _ResumableSampler(Sampler[int]):
    def __init__(self, n: int, shuffle: bool, seed: int, drop_last: bool) -> None:
        self.n, self.shuffle, self.seed, self.drop_last = n, shuffle, seed, drop_last
        self.trainer: Any = None
        self.batch_size = 1
        self.resume: tuple[int, int] | None = None  # (epoch, batches to skip)

    def _world(self) -> tuple[int, int]:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def epoch(self) -> int:
        return int(self.trainer.current_epoch) if self.trainer is not None else 0

    def _indices(self) -> torch.Tensor:
        epoch = self.epoch()
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            idx = torch.randperm(self.n, generator=g)
        else:
            idx = torch.arange(self.n)
        rank, world = self._world()
        per_rank = self.n // world
        return idx[rank::world][:per_rank]

    def __len__(self) -> int:
        return self.n // self._world()[1]

    def __iter__(self) -> Iterator[int]:
        idx = self._indices()
        if self.resume is not None:
            epoch, skip = self.resume
            if epoch == self.epoch():
                idx = idx[skip * self.batch_size:]
            elif epoch < self.epoch():
                self.resume = None
        return iter(idx.tolist())


class ResumableLoader(DataLoader):
    """``DataLoader`` with a seeded, checkpointed order.

    Parameters
    ----------
    dataset : Dataset
        Map-style dataset.
    batch_size : int
    shuffle : bool
        A new permutation per epoch, seeded by ``(seed, epoch)``.
    seed : int
    **kwargs
        Passed to ``DataLoader`` (``collate_fn``, ``num_workers``, ``drop_last``...).
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = True,
                 seed: int = 0, **kwargs: Any) -> None:
        sampler = _ResumableSampler(len(dataset), shuffle, seed, kwargs.get("drop_last", False))
        sampler.batch_size = batch_size
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)

    def bind(self, trainer: Any) -> None:
        """Read the epoch and progress from ``trainer`` (done by :func:`neuroseq.training.fit`)."""
        self.sampler.trainer = trainer

    def state_dict(self) -> dict[str, int]:
        """Epoch and batches processed in it (saved inside Lightning checkpoints)."""
        t = self.sampler.trainer
        done = int(t.fit_loop.epoch_loop.batch_progress.current.processed) if t is not None else 0
        return {"epoch": self.sampler.epoch(), "batches": done, "seed": self.sampler.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Skip the batches already processed in the saved epoch."""
        self.sampler.seed = int(state.get("seed", self.sampler.seed))
        self.sampler.resume = (int(state["epoch"]), int(state["batches"]))
