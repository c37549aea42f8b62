"""Sampler: KV cache equals recomputation, sliding window, top-k/top-p, conditions, recordings."""

import numpy as np
import pytest
import torch

from neuroseq.generation.sampler import SamplingConfig, generate_tokens, sample_logits
from neuroseq.models.gpt2meg import GPT2MEG
from neuroseq.models.wavenet import WaveNet


@pytest.fixture(scope="module", params=[0, 4], ids=["paper", "local_conv"])
def model(request):
    torch.manual_seed(0)
    m = GPT2MEG(n_chans=4, n_conditions=3, preset="tiny", context=24, local_conv=request.param)
    if m.conv is not None:  # a convolution strong enough to matter for the equality below
        torch.nn.init.normal_(m.conv.weight, 0.0, 0.5)
    return m.eval()


def test_greedy_with_cache_equals_without_far_beyond_the_context(model):
    ctx = torch.randint(0, 256, (2, 4, 16))
    cond = torch.randint(0, 3, (2, 16 + 100))
    kw = {"condition": cond, "channels": torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]])}
    a = generate_tokens(model, ctx, 100, cfg=SamplingConfig(temperature=0, shift=5), **kw)
    b = generate_tokens(model, ctx, 100, cfg=SamplingConfig(temperature=0, shift=5,
                                                            use_cache=False), **kw)
    assert a.shape == (2, 4, 100) and torch.equal(a, b)


def test_sampling_is_seeded_and_varies(model):
    ctx = torch.randint(0, 256, (1, 4, 10))
    s1 = generate_tokens(model, ctx, 40, cfg=SamplingConfig(seed=3))
    assert torch.equal(s1, generate_tokens(model, ctx, 40, cfg=SamplingConfig(seed=3)))
    assert not torch.equal(s1, generate_tokens(model, ctx, 40, cfg=SamplingConfig(seed=4)))
    assert len(torch.unique(s1)) > 5


def test_top_k_and_top_p_restrict_the_support():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(2000, 1)
    g = torch.Generator().manual_seed(0)
    k1 = sample_logits(logits, SamplingConfig(top_k=2, top_p=None), g)
    assert set(k1.tolist()) == {0, 1}
    p = sample_logits(logits, SamplingConfig(top_p=0.7), g)  # 0.5 + 0.3 reaches 0.7
    assert set(p.tolist()) == {0, 1}
    assert abs((p == 0).float().mean().item() - 0.5 / 0.8) < 0.05
    m = sample_logits(logits, SamplingConfig(min_p=0.5, top_p=None), g)  # ≥ 0.25: tokens 0, 1
    assert set(m.tolist()) == {0, 1}
    assert abs((m == 0).float().mean().item() - 0.5 / 0.8) < 0.05
    assert torch.equal(sample_logits(logits, SamplingConfig(temperature=0)),
                       torch.zeros(2000, dtype=torch.long))


def test_cacheless_models_use_the_same_sampler():
    torch.manual_seed(0)
    w = WaveNet(n_chans=2, preset="tiny").eval()
    out = generate_tokens(w, torch.randint(0, 256, (1, 2, 70)), 30,
                          cfg=SamplingConfig(temperature=0))
    assert out.shape == (1, 2, 30)


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="condition timeline has 20 steps"):
        generate_tokens(model, torch.zeros(1, 4, 10, dtype=torch.long), 20,
                        condition=torch.zeros(1, 20, dtype=torch.long))


def test_synthetic_timeline_and_events():
    from neuroseq.data.events import synthetic_timeline, timeline_events

    t = synthetic_timeline(1000, 100.0, [1, 2, 3], rest=0.5, trial=0.5, seed=0)
    assert np.all(t[:50] == 0) and np.all(t[50:100] > 0) and np.all(t[100:150] == 0)
    ev = timeline_events(t, 100.0, {1: "a", 2: "b", 3: "c"})
    assert len(ev) == 10 and np.allclose(ev["onset"], np.arange(10) + 0.5)
    assert np.allclose(ev["duration"], 0.5) and set(ev["value"]) <= {"a", "b", "c"}


class Flat(torch.nn.Module):
    """Every channel predicts the same fixed distribution over 16 codes, whatever the past."""

    context, supports_cache = 8, False

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.logits = torch.log(torch.linspace(1.0, 2.0, 16))

    def forward(self, tokens, channels=None, subject=None, condition=None, last_only=False):
        b, c, t = tokens.shape
        return {"logits": self.logits.expand(b, c, 1 if last_only else t, 16)}


def test_coupled_channels_keep_each_marginal_and_correlate_the_draws():
    ctx = torch.zeros(1, 2, 4, dtype=torch.long)
    corr = torch.tensor([[1.0, 0.9], [0.9, 1.0]])
    cfg = SamplingConfig(top_p=None, use_cache=False)
    free = generate_tokens(Flat(), ctx, 4000, cfg=cfg)[0].float()
    tied = generate_tokens(Flat(), ctx, 4000, cfg=SamplingConfig(
        top_p=None, use_cache=False, channel_corr=corr))[0].float()
    assert abs(np.corrcoef(free.numpy())[0, 1]) < 0.1
    assert np.corrcoef(tied.numpy())[0, 1] > 0.8
    want = torch.linspace(1.0, 2.0, 16) / torch.linspace(1.0, 2.0, 16).sum()
    for x in (free, tied):  # the same distribution per channel either way
        freq = torch.bincount(x[0].long(), minlength=16) / x.shape[1]
        assert (freq - want).abs().max() < 0.02
    with pytest.raises(ValueError, match="channel_corr is"):
        generate_tokens(Flat(), ctx, 5, cfg=SamplingConfig(channel_corr=torch.eye(3)))


def test_innovation_correlation_recovers_the_shared_part():
    from neuroseq.generation.sampler import innovation_correlation

    rng = np.random.default_rng(0)
    e = rng.multivariate_normal([0, 0, 0], [[1, 0.7, 0], [0.7, 1, 0], [0, 0, 1]], 20_000).T
    x = np.zeros_like(e)
    for t in range(2, e.shape[1]):  # a smooth AR(2) per channel, driven by e
        x[:, t] = 1.6 * x[:, t - 1] - 0.8 * x[:, t - 2] + e[:, t]
    r = innovation_correlation(x).numpy()
    assert abs(r[0, 1] - 0.7) < 0.03 and abs(r[0, 2]) < 0.03 and np.allclose(np.diag(r), 1)


def _rope_model(n_layers: int, local_conv: int = 0) -> GPT2MEG:
    torch.manual_seed(1)
    m = GPT2MEG(n_chans=3, n_conditions=3, preset="tiny", context=16, n_layers=n_layers,
                local_conv=local_conv, positions="rope")
    for p in m.parameters():  # weights large enough that positions change the argmax
        if p.ndim > 1:
            torch.nn.init.normal_(p, 0.0, 0.3)
    return m.double().eval()


def test_rolling_cache_equals_recomputation_inside_the_window():
    m = _rope_model(2, local_conv=3)
    ctx, cond = torch.randint(0, 256, (2, 3, 5)), torch.randint(0, 3, (2, 16))
    a = generate_tokens(m, ctx, 11, condition=cond, cfg=SamplingConfig(temperature=0))
    b = generate_tokens(m, ctx, 11, condition=cond,
                        cfg=SamplingConfig(temperature=0, use_cache=False))
    assert torch.equal(a, b) and len(torch.unique(a)) > 3


def test_rolling_cache_past_the_window_equals_a_recompute_over_the_last_context_tokens():
    """One layer: the rolling cache attends to exactly the last ``context`` positions, as a
    recompute of those tokens does (with more layers it is sliding-window attention)."""
    m, n_ctx = _rope_model(1), 16
    seq = torch.randint(0, 256, (1, 3, 6))
    out = generate_tokens(m, seq, 60, cfg=SamplingConfig(temperature=0))
    ref = seq.clone()
    with torch.no_grad():
        for _ in range(60):
            logits = m(ref[..., -n_ctx:], last_only=True)["logits"][..., -1, :]
            ref = torch.cat([ref, logits.argmax(-1, keepdim=True)], -1)
    assert torch.equal(out, ref[..., 6:])
    # the paper's sliding window restarts at position 0 and forgets: different tokens
    slide = generate_tokens(m, seq, 60, cfg=SamplingConfig(temperature=0, rolling=False))
    assert not torch.equal(out, slide)


def test_rolling_cache_keeps_its_sink_positions_and_refuses_learned_positions(model):
    m = _rope_model(2)
    cache = m.new_cache(3, 16, rolling=True, sink=2)
    with torch.no_grad():
        m(torch.randint(0, 256, (1, 3, 10)), cache=cache)
        for _ in range(40):
            m(torch.randint(0, 256, (1, 3, 1)), cache=cache)
    assert cache.length == 50
    assert sorted(cache.slot_pos.tolist()) == [0, 1] + list(range(36, 50))
    with pytest.raises(ValueError, match="would evict"):
        m(torch.randint(0, 256, (1, 3, 4)), cache=cache)
    with pytest.raises(ValueError, match="relative positions"):
        model.new_cache(4, 24, rolling=True)
    with pytest.raises(ValueError, match="sink"):
        generate_tokens(model, torch.zeros(1, 4, 3, dtype=torch.long), 2,
                        cfg=SamplingConfig(sink=2))


def test_fixed_shape_decode_step_gives_the_same_tokens():
    """The static step (fixed buffers, device-side positions: what compile and CUDA graphs
    capture) equals the model's plain forward, with sampling and past the window."""
    m = _rope_model(2, local_conv=3)
    ctx, cond = torch.randint(0, 256, (2, 3, 8)), torch.randint(0, 3, (2, 48))
    for cfg in (SamplingConfig(temperature=0, sink=1), SamplingConfig(seed=5, top_p=0.9)):
        plain = generate_tokens(m, ctx, 40, condition=cond, cfg=cfg)
        static = generate_tokens(m, ctx, 40, condition=cond,
                                 cfg=SamplingConfig(**{**cfg.__dict__, "decode": "eager"}))
        assert torch.equal(plain, static)
    with pytest.raises(ValueError, match="rolling"):
        generate_tokens(_rope_model(1), ctx, 2, cfg=SamplingConfig(decode="eager",
                                                                  rolling=False))
    with pytest.raises(ValueError, match="CUDA"):
        from neuroseq.generation.decode_step import DecodeStep

        DecodeStep(m, m.new_cache(6, 16, rolling=True), 2, 3, mode="cudagraph")


@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_bf16_autocast_generation_stays_close_to_float32(positions):
    torch.manual_seed(2)
    m = GPT2MEG(n_chans=3, preset="tiny", context=16, positions=positions).eval()
    ctx = torch.randint(0, 256, (1, 3, 12))
    with torch.no_grad():
        ref = m(ctx)["logits"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = m(ctx)["logits"].float()
    assert (half - ref).abs().max() < 0.05 * ref.abs().max()
    out = generate_tokens(m, ctx, 30, cfg=SamplingConfig(autocast="bf16", seed=1))
    assert out.shape == (1, 3, 30) and int(out.min()) >= 0 and int(out.max()) < 256
    same = generate_tokens(m, ctx, 30, cfg=SamplingConfig(autocast="bf16", seed=1))
    assert torch.equal(out, same)
    with pytest.raises(ValueError, match="autocast"):
        generate_tokens(m, ctx, 2, cfg=SamplingConfig(autocast="fp8"))
