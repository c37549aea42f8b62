"""EEGPT (Yue et al.): ETE/TEG shapes, the β mask, learning on simulated data, save/load."""

import numpy as np
import pytest
import torch

from neuroseq.errors import DataError
from neuroseq.models.eegpt import EEGPT, ETE, TEG, patchify
from neuroseq.models.electrodes import ElectrodeVocab
from neuroseq.models.layers import rope
from neuroseq.objectives.patch import MaskedPatchObjective, MultiTaskObjective, NextPatchObjective

KW = {"patch_len": 32, "preset": "tiny"}


def test_vocab_shares_names_across_spellings():
    v = ElectrodeVocab()
    assert len(v) > 600 and "Cz" in v and "MEG 0113" in v and "MEG0113" in v
    assert v.ids(["FP1", "Fp1", "fp1"]).unique().numel() == 1
    with pytest.raises(DataError, match="not in the electrode vocabulary"):
        v.ids(["Cz", "XYZ9"])


def test_patchify_and_rope():
    x = torch.arange(100.0)[None]
    p = patchify(x, 32, 16)
    assert p.shape == (1, 5, 32) and torch.equal(p[0, 1], torch.arange(16.0, 48.0))
    q = torch.randn(2, 3, 7, 8)
    r = rope(q)
    assert torch.allclose(r.norm(dim=-1), q.norm(dim=-1), atol=1e-5)  # a rotation
    assert torch.allclose(r[..., 0, :], q[..., 0, :])  # position 0 is unrotated


def test_ete_shapes_and_causality():
    torch.manual_seed(0)
    m = ETE(n_chans=20, **KW).eval()
    x = torch.randn(2, 3, 32 * 6)
    el = torch.tensor([[0, 1, 2], [3, 4, 5]])
    out = m(x, el)
    assert out["pred"].shape == (2, 3, 6, 32) and out["summary"].shape == (2, 3, 32)
    y = x.clone()
    y[..., 32 * 4:] += 5.0  # change patches 4, 5: predictions made before them are unchanged
    out2 = m(y, el)
    assert torch.allclose(out["pred"][:, :, :4], out2["pred"][:, :, :4], atol=1e-5)
    assert not torch.allclose(out["summary"], out2["summary"])  # the summary sees everything
    assert not torch.allclose(m(x, el + 10)["pred"], out["pred"])  # electrode prefix matters


def test_beta_mask_blocks_inactive_electrodes():
    torch.manual_seed(0)
    teg = TEG(10, 16, 2, {"a": 3})
    z = torch.randn(2, 4, 16, requires_grad=True)
    el = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
    active = torch.tensor([[True, True, False, False], [True, True, True, True]])
    pooled = teg(z, el, active)
    pooled[0].sum().backward()
    assert z.grad[0, 2:].abs().max() == 0  # inactive nodes send nothing
    assert z.grad[0, :2].abs().max() > 0 and z.grad[1].abs().max() == 0
    z2 = z.detach().clone()
    z2[0, 2:] = 100.0  # whatever padding holds, the output is the same
    assert torch.allclose(teg(z2, el, active)[0], pooled[0].detach(), atol=1e-5)


def test_mixed_task_batches_with_different_electrodes_and_classes():
    torch.manual_seed(0)
    m = EEGPT({"faces": 2, "checker": 4}, n_chans=30, freeze_ete=False, **KW)
    x = torch.randn(3, 5, 32 * 4)
    x[0, 3:] = 0  # sample 0 has 3 electrodes
    el = torch.tensor([[0, 1, 2, 0, 0], [5, 6, 7, 8, 9], [1, 2, 3, 4, 5]])
    active = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]).bool()
    tasks = ["faces", "checker", "faces"]
    logits = m(x, el, active, tasks)
    assert logits.shape == (3, 4)
    assert torch.isinf(logits[[0, 2], 2:]).all() and torch.isfinite(logits[1]).all()
    loss, met = MultiTaskObjective()(m, {"x": x, "sensors": {"ids": el}, "mask": active,
                                          "task": tasks, "y": torch.tensor([1, 3, 0])})
    loss.backward()
    assert torch.isfinite(loss) and m.ete.embed.weight.grad is not None
    frozen = EEGPT({"faces": 2}, n_chans=30, freeze_ete=True, pooling="summary", **KW)
    trainable = [n for n, p in frozen.ete.named_parameters() if p.requires_grad]
    assert trainable == ["summary"]  # the paper's learnable token c; the rest is frozen
    frozen(x, el, active, "faces").sum().backward()
    assert frozen.ete.summary.grad is not None and frozen.ete.embed.weight.grad is None
    with pytest.raises(KeyError, match="unknown task"):
        frozen(x, el, active, "sleep")


def _oscillations(n: int, e: int, t: int, seed: int) -> torch.Tensor:
    g = np.random.default_rng(seed)
    tt = np.arange(t) / 64.0
    f = g.uniform(4, 12, (n, e, 1))
    ph = g.uniform(0, 2 * np.pi, (n, e, 1))
    return torch.tensor(np.sin(2 * np.pi * f * tt + ph) + 0.1 * g.standard_normal((n, e, t)),
                        dtype=torch.float32)


@pytest.mark.parametrize("objective", [NextPatchObjective(), MaskedPatchObjective(0.5, seed=0)])
def test_pretraining_loss_falls_on_simulated_data(objective):
    torch.manual_seed(0)
    m = ETE(n_chans=8, **KW)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    x = _oscillations(8, 4, 32 * 6, 0)
    batch = {"x": x, "sensors": {"ids": torch.arange(4).expand(8, 4)}}
    first = objective(m, batch)[0].item()
    for _ in range(60):
        loss, _ = objective(m, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    if isinstance(objective, NextPatchObjective):  # better than "next patch = this patch"
        _, met = objective(m, batch)
        assert met["mse"] < met["repeat_mse"]


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    m = EEGPT({"faces": 2}, n_chans=12, **KW).eval()
    x = torch.randn(2, 3, 64)
    el = torch.tensor([[0, 1, 2], [3, 4, 5]])
    act = torch.ones(2, 3, dtype=torch.bool)
    m.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists()
    back = EEGPT.from_pretrained(tmp_path / "m").eval()
    assert torch.equal(back(x, el, act, "faces"), m(x, el, act, "faces"))


def test_base_preset_size_matches_the_paper():
    m = EEGPT({"t": 2}, n_chans=138, preset="base", patch_len=256)
    n = sum(p.numel() for p in m.parameters())
    assert 1_000_000 < n < 2_000_000  # paper: 1.46 M (ETE 3 + TEG 3 layers, width 128)


def test_vocab_reads_biosemi_montages_as_biosemi():
    v = ElectrodeVocab()
    biosemi = [f"{c}{i}" for c in "ABCD" for i in range(1, 33)]
    ids = v.ids(biosemi)
    assert ids.unique().numel() == 128
    assert v.names[int(ids[0])] == "biosemi:A1"
    assert v.names[int(v.ids(["A1", "Cz"])[0])] == "A1"  # a 10-05 montage: A1 is the earlobe
    assert ETE(preset="tiny").n_electrodes == len(v)  # the default embedding fits the vocabulary


def test_feature_norm_standardises_summaries_over_active_electrodes_only(tmp_path):
    torch.manual_seed(0)
    m = EEGPT({"faces": 2}, n_chans=12, feature_norm=True, freeze_ete=False, **KW)
    seen = {}
    m.teg.register_forward_pre_hook(lambda mod, args: seen.update(z=args[0].detach()))
    x = torch.randn(4, 3, 64, requires_grad=True)
    el = torch.tensor([[0, 1, 2]] * 4)
    act = torch.ones(4, 3, dtype=torch.bool)
    act[0, 2] = False
    m(x, el, act, "faces")[:, 1].sum().backward()
    z = seen["z"][act]  # what TEG receives: zero mean, unit variance per feature
    assert z.mean(0).abs().max() < 1e-4 and (z.var(0, unbiased=False) - 1).abs().max() < 1e-3
    assert x.grad[0, 2].abs().max() == 0  # padding still sends nothing
    for _ in range(3):  # running statistics for test time, saved with the weights
        m(torch.randn(4, 3, 64) + 5.0, el, act, "faces")
    m.eval()
    m.save_pretrained(tmp_path / "m")
    back = EEGPT.from_pretrained(tmp_path / "m").eval()
    assert torch.equal(back.feature_norm.running_mean, m.feature_norm.running_mean)
    assert torch.equal(back(x.detach(), el, act, "faces"), m(x.detach(), el, act, "faces"))


def test_pooling_reads_the_trained_patch_outputs():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32 * 4)
    el = torch.tensor([[0, 1, 2], [3, 4, 5]])
    active = torch.ones(2, 3, dtype=torch.bool)
    out = {p: EEGPT({"t": 2}, n_chans=8, pooling=p, **KW) for p in ("mean", "attention",
                                                                          "summary")}
    for m in out.values():
        m.load_state_dict(out["attention"].state_dict(), strict=False)
        m.eval()
    ete_out = out["mean"].ete(x, el)
    assert torch.allclose(out["mean"].pool(ete_out), ete_out["hidden"].mean(2))
    assert torch.allclose(out["summary"].pool(ete_out), ete_out["summary"])
    att = out["attention"].pool(ete_out)
    lo, hi = ete_out["hidden"].min(2).values, ete_out["hidden"].max(2).values
    assert ((att >= lo - 1e-5) & (att <= hi + 1e-5)).all()  # a convex mix of the patches
    frozen = EEGPT({"t": 2}, n_chans=8, freeze_ete=True, pooling="attention", **KW)
    frozen(x, el, active, "t").sum().backward()
    assert frozen.pool_query.grad is not None and frozen.ete.embed.weight.grad is None
    with pytest.raises(ValueError, match="pooling"):
        EEGPT({"t": 2}, n_chans=8, pooling="max", **KW)


def test_amplitude_feature_adds_each_electrodes_log_rms():
    torch.manual_seed(0)
    el = torch.tensor([[0, 1]])
    active = torch.ones(1, 2, dtype=torch.bool)
    x = torch.randn(1, 2, 32 * 4)
    x[0, 1] *= 10
    plain = EEGPT({"t": 2}, n_chans=4, **KW).eval()
    amp = EEGPT({"t": 2}, n_chans=4, amplitude=True, **KW).eval()
    amp.load_state_dict(plain.state_dict(), strict=False)
    shift = amp.electrode_features(x, el, active) - plain.electrode_features(x, el, active)
    logrms = x.pow(2).mean(-1, keepdim=True).sqrt().log()  # [1, 2, 1]
    assert torch.allclose(shift, amp.amplitude(logrms), atol=1e-5)
    assert float(logrms[0, 1] - logrms[0, 0]) == pytest.approx(np.log(10), abs=0.3)


def _fake(pred_fn, horizon=1):
    """A stand-in ETE whose prediction of each next patch is ``pred_fn(patches)``."""
    class Fake(torch.nn.Module):
        bidirectional = False

        def forward(self, x, ids):
            p = patchify(x, 8, 8)
            ahead = torch.stack([pred_fn(p, k) for k in range(1, horizon + 1)], dim=3)
            return {"patches": p, "pred_ahead": ahead, "pred": ahead[:, :, :, 0]}
    return Fake()


def _batch(x):
    return {"x": x, "sensors": {"ids": torch.zeros(x.shape[:2], dtype=torch.long)}}


def test_next_patch_baselines_have_known_values():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 8 * 5, generator=g)
    obj = NextPatchObjective()
    zeros = _fake(lambda p, k: torch.zeros_like(p))
    loss, met = obj(zeros, _batch(x))
    assert torch.isclose(loss, met["zero_mse"]) and abs(float(met["fve"])) < 1e-6
    repeat = _fake(lambda p, k: p)  # "the next patch equals this one"
    loss, met = obj(repeat, _batch(x))
    assert torch.isclose(loss, met["repeat_mse"])
    oracle = _fake(lambda p, k: torch.cat([p[:, :, k:], p[:, :, -k:]], dim=2))
    loss, met = obj(oracle, _batch(x))
    assert float(loss) < 1e-12 and float(met["fve"]) == pytest.approx(1.0)
    level = torch.full((1, 1, 8 * 5), 3.0)  # a constant signal: the running mean is exact
    _, met = obj(zeros, _batch(level))
    assert float(met["mean_mse"]) < 1e-12 and float(met["zero_mse"]) == pytest.approx(9.0)
    steps = torch.arange(5.0).repeat_interleave(8)[None, None]  # patch k holds the value k
    _, met = obj(zeros, _batch(steps))  # patches 0…p read: mean p/2, next patch p + 1
    want = np.mean([(p + 1 - p / 2) ** 2 for p in range(4)])
    assert float(met["mean_mse"]) == pytest.approx(want)


def test_next_patch_loss_counts_every_step_ahead_and_the_spectrum():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, 8 * 6, generator=g)
    # right one step ahead, wrong (zeros) two steps ahead
    half = _fake(lambda p, k: torch.cat([p[:, :, 1:], p[:, :, -1:]], 2) if k == 1
                 else torch.zeros_like(p), horizon=2)
    loss, met = NextPatchObjective()(half, _batch(x))
    assert float(met["mse"]) < 1e-12 and float(loss) > 0.3
    shifted = _fake(lambda p, k: torch.roll(torch.cat([p[:, :, 1:], p[:, :, -1:]], 2), 1, -1))
    plain, _ = NextPatchObjective()(shifted, _batch(x))
    spec, _ = NextPatchObjective(spectral_weight=1.0)(shifted, _batch(x))
    assert float(spec) == pytest.approx(float(plain))  # a circular shift keeps |FFT|
    zeros = _fake(lambda p, k: torch.zeros_like(p))
    plain, _ = NextPatchObjective()(zeros, _batch(x))
    spec, _ = NextPatchObjective(spectral_weight=1.0)(zeros, _batch(x))
    assert float(spec) > float(plain) + 0.3  # no power at all: the spectral term sees it


def test_a_bidirectional_ete_refuses_next_patch_prediction():
    m = ETE(n_chans=4, bidirectional=True, **KW)
    x = torch.randn(1, 2, 32 * 3)
    with pytest.raises(ValueError, match="both ways"):
        NextPatchObjective()(m, _batch(x))
    y = x.clone()
    y[..., 64:] += 5.0  # bidirectional: earlier outputs see later patches
    el = torch.zeros(1, 2, dtype=torch.long)
    assert not torch.allclose(m(x, el)["hidden"][:, :, 0], m(y, el)["hidden"][:, :, 0])


def test_window_normalisation_removes_level_and_gain():
    torch.manual_seed(0)
    m = ETE(n_chans=4, input_norm="window", horizon=2, **KW).eval()
    x = torch.randn(1, 2, 32 * 3)
    el = torch.zeros(1, 2, dtype=torch.long)
    a, b = m(x, el), m(7 * x + 3, el)
    assert torch.allclose(a["pred_ahead"], b["pred_ahead"], atol=1e-4)
    assert a["pred_ahead"].shape == (1, 2, 3, 2, 32)
