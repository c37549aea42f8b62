"""MEG-XL memory and step time against context length, and the 150 s prediction.

Each context (seconds of 50 Hz MEG → ``seconds · 50 / 12`` codec frames × 306 sensors) runs
in a fresh process: one training step (forward + backward + AdamW) of the criss-cross model on
random codes, with and without activation checkpointing.  Peak memory is the process's peak
resident set over the step, minus its resident set before the step (CPU), or
``torch.cuda.max_memory_allocated`` (GPU).  A line in the number of frames is fitted by least
squares and evaluated at 150 s (625 frames); the original needs ≥ 80 GB there, the goal is
≤ 40 GB in bf16 with checkpointing.  Temporal attention also has a term quadratic in frames;
SDPA's fused kernels do not store the score matrix, and at the lengths a CPU can run the
measured growth is linear, so the line is the fit, and the bytes a score matrix would take
(one block's, if materialised) are printed beside it as the worst case.

    python benchmarks/bench_megxl.py                 # paper size, 306 sensors, 2.4/4.8/9.6/14.4 s
    python benchmarks/bench_megxl.py --quick         # tiny model, for a smoke run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HOP, SFREQ = 12, 50.0


def one(preset: str, seconds: float, sensors: int, checkpointing: bool, device: str) -> dict:
    """One training step in this process; returns seconds and peak bytes."""
    import resource
    import time

    import torch

    from neuroseq.models.crisscross import CrissCross
    from neuroseq.objectives.masked_tokens import MaskedTokenObjective

    frames = int(seconds * SFREQ) // HOP
    model = CrissCross(preset=preset, checkpointing=checkpointing).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    batch = {"codes": torch.randint(0, 256, (1, sensors, 6, frames), generator=g).to(device),
             "mask": torch.ones(1, sensors, dtype=torch.bool, device=device),
             "sensors": {"pos": torch.randn(1, sensors, 3, generator=g).to(device),
                         "ori": torch.randn(1, sensors, 3, generator=g).to(device),
                         "kind": torch.randint(0, 2, (1, sensors), generator=g).to(device)}}
    blocks = max(1, min(50, frames // 2))
    obj = MaskedTokenObjective(blocks, max(1, blocks * 2 // 5), seed=0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
        loss, _ = obj(model, batch)
    loss.backward()
    opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return {"seconds": seconds, "frames": frames, "tokens": frames * sensors,
            "checkpointing": checkpointing, "step_s": dt, "peak_bytes": int(peak)}


def fit_predict(rows: list[dict], frames: float) -> float:
    """Least-squares ``a + b·frames`` through (frames, peak bytes), evaluated at ``frames``."""
    f = np.array([r["frames"] for r in rows], float)
    y = np.array([r["peak_bytes"] for r in rows], float)
    return float(np.polyval(np.polyfit(f, y, 1), frames))


def score_matrix_bytes(sensors: int, frames: int, heads: int = 4, itemsize: int = 4) -> int:
    """Bytes of one block's temporal attention scores if a kernel stored them."""
    return sensors * heads * frames * frames * itemsize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny model, short contexts")
    ap.add_argument("--seconds", type=float, nargs="+", default=None)
    ap.add_argument("--sensors", type=int, default=306)
    ap.add_argument("--device", default="cuda" if _has_cuda() else "cpu")
    ap.add_argument("--one", nargs=3, metavar=("PRESET", "SECONDS", "CKPT"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default="benchmarks/results/megxl_memory_cpu.json")
    ap.add_argument("--refit", metavar="JSON", help="fit and print the rows of an earlier run")
    args = ap.parse_args()
    if args.refit:
        report(json.loads(Path(args.refit).read_text()), args.refit)
        return
    if args.one:
        preset, seconds, ckpt = args.one
        print(json.dumps(one(preset, float(seconds), args.sensors, ckpt == "1", args.device)))
        return
    preset = "tiny" if args.quick else "paper"
    secs = args.seconds or ([2.4, 4.8] if args.quick else [2.4, 4.8, 9.6, 14.4])
    rows = []
    for ckpt in (False, True):
        for s in secs:
            cmd = [sys.executable, __file__, "--one", preset, str(s), "1" if ckpt else "0",
                   "--sensors", str(args.sensors), "--device", args.device]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"{preset} {args.sensors} sensors {s:6.1f} s ({r['frames']:4d} frames, "
                  f"{r['tokens']:7d} tokens) checkpointing {str(ckpt):5s}: "
                  f"step {r['step_s']:7.2f} s, peak {r['peak_bytes'] / 2**30:6.2f} GiB")
    report({"preset": preset, "sensors": args.sensors, "device": args.device, "rows": rows},
           args.out)


def report(res: dict, out: str) -> None:
    """Print the 150 s prediction per checkpointing setting and write ``out``."""
    frames = int(150 * SFREQ) // HOP
    res["predicted_150s_bytes"] = {
        str(ck): fit_predict([r for r in res["rows"] if r["checkpointing"] == ck], frames)
        for ck in (False, True)}
    res["score_matrix_150s_bytes"] = score_matrix_bytes(res["sensors"], frames)
    for ck, v in res["predicted_150s_bytes"].items():
        print(f"predicted peak at 150 s ({frames} frames), checkpointing {ck}: "
              f"{v / 2**30:.1f} GiB ({res['device']}; fp32 on CPU, bf16 autocast on GPU; "
              "linear fit in frames)")
    print(f"one block's temporal score matrix at 150 s, if stored in fp32: "
          f"{res['score_matrix_150s_bytes'] / 2**30:.1f} GiB")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(res, indent=1))
    print(f"results: {out}")


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
