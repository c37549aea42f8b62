"""μ-law tokenizer: the GPT2MEG scheme, round trips, errors, persistence."""

import numpy as np
import pytest
import torch
from sklearn.preprocessing import MaxAbsScaler, RobustScaler

from neuroseq.errors import DataError, FormatError, NeuroseqError
from neuroseq.tokenizers import MuLawTokenizer, Tokenizer
from neuroseq.tokenizers.mulaw import compand, expand


@pytest.fixture(scope="module")
def fitted(meg_rec):
    return MuLawTokenizer().fit(meg_rec)


def reference_codes(train: np.ndarray, x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """The original pipeline with scikit-learn scalers and numpy μ-law (channels as columns)."""
    rs = RobustScaler().fit(train.T)
    ma = MaxAbsScaler().fit(np.clip(rs.transform(train.T), -4, 4))
    z = np.clip(ma.transform(np.clip(rs.transform(x.T), -4, 4)), -1, 1)
    y = np.sign(z) * np.log1p(mu * np.abs(z)) / np.log1p(mu)
    return np.floor((y + 1) / 2 * mu + 0.5).astype(int).T


def test_codes_match_the_original_pipeline(meg_rec):
    train, test = meg_rec.data[:, :3000], meg_rec.data[:, 3000:]
    tok = MuLawTokenizer().fit(train)
    ours = tok.encode(test).astype(int)
    ref = reference_codes(train, test)
    # float32 vs float64 arithmetic may flip values lying exactly on a bin edge
    assert np.mean(ours != ref) < 1e-4
    assert np.abs(ours - ref).max() <= 1


@pytest.mark.parametrize("n_bins", [256, 1024])
def test_lookup_table_encoder_is_the_exact_quantisation(meg_rec, n_bins):
    tok = MuLawTokenizer(mu=n_bins - 1, n_bins=n_bins).fit(meg_rec)
    x = meg_rec.data.astype(np.float64)
    z = np.clip((x - tok.center[:, None]) / tok.scale[:, None], -1, 1)
    y = np.sign(z) * np.log1p(tok.mu * np.abs(z)) / np.log1p(tok.mu)
    exact = np.floor((y + 1) * (n_bins - 1) / 2 + 0.5)
    assert np.mean(tok.encode(x) != exact) < 1e-6
    # the torch fallback (vocabularies too fine for a table) agrees up to float32 edge flips
    torch_codes = tok._encode_torch(torch.from_numpy(meg_rec.data)[None])[0].numpy()
    assert np.mean(torch_codes != tok.encode(meg_rec.data)) < 1e-4


def test_round_trip_within_half_a_bin_in_the_companded_domain(fitted, meg_rec):
    x = torch.from_numpy(meg_rec.data)
    z = fitted.normalise(x)
    y = compand(z.clone(), fitted.mu)
    y_hat = compand(fitted.normalise(fitted.decode(fitted.encode(x))), fitted.mu)
    half_bin = 1.0 / (fitted.n_bins - 1)
    assert (y - y_hat).abs().max() <= half_bin * (1 + 1e-3)
    # the original decoder's (q - 0.5) centres are off by up to a full bin
    q = fitted.encode(x).double()
    ref_y = (q - 0.5) / fitted.mu * 2 - 1
    assert (y.double() - ref_y).abs().max() > 0.9 * 2 * half_bin


def test_reconstruction_error_small_on_realistic_data(fitted, meg_rec):
    x = meg_rec.data
    y = fitted.decode(fitted.encode(x))
    inside = np.abs((x - fitted.center[:, None]) / fitted.scale[:, None]) <= 1
    err = np.sqrt(np.mean((x - y) ** 2) / np.var(x))
    assert err < 0.03
    assert inside.mean() > 0.99


def test_expand_inverts_compand():
    z = torch.linspace(-1, 1, 1001, dtype=torch.float64)
    assert torch.allclose(expand(compand(z.clone(), 255.0), 255.0), z, atol=1e-12)


def test_batch_numpy_torch_and_dtypes(fitted, meg_rec):
    x = np.stack([meg_rec.data[:, :500], meg_rec.data[:, 500:1000]])
    c_np = fitted.encode(x)
    c_t = fitted.encode(torch.from_numpy(x))
    assert c_np.shape == (2, 306, 500) and c_np.dtype == np.uint8
    assert c_t.dtype == torch.long and np.array_equal(c_t.numpy(), c_np)
    assert np.array_equal(fitted.encode(x[1]), c_np[1])
    assert isinstance(fitted.decode(c_t), torch.Tensor)
    assert fitted.decode(c_np).dtype == np.float32
    assert np.array_equal(fitted.encode(x), c_np)  # deterministic


def test_other_vocabulary_sizes(meg_rec):
    tok = MuLawTokenizer(mu=1023, n_bins=1024).fit(meg_rec)
    c = tok.encode(meg_rec.data)
    assert c.dtype == np.uint16 and c.max() < 1024
    y = tok.decode(c)
    err256 = MuLawTokenizer().fit(meg_rec)
    e_1024 = np.mean((y - meg_rec.data) ** 2)
    e_256 = np.mean((err256.decode(err256.encode(meg_rec.data)) - meg_rec.data) ** 2)
    assert e_1024 < e_256 / 4
    assert tok.bits_per_second == pytest.approx(200 * 10)


def test_save_load_identity(fitted, meg_rec, tmp_path):
    fitted.save_pretrained(tmp_path / "tok")
    back = Tokenizer.from_pretrained(tmp_path / "tok")
    assert isinstance(back, MuLawTokenizer) and back.config() == fitted.config()
    assert back.sfreq == meg_rec.sfreq and back.ch_names == meg_rec.ch_names
    x = meg_rec.data[:, :1000]
    assert np.array_equal(back.encode(x), fitted.encode(x))
    assert np.array_equal(back.decode(back.encode(x)), fitted.decode(fitted.encode(x)))


def test_bad_input_errors(fitted, meg_rec, tmp_path):
    x = meg_rec.data[:, :100].copy()
    x[7, 42] = np.nan
    with pytest.raises(DataError, match="NaN at batch 0, channel 7, sample 42"):
        fitted.encode(x)
    x[7, 42] = np.inf
    with pytest.raises(DataError, match="Inf"):
        fitted.encode(x)
    with pytest.raises(DataError, match="fitted on 306 channels but the input has 305"):
        fitted.encode(meg_rec.data[:305, :100])
    with pytest.raises(DataError, match="fitted at 200 Hz but the input is at 100 Hz"):
        fitted.encode(meg_rec.data[:, :100], sfreq=100.0)
    with pytest.raises(DataError, match="channel names differ"):
        fitted.encode(meg_rec.data[:, :100], ch_names=meg_rec.ch_names[::-1])
    codes = fitted.encode(meg_rec.data[:, :100]).astype(np.int64)
    codes[3, 5] = 256
    with pytest.raises(DataError, match=r"outside the vocabulary \[0, 256\); first 256 at index "
                                        r"\(3, 5\)"):
        fitted.decode(codes)
    with pytest.raises(DataError, match="integers"):
        fitted.decode(codes.astype(float))
    with pytest.raises(NeuroseqError, match="not fitted"):
        MuLawTokenizer().decode(codes)
    with pytest.raises(FormatError, match="not a saved tokenizer"):
        Tokenizer.from_pretrained(tmp_path)
    flat = meg_rec.data[:, :1000].copy()
    flat[3] = 1.0
    with pytest.raises(DataError, match=r"channels \[3\] have zero inter-quartile range"):
        MuLawTokenizer().fit(flat)


def test_small_vocabulary_checks_uint8_codes(meg_rec):
    tok = MuLawTokenizer(mu=99, n_bins=100).fit(meg_rec.data[:, :1000])
    codes = tok.encode(meg_rec.data[:, :50])
    assert codes.dtype == np.uint8 and codes.max() <= 99
    codes[0, 0] = 150
    with pytest.raises(DataError, match="outside the vocabulary"):
        tok.decode(codes)
