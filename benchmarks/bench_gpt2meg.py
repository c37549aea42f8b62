"""GPT2MEG speed, side by side with references, ratios printed.

(a) training tokens/s of our paper-size model vs ``transformers.GPT2Model`` with the same
    configuration (width 240, 12 layers, 12 heads, context 256; the original's backbone fed
    through ``inputs_embeds`` plus the same embeddings and head);
(b) generation steps/s with the KV cache vs recomputing the window each step (same model);
(b2) generation steps/s for 306 channels vs ``GPT2Model`` with its own KV cache
    (``past_key_values``), same configuration;
(c) seconds to generate 10 s of 306-channel, 100 Hz MEG with the sliding window (shift 10).

Each figure is printed next to this machine's ceiling for it, from a roofline measured in the
same run: the fp32 GEMM rate at the model's layer shapes and the memory read bandwidth.  For
(a), the most any implementation could gain over the reference if everything but its matrix
products were free; for (b2), the fastest possible cached step (matrix products at the GEMM
rate plus one read of the KV cache at the read bandwidth).

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


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


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


def roofline(e: int, rows: int, device) -> dict:
    """fp32 GEMM GFLOP/s at the block's four layer shapes (``rows`` tokens) and read GB/s."""
    shapes = [(e, 3 * e), (e, e), (e, 4 * e), (4 * e, e)]
    flops = secs = 0.0
    for k, n in shapes:
        x, w = torch.randn(rows, k, device=device), torch.randn(n, k, device=device)
        b = torch.randn(n, device=device)
        secs += timed(lambda x=x, w=w, b=b: torch.nn.functional.linear(x, w, b), 3)
        flops += 2.0 * rows * k * n
    big = torch.randn(2**27, device=device)  # 512 MiB
    read = big.numel() * 4 / timed(lambda: big.sum(), 6)
    return {"gemm_gflops": flops / secs / 1e9, "read_gbs": read / 1e9}


def block_flops(e: int, layers: int) -> float:
    """Multiply-adds × 2 of one token through the blocks' linear layers (12·E² per layer)."""
    return 2.0 * 12 * e * e * layers


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
    e, nl = ours.d_model, ours.n_layers
    roof = roofline(e, tokens[..., 1:].numel(), dev)
    res["roofline"] = roof
    # training = forward + backward = 3 × the forward's matrix products; the ceiling is the
    # reference's time against those products alone at the measured GEMM rate
    gemm_s = 3 * block_flops(e, nl) / (roof["gemm_gflops"] * 1e9)
    ceiling = (1 / a_hf) / gemm_s
    res["a_train_tokens_per_s"] = {"neuroseq": a_ours, "transformers": a_hf,
                                   "ratio": a_ours / a_hf, "ratio_ceiling": ceiling}
    print(f"roofline: fp32 GEMM {roof['gemm_gflops']:.0f} GFLOP/s at the layer shapes, "
          f"memory read {roof['read_gbs']:.1f} GB/s")
    print(f"(a) training tokens/s   neuroseq {a_ours:,.0f}   transformers GPT2Model {a_hf:,.0f}"
          f"   ratio {a_ours / a_hf:.2f}×  (goal ≥ 1.5×; ceiling here {ceiling:.2f}×: "
          f"the block GEMMs alone at {roof['gemm_gflops']:.0f} GFLOP/s)")

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
    print(f"(b) generation steps/s ({n_ch} ch, from 128 context)   KV cache {steps / t_cache:.2f}"
          f"   recompute {steps / t_nocache:.2f}   ratio {t_nocache / t_cache:.1f}×  (goal ≥ 5×)")

    # (b2) in the sliding window's working range: encode 246 positions, then cached steps
    # at positions 246..253 — what every window of the paper's protocol (shift 10) does
    fill, n_dec = ours.context - 10, 8
    seed = torch.randint(0, 256, (1, n_ch, fill), device=dev)

    @torch.inference_mode()
    def window(model_step, cache):
        t0 = time.perf_counter()
        nxt, cache = model_step(seed, cache, 0)
        sync(dev)
        t1 = time.perf_counter()
        for i in range(n_dec):
            nxt, cache = model_step(nxt, cache, fill + i)
        sync(dev)
        return t1 - t0, (time.perf_counter() - t1) / n_dec

    def ours_step(x, cache, start):
        logits = ours(x, cache=cache, start=start, last_only=True)["logits"]
        return logits[..., -1, :].argmax(-1)[..., None], cache

    def hf_step(x, cache, start):
        logits, cache = hf(x, cache, start)
        return logits[:, -1].argmax(-1).view(1, n_ch, 1), cache

    window(ours_step, ours.new_cache(n_ch, ours.context))  # warm-up
    pre_ours, dec_ours = window(ours_step, ours.new_cache(n_ch, ours.context))
    pre_hf, dec_hf = window(hf_step, DynamicCache())

    def step_floor(length: float) -> tuple[float, float]:
        """Fastest cached step: its GEMMs at the GEMM rate + one read of the fp32 KV cache."""
        kv = 2 * nl * n_ch * length * e * 4
        return (n_ch * block_flops(e, nl) / (roof["gemm_gflops"] * 1e9)
                + kv / (roof["read_gbs"] * 1e9)), kv

    floor, kv_bytes = step_floor(fill + n_dec / 2)
    enc_s = n_ch * 128 * block_flops(e, nl) / (roof["gemm_gflops"] * 1e9)
    floor_128 = enc_s + (steps - 1) * step_floor(128 + steps / 2)[0]
    res["b2_vs_transformers_cache"] = {
        "from_128_incl_prefill": {"neuroseq": steps / t_cache, "transformers": steps / t_hf,
                                  "ratio": t_hf / t_cache, "ratio_ceiling": t_hf / floor_128},
        "prefill_246_s": {"neuroseq": pre_ours, "transformers": pre_hf,
                          "ratio": pre_hf / pre_ours},
        "step_ms_full_window": {"neuroseq": dec_ours * 1e3, "transformers": dec_hf * 1e3,
                                "ratio": dec_hf / dec_ours, "floor_ms": floor * 1e3,
                                "ratio_ceiling": dec_hf / floor}}
    print(f"(b2) vs transformers GPT2Model + its KV cache ({n_ch} ch, goal ≥ 10×):\n"
          f"     {steps} steps from 128 context, incl. encoding it: {steps / t_hf:.2f} steps/s, "
          f"ratio {t_hf / t_cache:.1f}×  (ceiling here {t_hf / floor_128:.1f}×: the "
          f"encoding's GEMMs alone take {enc_s:.1f} s)\n"
          f"     encoding a {fill}-step window: neuroseq {pre_ours:.1f} s   transformers "
          f"{pre_hf:.1f} s   ratio {pre_hf / pre_ours:.1f}×\n"
          f"     one cached step in it: neuroseq {dec_ours * 1e3:.0f} ms ({1 / dec_ours:.1f} "
          f"steps/s)   transformers {dec_hf * 1e3:.0f} ms   ratio {dec_hf / dec_ours:.1f}×  "
          f"(ceiling here {dec_hf / floor:.1f}×: a {floor * 1e3:.0f} ms step = GEMMs at "
          f"{roof['gemm_gflops']:.0f} GFLOP/s + {kv_bytes / 1e9:.2f} GB KV cache read at "
          f"{roof['read_gbs']:.1f} GB/s)")

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
