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
    m = ETE(n_electrodes=20, **KW).eval()
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
    m = EEGPT({"faces": 2, "checker": 4}, n_electrodes=30, freeze_ete=False, **KW)
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
    frozen = EEGPT({"faces": 2}, n_electrodes=30, freeze_ete=True, **KW)
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
    m = ETE(n_electrodes=8, **KW)
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
    m = EEGPT({"faces": 2}, n_electrodes=12, **KW).eval()
    x = torch.randn(2, 3, 64)
    el = torch.tensor([[0, 1, 2], [3, 4, 5]])
    act = torch.ones(2, 3, dtype=torch.bool)
    m.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").exists()
    back = EEGPT.from_pretrained(tmp_path / "m").eval()
    assert torch.equal(back(x, el, act, "faces"), m(x, el, act, "faces"))


def test_base_preset_size_matches_the_paper():
    m = EEGPT({"t": 2}, n_electrodes=138, preset="base", patch_len=256)
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
    m = EEGPT({"faces": 2}, n_electrodes=12, feature_norm=True, freeze_ete=False, **KW)
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
