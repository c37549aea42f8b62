"""RVQ codec: shapes, training reduces the loss, save/load, resume, errors."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from neuroseq.errors import DataError
from neuroseq.models.seanet import SEANetEncoder
from neuroseq.tokenizers import RVQCodec, Tokenizer
from neuroseq.tokenizers.metrics import nrmse
from neuroseq.tokenizers.rvq import CodecModel
from neuroseq.training.codec import fit_codec

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def trained(meg_rec, tmp_path_factory):
    run = tmp_path_factory.mktemp("rvq")
    torch.manual_seed(0)  # the initial weights: not whatever tests ran before left in the RNG
    codec = fit_codec(RVQCodec("tiny"), meg_rec, run_dir=run, max_steps=150, batch_size=32,
                      crop=240, warmup_steps=10, log_every_n_steps=10)
    return codec, run


def test_architecture_matches_biocodec():
    model = CodecModel()  # the BioCodec preset
    assert model.hop == 12 and len(model.quantizer.levels) == 6
    vq = model.quantizer.levels[0]
    assert vq.codebook_size == 256 and vq.project_in.out_features == 16
    z = model.encoder(torch.randn(2, 1, 120))
    assert z.shape == (2, 128, 10)


def test_encoder_is_causal():
    enc = SEANetEncoder(dim=8, base=4, n_residual=1, lstm_layers=1).eval()
    x = torch.randn(1, 1, 240)
    y = x.clone()
    y[..., 120:] += 5.0  # change the future of frame 9 (samples 108-119 unchanged)
    with torch.no_grad():
        a, b = enc(x), enc(y)
    assert torch.allclose(a[..., :10], b[..., :10], atol=1e-6)
    assert not torch.allclose(a[..., 10:], b[..., 10:])


def test_training_reduces_loss_and_reconstructs(trained, meg_rec):
    codec, run = trained
    m = pd.read_csv(run / "metrics.csv").dropna(subset=["train_loss"])
    first, last = m["train_loss"].iloc[0], m["train_loss"].iloc[-3:].mean()
    assert last < 0.8 * first
    x = meg_rec.data[:, :1200]
    codes = codec.encode(x)
    assert codes.shape == (306, 4, 100) and codes.max() < 64
    y = codec.decode(codes, scale=codec.scale_of(x))
    assert y.shape == x.shape
    assert np.mean(nrmse(x, y)) < 1.0  # better than predicting each channel's mean
    info = json.loads((run / "run.json").read_text())
    assert info["global_step"] == 150 and len(info["checkpoints_sha256"]["last.ckpt"]) == 64


def test_channel_agnostic_and_length_padding(trained):
    codec, _ = trained
    x = np.random.default_rng(0).standard_normal((2, 3, 125)).astype(np.float32)
    codes = codec.encode(x)
    assert codes.shape == (2, 3, 4, 11)  # 125 samples padded to 132 = 11 frames
    assert codec.decode(codes).shape == (2, 3, 132)
    assert np.array_equal(codec.encode(x), codes)


def test_save_load_identity(trained, meg_rec, tmp_path):
    codec, _ = trained
    codec.save_pretrained(tmp_path)
    back = Tokenizer.from_pretrained(tmp_path)
    x = meg_rec.data[:5, :600]
    assert np.array_equal(back.encode(x), codec.encode(x))
    assert np.array_equal(back.decode(back.encode(x)), codec.decode(codec.encode(x)))


def test_resume_continues_from_last_checkpoint(meg_rec, tmp_path):
    kw = {"run_dir": tmp_path, "batch_size": 8, "crop": 240, "warmup_steps": 0,
          "checkpoint_every_n_steps": 5}
    a = fit_codec(RVQCodec("tiny", n_q=2), meg_rec, max_steps=10, **kw)
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 10
    b = fit_codec(RVQCodec("tiny", n_q=2), meg_rec, max_steps=15, **kw)
    assert b.trainer.global_step == 15
    assert json.loads((tmp_path / "run.json").read_text())["resumed_from"].endswith("last.ckpt")
    assert a.trainer.global_step == 10


def test_errors(trained):
    codec, _ = trained
    with pytest.raises(DataError, match=r"levels on axis -2"):
        codec.decode(np.zeros((1, 2, 3, 5), dtype=np.int64))
    with pytest.raises(DataError, match="fitted at 200 Hz"):
        codec.encode(np.zeros((1, 24), np.float32) + 1, sfreq=250.0)
    with pytest.raises(ValueError, match="unknown preset"):
        RVQCodec("huge")
    with pytest.raises(TypeError, match="unknown arguments"):
        RVQCodec(n_layers=3)


def test_channel_agnostic_codec_fits_across_montages_and_mu_law_refuses():
    from neuroseq.data.recording import Recording, Sensors
    from neuroseq.data.segments import InMemoryCorpus
    from neuroseq.tokenizers import MuLawTokenizer

    g = np.random.default_rng(0)
    recs = [Recording(g.standard_normal((c, 500)).astype(np.float32), 50.0,
                      Sensors([f"C{i}" for i in range(c)], ["mag"] * c), subject=s)
            for c, s in ((3, "01"), (5, "02"))]
    corpus = InMemoryCorpus(recs)
    arrays = RVQCodec("tiny").fit_arrays(corpus, split=None)
    assert sorted(a.shape[0] for a in arrays) == [3, 5]
    with pytest.raises(DataError, match="mixes channel sets"):
        MuLawTokenizer().fit(corpus, split=None)
