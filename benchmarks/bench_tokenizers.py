"""Tokenizer speed and quality, side by side.

(a) μ-law encode + decode throughput (samples/s) of :class:`MuLawTokenizer` against a plain
    reference of the original GPT2MEG pipeline (scikit-learn ``RobustScaler`` and
    ``MaxAbsScaler``, then numpy μ-law), with the ratio.  The reference runs on float64 (what
    MNE's ``get_data`` returns to the original code) and on float32 (neuroseq's storage type).
(b) Quality on held-out data — NRMSE, correlation, log-PSD distance, perplexity, bits/s — for
    μ-law-256, k-means (1024 × 8-sample segments, hop 4) and the RVQ codec (BioCodec preset,
    trained here on the CPU), on the real pylossless EEG (subject s01 without the spans
    pylossless annotated as bad, resampled to 100 Hz; when installed) and on simulated
    306-channel MEG at 100 Hz.  Each recording is split in time: the first 80 % fits the
    tokenizer, the last 20 % is scored.

Run: ``python benchmarks/bench_tokenizers.py [--rvq-steps 1000] [--quick]``; results also go to
``benchmarks/results/tokenizers.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")
warnings.filterwarnings("ignore")


def reference_round_trip(train: np.ndarray, x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """The original pipeline: sklearn scalers on [time, channel], numpy μ-law; returns decoded."""
    from sklearn.preprocessing import MaxAbsScaler, RobustScaler

    rs = RobustScaler().fit(train.T)
    ma = MaxAbsScaler().fit(np.clip(rs.transform(train.T), -4, 4))
    z = np.clip(ma.transform(np.clip(rs.transform(x.T), -4, 4)), -1, 1)
    y = np.sign(z) * np.log1p(mu * np.abs(z)) / np.log1p(mu)
    q = np.floor((y + 1) / 2 * mu + 0.5).astype(np.uint8)
    y = q / mu * 2 - 1
    z = np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu
    return rs.inverse_transform(ma.inverse_transform(z)).T


def best_rate(fn, n: int, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return n / min(times)


def throughput(n_samples: int) -> dict:
    from neuroseq.data.simulate import simulate_meg
    from neuroseq.tokenizers import MuLawTokenizer

    rec = simulate_meg(60.0, 100.0, seed=0, geometry="synthetic")
    n_times = n_samples // rec.n_channels
    x = np.tile(rec.data, (1, -(-n_times // rec.n_times)))[:, :n_times].copy()
    train = rec.data
    tok = MuLawTokenizer().fit(train)
    x64 = x.astype(np.float64)  # what MNE's get_data hands the original pipeline
    ref64 = best_rate(lambda: reference_round_trip(train.astype(np.float64), x64), x.size)
    ref32 = best_rate(lambda: reference_round_trip(train, x), x.size)
    ours = best_rate(lambda: tok.decode(tok.encode(x)), x.size)
    enc = best_rate(lambda: tok.encode(x), x.size)
    err = np.abs(tok.decode(tok.encode(x)) - reference_round_trip(train, x)).max()
    return {"shape": list(x.shape), "threads": torch.get_num_threads(),
            "reference_float64_samples_per_s": ref64, "reference_float32_samples_per_s": ref32,
            "neuroseq_samples_per_s": ours, "neuroseq_encode_samples_per_s": enc,
            "ratio_vs_float64": ours / ref64, "ratio_vs_float32": ours / ref32,
            "max_abs_difference_of_decoded_fT": float(err)}


def datasets(quick: bool) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    import mne

    from neuroseq.data import samples as ds
    from neuroseq.data.simulate import simulate_meg

    out = {}
    if ds.has_sample_eeg():
        rec = ds.load_sample_eeg("s01")
        good = np.ones(rec.n_times, bool)
        for _, e in rec.events[rec.events["kind"] == "bad"].iterrows():
            a = int(e["onset"] * rec.sfreq)
            good[a:a + int(np.ceil(e["duration"] * rec.sfreq))] = False
        x = mne.filter.resample(rec.data[:, good].astype(np.float64), up=100.0, down=rec.sfreq,
                                verbose="error").astype(np.float32)
        if quick:
            x = x[:, :30000]
        cut = int(0.8 * x.shape[1])
        out[f"real EEG ({rec.n_channels} ch, s01, 100 Hz)"] = (x[:, :cut], x[:, cut:], 100.0)
    rec = simulate_meg(120.0 if quick else 600.0, 100.0, seed=3)
    cut = int(0.8 * rec.n_times)
    out["simulated MEG (306 ch, 100 Hz)"] = (rec.data[:, :cut], rec.data[:, cut:], 100.0)
    return out


def quality(quick: bool, rvq_steps: int, run_root: Path) -> list[dict]:
    from neuroseq.tokenizers import KMeansTokenizer, MuLawTokenizer, RVQCodec
    from neuroseq.tokenizers.metrics import reconstruction_metrics
    from neuroseq.training.codec import fit_codec

    rows = []
    for name, (train, test, sfreq) in datasets(quick).items():
        toks = {"μ-law 256": MuLawTokenizer(),
                "k-means 1024×8 (hop 4)": KMeansTokenizer(1024, 8, 4),
                f"RVQ codec 6×256 (BioCodec, {rvq_steps} steps)": RVQCodec("biocodec")}
        for label, tok in toks.items():
            t = time.perf_counter()
            kw = {}
            if isinstance(tok, RVQCodec):
                kw = {"run_dir": run_root / name.split()[1], "max_steps": rvq_steps,
                      "batch_size": 32, "crop": 480, "warmup_steps": min(100, rvq_steps // 10),
                      "resume": False, "log_every_n_steps": 50}
            if isinstance(tok, RVQCodec):
                fit_codec(tok, train, sfreq=sfreq, **kw)
            else:
                tok.fit(train, sfreq=sfreq)
            fit_s = time.perf_counter() - t
            r = reconstruction_metrics(tok, test[None], sfreq)
            rows.append({"data": name, "fit_s": fit_s} | r | {"label": label})
            print(f"  {name:<34} {label:<36} NRMSE {r['nrmse']:.3f}  "
                  f"log-PSD {r['log_psd_distance_db']:.2f} dB  fit {fit_s:.0f} s", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rvq-steps", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="small data, few steps (smoke test)")
    ap.add_argument("--out", default="benchmarks/results/tokenizers.json")
    ap.add_argument("--throughput-only", action="store_true",
                    help="only part (a); updates its entry in --out")
    args = ap.parse_args()
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    steps = 20 if args.quick else args.rvq_steps

    print("(a) μ-law encode + decode throughput")
    tp = throughput(3_000_000 if args.quick else 30_000_000)
    print(f"  data {tp['shape'][0]} × {tp['shape'][1]}, {tp['threads']} torch threads")
    print(f"  {'reference, float64 (as from MNE)':<34} "
          f"{tp['reference_float64_samples_per_s'] / 1e6:8.1f} M/s")
    print(f"  {'reference, float32':<34} {tp['reference_float32_samples_per_s'] / 1e6:8.1f} M/s")
    print(f"  {'neuroseq MuLawTokenizer (float32)':<34} {tp['neuroseq_samples_per_s'] / 1e6:8.1f} "
          f"M/s   ratio {tp['ratio_vs_float64']:.1f}× vs float64, {tp['ratio_vs_float32']:.1f}× "
          f"vs float32   (encode alone {tp['neuroseq_encode_samples_per_s'] / 1e6:.0f} M/s)")
    print("  largest difference from the original's decoded values: "
          f"{tp['max_abs_difference_of_decoded_fT']:.3g} fT (its half-bin offset, fixed here)")

    if args.throughput_only:  # keep the quality table of an earlier full run
        out = Path(args.out)
        old = json.loads(out.read_text()) if out.exists() else {}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({**old, "throughput": tp}, indent=1))
        return
    print("\n(b) quality on held-out data (last 20 % of each recording)")
    rows = quality(args.quick, steps, Path(tempfile.mkdtemp(prefix="bench-tok-")))
    head = ("| data | tokenizer | tokens/s/ch | bits/s/ch | NRMSE | corr | log-PSD dist (dB) "
            "| perplexity per level | encode M samples/s |")
    print("\n" + head + "\n|" + "---|" * 9)
    for r in rows:
        perp = ", ".join(f"{p:.0f}" for p in r["perplexity"])
        print(f"| {r['data']} | {r['label']} | {r['tokens_per_second']:g} | "
              f"{r['bits_per_second']:g} | {r['nrmse']:.3f} | {r['correlation']:.3f} | "
              f"{r['log_psd_distance_db']:.2f} | {perp} | {r['encode_samples_per_s'] / 1e6:.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"throughput": tp, "quality": rows}, indent=1))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
