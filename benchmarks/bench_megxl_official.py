"""Memory and time of the published MEG-XL's computation (``layout="official"``) on one 150 s
sample: what a converted run (``neuroseq convert megxl``) needs to read a context.

The codec (BioCodec's sizes, official layout) codes ``[1, sensors, seconds · 50]`` samples, then
the criss-cross transformer (the paper's size: width 512, 8 layers, 8 heads, 250 Fourier
features) reads the codes, without gradients (feature extraction, the linear probe's forward).
Random weights: memory and time do not depend on their values.  Each part runs in a fresh
process; peak memory is the process's peak resident set during the part minus before it.
Training needs far more (activations kept for the backward pass): ``bench_megxl.py`` predicts
it (``benchmarks/results/megxl_memory_cpu.json``).

    python benchmarks/bench_megxl_official.py                  # 150 s, 306 sensors
    python benchmarks/bench_megxl_official.py --seconds 4.8    # a smoke run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def one(part: str, seconds: float, sensors: int) -> dict:
    """One part (``codec`` or ``backbone``) in this process."""
    import resource
    import time

    import torch

    from neuroseq.models.crisscross import CrissCross
    from neuroseq.tokenizers import RVQCodec

    torch.manual_seed(0)
    t = int(seconds * 50) // 12 * 12
    if part == "codec":
        codec = RVQCodec("biocodec_official")
        codec.fitted, codec.sfreq = True, 50.0
        x = torch.randn(1, sensors, t)
        run = lambda: codec.encode(x)  # noqa: E731
    else:
        model = CrissCross(preset="paper", layout="official").eval()
        codes = torch.randint(0, 256, (1, sensors, 6, t // 12))
        sens = {"official_xyz": torch.randn(1, sensors, 3),
                "official_dir": torch.randn(1, sensors, 3),
                "official_type": torch.randint(0, 2, (1, sensors))}
        mask = torch.ones(1, sensors, dtype=torch.bool)
        run = lambda: model(codes, sens, mask)["hidden"]  # noqa: E731
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    with torch.no_grad():
        run()
    return {"part": part, "seconds": seconds, "samples": t, "frames": t // 12,
            "sensors": sensors, "wall_s": time.perf_counter() - start,
            "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before,
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=150.0)
    ap.add_argument("--sensors", type=int, default=306)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None,
                    help="results JSON (default: benchmarks/results/megxl_official_cpu.json "
                         "at 150 s, else nothing written)")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seconds, args.sensors)))
        return
    rows = []
    for part in ("codec", "backbone"):
        cmd = [sys.executable, __file__, "--one", part, "--seconds", str(args.seconds),
               "--sensors", str(args.sensors)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{part:8s} {r['sensors']} sensors × {r['seconds']:g} s ({r['frames']} frames): "
              f"{r['wall_s']:7.1f} s, peak {r['peak_bytes'] / 2**30:5.2f} GiB "
              f"(CPU, fp32, {r['threads']} threads, no gradients)")
    out = args.out or ("benchmarks/results/megxl_official_cpu.json" if args.seconds == 150
                       else None)
    if out:
        Path(out).write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=1))
        print(f"results: {out}")


if __name__ == "__main__":
    main()
