"""Baselines: WaveNet (causal, channel embedding, channel mix) and the linear AR."""

import numpy as np
import pytest
import torch

from neuroseq.errors import DataError
from neuroseq.models.linear_ar import LinearAR, RepeatLast
from neuroseq.models.wavenet import WaveNet


def test_wavenet_shapes_causality_and_receptive_field():
    torch.manual_seed(0)
    m = WaveNet(n_chans=3, n_conditions=3, preset="tiny").eval()
    assert m.context == 64
    paper = WaveNet(n_chans=306, preset="paper")
    assert paper.context == 255 and len(paper.blocks) == 14
    x = torch.randint(0, 256, (2, 3, 100))
    out = m(x, condition=torch.randint(0, 3, (2, 100)))["logits"]
    assert out.shape == (2, 3, 100, 256)
    y = x.clone()
    y[:, 1, 20] = (y[:, 1, 20] + 5) % 256
    d = (m(x)["logits"] - m(y)["logits"]).abs().amax(dim=(0, 3))
    assert torch.all(d[:, :20] == 0) and d[1, 20] > 0 and torch.all(d[[0, 2]] == 0)
    assert d[1, 20 + 63] > 0 and torch.all(d[1, 20 + 64:] == 0)  # receptive field 64


def test_wavenet_channel_mix_couples_channels():
    torch.manual_seed(0)
    m = WaveNet(n_chans=3, preset="tiny", channel_mix=True)
    with torch.no_grad():
        m.mix.add_(0.1)
    x = torch.randint(0, 256, (1, 3, 30))
    y = x.clone()
    y[0, 0, 10] = (y[0, 0, 10] + 5) % 256
    d = (m(x)["logits"] - m(y)["logits"]).abs().amax(dim=(0, 3))
    assert d[2, 10] > 0 and torch.all(d[:, :10] == 0)


def ar2(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((2, n))
    for t in range(2, n):
        x[0, t] = 1.6 * x[0, t - 1] - 0.8 * x[0, t - 2] + 0.1 * rng.standard_normal()
        x[1, t] = 0.5 * x[1, t - 1] + 0.4 * x[0, t - 1] + 0.1 * rng.standard_normal()
    return x


def test_linear_ar_recovers_known_coefficients():
    x = ar2()
    uni = LinearAR(2, order=2).fit([x[:, :3000], x[:, 3000:]])
    np.testing.assert_allclose(uni.coef[0, :2].numpy(), [1.6, -0.8], atol=0.03)
    var = LinearAR(2, order=2, mode="multivariate").fit([x])
    # row 1: lags of channel 0 come first (lag 1, lag 2), then channel 1
    np.testing.assert_allclose(var.coef[1].numpy(), [0.4, 0.0, 0.5, 0.0], atol=0.04)
    np.testing.assert_allclose(np.sqrt(np.diag(var.noise.numpy() @ var.noise.numpy().T)),
                               [0.1, 0.1], rtol=0.05)
    pred = var(torch.from_numpy(x[None]))
    resid = pred[0, :, :].numpy() - x[:, 2:]
    assert resid.std() < 0.11


def test_linear_ar_generation_is_stationary_and_seeded():
    x = ar2()
    ar = LinearAR(2, order=4).fit([x])
    ctx = torch.from_numpy(x[None, :, :100]).float()
    g = ar.generate(ctx, 3000, seed=1)
    assert torch.equal(g, ar.generate(ctx, 3000, seed=1))
    assert 0.5 < g[0, 0].std() / x[0].std() < 2.0
    assert torch.all(ar.generate(ctx, 5, noise=False) == ar.generate(ctx, 5, noise=False))
    with pytest.raises(DataError, match="needs 4 context samples"):
        ar.generate(ctx[..., :3], 5)
    with pytest.raises(DataError, match="too short"):
        LinearAR(2, order=20).fit([x[:, :10]])


def test_repeat_last():
    x = torch.arange(10).view(1, 1, 10)
    assert torch.equal(RepeatLast()(x), x[..., :-1])
