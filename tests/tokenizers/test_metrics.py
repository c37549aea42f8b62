"""Tokenizer quality metrics with known answers."""

import numpy as np
import pytest

from neuroseq.errors import DataError
from neuroseq.tokenizers import MuLawTokenizer
from neuroseq.tokenizers.metrics import (
    code_stats,
    correlation,
    log_psd_distance,
    nrmse,
    reconstruction_metrics,
)


def test_known_values():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4000))
    assert np.allclose(nrmse(x, x), 0) and np.allclose(correlation(x, x), 1)
    assert np.allclose(nrmse(x, np.zeros_like(x)), 1, atol=0.02)
    assert np.allclose(correlation(x, -x), -1)
    assert np.allclose(log_psd_distance(x, x, 100.0), 0)
    assert np.allclose(log_psd_distance(x, 10 * x, 100.0), 20.0)  # power ×100 = 20 dB


def test_code_stats():
    codes = np.array([[0, 1, 2, 3] * 10])
    s = code_stats(codes, 8, 1)
    assert s["usage"] == [0.5] and s["perplexity"][0] == pytest.approx(4.0)
    two = np.stack([np.zeros((2, 6), int), np.arange(12).reshape(2, 6) % 2], 1)  # [C, Q, T]
    s = code_stats(two, 4, 2)
    assert s["perplexity"] == pytest.approx([1.0, 2.0]) and s["entropy_bits"][1] == 1.0


def test_evaluate_mulaw(meg_rec):
    tok = MuLawTokenizer().fit(meg_rec)
    r = reconstruction_metrics(tok, meg_rec.data)
    assert r["nrmse"] < 0.03 and r["correlation"] > 0.999 and r["log_psd_distance_db"] < 0.5
    assert r["bits_per_second"] == 8 * 200 and r["tokens_per_second"] == 200
    assert r["entropy_bits_per_second"] < r["bits_per_second"]
    assert r["encode_samples_per_s"] > 0
    tok.sfreq = None
    with pytest.raises(DataError, match="sfreq"):
        reconstruction_metrics(tok, meg_rec.data)
