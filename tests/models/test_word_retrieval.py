"""MEG-XL's word-retrieval model: per-word pooling, the three heads, padding, freezing."""

import pytest
import torch

from neuroseq.models.word_retrieval import WordRetrieval, word_pooling

BACKBONE = {"n_levels": 2, "codebook_size": 8, "code_dim": 4, "preset": "tiny"}


def _batch(b=2, c=5, t=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    sensors = {"pos": torch.randn(b, c, 3, generator=g), "ori": torch.randn(b, c, 3, generator=g),
               "kind": torch.zeros(b, c, dtype=torch.long)}
    codes = torch.randint(0, 8, (b, c, 2, t), generator=g)
    frames = torch.tensor([[[0, 8], [8, 16], [16, 24]]] * b)
    return codes, sensors, torch.ones(b, c, dtype=torch.bool), frames


def test_word_pooling_averages_each_words_frames():
    w = word_pooling(torch.tensor([[[0, 2], [1, 4], [3, 3]]]), 5)
    assert torch.allclose(w[0, 0], torch.tensor([0.5, 0.5, 0, 0, 0]))
    assert torch.allclose(w[0, 1], torch.tensor([0, 1 / 3, 1 / 3, 1 / 3, 0]))
    assert w[0, 2].sum() == 0  # an empty range pools nothing


@pytest.mark.parametrize("head", ["mlp", "attention", "linear"])
def test_heads_predict_one_embedding_per_word_and_ignore_padded_sensors(head):
    torch.manual_seed(0)
    m = WordRetrieval(BACKBONE, n_chans=6, n_outputs=7, head=head, hidden=16).eval()
    codes, sensors, mask, frames = _batch()
    mask[1, 3:] = False
    out = m(codes, sensors, mask, frames)
    assert out.shape == (2, 3, 7)
    codes2 = codes.clone()
    codes2[1, 3:] = (codes2[1, 3:] + 1) % 8  # what padded sensors hold does not matter
    assert torch.allclose(m(codes2, sensors, mask, frames), out, atol=1e-5)
    codes2[1, 0] = (codes2[1, 0] + 1) % 8  # a real sensor does
    assert not torch.allclose(m(codes2, sensors, mask, frames)[1], out[1])


def test_the_original_head_grows_with_sensors_and_the_compact_one_does_not():
    def size(head, c):
        m = WordRetrieval(BACKBONE, n_chans=c, n_outputs=50, head=head, hidden=64)
        return sum(p.numel() for p in m.head.parameters())
    assert size("mlp", 300) - size("mlp", 100) == 200 * 64 * 64  # d_model 64 per sensor
    assert size("attention", 300) == size("attention", 100)
    with pytest.raises(ValueError, match="built for 4"):
        m = WordRetrieval(BACKBONE, n_chans=4, n_outputs=3, head="mlp", hidden=8)
        m(*_batch(c=5))


def test_a_frozen_backbone_gets_no_gradient_and_stays_in_eval_mode(tmp_path):
    m = WordRetrieval(BACKBONE, n_chans=5, n_outputs=3, head="linear", freeze_backbone=True)
    m.train()
    assert not m.backbone.training and m.head.training
    m(*_batch()).sum().backward()
    assert all(p.grad is None for p in m.backbone.parameters())
    assert m.head.weight.grad is not None
    m.save_pretrained(tmp_path / "m")
    back = WordRetrieval.from_pretrained(tmp_path / "m").eval()
    assert back.freeze_backbone and torch.equal(back(*_batch()), m.eval()(*_batch()))


def test_word_retrieval_learns_planted_word_codes():
    """Each word type writes its own codes on its own sensors; the model learns to retrieve it
    (loss falls, every word is its own best match), and its output depends on the words."""
    from neuroseq.objectives.contrastive import WordRetrievalObjective

    g = torch.Generator().manual_seed(0)
    n_types, b, c, w, span = 6, 4, 8, 4, 6
    vectors = torch.randn(n_types, 12, generator=g)
    ids = torch.stack([torch.randperm(n_types, generator=g)[:w] for _ in range(b)])
    codes = torch.randint(0, 8, (b, c, 2, w * span), generator=g)
    for i in range(b):
        for j, t in enumerate(ids[i].tolist()):
            codes[i, t % c, :, j * span:(j + 1) * span] = t  # the word's own code and sensor
    _, sensors, mask, _ = _batch(b=b, c=c, t=w * span)
    frames = torch.tensor([[[j * span, (j + 1) * span] for j in range(w)]] * b)
    batch = {"codes": codes, "sensors": sensors, "mask": mask, "word_frames": frames,
             "targets": vectors[ids], "word_valid": torch.ones(b, w, dtype=torch.bool)}
    torch.manual_seed(0)
    m = WordRetrieval(BACKBONE, n_chans=c, n_outputs=12, head="attention", hidden=32,
                      dropout=0.0)
    obj = WordRetrievalObjective()
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    first, _ = obj(m, batch)
    for _ in range(60):
        loss, met = obj(m, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * float(first) and float(met["acc_in_batch"]) == 1.0
