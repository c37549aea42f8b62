"""``neuroseq convert megxl``: published weights as a neuroseq run."""

from __future__ import annotations

import json
import sys

import click


@click.group()
def convert() -> None:
    """Turn published model weights into neuroseq runs."""


@convert.command(name="megxl")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False),
              help="The official MEG-XL Lightning checkpoint (pnpl/MEG-XL on the HF hub).")
@click.option("--codec", required=True, type=click.Path(dir_okay=False),
              help="The official BioCodec file (brainstorm/neuro_tokenizers/biocodec_ckpt.pt).")
@click.option("--out", "-o", required=True, help="Directory for the neuroseq MEG-XL run.")
@click.option("--sfreq", type=float, default=50.0, show_default=True,
              help="The data rate the codec reads (MEG-XL resamples to 50 Hz).")
@click.option("--check", "ref", type=click.Path(dir_okay=False), default=None,
              help="REF.npz of the official forward: meg [B,C,T] at 50 Hz, sensor_xyz, "
                   "sensor_abc [B,C,3], sensor_types [B,C] (0 grad, 1 mag), sensor_mask [B,C] "
                   "(1 real), features [B,C,T',D] (apply_mask=False, attention dropout 0), "
                   "optionally codes [B,C,T',Q].  Exits 1 above --rtol.")
@click.option("--rtol", type=float, default=1e-4, show_default=True,
              help="--check: largest allowed |ours − official| at real sensors, relative to "
                   "the official features' largest magnitude.")
def megxl(checkpoint: str, codec: str, out: str, sfreq: float, ref: str | None,
          rtol: float) -> None:
    """Convert MEG-XL's published checkpoint and BioCodec file into a MEG-XL run that
    ``finetune … model.pretrained=RUN`` and brain-to-text's ``model.encoder.from_run=RUN``
    read (official layout), and optionally check it against a reference forward."""
    from neuroseq.training.megxl_official import check_megxl, convert_megxl

    folder = convert_megxl(checkpoint, codec, out, sfreq=sfreq)
    click.echo(f"converted MEG-XL run: {folder} (layout official, codec at {sfreq:g} Hz)")
    if ref is None:
        return
    res = check_megxl(folder, ref, rtol=rtol)
    click.echo(json.dumps(res, indent=1))
    if not res["ok"]:
        why = [f"max relative difference {res['max_rel_diff']:.3g} > --rtol {rtol:g}"] \
            if res["max_rel_diff"] > rtol else []
        why += ["codes differ"] if res.get("codes_equal") is False else []
        click.secho(f"check failed: {'; '.join(why)}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"check passed: features within {rtol:g} relative, "
               f"{'codes equal' if 'codes_equal' in res else 'no codes in the reference'}")
