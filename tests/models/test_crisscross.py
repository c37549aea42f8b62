"""MEG-XL's criss-cross transformer: shapes, size, padded sensors, hidden content, learning."""

import torch

from neuroseq.models.crisscross import CrissCross, normalise_positions
from neuroseq.objectives.masked_tokens import MaskedTokenObjective, block_mask

TINY = {"preset": "tiny", "n_levels": 2, "codebook_size": 16, "code_dim": 4}


def batch(b=2, c=5, t=24, pad=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, c, dtype=torch.bool)
    mask[0, c - pad:] = False
    sensors = {"pos": torch.randn(b, c, 3, generator=g) * 0.1,
               "ori": torch.randn(b, c, 3, generator=g),
               "kind": torch.randint(0, 3, (b, c), generator=g)}
    codes = torch.randint(0, 16, (b, c, 2, t), generator=g)
    return {"codes": codes, "mask": mask, "sensors": sensors}


def test_shapes_and_paper_size():
    m = CrissCross(**TINY).eval()
    x = batch()
    out = m(x["codes"], x["sensors"], x["mask"])
    assert out["logits"].shape == (2, 5, 24, 2, 16) and out["hidden"].shape == (2, 5, 24, 64)
    paper = CrissCross(preset="paper")  # 8 blocks, width 512, 6 × 256 codes
    n = sum(p.numel() for p in paper.parameters() if p.requires_grad)
    assert 21e6 < n < 23.5e6  # ≈ 22 M (the paper's count)


def test_padded_sensors_do_not_reach_real_ones():
    m = CrissCross(**TINY).eval()
    x = batch()
    a = m(x["codes"], x["sensors"], x["mask"])["hidden"]
    y = {k: (v.clone() if torch.is_tensor(v) else {s: w.clone() for s, w in v.items()})
         for k, v in x.items()}
    y["codes"][0, -1] = (y["codes"][0, -1] + 7) % 16  # change the padded sensor's content
    y["sensors"]["ori"][0, -1] += 3.0
    b = m(y["codes"], y["sensors"], y["mask"])["hidden"]
    assert torch.allclose(a[0, :-1], b[0, :-1], atol=1e-5)  # real sensors unchanged
    unmasked = m(y["codes"], y["sensors"], torch.ones_like(y["mask"]))["hidden"]
    assert not torch.allclose(a[0, :-1], unmasked[0, :-1], atol=1e-3)  # the mask matters


def test_hidden_frames_show_no_content():
    """The content of a hidden frame is replaced on every sensor: changing it changes nothing."""
    m = CrissCross(**TINY).eval()
    x = batch()
    hidden = block_mask(2, 24, 6, 2, torch.Generator().manual_seed(0))
    a = m(x["codes"], x["sensors"], x["mask"], hidden)["logits"]
    codes = x["codes"].clone()
    codes.permute(0, 1, 3, 2)[hidden[:, None, :].expand(2, 5, 24)] = 3
    b = m(codes, x["sensors"], x["mask"], hidden)["logits"]
    assert torch.allclose(a, b, atol=1e-5)
    c = m(codes, x["sensors"], x["mask"])["logits"]  # without the mask the content shows
    assert not torch.allclose(a, c, atol=1e-3)


def test_block_mask_hides_exactly_the_chosen_blocks():
    mask = block_mask(4, 625, 50, 20, torch.Generator().manual_seed(1))
    assert mask.shape == (4, 625) and (mask.sum(1) == 240).all()  # 20 blocks × 12 frames
    blocks = mask[:, :600].view(4, 50, 12)
    assert ((blocks.all(-1)) | (~blocks.any(-1))).all()  # whole blocks only
    assert not mask[:, 600:].any()  # the tail past the last whole block stays visible
    assert not torch.equal(mask[0], mask[1])


def test_positions_are_normalised_over_real_sensors_only():
    pos = torch.randn(1, 6, 3)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    n = normalise_positions(pos, mask)
    assert torch.allclose(n[0, :4].mean(0), torch.zeros(3), atol=1e-6)
    assert torch.allclose(3 * (n[0, :4] ** 2).sum(-1).mean(), torch.tensor(1.0), atol=1e-5)
    assert (n[0, 4:] == 0).all()


def test_masked_pretraining_learns_planted_structure():
    """Each sensor holds one code for the whole sample: the hidden frames are predictable from
    the visible frames of the same sensor. Accuracy rises far above the unigram baseline."""
    torch.manual_seed(0)
    m = CrissCross(**TINY)
    obj = MaskedTokenObjective(n_blocks=6, n_masked=2, seed=0)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)

    def planted():
        x = batch(b=8, c=5, t=24)
        per_sensor = torch.randint(0, 16, (8, 5, 2, 1), generator=g)
        x["codes"] = per_sensor.expand(8, 5, 2, 24).clone()
        return x

    first = None
    for _ in range(200):
        loss, met = obj(m, planted())
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    loss, met = obj(m, planted())
    assert float(loss) < 0.4 * first
    assert float(met["acc_l0"]) > 0.7 and float(met["unigram_acc_l0"]) < 0.4


def test_padded_sensors_are_not_scored():
    m = CrissCross(**TINY)
    x = batch(pad=2)
    obj = MaskedTokenObjective(n_blocks=6, n_masked=2, seed=0)
    loss, _ = obj(m, x)
    y = dict(x)
    y["codes"] = x["codes"].clone()
    y["codes"][0, -2:] = (y["codes"][0, -2:] + 5) % 16  # padded sensors' codes
    obj2 = MaskedTokenObjective(n_blocks=6, n_masked=2, seed=0)
    m.eval()
    assert torch.allclose(MaskedTokenObjective(6, 2, seed=0)(m, x)[0],
                          obj2(m, y)[0], atol=1e-5)


def test_objective_scores_each_level_at_its_own_frame_and_sensor():
    """A model that answers every (sensor, frame, level) with its true code scores perfectly;
    one that is off by a frame, a sensor or a level scores at about chance."""
    x = batch(b=3, c=4, t=24, pad=0)

    class Oracle(torch.nn.Module):
        def __init__(self, roll=0, dim=-2):
            super().__init__()
            self.roll, self.dim = roll, dim

        def forward(self, codes, sensors, mask, hidden):
            truth = codes.permute(0, 1, 3, 2).roll(self.roll, dims=self.dim)  # [B, C, T', Q]
            return {"logits": torch.nn.functional.one_hot(truth.long(), 16).float() * 50}

    obj = MaskedTokenObjective(n_blocks=6, n_masked=2, seed=0)
    loss, met = obj(Oracle(), x)
    assert float(loss) < 1e-3 and float(met["acc_l0"]) == float(met["acc_l1"]) == 1.0
    for roll, dim in ((1, 2), (1, 1), (1, 3)):  # frame, sensor, level
        loss, met = obj(Oracle(roll, dim), x)
        assert float(met["acc_l0"]) < 0.3 and float(loss) > 10
