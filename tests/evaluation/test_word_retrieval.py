"""The word-retrieval evaluation, tested through ``evaluate_words`` with a stand-in model that
records what each arm fed it: a noise arm that reads test data, or white noise in place of the
training groups' spectrum, turns these red — also for word groups shorter than the others."""

import numpy as np
import torch

from neuroseq.evaluation.word_retrieval import evaluate_words

SF, WIDTH, C = 50, 25, 3  # 0.5 s word windows at 50 Hz, 3 channels
WORDS = ["a", "b", "c", "d", "e", "f"]


class _Group:
    def __init__(self, words):
        self.words, self.text = tuple(words), " ".join(words)


class _Groups(torch.utils.data.Dataset):
    """Word groups whose signal is ``signal(i, n_samples)``."""

    def __init__(self, groups, signal):
        self.groups, self.signal = groups, signal

    def __len__(self):
        return len(self.groups)

    def __getitem__(self, i):
        n = len(self.groups[i].words)
        return {"x": self.signal(i, n * WIDTH), "mask": torch.ones(C, dtype=torch.bool),
                "sensors": {"ids": torch.arange(C)}, "subject": torch.tensor(0),
                "key": f"rec@{i}", "words": list(self.groups[i].words),
                "word_starts": torch.arange(n) * WIDTH}


class _Collate:
    """Batches of one group: the signal as ``codes`` (a stand-in for the codec)."""

    table = {w: torch.eye(len(WORDS))[i] for i, w in enumerate(WORDS)}

    def __call__(self, items):
        (it,) = items
        n = len(it["words"])
        return {"codes": it["x"][None], "sensors": it["sensors"], "mask": it["mask"][None],
                "word_frames": torch.zeros(1, n, 2, dtype=torch.long)}


class _Model:
    def __init__(self):
        self.seen = []

    def eval(self):
        return self

    def __call__(self, codes, sensors, mask, word_frames):
        self.seen.append(codes[0])
        return torch.zeros(1, word_frames.shape[1], len(WORDS))


def _train_signal(i, n):
    """3 Hz, channel gains 1, 2, 3 (so a strong spatial covariance), random phase per group."""
    t = torch.arange(n) / SF
    return torch.stack([g * torch.sin(2 * np.pi * 3 * t + i) for g in (1.0, 2.0, 3.0)])


def _run():
    train = _Groups([_Group(WORDS[i % 3:i % 3 + 4]) for i in range(12)], _train_signal)
    # test groups of 4, 2 and 3 words (all training groups have 4), each a constant that no
    # training group holds
    test = _Groups([_Group(["a", "b", "c", "d"]), _Group(["e", "f"]), _Group(["b", "a", "c"])],
                   lambda i, n: torch.full((C, n), 100.0 + i))
    model = _Model()
    res = evaluate_words(model, test, _Collate(), train=train, seed=0, k=2)
    return res, model, test


def test_noise_arm_reads_phase_randomised_training_groups_of_each_length():
    res, model, test = _run()
    assert set(res["arms"]) == {"model", "noise", "shuffled"}
    assert "phase-randomised" in res["noise_control"]
    own = [test[i]["x"] for i in range(len(test))]
    # arms run model, noise, shuffled per group: every third input is the noise arm's
    noise = model.seen[1::3]
    assert [x.shape for x in noise] == [x.shape for x in own]  # shorter groups too
    for x in noise:
        assert not any(x.shape == o.shape and torch.allclose(x, o) for o in own)
        assert x.abs().max() < 10  # nothing of the test groups' constants (≥ 100)
        power = np.abs(np.fft.rfft(x.numpy(), axis=1)) ** 2
        freqs = np.fft.rfftfreq(x.shape[1], 1 / SF)
        near = np.abs(freqs - 3) <= 1
        assert power[:, near].sum() / power.sum() > 0.8  # the training spectrum, not white
        gains = np.sqrt(power.sum(1))
        np.testing.assert_allclose(gains / gains[0], [1, 2, 3], rtol=0.05)  # its covariance
    assert [torch.equal(a, b) for a, b in zip(model.seen[0::3], own, strict=True)] == [True] * 3
