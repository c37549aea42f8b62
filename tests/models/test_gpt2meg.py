"""GPT2MEG: sizes, embeddings, KV cache, equivalence with transformers' GPT2Model, persistence."""

import pytest
import torch

from neuroseq.models.gpt2meg import GPT2MEG


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    return GPT2MEG(n_chans=6, n_subjects=2, n_conditions=4, preset="tiny", context=32).eval()


def test_paper_size_and_shapes():
    m = GPT2MEG(n_chans=306, n_subjects=15, n_conditions=119)
    n = sum(p.numel() for p in m.parameters())
    assert 8.4e6 < n < 8.9e6  # ≈ 8.7 M in the paper's configuration
    assert (m.d_model, m.n_layers, m.n_heads, m.context) == (240, 12, 12, 256)
    out = GPT2MEG(n_chans=3, preset="tiny")(torch.randint(0, 256, (2, 3, 10)))["logits"]
    assert out.shape == (2, 3, 10, 256)


def test_causal_and_channel_independent(tiny):
    x = torch.randint(0, 256, (1, 6, 20))
    y = x.clone()
    y[0, 2, 10] = (y[0, 2, 10] + 7) % 256
    a, b = tiny(x)["logits"], tiny(y)["logits"]
    assert torch.equal(a[..., :10, :], b[..., :10, :])  # the past does not see the future
    changed = (a - b).abs().amax(dim=(2, 3))[0]
    assert changed[2] > 0 and torch.all(changed[torch.arange(6) != 2] == 0)  # other channels


def test_condition_zero_is_no_stimulus_and_conditions_matter(tiny):
    x = torch.randint(0, 256, (1, 6, 12))
    none = tiny(x)["logits"]
    assert torch.equal(tiny(x, condition=torch.zeros(1, 12, dtype=torch.long))["logits"], none)
    cond = torch.zeros(1, 12, dtype=torch.long)
    cond[0, 5:] = 3
    assert not torch.allclose(tiny(x, condition=cond)["logits"][..., 5:, :], none[..., 5:, :])
    assert not torch.allclose(tiny(x, subject=torch.tensor([1]))["logits"], none)


def test_kv_cache_matches_full_forward(tiny):
    x = torch.randint(0, 256, (2, 6, 24))
    cond = torch.randint(0, 4, (2, 24))
    full = tiny(x, condition=cond)["logits"]
    cache = tiny.new_cache(12)
    parts = [tiny(x[..., :10], condition=cond[:, :10], cache=cache)["logits"]]
    parts.append(tiny(x[..., 10:17], condition=cond[:, 10:17], cache=cache)["logits"])  # chunk
    for t in range(17, 24):  # then one step at a time
        parts.append(tiny(x[..., t:t + 1], condition=cond[:, t:t + 1], cache=cache)["logits"])
    assert cache.length == 24
    torch.testing.assert_close(torch.cat(parts, dim=2), full, atol=1e-5, rtol=1e-4)


def test_inference_row_blocks_match_one_pass(tiny):
    """Without gradients, rows go through the blocks in blocks; results and cache are the same."""
    x = torch.randint(0, 256, (2, 6, 24))
    cond = torch.randint(0, 4, (2, 24))
    full = tiny(x, condition=cond)["logits"]  # gradients on: one pass over all 12 rows
    tiny.chunk_bytes = 5 * 10 * 4 * 64 * 4  # T = 10: blocks of 5, 5, 2 rows; T = 7: 7, 5
    with torch.no_grad():
        cache = tiny.new_cache(12)
        parts = [tiny(x[..., :10], condition=cond[:, :10], cache=cache)["logits"]]
        parts.append(tiny(x[..., 10:17], condition=cond[:, 10:17], cache=cache)["logits"])
        assert cache.length == 17
        for t in range(17, 24):
            parts.append(tiny(x[..., t:t + 1], condition=cond[:, t:t + 1], cache=cache)["logits"])
        last = tiny(x, condition=cond, last_only=True)["logits"]
    torch.testing.assert_close(torch.cat(parts, dim=2), full, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(last, full[..., -1:, :], atol=1e-5, rtol=1e-4)


def test_same_function_as_transformers_gpt2(tiny):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=32, vocab_size=1,
                                  resid_pdrop=0, embd_pdrop=0, attn_pdrop=0)
    hf = transformers.GPT2Model(cfg).eval()
    sd = {"wpe.weight": tiny.pos.weight, "ln_f.weight": tiny.ln_f.weight,
          "ln_f.bias": tiny.ln_f.bias}
    for i, b in enumerate(tiny.blocks):
        for hf_name, ours in [("ln_1", b.ln1), ("ln_2", b.ln2)]:
            sd[f"h.{i}.{hf_name}.weight"], sd[f"h.{i}.{hf_name}.bias"] = ours.weight, ours.bias
        for hf_name, ours in [("attn.c_attn", b.attn.qkv), ("attn.c_proj", b.attn.proj),
                              ("mlp.c_fc", b.mlp.fc), ("mlp.c_proj", b.mlp.proj)]:
            sd[f"h.{i}.{hf_name}.weight"] = ours.weight.T  # HF Conv1D stores [in, out]
            sd[f"h.{i}.{hf_name}.bias"] = ours.bias
    hf.load_state_dict({k: v.detach() for k, v in sd.items()}, strict=False)
    x = torch.randint(0, 256, (1, 6, 20))
    h = tiny.embed(x) - tiny.pos(torch.arange(20))  # HF adds its own positions
    ref = hf(inputs_embeds=h.reshape(6, 20, 64)).last_hidden_state
    ours = tiny.head.weight  # compare logits through our head
    torch.testing.assert_close(tiny(x)["logits"].reshape(6, 20, 256), ref @ ours.T,
                               atol=1e-4, rtol=1e-4)


def test_channel_mix_couples_channels():
    torch.manual_seed(0)
    m = GPT2MEG(n_chans=4, preset="tiny", channel_mix=True).eval()
    x = torch.randint(0, 256, (1, 4, 8))
    y = x.clone()
    y[0, 1, 3] = (y[0, 1, 3] + 9) % 256
    d = (m(x)["logits"] - m(y)["logits"]).abs().amax(dim=(0, 3))
    assert d[0, 3] > 0 and torch.all(d[:, :3] == 0)  # other channels see it, the past does not


def test_save_load_round_trip(tiny, tmp_path):
    tiny.save_pretrained(tmp_path / "m")
    back = GPT2MEG.from_pretrained(tmp_path / "m").eval()
    x = torch.randint(0, 256, (1, 6, 9))
    assert torch.equal(back(x)["logits"], tiny(x)["logits"])
    assert back.context == 32 and back.n_conditions == 4


def test_local_conv_and_value_embedding_extensions(tmp_path):
    from neuroseq.tokenizers import MuLawTokenizer

    torch.manual_seed(0)
    grid = MuLawTokenizer().values().tolist()
    m = GPT2MEG(n_chans=6, n_conditions=4, preset="tiny", context=32, local_conv=4,
                value_grid=grid).eval()
    torch.nn.init.normal_(m.conv.weight, 0.0, 0.5)
    x = torch.randint(0, 256, (2, 6, 24))
    y = x.clone()
    y[0, 2, 10] = (y[0, 2, 10] + 7) % 256
    a, b = m(x)["logits"], m(y)["logits"]
    assert torch.equal(a[..., :10, :], b[..., :10, :])  # still causal
    assert (a - b).abs()[0, 2, 10:14].amax() > 0 and torch.equal(a[0, [0, 1, 3]], b[0, [0, 1, 3]])
    cache = m.new_cache(12)  # the conv's history travels in the cache
    parts = [m(x[..., :10], cache=cache)["logits"]]
    parts += [m(x[..., t:t + 1], cache=cache)["logits"] for t in range(10, 24)]
    torch.testing.assert_close(torch.cat(parts, dim=2), a, atol=1e-5, rtol=1e-4)
    # neighbouring codes start with more similar embeddings than distant ones
    e = m.value(m.value_features)
    assert (e[200] - e[201]).norm() < (e[200] - e[60]).norm()
    m.save_pretrained(tmp_path / "m")
    back = GPT2MEG.from_pretrained(tmp_path / "m").eval()
    assert torch.equal(back(x)["logits"], a) and back.local_conv == 4
    with pytest.raises(ValueError, match="value_grid"):
        GPT2MEG(n_chans=2, preset="tiny", value_grid=[0.0, 1.0])
