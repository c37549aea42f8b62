"""Brain-to-text objectives: each phase's loss falls; the text loss uses the MEG (a mutated
target fails the same test); distillation matches a teacher."""

import copy

import pytest
import torch

from neuroseq.data.collate import add_text_ids, pad_collate
from neuroseq.data.sentences import SentenceDataset
from neuroseq.data.store import Store
from neuroseq.models.brain2text import Brain2Text
from neuroseq.objectives.brain2text import (
    Distillation,
    MaskedReconstruction,
    QuantizerFit,
    TextLoss,
    frame_mask,
)


@pytest.fixture(scope="module")
def batch(sentence_store):
    # the objectives' own test data: six sentences, whatever the split's time margin drops
    ds = SentenceDataset(Store(sentence_store), "train", seconds=3.0, margin=0.0)
    return pad_collate([ds[i] for i in range(6)])


def _model(llm=None):
    torch.manual_seed(0)
    m = Brain2Text({"preset": "tiny"}, {"preset": "tiny"}, {"name": str(llm)})
    if llm is not None:
        m.attach_llm()
    return m.train()


def _text(model, batch):
    """The batch as the text phase's collate gives it: with the LLM tokenizer's ids."""
    return add_text_ids(batch, model.tokenizer) if model.llm is not None else batch


def _fit(model, objective, batch, steps, lr=3e-3, texts=None):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr)
    losses = []
    for i in range(steps):
        b = batch if texts is None else batch | {"text": texts(i)}
        loss, metrics = objective(model, _text(model, b))
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return losses, metrics


def test_masked_reconstruction_beats_the_zero_prediction_only_on_structured_input(batch):
    model = _model()
    losses, m = _fit(model, MaskedReconstruction(0.5), batch, 40)
    assert losses[-1] < 0.8 * losses[0]
    assert m["r2"] > 0.1  # better than predicting zero on the hidden frames
    # checked apart from the objective: the hidden frames' reconstruction against the signal
    model.eval()
    hidden = frame_mask(len(batch["x"]), 37, 0.5, torch.Generator().manual_seed(3))
    with torch.no_grad():
        rec = model.encoder.reconstruct(model.encoder(batch["x"], batch["sensors"],
                                                      batch["mask"], hidden),
                                        batch["sensors"], batch["mask"])
    sel = hidden.repeat_interleave(4, -1)[:, None, :].expand_as(rec)
    x = batch["x"][..., : rec.shape[-1]]
    assert 1 - ((rec - x) ** 2)[sel].mean() / (x ** 2)[sel].mean() > 0.15
    # white noise in place of the MEG: the hidden frames cannot be predicted from the rest
    noise = batch | {"x": torch.randn(batch["x"].shape, generator=torch.Generator().manual_seed(0))}
    _, m0 = _fit(_model(), MaskedReconstruction(0.5), noise, 40)
    assert m0["r2"] < 0.05


def test_masked_reconstruction_is_the_error_on_the_hidden_frames_of_real_sensors(batch):
    """Known answer: the loss equals the squared error, counted by hand sample by sample, on
    the frames the objective hid and the real sensors only (a target moved in time, or
    frames or sensors miscounted, give another number)."""
    model = _model().eval()
    b = batch | {"mask": batch["mask"].clone()}
    b["mask"][0, -30:] = False  # 30 padded sensors in the first segment
    torch.manual_seed(5)
    loss, _ = MaskedReconstruction(0.5)(model, b)
    torch.manual_seed(5)
    hidden = frame_mask(len(b["x"]), 37, 0.5)
    with torch.no_grad():
        rec = model.encoder.reconstruct(model.encoder(b["x"], b["sensors"], b["mask"], hidden),
                                        b["sensors"], b["mask"])
    errs = [(rec[i, c, 4 * f: 4 * f + 4] - b["x"][i, c, 4 * f: 4 * f + 4]) ** 2
            for i in range(len(b["x"])) for c in range(b["x"].shape[1]) if b["mask"][i, c]
            for f in range(37) if hidden[i, f]]
    assert float(loss) == pytest.approx(float(torch.cat(errs).mean()), rel=1e-5)


def test_quantizer_fit_uses_codes_and_reconstructs_frozen_features(batch):
    model = _model()
    model.encoder.requires_grad_(False)
    before = copy.deepcopy(model.encoder.state_dict())
    losses, m = _fit(model, QuantizerFit(0.25), batch, 30)
    assert losses[-1] < losses[0]
    assert float(m["recon_rel"]) < 0.5  # well below the features' variance
    model.eval()
    with torch.no_grad():  # each sample's own features, not another sample's
        out = model(batch)
        rec, h = out["feature_reconstruction"], out["features"]
    assert ((rec - h) ** 2).mean() < 0.6 * ((rec - h.roll(1, 0)) ** 2).mean()
    assert all(float(m[f"perplexity_{i}"]) > 2 for i in range(4))  # several codes in use
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, before[k]), k  # frozen encoder unchanged


@pytest.mark.parametrize("mutated", [False, True])
def test_text_loss_learns_the_meg_to_text_link_and_a_mutated_target_fails(
        batch, tiny_llm_dir, mutated):
    """Trained with each segment's own sentence, the loss of the right pairing ends far below
    that of the pairing shifted by one; with the targets shuffled at every step (a mutated
    target) the same criterion fails.  120 steps: at 60, 2 of 8 model seeds had not yet found
    the link (margin 0.19 and 0.40; the mutated arm stays within 0.03 at either length)."""
    model = _model(tiny_llm_dir)
    g = torch.Generator().manual_seed(1)
    texts = None
    if mutated:
        def texts(i):
            return [batch["text"][j] for j in torch.randperm(len(batch["text"]), generator=g)]
    base = {n: p.detach().clone() for n, p in model.llm.named_parameters()
            if "lora" not in n}
    losses, _ = _fit(model, TextLoss(), batch, 120, texts=texts)
    model.eval()
    with torch.no_grad():  # measured apart from the objective: the model's own likelihood

        def nll_per_token(texts):
            n = add_text_ids(batch | {"text": texts}, model.tokenizer)["text_valid"].sum(1)
            return -float((model.log_likelihood(model.meg_embeddings(batch), texts) / n).mean())

        own = nll_per_token(batch["text"])
        shifted = nll_per_token(batch["text"][1:] + batch["text"][:1])
    assert losses[-1] < 0.5 * losses[0]  # the text distribution is learned either way
    assert (shifted - own > 1.0) != mutated
    for n, p in model.llm.named_parameters():  # the LLM stays frozen but for LoRA
        if n in base:
            assert torch.equal(p, base[n]), n


def test_distillation_kl_is_zero_against_itself_and_pulls_a_student(batch, tiny_llm_dir):
    teacher = _model(tiny_llm_dir)
    _fit(teacher, TextLoss(), batch, 20)
    student = copy.deepcopy(teacher)
    obj = Distillation(copy.deepcopy(teacher), alpha=1.0, temperature=2.0)
    student.eval()
    assert float(obj(student, _text(student, batch))[1]["kl"]) == pytest.approx(0.0, abs=1e-5)
    fresh = _model(tiny_llm_dir)
    losses, m = _fit(fresh, obj, batch, 30)
    assert float(m["kl"]) < 0.5 * losses[0]


def test_the_text_step_crosses_the_model_seam_once_and_never_tokenizes(batch, tiny_llm_dir):
    """The collate tokenizes; the objective calls ``model(batch)`` once and reads its dict."""
    model = _model(tiny_llm_dir)
    b = _text(model, batch)
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(sorted(o)))
    tok = model.tokenizer

    class NoTokenizing:
        def __getattr__(self, name):
            return getattr(tok, name)

        def __call__(self, *a, **k):
            raise AssertionError("the text was tokenized inside the training step")

    model.tokenizer = NoTokenizing()
    loss, _ = TextLoss(0.25)(model, b)
    assert torch.isfinite(loss) and len(calls) == 1 and "logits" in calls[0]
    with pytest.raises(ValueError, match="TextCollate"):
        TextLoss()(model, batch)  # sentences batched without their token ids
