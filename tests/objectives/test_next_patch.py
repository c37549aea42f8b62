"""Next-patch pretraining learns what is predictable: a stated fraction of held-out variance of
an oscillator in noise, far above the predictors that learn nothing."""

import numpy as np
import torch
from scipy.signal import lfilter

from neuroseq.models.eegpt import ETE
from neuroseq.objectives.patch import NextPatchObjective

FS, E, T = 64.0, 4, 128


def oscillator(n: int, seed: int, noise: float = 0.3) -> torch.Tensor:
    """``[n, E, T]``: a 10 Hz AR(2) resonance (pole radius 0.98, unit variance) plus white
    noise of standard deviation ``noise``."""
    g = np.random.default_rng(seed)
    r, f = 0.98, 10.0
    a = [1.0, -2 * r * np.cos(2 * np.pi * f / FS), r * r]
    z = lfilter([1.0], a, g.standard_normal((n, E, T + 200)), axis=-1)[..., 200:]
    z = z / z.std() + noise * g.standard_normal((n, E, T))
    return torch.tensor(z, dtype=torch.float32)


def _batch(x: torch.Tensor) -> dict:
    return {"x": x, "sensors": {"ids": torch.arange(E).expand(len(x), E)}}


def test_pretraining_explains_most_of_the_held_out_variance_of_an_oscillator():
    torch.manual_seed(0)
    m = ETE(n_chans=E, patch_len=16, preset="tiny")
    obj = NextPatchObjective()
    train, held_out = oscillator(512, 0), oscillator(128, 1)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        idx = torch.randint(0, len(train), (32,), generator=g)
        loss, _ = obj(m, _batch(train[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        _, met = obj(m, _batch(held_out))
        out = m(held_out, _batch(held_out)["sensors"]["ids"])
    # scored here, not by the objective: the prediction after patch p against patch p + 1
    truth = out["patches"][:, :, 1:]
    fve = 1 - float(((out["pred"][:, :, :-1] - truth) ** 2).mean() / (truth ** 2).mean())
    assert abs(fve - float(met["fve"])) < 1e-4
    # measured 0.61 (seed 0); the white noise alone leaves at most 1 − 0.09/1.09 ≈ 0.92
    assert fve > 0.5, met
    assert float(met["mse"]) < 0.5 * min(float(met["mean_mse"]), float(met["repeat_mse"]))
