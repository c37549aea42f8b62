"""``neuroseq tokenize fit|encode|decode|eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

INPUTS = click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
SPLIT = click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
                     help="Use only this split of store inputs (default: whole recordings).")
SFREQ = click.option("--sfreq", type=float, default=None,
                     help="Sampling rate of .npy inputs without a JSON sidecar.")


def _read_kwargs(sfreq: float | None) -> dict[str, Any]:
    return {"sfreq": sfreq} if sfreq else {}


@click.group()
def tokenize() -> None:
    """Fit tokenizers and turn recordings into codes and back."""


@tokenize.command(name="fit")
@click.argument("kind", type=click.Choice(["mulaw", "kmeans", "rvq"]))
@INPUTS
@click.option("--out", "-o", required=True, help="Directory for the fitted tokenizer.")
@click.option("--split", default="train", show_default=True,
              type=click.Choice(["train", "val", "test"]), help="Split of a store to fit on.")
@SFREQ
@click.option("--mu", type=float, default=255.0, show_default=True, help="mulaw: μ.")
@click.option("--n-bins", type=int, default=256, show_default=True, help="mulaw: vocabulary.")
@click.option("--vocab-size", type=int, default=1024, show_default=True, help="kmeans: centroids.")
@click.option("--segment", type=int, default=8, show_default=True, help="kmeans: samples/segment.")
@click.option("--hop", type=int, default=None, help="kmeans: samples between segments.")
@click.option("--preset", default="biocodec", show_default=True,
              type=click.Choice(["biocodec", "brain2text", "tiny"]), help="rvq: architecture.")
@click.option("--steps", type=int, default=2000, show_default=True, help="rvq: training steps.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="rvq: crops/step.")
@click.option("--crop-seconds", type=float, default=5.0, show_default=True,
              help="rvq: crop length.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="rvq: learning rate.")
@click.option("--accelerator", default="auto", show_default=True, help="rvq: cpu, gpu or auto.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed of fitting (k-means initialisation, codec training).")
def fit_tokenizer(kind: str, inputs: tuple[str, ...], out: str, split: str, sfreq: float | None,
                  mu: float, n_bins: int, vocab_size: int, segment: int, hop: int | None,
                  preset: str, steps: int, batch_size: int, crop_seconds: float, lr: float,
                  accelerator: str, seed: int) -> None:
    """Fit a tokenizer of KIND on INPUTS (a store's training split, or files)."""
    from neuroseq.tokenizers import KMeansTokenizer, MuLawTokenizer, RVQCodec
    from neuroseq.tokenizers.io import fit_data, open_inputs
    from neuroseq.training.codec import fit_codec

    data = fit_data(open_inputs(list(inputs), **_read_kwargs(sfreq)))
    if kind == "mulaw":
        tok = MuLawTokenizer(mu=mu, n_bins=n_bins).fit(data, split=split)
    elif kind == "kmeans":
        tok = KMeansTokenizer(vocab_size, segment, hop, seed=seed).fit(data, split=split)
    else:
        tok = fit_codec(RVQCodec(preset), data, split=split, run_dir=Path(out) / "training",
                        max_steps=steps, batch_size=batch_size, crop_seconds=crop_seconds,
                        lr=lr, seed=seed, accelerator=accelerator)
    tok.save_pretrained(out)
    rate = f"{tok.frame_rate:g} frames/s, {tok.bits_per_second:g} bits/s per channel" \
        if tok.frame_rate else "rate unknown (no sampling rate)"
    click.echo(f"{tok!r}\n  {tok.n_channels} channels at {tok.sfreq} Hz; {rate}\n  saved to {out}")


@tokenize.command()
@click.argument("tokenizer", type=click.Path(exists=True, file_okay=False))
@INPUTS
@click.option("--out", "-o", required=True, help="Output .npz of codes.")
@SPLIT
@SFREQ
def encode(tokenizer: str, inputs: tuple[str, ...], out: str, split: str | None,
           sfreq: float | None) -> None:
    """Encode INPUTS with a saved TOKENIZER into one .npz."""
    from neuroseq.log import progress
    from neuroseq.tokenizers import load_tokenizer
    from neuroseq.tokenizers.io import open_inputs, save_codes, segments

    tok = load_tokenizer(tokenizer)
    segs = segments(open_inputs(list(inputs), **_read_kwargs(sfreq)), split)
    codes, scales = [], []
    for s in progress(segs, desc="encode"):
        codes.append(tok.encode(s.data, sfreq=s.sfreq, ch_names=s.sensors.names))
        scales.append(tok.scale_of(s.data) if hasattr(tok, "scale_of") else None)
    save_codes(out, tok, segs, codes, scales)
    n = sum(c.size for c in codes)
    click.echo(f"{len(segs)} segments, {n} codes ({tok.kind}) -> {out}")


@tokenize.command()
@click.argument("tokenizer", type=click.Path(exists=True, file_okay=False))
@click.argument("codes", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "-o", required=True, help="Output directory.")
@click.option("--format", "fmt", type=click.Choice(["fif", "npy"]), default="fif",
              show_default=True, help="Written as .fif recordings (with their sensors) or .npy "
              "arrays.")
def decode(tokenizer: str, codes: str, out: str, fmt: str) -> None:
    """Decode a CODES .npz back to signals, one file per segment."""
    from neuroseq.errors import DataError
    from neuroseq.log import progress
    from neuroseq.tokenizers import load_tokenizer
    from neuroseq.tokenizers.io import load_codes, to_recording

    tok = load_tokenizer(tokenizer)
    meta, arrays, scales = load_codes(codes)
    if meta["tokenizer"] != tok.kind:
        raise DataError(f"{codes} was encoded with a {meta['tokenizer']} tokenizer, not "
                        f"{tok.kind}.")
    Path(out).mkdir(parents=True, exist_ok=True)
    for seg, c, s in progress(list(zip(meta["segments"], arrays, scales, strict=True)),
                              desc="decode"):
        y = tok.decode(c, scale=s) if s is not None else tok.decode(c)
        rec = to_recording(seg, y)
        name = seg["name"].replace(":", "_")
        if fmt == "fif":
            dest = rec.save_fif(str(Path(out) / f"{name}_raw.fif"), overwrite=True)
        else:
            dest = str(Path(out) / f"{name}.npy")
            np.save(dest, rec.data)
        click.echo(f"{seg['name']}: {rec.n_channels} ch × {rec.n_times} samples -> {dest}")


@tokenize.command(name="eval")
@click.argument("tokenizer", type=click.Path(exists=True, file_okay=False))
@INPUTS
@SPLIT
@SFREQ
@click.option("--json", "json_out", type=click.Path(), default=None, help="Also write JSON.")
def evaluate_tokenizer(tokenizer: str, inputs: tuple[str, ...], split: str | None,
                       sfreq: float | None, json_out: str | None) -> None:
    """Reconstruction quality, code usage, rate and speed of TOKENIZER on INPUTS."""
    from neuroseq.atomic import write_json_atomic
    from neuroseq.log import progress
    from neuroseq.tokenizers import load_tokenizer
    from neuroseq.tokenizers.io import open_inputs, segments
    from neuroseq.tokenizers.metrics import reconstruction_metrics

    tok = load_tokenizer(tokenizer)
    segs = segments(open_inputs(list(inputs), **_read_kwargs(sfreq)), split)
    rows = [reconstruction_metrics(tok, s.data[None], s.sfreq) | {"segment": s.name}
            for s in progress(segs, desc="evaluate")]
    w = np.array([r["n_samples"] for r in rows], float)
    keys = ["nrmse", "correlation", "log_psd_distance_db", "encode_samples_per_s",
            "decode_samples_per_s"]
    summary = {k: float(np.average([r[k] for r in rows], weights=w)) for k in keys}
    summary |= {k: rows[0][k] for k in ("tokens_per_second", "bits_per_second")}
    summary["perplexity"] = [float(np.average(p, weights=w))
                             for p in zip(*[r["perplexity"] for r in rows], strict=True)]
    click.echo(f"{tok!r} on {len(segs)} segments ({w.sum():.0f} samples)")
    for k, v in summary.items():
        val = ", ".join(f"{x:.1f}" for x in v) if isinstance(v, list) else f"{v:.4g}"
        click.echo(f"  {k:<24} {val}")
    if json_out:
        write_json_atomic(json_out, {"summary": summary, "segments": rows})
        click.echo(f"  written to {json_out}")
