"""The prefix probe reads word identity from frames when the frames carry it, and not when they
do not (a planted effect through the probe itself)."""

import pytest
import torch

from neuroseq.data.collate import pad_collate
from neuroseq.data.sentences import text_splits
from neuroseq.data.store import Store
from neuroseq.evaluation.prefix_probe import prefix_probe


class Frames:
    """A stand-in brain-to-text model whose encoder frames are the signal (rolled by ``shift``)
    averaged over ``stride`` samples, and whose 'quantized' frames keep ``scale`` of them
    (``scale`` 0: the quantizer loses the signal)."""

    stride = 5

    def __init__(self, scale: float = 1.0, shift: int = 0) -> None:
        self.scale, self.shift = scale, shift

    def eval(self):
        return self

    def collate_fn(self):
        return pad_collate

    def quantize(self, batch):
        x = torch.roll(batch["x"], self.shift, dims=-1)
        n = x.shape[-1] // self.stride * self.stride
        h = x[..., :n].unflatten(-1, (-1, self.stride)).mean(-1).transpose(1, 2)
        q = h * self.scale + (1 - self.scale) * torch.randn_like(h)
        return q, None, {}, h


@pytest.fixture(scope="module")
def sets(sentence_store):
    return text_splits(Store(sentence_store), seconds=3.0, tmin=-0.2)


def test_frames_that_carry_the_words_are_read(sets):
    res = prefix_probe(Frames(), sets, seed=0)
    assert res["word_types"] >= 5 and res["test_windows"] >= 20
    assert res["quantized_prefix"] > res["chance"] + 0.25
    assert res["encoder_features"] > res["chance"] + 0.25
    assert res["raw_signal"] > res["chance"] + 0.25


def test_a_quantizer_that_loses_the_words_is_told_from_the_encoder(sets):
    res = prefix_probe(Frames(scale=0.0), sets, seed=0, raw=False, max_classes=8)
    assert res["quantized_prefix"] < res["chance"] + 0.15 and res["raw_signal"] is None
    assert res["encoder_features"] > res["chance"] + 0.25


def test_frames_off_the_words_carry_them_nowhere(sets):
    res = prefix_probe(Frames(shift=60), sets, seed=0, raw=False, max_classes=8)
    assert res["quantized_prefix"] < res["chance"] + 0.15
    assert res["encoder_features"] < res["chance"] + 0.15
