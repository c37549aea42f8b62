"""Brain-to-text on simulated word corpora, beside its controls; phase-3 speed and memory.

(A) Decoding.  Two corpora in MEG-MASC's layout (``neuroseq simulate --words``: KIT-208,
    4 subjects hear the same story of 600 sentences of 3–5 words drawn from 40 word types, so
    sentences share words): one where each word type evokes its own response
    (``--evoked-scale``, 6 by default), one where words evoke nothing (scale 0).  Each is
    prepared at 50 Hz and trained through the three phases with the same budget
    (``configs/brain2text_tiny.yaml``, 1000 / 400 / 4000 steps: encoder masked autoencoding,
    RVQ with the encoder frozen, LLM loss with LoRA; ``--mode single``: phase 3 alone from
    scratch; ``--encoder megxl``: a tiny MEG-XL pretrained on the corpus in place of phase 1
    and the convolutional encoder); the finetune stage decodes the test split's
    sentences (sentence-disjoint: none was seen in training) free-running, beside the three
    controls — noise input, the MEG of another sentence, the LLM with an empty MEG block — with
    BLEU-4, ROUGE-L, WER, BERTScore (all-MiniLM-L6-v2), a paired permutation test over
    sentences, and retrieval of the true sentence among the test sentences by likelihood.
    On CPU the LLM is a small random Llama with a word-level tokenizer of the corpus's
    vocabulary (``--llm tiny``; frozen but for LoRA like any LLM); ``--llm smollm2`` uses the
    offline SmolLM2-135M-Instruct (hours on 2 cores).
(B) Speed and memory of one phase-3 training step (forward, backward, AdamW on the trainable
    parts) with SmolLM2-135M on CPU, beside the tiny LLM as the reference run: seconds per
    step and the peak resident memory of a fresh process each.

(C) ``--eeg``: instead of (A) and (B), the real sample EEG (the quickstart's store): every
    stimulus or response epoch described in words (``configs/brain2text_eeg_tiny.yaml``:
    "face upright", "checkerboard left", "button press right" …) and decoded as text, the same
    phases, beside the controls and a logistic regression that picks the description.

Run: ``python benchmarks/bench_brain2text.py [--quick | --eeg]``; writes
``benchmarks/results/brain2text_sim.{json,md}`` (``brain2text_sim_quick`` with ``--quick``,
``brain2text_eeg`` with ``--eeg``; ``_TAG`` appended with ``--tag TAG``).
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

from neuroseq.training.run_folder import RunFolder

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")
ARMS = ("model", "noise", "shuffled", "llm_only")

LORA_DESC = {True: "rank 8 on the query and value projections",
             False: "rank 16 on every projection"}


def encoder_desc(res: dict[str, Any]) -> str:
    """The MEG encoder and how it was trained, in words."""
    single = res.get("mode") == "single"
    if res.get("encoder") == "megxl":
        return ("a tiny MEG-XL backbone pretrained on the corpus by masked-token prediction "
                + ("(then trained with the rest in the single phase)" if single else
                   "(in place of phase 1; frozen in phase 2, trained in phase 3)"))
    return ("the convolutional encoder, " + ("trained from scratch in the single phase"
                                            if single else "phase 1: masked autoencoding"))


def _neuroseq(*args: Any) -> None:
    subprocess.run([sys.executable, "-m", "neuroseq.cli", *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL)


def corpus(root: Path, name: str, evoked: float, a: argparse.Namespace) -> Path:
    """Simulate and prepare one corpus; returns the store."""
    store = root / f"{name}_{evoked:g}.zarr"
    if not store.exists():
        _neuroseq("simulate", "--words", "--subjects", a.subjects, "--sentences", a.sentences,
                  "--vocab", a.vocab, "--sentence-words", a.sentence_words, "--sfreq", 100,
                  "--evoked-scale", evoked, "--seed", 0,
                  "--overwrite", "-o", root / f"bids_{name}_{evoked:g}")
        _neuroseq("prepare", root / f"bids_{name}_{evoked:g}", "-o", store, "--resample", 50,
                  "--h-freq", 20, "--clip", 5, "--split", "none")
    return store


def train_phases(root: Path, name: str, store: Path, llm: str, a: argparse.Namespace,
                 config: str = "configs/brain2text_tiny.yaml") -> dict[str, Any]:
    """Phases 1–3 (or, ``--mode single``, phase 3 alone from scratch) with the same budget;
    the finetune stage's results."""
    cfg = ["--config", config, f"data.store={store}", f"llm.name={llm}",
           f"train.seed={a.seed}", "train.val_check_interval=100000", *a.set]
    tag = f"_{a.tag}" if a.tag else ""  # variants share the corpora, not the runs
    p1, p2, p3 = (root / f"{name}{tag}_p{i}" for i in (1, 2, 3))
    t0 = time.perf_counter()
    phased = a.mode == "phased"
    if a.encoder == "megxl":  # its phase 1 is MEG-XL's own masked-token pretraining
        _neuroseq("pretrain", "--config", "configs/megxl_tiny.yaml", f"data.store={store}",
                  f"train.seed={a.seed}", f"train.max_steps={a.steps1}",
                  "train.val_check_interval=100000", "-o", p1)
        cfg += ["model.encoder.kind=megxl", f"model.encoder.from_run={p1}"]
        if phased:
            _neuroseq("pretrain", "--stage", "quantize", *cfg, f"train.max_steps={a.steps2}",
                      "-o", p2)
    elif phased:
        _neuroseq("pretrain", *cfg, f"train.max_steps={a.steps1}", "-o", p1)
        _neuroseq("pretrain", "--stage", "quantize", *cfg, f"train.max_steps={a.steps2}",
                  f"model.from_run={p1}", "-o", p2)
    _neuroseq("finetune", *cfg, f"train.max_steps={a.steps3}", f"optim.lr={a.lr3}",
              *([f"model.from_run={p2}"] if phased else []), "-o", p3)
    res = RunFolder(p3).results()
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    res["steps"] = {"phase1": a.steps1, "phase2": a.steps2, "phase3": a.steps3} if phased \
        else {"megxl_pretraining": a.steps1, "phase3": a.steps3} if a.encoder == "megxl" \
        else {"phase3 (single phase)": a.steps3}
    return res


def eeg_part(root: Path, a: argparse.Namespace) -> dict[str, Any]:
    """(C) The real sample EEG's described epochs, the same phases, LLM and budget."""
    from neuroseq.data import samples
    from neuroseq.experiments import quickstart
    from neuroseq.models.causal_lm import tiny_llm

    data = root / "eeg_data"
    if not (data / "summary.json").is_file():
        if not samples.has_sample_eeg():
            sys.exit("the real sample EEG is not installed: pip install -e '.[samples]'")
        quickstart.run(data, profile=None, seed=0)
    store = Path(json.loads((data / "summary.json").read_text())["store"])
    import yaml

    desc = yaml.safe_load(Path("configs/brain2text_eeg_tiny.yaml").read_text())["data"][
        "descriptions"]
    llm = str(tiny_llm(root / "tiny_llm_eeg", list(desc.values()))) if a.llm == "tiny" \
        else a.llm
    return train_phases(root, "eeg", store, llm, a, "configs/brain2text_eeg_tiny.yaml")


def step_cost(llm: str, store: Path, steps: int, batch: int) -> dict[str, Any]:
    """Seconds per phase-3 step and peak RSS, measured in a fresh process."""
    code = f"""
import json, resource, time, torch
from neuroseq.data.sentences import SentenceDataset
from neuroseq.data.store import Store
from neuroseq.data.collate import pad_collate
from neuroseq.models.brain2text import Brain2Text
from neuroseq.objectives.brain2text import TextLoss
ds = SentenceDataset(Store({str(store)!r}), "train", seconds=3.0)
b = pad_collate([ds[i] for i in range({batch})])
torch.manual_seed(0)
m = Brain2Text({{"preset": "tiny"}}, {{"preset": "tiny"}}, {{"name": {llm!r}}})
m.attach_llm(); m.train()
opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], 1e-3)
obj = TextLoss(); times = []
for i in range({steps} + 1):
    t = time.perf_counter(); loss, _ = obj(m, b); loss.backward(); opt.step(); opt.zero_grad()
    times.append(time.perf_counter() - t)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
n_train = sum(p.numel() for p in m.parameters() if p.requires_grad)
n_all = sum(p.numel() for p in m.parameters())
print(json.dumps({{"s_per_step": sorted(times[1:])[len(times[1:]) // 2], "peak_rss_mb": rss,
                  "trainable_params": n_train, "params": n_all, "batch": {batch}}}))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def markdown(res: dict[str, Any]) -> str:
    eeg = any(r.get("source") == "events" for r in res["corpora"].values())
    split = ("the store's time split (the eight descriptions occur in every split: this is "
             "classification read out as text; the bar to clear is the classifier that picks "
             "the description, reported beside the controls; BLEU-4 has no 4-grams to count "
             "in 2–3-word descriptions)" if eeg else
             "sentence-disjoint: no test sentence was seen in training")
    lines = [f"# Brain-to-text on {'the real sample EEG' if eeg else 'simulated word corpora'} "
             "(CPU)", "",
             f"Command: `{res['command']}`.  Seed {res['seed']}; LLM: {res['llm_desc']}; "
             f"MEG encoder: {encoder_desc(res)}.  Configuration: "
             f"`configs/{'brain2text_eeg_tiny' if eeg else 'brain2text_tiny'}.yaml` (LoRA "
             f"{LORA_DESC[eeg]})"
             + (f", overrides `{' '.join(res['overrides'])}`" if res.get("overrides") else "")
             + ".", "",
             f"Free-running decoding (never teacher-forced) of the **test split** ({split}); "
             "each control is the same trained model fed noise, fed the brain data of another "
             "text, or given an empty MEG block (the LLM alone). p: one-sided paired "
             "permutation test over the distinct texts (each segment's difference averaged "
             "within its text first, so a sentence heard by several subjects counts once; "
             "9 999 resamples, exact when fewer sign flips exist) that the model beats the arm. "
             "BLEU-4 and WER are corpus-level (sacrebleu, jiwer); ROUGE-L, BERTScore "
             "(all-MiniLM-L6-v2), exact match and retrieval top-1 (the true text ranked first "
             "among all distinct test texts by the arm's likelihood; chance below) are means. "
             "Whole-sentence exact match is not a row for sentences: no arm reaches it at this "
             "scale (it is in the JSON).", ""]
    for name, r in res["corpora"].items():
        lines += [f"## {name}: {r['n_segments']} test segments, {r['n_sentences']} distinct "
                  f"texts; phases {r['steps']} steps; {r['wall_s']} s", "",
                  "| metric | model | noise | shuffled MEG | LLM only | p vs noise | "
                  "p vs shuffled | p vs LLM only | beats all |", "|---" * 9 + "|"]
        clf = "classifier" in r["arms"]
        if clf:
            lines[-2] = lines[-2].replace("| beats all |", "| beats all | classifier | "
                                          "p vs classifier |")
            lines[-1] += "---|---|"
        for row in r["table"]:
            arrow = "↑" if row["higher_is_better"] else "↓"
            vals = " | ".join(f"{row[a]:.3f}" for a in ARMS)
            ps = " | ".join(f"{row[f'p_vs_{a}']:.4f}" for a in ARMS[1:])
            extra = (f" {row['classifier']:.3f} | {row['p_vs_classifier']:.4f} |"
                     if row.get("classifier") is not None else " — | — |") if clf else ""
            lines.append(f"| {row['metric']} {arrow} | {vals} | {ps} | "
                         f"{'**yes**' if row['beats_all_controls'] else 'no'} |{extra}")
        ret = {a: r["arms"][a]["retrieval"] for a in ARMS}
        lines += ["", f"Retrieval by likelihood among the {ret['model']['n_candidates']}"
                  f" distinct test texts (chance top-1 {ret['model']['chance_top1']:.3f}, "
                  "mean rank "
                  f"{ret['model']['chance_mean_rank']:.1f}): " + "; ".join(
                      f"{a} top-1 {v['top1']:.3f}, mean rank {v['mean_rank']:.2f}"
                      for a, v in ret.items()), "", "Examples (reference → model):", ""]
        for ex in r["arms"]["model"]["examples"][:4]:
            lines.append(f"- `{ex['reference']}` → `{ex['decoded']}`")
        lines.append("")
    if "speed" in res:
        s = res["speed"]
        ref, big = s["tiny"], s["smollm2"]
        lines += ["## Phase-3 step on CPU (one step: forward, backward, AdamW; batch "
                  f"{big['batch']} segments of 3 s; median of {s['steps']} steps; fresh process "
                  "each)", "", "| LLM | parameters | trainable | s / step | peak RSS (MB) |",
                  "|---|---|---|---|---|"]
        for k, v in (("tiny (reference)", ref), ("SmolLM2-135M-Instruct", big)):
            lines.append(f"| {k} | {v['params']:,} | {v['trainable_params']:,} | "
                         f"{v['s_per_step']:.3f} | {v['peak_rss_mb']:.0f} |")
        lines += ["", f"SmolLM2 / tiny: {big['s_per_step'] / ref['s_per_step']:.1f}× the step "
                  f"time, {big['peak_rss_mb'] / ref['peak_rss_mb']:.1f}× the memory.  "
                  "The LLaMA-2-7B preset (`configs/brain2text.yaml`) was not measured: no GPU "
                  "was available and it does not fit this machine's budget.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--sentences", type=int, default=600)
    ap.add_argument("--vocab", type=int, default=40)
    ap.add_argument("--sentence-words", default="3,5",
                    help="fewest and most words of a simulated sentence, MIN,MAX")
    ap.add_argument("--steps1", type=int, default=None)
    ap.add_argument("--steps2", type=int, default=None)
    ap.add_argument("--steps3", type=int, default=None)
    ap.add_argument("--lr3", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--llm", default="tiny", help="tiny | smollm2 | a model directory")
    ap.add_argument("--mode", choices=("phased", "single"), default="phased",
                    help="single: phase 3 alone, everything trained from scratch")
    ap.add_argument("--encoder", choices=("conv", "megxl"), default="conv",
                    help="megxl: a tiny MEG-XL pretrained on the corpus (configs/megxl_tiny."
                         "yaml, --steps1 steps) is the encoder, in place of phase 1")
    ap.add_argument("--evoked-scale", type=float, default=6.0,
                    help="size of the word responses in the first corpus (simulator units)")
    ap.add_argument("--set", nargs="*", default=[],
                    help="extra configuration overrides for every phase (key.sub=value)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-null", action="store_true", help="only the corpus with responses")
    ap.add_argument("--tag", default="", help="suffix of the results files (variants)")
    ap.add_argument("--eeg", action="store_true",
                    help="(C) instead: the real sample EEG's epochs described in words")
    ap.add_argument("--out", default="runs/bench_brain2text")
    ap.add_argument("--render", metavar="JSON",
                    help="only rewrite the Markdown table beside a results JSON of this script")
    a = ap.parse_args()
    if a.render:
        from neuroseq.atomic import write_text_atomic

        src = Path(a.render)
        write_text_atomic(src.with_suffix(".md"), markdown(json.loads(src.read_text())))
        return
    if a.quick:
        a.subjects, a.sentences = 2, 60
    a.steps1 = a.steps1 or (100 if a.quick else 1000)
    a.steps2 = a.steps2 or (50 if a.quick else 400)
    a.steps3 = a.steps3 or (150 if a.quick else 4000)
    root = Path(a.out)
    root.mkdir(parents=True, exist_ok=True)
    from neuroseq.data.simulate_words import WORDS
    from neuroseq.models.causal_lm import tiny_llm

    tiny = str(tiny_llm(root / "tiny_llm", [" ".join(WORDS)]))
    llm = tiny if a.llm == "tiny" else a.llm
    res: dict[str, Any] = {
        "command": "python benchmarks/bench_brain2text.py " + " ".join(sys.argv[1:]),
        "seed": a.seed, "llm": a.llm, "encoder": a.encoder, "mode": a.mode,
        "llm_desc": "a small random Llama (2 layers, width 48, word-level tokenizer), frozen but "
                    "for LoRA" if a.llm == "tiny" else a.llm,
        "corpus": {"subjects": a.subjects, "sentences": a.sentences, "vocab": a.vocab,
                   "sentence_words": a.sentence_words, "evoked_scale": a.evoked_scale},
        "overrides": a.set,
        "corpora": {}}
    if a.eeg:
        res["corpora"]["real sample EEG, described epochs"] = eeg_part(root, a)
    for name, evoked in (("words evoke responses", a.evoked_scale), ("words evoke nothing", 0.0)):
        if a.eeg or (a.skip_null and not evoked):
            break
        key = "evoked" if evoked else "null"
        store = corpus(root, key, evoked, a)
        res["corpora"][name] = train_phases(root, key, store, llm, a)
        print(f"{name}: done", flush=True)
    if not a.skip_speed and not a.eeg:
        store = root / f"evoked_{a.evoked_scale:g}.zarr"
        n = 3 if a.quick else 5
        res["speed"] = {"steps": n, "tiny": step_cost(tiny, store, n, 8),
                        "smollm2": step_cost("smollm2", store, n, 8)}
    from neuroseq.atomic import write_json_atomic, write_text_atomic

    stem = Path("benchmarks/results") / ("brain2text_eeg" if a.eeg else "brain2text_sim_quick"
                                         if a.quick else "brain2text_sim")
    if a.tag:
        stem = stem.with_name(f"{stem.name}_{a.tag}")
    write_json_atomic(stem.with_suffix(".json"), res)
    md = markdown(res)
    write_text_atomic(stem.with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()
