"""EEGPT (autoregressive) pretraining speed and memory, Base preset.

Prints patches/s of next-patch pretraining (forward + backward + AdamW step) for the Base ETE
(3 layers, width 128, 4 heads) and the peak memory per sample, beside the same model with
PyTorch's reference ``nn.TransformerEncoderLayer`` blocks (causal mask, pre-norm, GELU MLP,
no RoPE/SwiGLU) of the same width and depth, so the ratio shows what our blocks cost.

Run: ``python benchmarks/bench_eegpt.py [--device cuda] [--electrodes 32 --patches 25]``;
results go to ``benchmarks/results/eegpt.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
from pathlib import Path

import torch
from torch import nn


def _peak_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ReferenceETE(nn.Module):
    """Patch embedding + ``nn.TransformerEncoder`` (causal) + the same head: the baseline."""

    def __init__(self, ete: nn.Module) -> None:
        super().__init__()
        e = ete.d_model
        self.embed, self.head = nn.Linear(ete.patch_len, e), nn.Linear(e, ete.patch_len)
        layer = nn.TransformerEncoderLayer(e, ete.n_heads, 4 * e, batch_first=True,
                                           norm_first=True, dropout=0.0)
        self.enc = nn.TransformerEncoder(layer, ete.n_layers, enable_nested_tensor=False)
        self.patch_len = ete.patch_len

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        p = x.unfold(-1, self.patch_len, self.patch_len).reshape(b * c, -1, self.patch_len)
        mask = nn.Transformer.generate_square_subsequent_mask(p.shape[1], device=x.device)
        return self.head(self.enc(self.embed(p), mask=mask, is_causal=True))


def throughput(step, n_patches: int) -> float:
    """Patches per second of the best of three timed steps (after a warm-up)."""
    from bench_gpt2meg import timed  # the same timer as the GPT2MEG benchmark

    return n_patches / timed(step)


def main() -> None:
    from neuroseq.models.eegpt import ETE
    from neuroseq.objectives.patch import NextPatchObjective

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--electrodes", type=int, default=32)
    ap.add_argument("--patches", type=int, default=25, help="1 s patches per window (paper: 25)")
    ap.add_argument("--out", default="benchmarks/results/eegpt.json")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.manual_seed(0)
    ete = ETE(n_chans=777, preset="base", patch_len=256).to(dev)
    ref = ReferenceETE(ete).to(dev)
    x = torch.randn(args.batch, args.electrodes, 256 * args.patches, device=dev)
    el = torch.randint(0, 777, (args.batch, args.electrodes), device=dev)
    batch = {"x": x, "sensors": {"ids": el}}
    obj = NextPatchObjective()
    n = args.batch * args.electrodes * args.patches

    def make(model, loss_fn):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step():
            loss = loss_fn()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        return step

    base_mb = _peak_mb(dev)  # before any training step: model, batch, imports
    ours = throughput(make(ete, lambda: obj(ete, batch)[0]), n)
    peak_ours = _peak_mb(dev) - base_mb
    p = x.unfold(-1, 256, 256)

    def ref_loss():
        pred = ref(x).view(*p.shape)
        return ((pred[:, :, :-1] - p[:, :, 1:]) ** 2).mean()

    theirs = throughput(make(ref, ref_loss), n)
    params = sum(q.numel() for q in ete.parameters())
    res = {"device": str(dev), "threads": torch.get_num_threads(), "params_ete": params,
           "batch": args.batch, "electrodes": args.electrodes, "patches": args.patches,
           "patches_per_s": {"neuroseq_ete": ours, "torch_reference": theirs,
                             "ratio": ours / theirs},
           "peak_memory_mb": peak_ours,
           "peak_memory_mb_per_sample": peak_ours / (args.batch * args.electrodes)}
    print(f"ETE Base ({params / 1e6:.2f} M params), {args.batch}×{args.electrodes} electrode "
          f"sequences of {args.patches} patches on {dev}")
    print(f"pretraining patches/s   neuroseq {ours:,.0f}   torch TransformerEncoder {theirs:,.0f}"
          f"   ratio {ours / theirs:.2f}×")
    print(f"peak memory of training steps {peak_ours:,.0f} MB "
          f"({'process RSS growth' if dev.type == 'cpu' else 'CUDA allocated growth'}), "
          f"{res['peak_memory_mb_per_sample']:.1f} MB per electrode sequence")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
