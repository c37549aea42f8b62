"""k-means tokenizer: codebook fitting, overlap-add decoding, persistence."""

import numpy as np
import pytest

from neuroseq.errors import DataError
from neuroseq.tokenizers import KMeansTokenizer, Tokenizer
from neuroseq.tokenizers.metrics import nrmse


@pytest.fixture(scope="module")
def fitted(eeg_rec):
    return KMeansTokenizer(vocab_size=128, segment=8, max_fit_segments=20_000).fit(eeg_rec)


def test_shapes_rate_and_round_trip(fitted, eeg_rec):
    x = eeg_rec.data[:, :1000]
    codes = fitted.encode(x)
    assert codes.shape == (eeg_rec.n_channels, 250) and codes.max() < 128
    assert fitted.hop == 4 and fitted.frame_rate == eeg_rec.sfreq / 4
    y = fitted.decode(codes)
    assert y.shape == x.shape
    err = np.mean(nrmse(x, y))
    assert err < 0.5
    # a codebook this size must beat coding every segment with its channel's median
    assert err < np.mean(nrmse(x, np.broadcast_to(np.median(x, 1, keepdims=True), x.shape)))


def test_constant_centroid_decodes_exactly():
    tok = KMeansTokenizer(vocab_size=2, segment=4, hop=2, clip=None)
    tok.fit(np.random.default_rng(0).standard_normal((1, 400)).astype(np.float32))
    tok.centroids[:] = 0.5  # every overlap-added frame is the same constant
    y = tok.decode(np.zeros((1, 10), dtype=np.int64))
    assert y.shape == (1, 20)
    assert np.allclose(y, 0.5 * tok.scale[0] + tok.center[0], rtol=1e-5)


def test_more_centroids_reconstruct_better(eeg_rec):
    x = eeg_rec.data
    errs = []
    for v in (16, 256):
        tok = KMeansTokenizer(vocab_size=v, segment=8, max_fit_segments=20_000).fit(eeg_rec)
        errs.append(np.mean(nrmse(x, tok.decode(tok.encode(x)))))
    assert errs[1] < errs[0]


def test_deterministic_and_save_load(fitted, eeg_rec, tmp_path):
    again = KMeansTokenizer(vocab_size=128, segment=8, max_fit_segments=20_000).fit(eeg_rec)
    x = eeg_rec.data[:, :640]
    assert np.array_equal(again.encode(x), fitted.encode(x))
    fitted.save_pretrained(tmp_path)
    back = Tokenizer.from_pretrained(tmp_path)
    assert np.array_equal(back.encode(x), fitted.encode(x))
    assert np.array_equal(back.decode(back.encode(x)), fitted.decode(fitted.encode(x)))


def test_errors(fitted, eeg_rec):
    with pytest.raises(DataError, match="channels"):
        fitted.encode(eeg_rec.data[:3, :100])
    with pytest.raises(DataError, match="outside the vocabulary"):
        fitted.decode(np.full((eeg_rec.n_channels, 4), 128))
    with pytest.raises(ValueError, match="hop <= segment"):
        KMeansTokenizer(segment=4, hop=8)
    with pytest.raises(ValueError, match="training segments"):
        KMeansTokenizer(vocab_size=4096, segment=8).fit(eeg_rec.data[:2, :200])
