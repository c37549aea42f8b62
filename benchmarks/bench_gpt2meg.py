"""GPT2MEG speed, side by side with references, ratios printed.

(a) training tokens/s of our paper-size model vs ``transformers.GPT2Model`` with the same
    configuration (width 240, 12 layers, 12 heads, context 256; the original's backbone fed
    through ``inputs_embeds`` plus the same embeddings and head);
(b) generation steps/s with the KV cache vs recomputing the window each step (same model);
(b2) generation steps/s for 306 channels vs ``GPT2Model`` with its own KV cache
    (``past_key_values``), same configuration;
(c) seconds to generate 10 s of 306-channel, 100 Hz MEG with the sliding window (shift 10).

Run: ``python benchmarks/bench_gpt2meg.py [--quick] [--device cuda]``; results also go to
``benchmarks/results/gpt2meg.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")


def timed(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


class HFGPT2MEG(torch.nn.Module):
    """The original's structure: our embeddings summed, GPT2Model via inputs_embeds, a head."""

    def __init__(self, ours: torch.nn.Module) -> None:
        super().__init__()
        from transformers import GPT2Config, GPT2Model

        cfg = GPT2Config(n_embd=ours.d_model, n_layer=ours.n_layers, n_head=ours.n_heads,
                         n_positions=ours.context, vocab_size=1, resid_pdrop=0.0,
                         embd_pdrop=0.0, attn_pdrop=0.0)
        self.ours, self.gpt = ours, GPT2Model(cfg)

    def forward(self, tokens, past=None, start=0):
        b, c, t = tokens.shape
        h = self.ours.embed(tokens, start=start) - self.ours.pos(torch.arange(
            start, start + t, device=tokens.device))
        pos = torch.arange(start, start + t, device=tokens.device)[None]
        out = self.gpt(inputs_embeds=h.reshape(b * c, t, -1), past_key_values=past,
                       position_ids=pos.expand(b * c, t), use_cache=past is not None)
        return self.ours.head(out.last_hidden_state), out.past_key_values


def training(model, fwd, tokens, device) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        logits = fwd(tokens[..., :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 tokens[..., 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return tokens[..., 1:].numel() / timed(step, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer channels/steps (smoke test)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default="benchmarks/results/gpt2meg.json")
    ap.add_argument("--c-steps", type=int, default=1000,
                    help="steps generated for (c); fewer are extrapolated to 10 s (1000 steps)")
    args = ap.parse_args()
    from transformers import DynamicCache

    from neuroseq.generation.sampler import SamplingConfig, generate_tokens
    from neuroseq.models.gpt2meg import GPT2MEG

    dev = torch.device(args.device)
    n_ch = 32 if args.quick else 306
    torch.manual_seed(0)
    ours = GPT2MEG(n_chans=306, preset="paper").to(dev).eval()
    hf = HFGPT2MEG(ours).to(dev).eval()
    res: dict = {"device": str(dev), "threads": torch.get_num_threads(), "channels": n_ch,
                 "params": sum(p.numel() for p in ours.parameters())}

    # (a) training throughput: 8 channel-sequences of 257 tokens per step (CPU), 64 on GPU
    seqs = 64 if dev.type == "cuda" else 8
    tokens = torch.randint(0, 256, (1, seqs, 257), device=dev)
    ours.train()
    a_ours = training(ours, lambda x: ours(x)["logits"], tokens, dev)
    hf.train()
    a_hf = training(hf, lambda x: hf(x)[0], tokens, dev)
    ours.eval()
    hf.eval()
    res["a_train_tokens_per_s"] = {"neuroseq": a_ours, "transformers": a_hf,
                                   "ratio": a_ours / a_hf}
    print(f"(a) training tokens/s   neuroseq {a_ours:,.0f}   transformers GPT2Model {a_hf:,.0f}"
          f"   ratio {a_ours / a_hf:.2f}×  (goal ≥ 1.5×)")

    # (b) KV cache vs recompute, (b2) vs transformers with its cache: 128 context, n steps
    steps = 16 if args.quick else 32
    ctx = torch.randint(0, 256, (1, n_ch, 128), device=dev)
    greedy = SamplingConfig(temperature=0, shift=128)
    t_cache = timed(lambda: generate_tokens(ours, ctx, steps, cfg=greedy), 1)
    t_nocache = timed(lambda: generate_tokens(
        ours, ctx, steps, cfg=SamplingConfig(temperature=0, shift=128, use_cache=False)), 1)

    @torch.inference_mode()
    def hf_generate():
        cache = DynamicCache()
        logits, cache = hf(ctx, cache, 0)
        nxt = logits[:, -1].argmax(-1).view(1, n_ch, 1)
        for i in range(steps - 1):
            logits, cache = hf(nxt, cache, 128 + i)
            nxt = logits[:, -1].argmax(-1).view(1, n_ch, 1)

    t_hf = timed(hf_generate, 1)
    res["b_generation_steps_per_s"] = {"kv_cache": steps / t_cache, "recompute": steps / t_nocache,
                                       "ratio": t_nocache / t_cache}
    res["b2_vs_transformers_cache"] = {"neuroseq": steps / t_cache, "transformers": steps / t_hf,
                                       "ratio": t_hf / t_cache}
    print(f"(b) generation steps/s ({n_ch} ch, from 128 context)   KV cache {steps / t_cache:.2f}"
          f"   recompute {steps / t_nocache:.2f}   ratio {t_nocache / t_cache:.1f}×  (goal ≥ 5×)")
    print(f"(b2) vs transformers GPT2Model + its KV cache {steps / t_hf:.2f} steps/s   ratio "
          f"{t_hf / t_cache:.1f}×  (goal ≥ 10×)")

    # (c) 10 s of 306-channel 100 Hz data with the sliding window (paper protocol, shift 10)
    # seeded with a full window, so the window restarts every 10 steps from the first one on
    n = args.c_steps
    full = torch.randint(0, 256, (1, n_ch, ours.context), device=dev)
    t0 = time.perf_counter()
    generate_tokens(ours, full, n, cfg=SamplingConfig(top_p=0.8, shift=10))
    sec = time.perf_counter() - t0
    res["c_seconds_for_10s"] = sec * (1000 / n)
    res["c_steps_measured"] = n
    print(f"(c) {n / 100:g} s of {n_ch}-channel 100 Hz data: {sec:.1f} s"
          + (f" (→ {sec * 1000 / n:.0f} s for 10 s)" if n != 1000 else ""))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
