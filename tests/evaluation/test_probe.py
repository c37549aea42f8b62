"""Linear probing of frozen EEGPT features: a planted topography is read, shuffled labels not."""

import numpy as np
import torch

from neuroseq.evaluation.probe import frozen_features, linear_probe
from neuroseq.models.eegpt import EEGPT


class _Epochs(torch.utils.data.Dataset):
    """8-electrode epochs whose class sets which half of the montage carries a 6 Hz wave."""

    tasks, n_classes = ["side"], {"side": 2}

    def __init__(self, n: int, seed: int, shuffle: bool = False) -> None:
        g = np.random.default_rng(seed)
        self.y = g.integers(0, 2, n)
        t = np.arange(64) / 64.0
        self.x = g.standard_normal((n, 8, 64)).astype(np.float32)
        for i, c in enumerate(self.y):
            half = slice(0, 4) if c == 0 else slice(4, 8)
            self.x[i, half] += 2.0 * np.sin(2 * np.pi * 6 * t)
        if shuffle:
            self.y = g.permutation(self.y)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"x": torch.from_numpy(self.x[i]), "y": torch.tensor(int(self.y[i])),
                "mask": torch.ones(8, dtype=torch.bool),
                "sensors": {"ids": torch.arange(8)}, "task": "side"}


def test_probe_reads_a_planted_topography_and_not_shuffled_labels():
    torch.manual_seed(0)
    model = EEGPT({"side": 2}, n_electrodes=8, preset="tiny", patch_len=16)
    x, y, t = frozen_features(model, _Epochs(10, 0))
    assert x.shape == (10, 8 * 32) and (t == "side").all() and len(y) == 10
    good = linear_probe(model, _Epochs(200, 1), _Epochs(200, 2))["side"]
    bad = linear_probe(model, _Epochs(200, 1, shuffle=True), _Epochs(200, 2))["side"]
    assert good["balanced_accuracy"] > 0.9 and good["chance"] == 0.5
    assert bad["balanced_accuracy"] < 0.65
