"""``neuroseq info``, ``prepare`` and ``simulate``: files in, a store or a recording out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

ARRAY_HELP = "for .npy/.npz inputs without a JSON sidecar"


def array_options(f: Any) -> Any:
    """``--sfreq``, ``--ch-names``, ``--ch-types``: what a bare array cannot say itself."""
    f = click.option("--ch-types", default=None,
                     help=f"Channel types, comma-separated or one for all (mag/grad/eeg), "
                          f"{ARRAY_HELP}.")(f)
    f = click.option("--ch-names", default=None,
                     help=f"Channel names, comma-separated, {ARRAY_HELP}.")(f)
    return click.option("--sfreq", type=float, default=None,
                        help=f"Sampling rate (Hz) {ARRAY_HELP}.")(f)


def array_kwargs(inputs: tuple[str, ...], sfreq: float | None, ch_names: str | None,
                 ch_types: str | None) -> dict[str, Any]:
    """Reader arguments from the array flags (refused when no input is an array)."""
    from neuroseq.data.readers import ARRAY_EXTENSIONS

    kw: dict[str, Any] = {}
    if sfreq is not None:
        kw["sfreq"] = sfreq
    if ch_names:
        kw["ch_names"] = [n.strip() for n in ch_names.split(",") if n.strip()]
    if ch_types:
        types = [t.strip() for t in ch_types.split(",") if t.strip()]
        kw["ch_types"] = types[0] if len(types) == 1 else types
    if kw and not any(Path(p).suffix.lower() in ARRAY_EXTENSIONS for p in inputs):
        raise click.UsageError("--sfreq, --ch-names and --ch-types describe .npy/.npz inputs; "
                               "none of the inputs is one (other formats carry their own; "
                               "`neuroseq prepare --resample HZ` changes the rate).")
    return kw


@click.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--subject", multiple=True, help="BIDS subject(s) to include.")
@click.option("--task", multiple=True, help="BIDS task(s) to include.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@array_options
def info(path: str, subject: tuple[str, ...], task: tuple[str, ...], as_json: bool,
         sfreq: float | None, ch_names: str | None, ch_types: str | None) -> None:
    """Channels by kind, sampling rate, duration and event counts of a file or BIDS root; of a
    prepared store: its recordings, channels, rate, splits (seconds), pipeline and events."""
    from neuroseq.data.readers import find_recordings, read_recording
    from neuroseq.data.store import Store, is_store
    from neuroseq.data.summary import (
        format_recording,
        format_store,
        recording_summary,
        store_summary,
    )

    if is_store(path):
        summary = store_summary(Store(path))
        click.echo(json.dumps(summary, indent=1) if as_json else format_store(summary))
        return
    kw = array_kwargs((path,), sfreq, ch_names, ch_types)
    sources = find_recordings(path, subjects=list(subject) or None, tasks=list(task) or None) \
        if Path(path).is_dir() and not path.rstrip("/").endswith(".ds") else [path]
    summaries = [recording_summary(read_recording(s, **kw)) for s in sources]
    if as_json:
        click.echo(json.dumps(summaries, indent=1, default=str))
        return
    if len(summaries) > 1:
        click.echo(f"{path}: {len(summaries)} recordings\n")
    click.echo("\n\n".join(format_recording(s) for s in summaries))


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "-o", required=True, help="Store path or fsspec URL (…/store.zarr).")
@click.option("--resample", type=float, default=None, help="Resample every recording to this "
              "rate (Hz).")
@click.option("--l-freq", type=float, default=None, help="High-pass edge (Hz).")
@click.option("--h-freq", type=float, default=None, help="Low-pass edge (Hz).")
@click.option("--notch", type=float, multiple=True, help="Notch frequencies (Hz).")
@click.option("--scale/--no-scale", default=True, show_default=True,
              help="Robust scaling (median/IQR per channel) fitted on the training split.")
@click.option("--clip", type=float, default=None, help="Clip to ±CLIP robust units.")
@click.option("--split", type=click.Choice(["time", "subject", "none"]), default=None,
              help="How to split each recording  [default: time].")
@click.option("--n-val", type=int, default=4, show_default=True,
              help="time split: trials per condition in validation (and in test).")
@click.option("--subject", multiple=True, help="BIDS subject(s) to include.")
@click.option("--task", multiple=True, help="BIDS task(s) to include.")
@click.option("--n-jobs", type=int, default=1, show_default=True,
              help="Recordings prepared in parallel (processes).")
@click.option("--scheduler", default=None,
              help="Prepare on a Dask cluster: its scheduler address (tcp://HOST:8786), or "
                   "local:N for N local worker processes; the store must be reachable by "
                   "every worker (shared path or s3://…).")
@click.option("--compression", type=click.Choice(["none", "lz4", "zstd"]), default="none",
              show_default=True, help="Compression of the store's chunks (none reads fastest).")
@click.option("--on-flat", type=click.Choice(["raise", "drop"]), default="raise",
              show_default=True, help="A flat (dead) channel: stop with an error naming it, or "
              "drop it and record that in the provenance.")
@click.option("--overwrite", is_flag=True, help="Replace an existing store (the new one is "
              "built beside it and swapped in only when complete).")
@click.option("--preset", type=click.Choice(["megxl"]), default=None,
              help="A paper's whole preprocessing instead of the step options: megxl = "
                   "0.1–40 Hz, 50 Hz, per-3 s chunk baseline on its first 0.5 s, robust scaling "
                   "per sensor kind, clip ±5.")
@click.option("--recipe", type=click.Choice(["camcan", "mous", "smn4lang"]), default=None,
              help="A MEG-XL pretraining corpus read from its downloaded BIDS tree (one INPUT): "
                   "its tasks and runs, MEG channels only, the megxl preset, and its validation "
                   "recordings as the val split.")
@array_options
def prepare(inputs: tuple[str, ...], out: str, resample: float | None, l_freq: float | None,
            h_freq: float | None, notch: tuple[float, ...], scale: bool, clip: float | None,
            split: str, n_val: int, subject: tuple[str, ...], task: tuple[str, ...],
            n_jobs: int, scheduler: str | None, compression: str, on_flat: str,
            overwrite: bool, preset: str | None, recipe: str | None, sfreq: float | None,
            ch_names: str | None, ch_types: str | None) -> None:
    """Prepare files, directories or BIDS roots into a zarr store."""
    from neuroseq.data import preprocess as P
    from neuroseq.data.preparation import prepare as prepare_store
    from neuroseq.data.splits import SplitSpec

    kw = array_kwargs(inputs, sfreq, ch_names, ch_types)
    sources: list[Any] = list(inputs)
    if recipe:
        from neuroseq.data.recipes import get_recipe

        if len(inputs) != 1 or split or task or preset:
            raise click.UsageError("--recipe reads one INPUT (the corpus's BIDS tree) and sets "
                                   "its own tasks, split and preprocessing; leave out --task, "
                                   "--split and --preset.")
        sources, val = get_recipe(recipe).sources(inputs[0], list(subject) or None)
        preset, split = "megxl", "listed"
    if preset and (resample or l_freq is not None or h_freq is not None or notch
                   or clip is not None):
        raise click.UsageError(f"--{'recipe' if recipe else 'preset'} sets the whole pipeline; "
                               "leave out --resample, "
                               "--l-freq, --h-freq, --notch and --clip.")
    steps: list[P.Step] = [P.Pick(kinds=["mag", "grad"])] if recipe else []
    steps += list(P.megxl_pipeline().steps) if preset == "megxl" else []
    if preset:
        scale = False  # the preset scales per sensor kind itself
    if l_freq is not None or h_freq is not None:
        steps.append(P.BandPass(l_freq, h_freq))
    if notch:
        steps.append(P.Notch(list(notch)))
    if resample:
        steps.append(P.Resample(resample))
    if scale:
        steps.append(P.RobustScale())
    if clip is not None:
        steps.append(P.Clip(clip))
    split = split or "time"
    spec = SplitSpec("listed", {"val": val}) if recipe else {
        "time": SplitSpec("time", {"n_val": n_val, "n_test": n_val}),
        "subject": SplitSpec("subject"), "none": SplitSpec("none")}[split]
    store = prepare_store(sources, out, pipeline=P.Pipeline(steps) if steps else None,
                          split=spec, n_jobs=n_jobs, compression=compression,
                          overwrite=overwrite, on_flat=on_flat, scheduler=scheduler,
                          bids_filters={"subjects": list(subject) or None,
                                        "tasks": list(task) or None}, **kw)
    click.echo(repr(store))
    idx = store.index
    table = idx.assign(duration_s=(idx["n_samples"] / idx["sfreq"]).round(1))
    click.echo(table[["id", "subject", "session", "task", "n_channels", "sfreq", "duration_s",
                      "n_events"]].to_string(index=False))
    if store.split is not None:
        summ = store.split.summary()
        total = max(sum(summ.values()), 1e-9)
        secs = ", ".join(f"{k} {v:.1f} s ({100 * v / total:.0f} %)" for k, v in summ.items())
        click.echo(f"split ({spec.method}): {secs}; sha256 {store.split.hash[:16]}… "
                   "(change with --split / --n-val)")
        if summ["train"] < 0.5 * total:
            click.secho(f"warning: only {100 * summ['train'] / total:.0f} % of the data is in "
                        "the train split; for continuous data with many event values use "
                        "--split none or a smaller --n-val.", fg="yellow", err=True)


@click.command()
@click.option("--modality", type=click.Choice(["meg", "eeg"]), default="meg", show_default=True,
              help="306-channel MEGIN MEG or 10-20 EEG.")
@click.option("--duration", type=float, default=60.0, show_default=True, help="Seconds.")
@click.option("--sfreq", type=float, default=250.0, show_default=True, help="Rate (Hz).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--conditions", default="face,house,checker", show_default=True,
              help="Comma-separated condition names.")
@click.option("--background", type=click.Choice(["sources", "mvar"]), default="sources",
              show_default=True, help="MEG background: dipole sources, or the MVAR model fitted "
                                      "to real MEG (needs osl-ephys).")
@click.option("--subject", default="01", show_default=True, help="Subject id.")
@click.option("--words", is_flag=True,
              help="Write a word corpus instead: a BIDS tree in MEG-MASC's layout (KIT "
                   "208-channel MEG, word events) where each word type evokes its own response.")
@click.option("--subjects", type=int, default=2, show_default=True,
              help="--words: subjects (all hear the same story).")
@click.option("--sentences", type=int, default=40, show_default=True,
              help="--words: sentences in the story.")
@click.option("--vocab", type=int, default=60, show_default=True,
              help="--words: word types the sentences are drawn from.")
@click.option("--sentence-words", default="5,9", show_default=True,
              help="--words: fewest and most words of a sentence, MIN,MAX.")
@click.option("--evoked-scale", type=float, default=1.0, show_default=True,
              help="--words: size of the word responses (0: words evoke nothing).")
@click.option("--text", default=None,
              help="--words: tell the story of this plain-text file (its sentences in order, "
                   "timed as speech) instead of drawing sentences from --vocab; 'lee' is the "
                   "Lee news corpus that gensim's wheel ships (pip install --no-deps "
                   "gensim==4.4.0). --sentences takes the first N.")
@click.option("--max-words", type=int, default=None,
              help="--words --text: skip sentences longer than this many words.")
@click.option("--responses", type=click.Choice(["features", "arbitrary"]), default=None,
              help="--words: word responses from each word's GloVe embedding, length and "
                   "frequency (the default with --text), or an arbitrary response per word "
                   "type (the default without).")
@click.option("--overwrite", is_flag=True, help="--words: replace a non-empty --out.")
@click.option("--out", "-o", required=True,
              help="Output .fif file (a directory, the BIDS root, with --words).")
@click.option("--psd", type=click.Path(), default=None, help="Also save a PSD plot (PNG).")
def simulate(modality: str, duration: float, sfreq: float, seed: int, conditions: str,
             background: str, subject: str, words: bool, subjects: int, sentences: int,
             vocab: int, sentence_words: str, evoked_scale: float, text: str | None,
             max_words: int | None, responses: str | None, overwrite: bool, out: str,
             psd: str | None) -> None:
    """Simulate MEG (306-channel MEGIN geometry) or EEG with evoked responses, to .fif; or,
    with --words, a word corpus in MEG-MASC's BIDS layout."""
    from neuroseq.data import simulate as S

    if words:
        from neuroseq.data.simulate_words import WORDS, write_word_corpus

        if not 2 <= vocab <= len(WORDS):
            raise click.BadParameter(f"must be in 2…{len(WORDS)}, got {vocab}.",
                                     param_hint="--vocab")
        try:
            lengths = tuple(int(v) for v in sentence_words.split(","))
        except ValueError:
            lengths = ()
        if len(lengths) != 2 or not 1 <= lengths[0] <= lengths[1]:
            raise click.BadParameter(f"must be MIN,MAX with 1 <= MIN <= MAX, got "
                                     f"{sentence_words!r}.", param_hint="--sentence-words")
        if subjects < 1 or sentences < 1 or evoked_scale < 0 or (max_words or 2) < 2:
            raise click.UsageError("--subjects and --sentences must be >= 1, --max-words >= 2 "
                                   "and --evoked-scale >= 0.")
        files = write_word_corpus(out, n_subjects=subjects, n_sentences=sentences,
                                  n_words=vocab, sfreq=sfreq, seed=seed,
                                  evoked_scale=evoked_scale, lengths=lengths,
                                  overwrite=overwrite, text=text, max_words=max_words,
                                  responses=responses)
        click.echo(f"word corpus (MEG-MASC layout) at {out}: "
                   + ", ".join(str(f.relative_to(out)) for f in files))
        return
    conds = tuple(c for c in conditions.split(",") if c)
    if modality == "meg":
        rec = S.simulate_meg(duration, sfreq, seed=seed, conditions=conds, subject=subject,
                             background=background)
    else:
        rec = S.simulate_eeg(duration, sfreq, seed=seed, conditions=conds, subject=subject)
    rec.save_fif(out, overwrite=True)
    click.echo(f"{rec}\nwritten to {out}")
    if psd:
        import matplotlib
        import mne

        matplotlib.use("Agg")
        with mne.utils.use_log_level("error"):
            spectrum = rec.to_raw().compute_psd(fmax=min(100.0, sfreq / 2))
            fig = spectrum.plot(show=False)
        fig.suptitle(f"simulated {modality.upper()} (seed {seed}): Welch PSD")
        fig.savefig(psd, dpi=100)
        click.echo(f"PSD plot: {psd}")


