"""The GPU suite: every GPU figure of the project in one run (``benchmarks/gpu_suite.sh``).

On whatever GPU it finds, in under 8 minutes on an H100/H200:

1. **Peak**: the GPU's datasheet dense bf16 peak (looked up by name) and the bf16 GEMM rate
   measured here (8192³); MFU is reported against both.
2. **GPT2MEG training** tokens/s and MFU for the paper config (width 240) and the ``wide``
   preset (width 1024), each in fp32, TF32, bf16 autocast, and bf16 + fused AdamW — the
   choice of each switch is this measurement.  FLOPs per token: ``6·N`` (N = non-embedding
   parameters) ``+ 6·L·T·E`` (attention scores and values, forward and backward).
3. **Generation** steps/s at 306 channels: the paper's sliding window (learned positions) and
   the rolling cache (RoPE) eager, compiled, as a CUDA graph, and in bf16; the projected time
   for one hour of 306-channel, 100 Hz MEG (goal ≤ 2 minutes).  The compiled step must give
   the eager step's greedy tokens (checked; a mismatch fails the suite).
4. **MEG-XL** peak memory and step time at 150 s × 306 sensors (``bench_megxl.py`` on CUDA;
   goal ≤ 40 GB in bf16 with activation checkpointing).

``--dry-run`` runs every section at toy sizes on the CPU (CUDA graphs and the datasheet peak
are skipped and say so), so CI keeps the script working.  Results: ``--out`` (JSON), and the
printed report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")

#: dense bf16 tensor-core peak (TFLOP/s) from the vendors' datasheets, by device-name substring
DATASHEET_BF16_TFLOPS = {"H200": 989.4, "H100 80GB HBM3": 989.4, "H100 SXM": 989.4,
                         "H100 NVL": 835.0,
                         "H100 PCIe": 756.0, "H100": 756.0, "A100": 312.0, "L40S": 362.05,
                         "L4": 121.0, "A10G": 70.0, "RTX 4090": 165.2}


def datasheet_peak(name: str) -> float | None:
    """The datasheet bf16 peak of the named GPU (TFLOP/s), None when unknown."""
    for key, value in DATASHEET_BF16_TFLOPS.items():  # most specific names first
        if key in name:
            return value
    return None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measured_gemm_tflops(device: torch.device, n: int) -> float:
    """The rate of an n³ matrix product (bf16 on GPU, fp32 on CPU), best of 5."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(5):
        sync(device)
        t = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e12


def train_speed(preset: str, variant: str, device: torch.device, *, batch: int, channels: int,
                steps: int, sizes: dict[str, int] | None = None) -> dict[str, Any]:
    """Tokens/s of GPT2MEG training steps (forward, backward, AdamW) in one ``variant``."""
    from neuroseq.models.gpt2meg import GPT2MEG

    torch.backends.cuda.matmul.allow_tf32 = variant == "tf32"
    torch.manual_seed(0)
    model = GPT2MEG(n_chans=channels, preset=preset, **(sizes or {})).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4,
                            fused=True if variant == "bf16+fused" else None)
    t_len = model.context
    x = torch.randint(0, 256, (batch, channels, t_len + 1), device=device)
    half = variant.startswith("bf16")

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=half):
            logits = model(x[..., :-1])["logits"]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256).float(),
                                                     x[..., 1:].reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    dt = (time.perf_counter() - t) / steps
    tokens = batch * channels * t_len
    n_emb = sum(p.numel() for n, p in model.named_parameters()
                if n.split(".")[0] in ("tok", "chan", "subj", "cond", "pos", "value"))
    n_params = sum(p.numel() for p in model.parameters()) - n_emb
    flops = 6 * n_params + 6 * model.n_layers * t_len * model.d_model
    torch.backends.cuda.matmul.allow_tf32 = False
    return {"preset": preset, "variant": variant, "width": model.d_model,
            "params_M": round(n_params / 1e6, 2), "tokens_per_step": tokens,
            "step_s": dt, "tokens_per_s": tokens / dt, "tflops": tokens / dt * flops / 1e12}


def generation_speed(device: torch.device, *, channels: int, steps: int, dry: bool,
                     preset: str) -> list[dict[str, Any]]:
    """Steps/s of the sliding window and of the rolling cache in each decode mode."""
    from neuroseq.generation.sampler import SamplingConfig, generate_tokens
    from neuroseq.models.gpt2meg import GPT2MEG

    rows = []
    arms = [("learned", "sliding window (paper)", {}), ("rope", "rolling, eager", {}),
            ("rope", "rolling, fixed-shape step", {"decode": "eager"}),
            ("rope", "rolling, torch.compile", {"decode": "compile"}),
            ("rope", "rolling, CUDA graph", {"decode": "cudagraph"}),
            ("rope", "rolling, CUDA graph, bf16", {"decode": "cudagraph", "autocast": "bf16"})]
    greedy: dict[str, torch.Tensor] = {}
    for positions, name, kw in arms:
        if "cudagraph" in kw.values() and device.type != "cuda":
            rows.append({"mode": name, "skipped": "needs a CUDA GPU"})
            continue
        torch.manual_seed(0)
        model = GPT2MEG(n_chans=channels, preset=preset, positions=positions).to(device).eval()
        ctx = torch.randint(0, 256, (1, channels, model.context), device=device)
        cfg = SamplingConfig(seed=0, **kw)
        if positions == "rope" and kw.get("autocast") is None:
            greedy[name] = generate_tokens(model, ctx, 8, cfg=SamplingConfig(temperature=0,
                                                                             **kw))
        generate_tokens(model, ctx, 2, cfg=cfg)  # warm-up (compilation, allocator)
        times = []
        for n in (2, steps + 2):  # the difference leaves out what every call pays once
            sync(device)
            t = time.perf_counter()
            generate_tokens(model, ctx, n, cfg=cfg)
            sync(device)
            times.append(time.perf_counter() - t)
        first, dt = times[0], (times[1] - times[0]) / steps
        rows.append({"mode": name, "positions": positions, "step_s": dt, "steps_per_s": 1 / dt,
                     "hour_projected_min": 360000 * dt / 60, "setup_s": round(first, 2)})
    ref = greedy["rolling, eager"]
    for name, toks in greedy.items():
        if not torch.equal(toks, ref):
            raise SystemExit(f"FAIL: greedy tokens of '{name}' differ from the eager step's.")
    return rows


def megxl_memory(dry: bool, device: torch.device, out: Path) -> dict[str, Any]:
    """``bench_megxl.py`` at 30, 60 and 150 s on CUDA (its quick mode on CPU)."""
    dest = out.with_name(out.stem + "_megxl.json")
    args = ["--quick", "--device", "cpu"] if dry or device.type != "cuda" else \
        ["--seconds", "30", "60", "150", "--device", "cuda"]
    here = Path(__file__).parent
    res = subprocess.run([sys.executable, str(here / "bench_megxl.py"), *args, "--out",
                          str(dest)], capture_output=True, text=True, timeout=600)
    if res.returncode != 0:  # e.g. out of memory without checkpointing on an 80 GB GPU
        return {"failed": res.stderr[-2000:]}
    return json.loads(dest.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="toy sizes on the CPU (CI)")
    ap.add_argument("--out", default=None, help="JSON results (default: "
                    "benchmarks/results/gpu_suite_<gpu>.json; the dry run: a temporary file)")
    a = ap.parse_args()
    dry = a.dry_run
    device = torch.device("cuda" if torch.cuda.is_available() and not dry else "cpu")
    if device.type != "cuda" and not dry:
        raise SystemExit("no CUDA GPU found; run `benchmarks/gpu_suite.sh --dry-run` to check "
                         "the suite on the CPU.")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (dry run)"
    out = Path(a.out or ("/tmp/gpu_suite_dry_run.json" if dry else
                         f"benchmarks/results/gpu_suite_{name.replace(' ', '_')}.json"))
    t0 = time.perf_counter()
    res: dict[str, Any] = {"device": name, "dry_run": dry, "torch": torch.__version__}
    peak = datasheet_peak(name) if device.type == "cuda" else None
    measured = measured_gemm_tflops(device, 256 if dry else 8192)
    res["peak"] = {"datasheet_bf16_tflops": peak, "measured_gemm_tflops": measured}
    print(f"# GPU suite on {name}\n\npeak: datasheet bf16 {peak or 'unknown'} TFLOP/s, "
          f"measured GEMM {measured:.1f} TFLOP/s\n")

    variants = ("fp32", "tf32", "bf16", "bf16+fused")
    presets = [("paper", {"batch": 1, "channels": 32 if dry else 306}),
               ("wide", {"batch": 1, "channels": 8 if dry else 64})]
    toy = {"d_model": 32, "n_layers": 1, "n_heads": 2, "context": 16} if dry else None
    rows = []
    for preset, shape in presets:
        for v in variants:
            r = train_speed(preset, v, device, steps=2 if dry else 10, sizes=toy, **shape)
            r["mfu_datasheet"] = r["tflops"] / peak if peak else None
            r["mfu_measured"] = r["tflops"] / measured
            rows.append(r)
    res["training"] = rows
    print("| preset | width | variant | params (M) | tokens/s | TFLOP/s | MFU (datasheet) | "
          "MFU (measured GEMM) |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        mfu = f"{r['mfu_datasheet']:.1%}" if r["mfu_datasheet"] is not None else "—"
        print(f"| {r['preset']} | {r['width']} | {r['variant']} | {r['params_M']} | "
              f"{r['tokens_per_s']:.0f} | {r['tflops']:.2f} | {mfu} | "
              f"{r['mfu_measured']:.1%} |")

    gen = generation_speed(device, channels=16 if dry else 306, steps=20 if dry else 200,
                           dry=dry, preset="tiny" if dry else "paper")
    res["generation"] = gen
    print(f"\n| generation ({16 if dry else 306} channels, {'toy' if dry else 'paper'} size) | "
          "steps/s | one hour at 100 Hz (projected) |\n|---|---|---|")
    for r in gen:
        if "skipped" in r:
            print(f"| {r['mode']} | skipped: {r['skipped']} | |")
        else:
            print(f"| {r['mode']} | {r['steps_per_s']:.1f} | "
                  f"{r['hour_projected_min']:.1f} min |")
    mem = res["megxl_memory"] = megxl_memory(dry, device, out)
    if "failed" in mem:
        print(f"\nMEG-XL memory: bench_megxl.py failed:\n{mem['failed']}")
    else:
        print(f"\nMEG-XL ({mem['preset']}, {mem['sensors']} sensors, {mem['device']}):")
        for r in mem["rows"]:
            print(f"  {r['seconds']:g} s, checkpointing {r['checkpointing']}: peak "
                  f"{r['peak_bytes'] / 2**30:.2f} GiB, step {r['step_s']:.2f} s, "
                  f"{r['tokens'] / r['step_s']:.0f} tokens/s")
        for ck, v in mem["predicted_150s_bytes"].items():
            print(f"  150 s from the linear fit, checkpointing {ck}: {v / 2**30:.1f} GiB")
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"\nsuite done in {res['wall_s']:.0f} s -> {out}")


if __name__ == "__main__":
    main()
