"""``neuroseq decode``: text from a recording with a trained brain-to-text run."""

from __future__ import annotations

import click


@click.command()
@click.option("--run", "run_dir", required=True, type=click.Path(exists=True),
              help="A finished brain2text finetune run directory.")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True),
              help="A recording (.fif or any file MNE reads), a .npy array [channels, samples] "
                   "already preprocessed like the run's store, or a store.")
@click.option("--out", "-o", required=True, help="Output JSON (written atomically).")
@click.option("--segment", type=click.Choice(["auto", "sentences", "words", "fixed"]),
              default="auto", show_default=True,
              help="Segments: one per sentence or word of the word events, or consecutive "
                   "windows of the run's segment length (auto: sentences if there are word "
                   "events, else fixed).")
@click.option("--batch-size", type=int, default=8, show_default=True, help="Segments at once.")
@click.option("--max-new-tokens", type=int, default=32, show_default=True,
              help="Most tokens generated per segment (decoding stops earlier at the LLM's "
                   "end-of-sequence token).")
@click.option("--num-beams", type=int, default=1, show_default=True, help="Beam width.")
@click.option("--sample", is_flag=True, help="Sample instead of greedy / beam search.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="--sample.")
@click.option("--top-p", type=float, default=1.0, show_default=True,
              help="Nucleus size when sampling (--sample); 1 = no truncation.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of sampling.")
def decode(run_dir: str, input_path: str, out: str, segment: str, batch_size: int,
           max_new_tokens: int, num_beams: int, sample: bool, temperature: float, top_p: float,
           seed: int) -> None:
    """Decode text from MEG, segment by segment, into a JSON file."""
    from neuroseq import __version__, systems
    from neuroseq.atomic import write_json_atomic
    from neuroseq.data.store import Store
    from neuroseq.generation.text import decode_recording, read_input

    if batch_size < 1 or max_new_tokens < 1 or num_beams < 1:
        raise click.UsageError("--batch-size, --max-new-tokens and --num-beams must be ≥ 1.")
    model, _, meta = systems.load_run(run_dir)
    if meta.get("system") != "brain2text" or getattr(model, "llm", None) is None:
        raise click.UsageError(f"--run {run_dir} is not a brain2text finetune run (it has no "
                               "language model); train one with `neuroseq finetune --config "
                               "configs/brain2text_tiny.yaml`.")
    corpus = read_input(input_path, Store(meta["store"]), meta)
    gen = {"max_new_tokens": max_new_tokens, "num_beams": num_beams, "do_sample": sample,
           "temperature": temperature, "top_p": top_p, "seed": seed}
    segs = decode_recording(model, meta, corpus, segment=segment, batch_size=batch_size, **gen)
    write_json_atomic(out, {"run": str(run_dir), "input": str(input_path),
                            "neuroseq": __version__, "llm": meta.get("llm"),
                            "mode": meta.get("mode"), "decoding": gen,
                            "teacher_forced": False, "segments": segs})
    click.echo(f"{len(segs)} segment(s) decoded → {out}")
