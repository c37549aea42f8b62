"""EEGNet-v4 (Lawhern et al., J. Neural Eng. 2018), written from the paper's description.

braindecode's ``EEGNetv4`` would be the first choice, but braindecode pulls in a torchaudio
whose compiled library does not load against our torch (``benchmarks/results/eegpt_real.md``),
so the network is written here from the paper:

1. temporal convolution, ``F1`` filters of ``kernel_len`` samples (half a second), batch norm;
2. depthwise spatial convolution over all electrodes, ``D`` filters per temporal filter, its
   weights max-norm constrained to 1, batch norm, ELU, average pooling by 4, dropout;
3. separable convolution (depthwise 16 samples then pointwise to ``F2``), batch norm, ELU,
   average pooling by 8, dropout;

Both temporal kernels are made odd (the paper's 64 and 16 become 65 and 17) so that "same"
padding is symmetric.
4. flatten, one linear classifier per task (max-norm 0.25).

The forward signature is EEGPT's (``x, electrodes, active, tasks``) so the multi-task
objective and the classification metrics serve both.  Electrodes are taken in the order of the
batch: every sample must carry the same montage (``n_chans`` of them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuroseq.models.hub import HubModel
from neuroseq.models.signal_args import renamed


class EEGNet(nn.Module, HubModel):
    """EEGNet-v4 with one classifier per task.

    Parameters
    ----------
    tasks : dict[str, int]
        Task name → number of classes.
    n_chans, n_times : int
        Electrodes and samples per epoch.
    sfreq : float
        Sampling rate (Hz); the temporal kernel is half a second unless ``kernel_len`` is given.
    f1, depth, f2 : int
        Temporal filters, spatial filters per temporal filter, separable filters (8, 2, 16).
    dropout : float
        0.5 within subject, 0.25 across subjects in the paper.
    """

    def __init__(self, tasks: dict[str, int], n_chans: int | None = None,
                 n_times: int | None = None, sfreq: float = 128.0, f1: int = 8, depth: int = 2,
                 f2: int = 16, kernel_len: int | None = None, dropout: float = 0.5, *,
                 n_channels: int | None = None) -> None:
        super().__init__()
        n_channels = renamed("EEGNet", "n_chans", n_chans, "n_channels", n_channels)
        if n_times is None:
            raise TypeError("EEGNet() missing required argument 'n_times'.")
        if not tasks:
            raise ValueError("EEGNet needs at least one task (name → number of classes).")
        if n_times < 32:
            raise ValueError(f"EEGNet pools time by 32; {n_times} samples are too few.")
        self.tasks, self.n_channels = dict(tasks), int(n_channels)
        k = int(kernel_len or max(2, round(sfreq / 2))) // 2 * 2 + 1  # odd: "same" padding
        self.temporal = nn.Conv2d(1, f1, (1, k), padding="same", bias=False)
        self.bn1 = nn.BatchNorm2d(f1)
        self.spatial = nn.Conv2d(f1, f1 * depth, (n_channels, 1), groups=f1, bias=False)
        self.bn2 = nn.BatchNorm2d(f1 * depth)
        self.sep_depth = nn.Conv2d(f1 * depth, f1 * depth, (1, 17), padding="same",
                                   groups=f1 * depth, bias=False)
        self.sep_point = nn.Conv2d(f1 * depth, f2, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(f2)
        self.drop = nn.Dropout(dropout)
        n_feat = f2 * (n_times // 4 // 8)
        self.heads = nn.ModuleDict({t: nn.Linear(n_feat, c) for t, c in self.tasks.items()})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, E, T]`` → flattened features ``[B, F2 · T/32]``."""
        if x.shape[1] != self.n_channels:
            raise ValueError(f"EEGNet was built for {self.n_channels} electrodes, the batch has "
                             f"{x.shape[1]}.")
        h = self.bn1(self.temporal(x.unsqueeze(1)))
        w = torch.renorm(self.spatial.weight, 2, 0, 1.0)  # max-norm 1 per spatial filter
        h = F.elu(self.bn2(F.conv2d(h, w, groups=self.spatial.groups)))
        h = self.drop(F.avg_pool2d(h, (1, 4)))
        h = F.elu(self.bn3(self.sep_point(self.sep_depth(h))))
        h = self.drop(F.avg_pool2d(h, (1, 8)))
        return h.flatten(1)

    def forward(self, x: torch.Tensor, electrodes: torch.Tensor | None = None,
                active: torch.Tensor | None = None,
                tasks: str | list[str] = "") -> torch.Tensor:
        """Logits ``[B, K]`` (``K`` the largest class count in the batch; the classes a
        sample's task does not have score ``-inf``).  ``electrodes`` is unused (fixed montage);
        ``active`` must mark every electrode."""
        if active is not None and not bool(active.all()):
            raise ValueError("EEGNet needs one montage for all samples; this batch is padded.")
        b = x.shape[0]
        names = [tasks] * b if isinstance(tasks, str) else list(tasks)
        unknown = sorted(set(names) - set(self.heads))
        if unknown:
            raise KeyError(f"unknown task {unknown[0]!r}; this model has {sorted(self.heads)}.")
        z = self.features(x)
        k = max(self.tasks[t] for t in names)
        out = z.new_full((b, k), float("-inf"))
        for t in dict.fromkeys(names):
            rows = torch.tensor([i for i, n in enumerate(names) if n == t], device=x.device)
            head = self.heads[t]
            w = torch.renorm(head.weight, 2, 0, 0.25)  # max-norm 0.25 per class
            out[rows, : self.tasks[t]] = F.linear(z[rows], w, head.bias)
        return out
