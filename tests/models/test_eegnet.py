"""EEGNet-v4 baseline: shapes, its max-norm constraints, and learning a planted topography."""

import pytest
import torch

from neuroseq.models.eegnet import EEGNet
from neuroseq.objectives.patch import MultiTaskObjective


def _topography_epochs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """8-channel epochs: a 0.3 s deflection over the left (class 0) or right (class 1) half."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 8, 64, generator=g)
    wave = torch.exp(-0.5 * ((torch.arange(64) - 30) / 6.0) ** 2)
    topo = torch.zeros(2, 8)
    topo[0, :4], topo[1, 4:] = 1.0, 1.0
    return x + 1.5 * topo[y][:, :, None] * wave, y


def test_shapes_constraints_and_clear_errors():
    m = EEGNet({"a": 2, "b": 4}, n_chans=8, n_times=64, sfreq=64.0)
    x = torch.randn(3, 8, 64)
    out = m(x, tasks=["a", "b", "a"])
    assert out.shape == (3, 4) and torch.isinf(out[[0, 2], 2:]).all()
    m.eval()
    with torch.no_grad():  # max-norm: weights past the bound act as if at the bound
        m.spatial.weight.mul_(100.0)
        m.heads["a"].weight.mul_(100.0)
        big = m(x, tasks="a")
        m.spatial.weight.mul_(3.0)
        m.heads["a"].weight.mul_(3.0)
        assert torch.allclose(m(x, tasks="a"), big, atol=1e-4)
    with pytest.raises(ValueError, match="8 electrodes"):
        m(torch.randn(1, 7, 64), tasks="a")
    with pytest.raises(ValueError, match="padded"):
        m(x, active=torch.tensor([[True] * 7 + [False]] * 3), tasks="a")
    with pytest.raises(KeyError, match="unknown task"):
        m(x, tasks="c")
    with pytest.raises(ValueError, match="too few"):
        EEGNet({"a": 2}, n_chans=8, n_times=16)


@pytest.mark.parametrize("shuffle", [False, True])
def test_learns_a_planted_topography_and_not_shuffled_labels(shuffle):
    torch.manual_seed(0)
    x, y = _topography_epochs(256, 0)
    if shuffle:  # the same data with labels that say nothing: held-out accuracy near chance
        y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(1))]
    xt, yt = _topography_epochs(200, 1)
    m = EEGNet({"t": 2}, n_chans=8, n_times=64, sfreq=64.0, dropout=0.25)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    obj = MultiTaskObjective()
    ids = torch.zeros(32, 8, dtype=torch.long)
    for step in range(120):
        i = torch.arange(step * 32, step * 32 + 32) % len(y)
        loss, _ = obj(m, {"x": x[i], "sensors": {"ids": ids}, "mask": torch.ones(32, 8).bool(),
                          "task": "t", "y": y[i]})
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    acc = (m(xt, tasks="t").argmax(-1) == yt).float().mean().item()
    assert (acc < 0.65) if shuffle else (acc > 0.9), acc


def test_old_constructor_names_still_load_with_a_deprecation():
    """``n_channels`` (the name before the shared vocabulary) builds the same model, with a
    DeprecationWarning; disagreeing old and new names are an error."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = EEGNet({"t": 2}, n_channels=8, n_times=64)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)
    assert old.n_channels == 8
    with pytest.raises(TypeError, match="disagree"):
        EEGNet({"t": 2}, n_chans=8, n_times=64, n_channels=4)
