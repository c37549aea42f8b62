"""MEG-XL word retrieval on the simulated word corpus: fine-tuned, shuffled-label control,
pretrained vs from scratch with 10 % of the training groups, linear probes.

Two simulated corpora in MEG-MASC's layout (``neuroseq simulate --words``): the word corpus
(one story heard by ``--subjects`` subjects; each word type evokes its own response) and a
pretraining corpus (another story, other subjects, never used for labels).  Both are prepared at
50 Hz (0.1–20 Hz, robust scaling per channel, clip ±5).  A tiny MEG-XL
(``configs/megxl_tiny.yaml``: codec, then masked-token pretraining) is trained on the
pretraining corpus, once per seed; every arm then fine-tunes ``configs/megxl_words_tiny.yaml``
on the word corpus with **that seed's codec** (scratch arms too), under one rule: up to
``--steps`` steps, validation every 50, stop after 4 checks without a higher validation
in-batch retrieval accuracy, test the best checkpoint.  Word windows, group size and batch are
the config's (−0.2 … 0.8 s, 10 words, 4 groups).  Reported: balanced top-10 over the
retrieval set (the 50 most frequent training words, fewer when the vocabulary is smaller)
beside chance and the constant bar (the 10 most frequent training words, balanced on the same
test words), the same model fed matched noise and another group's brain data, top-10 beside
the always-answer-the-most-frequent-words bar, on the hashed test split; mean ± std over seeds.

Run: ``python benchmarks/bench_megxl_words.py [--steps 800] [--seeds 0 1 2] [--jobs 2]``; writes
``benchmarks/results/megxl_words_sim.{json,md}``; an interrupted run resumes from ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from neuroseq.training.run_folder import RunFolder

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")

#: arm → overrides of configs/megxl_words_tiny.yaml ({pre}: the pretraining run)
ARMS: dict[str, list[str]] = {
    "fine-tuned from scratch, all groups": ["data.train_pct=1.0"],
    "fine-tuned from scratch, shuffled words (control)": ["data.train_pct=1.0",
                                                          "data.shuffle_labels=true"],
    "fine-tuned from scratch, 10 % of groups": ["data.train_pct=0.1"],
    "pretrained, fine-tuned, 10 % of groups": ["data.train_pct=0.1", "model.pretrained={pre}",
                                               "model.backbone_lr=1e-4"],
    "linear probe, pretrained backbone": ["data.train_pct=1.0", "model.pretrained={pre}",
                                          "model.head=linear", "model.freeze_backbone=true"],
    "linear probe, random backbone": ["data.train_pct=1.0", "model.head=linear",
                                      "model.freeze_backbone=true"],
}
CONFIG = "configs/megxl_words_tiny.yaml"


def _neuroseq(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "neuroseq.cli", *args], check=True,
                   stdout=subprocess.DEVNULL)


def corpora(out: Path, subjects: int, sentences: int, vocab: int) -> tuple[Path, Path]:
    """The word store and the pretraining store, made once."""
    stores = []
    for name, seed in (("words", 0), ("pretrain", 7)):
        store = out / f"{name}.zarr"
        if not store.is_dir():
            bids = out / f"{name}_bids"
            _neuroseq("simulate", "--words", "--subjects", str(subjects), "--sentences",
                      str(sentences), "--vocab", str(vocab), "--sfreq", "100", "--seed",
                      str(seed), "-o", str(bids), "--overwrite")
            _neuroseq("prepare", str(bids), "-o", str(store), "--resample", "50", "--l-freq",
                      "0.1", "--h-freq", "20", "--clip", "5", "--split", "none")
        stores.append(store)
    return stores[0], stores[1]


def cell(out: Path, words: Path, pre: Path, arm: str, seed: int, steps: int) -> dict:
    """One fine-tuning run (read back if it finished before; an interrupted one resumes from its
    last checkpoint, exactly)."""
    slug = "".join(ch if ch.isalnum() else "_" for ch in arm)
    run = out / "runs" / f"{slug}_{seed}"
    res = RunFolder(run).file("results.json")
    if not res.is_file():
        resumed = RunFolder(run).file("checkpoints/last.ckpt").is_file()
        t = time.perf_counter()
        over = [o.format(pre=pre) for o in ARMS[arm]]
        _neuroseq("finetune", "--config", CONFIG, "-o", str(run), f"data.store={words}",
                  f"tokenizer.path={RunFolder(pre).tokenizer_dir}", f"train.seed={seed}",
                  f"train.max_steps={steps}", *over)
        r = json.loads(res.read_text())
        r["wall_s"] = round(time.perf_counter() - t)
        r["resumed"] = resumed  # wall_s then counts from the resume only
        from neuroseq.atomic import write_json_atomic

        write_json_atomic(res, r)
    return json.loads(res.read_text())


def ridge_baseline(words: Path, tmin: float, tmax: float) -> dict:
    """Ridge regression from each word's response (per-sensor means of five 0.1 s bins,
    0.1–0.6 s after onset) to its GloVe vector, alpha by CV on the train groups; scored like
    the fine-tuned arms (the same groups: test split, retrieval set of the most frequent
    training words)."""
    import numpy as np
    import torch
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from neuroseq.data.store import Store
    from neuroseq.data.word_vectors import word_vectors
    from neuroseq.data.words import WordGroupDataset
    from neuroseq.evaluation.retrieval import retrieval_set, topk_retrieval

    store = Store(words)
    sets = {sp: WordGroupDataset(store, sp, group_size=10, tmin=tmin, tmax=tmax)
            for sp in ("train", "test")}
    sf = store.sfreq(store.ids[0])
    bins = [(int(round((a - tmin) * sf)), int(round((a + 0.1 - tmin) * sf))) for a in
            (0.1, 0.2, 0.3, 0.4, 0.5)]

    def xy(ds: WordGroupDataset) -> tuple[np.ndarray, list[str]]:
        feats, labels = [], []
        for i in range(len(ds)):
            it = ds[i]
            x = it["x"].numpy()
            for w, s in zip(it["words"], it["word_starts"].tolist(), strict=True):
                feats.append(np.concatenate([x[:, s + a:s + b].mean(1) for a, b in bins]))
                labels.append(w)
        return np.stack(feats), labels

    (xtr, wtr), (xte, wte) = xy(sets["train"]), xy(sets["test"])
    table = word_vectors(wtr + wte, on_missing="skip")
    keep = [i for i, w in enumerate(wtr) if w in table]
    reg = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(0, 5, 11)))
    reg.fit(xtr[keep], np.stack([table[wtr[i]] for i in keep]))
    out = {"model": "ridge regression", "alpha": float(reg[-1].alpha_)}
    freq = [w for w in wtr if w in table]
    for size in (50, 250):
        cands = retrieval_set(freq, size)
        out[f"top10_of_{size}"] = topk_retrieval(
            torch.tensor(reg.predict(xte)), wte, cands,
            torch.tensor(np.stack([table[w] for w in cands])), k=10)
    return out


def _mean_std(values: list[float]) -> str:
    import numpy as np

    v = np.asarray(values, dtype=float)
    return f"{v.mean():.3f}" + (f" ± {v.std():.3f}" if len(v) > 1 else "")


def table(cells: dict[str, list[dict]]) -> str:
    """Balanced top-10 of 50 per arm over the seeds (mean ± std), with the same trained model fed
    matched noise and another group's brain data, chance and the constant bar (the 10 most
    frequent training words, balanced over the same test words) beside."""
    import numpy as np

    lines = ["| arm | seeds | balanced top-10 | noise input | other group's input | chance | "
             "constant bar | verdict | top-10 (always-frequent) | steps (best) | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm, runs in cells.items():
        r50 = [r["top10_of_50"] for r in runs]
        bal = [r["balanced_top_k"] for r in r50]
        inputs = [_mean_std([r["arms"][src]["top10_of_50"]["balanced_top_k"] for r in runs])
                  if all("arms" in r for r in runs) else "—" for src in ("noise", "shuffled")]
        chance = np.mean([r["chance"] for r in r50])
        bars = [max(r["chance"], r.get("constant_balanced_top_k", 0.0)) for r in r50]
        above = sum(b > c for b, c in zip(bal, bars, strict=True))
        verdict = (f"above the constant bar ({above}/{len(runs)} seeds)" if np.mean(bal) >
                   np.mean(bars) else f"**at or below it** (above in {above}/{len(runs)} seeds)")
        const = _mean_std([r.get("constant_balanced_top_k", float("nan")) for r in r50])
        wall = f"{np.mean([r['wall_s'] for r in runs]):.0f}" + (
            "†" if any(r.get("resumed") for r in runs) else "")
        lines.append(
            f"| {arm} | {len(runs)} | **{_mean_std(bal)}** | {inputs[0]} | {inputs[1]} | "
            f"{chance:.3f} | {const} | {verdict} | {_mean_std([r['top_k'] for r in r50])} "
            f"({np.mean([r['frequency_top_k'] for r in r50]):.3f}) | "
            f"{np.mean([r['steps'] for r in runs]):.0f} "
            f"({np.mean([r['best_step'] or 0 for r in runs]):.0f}) | {wall} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--pretrain-steps", type=int, default=600)
    ap.add_argument("--codec-steps", type=int, default=None,
                    help="the codec's training steps (default: the config's, 600)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--subjects", type=int, default=6)
    ap.add_argument("--sentences", type=int, default=100)
    ap.add_argument("--vocab", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="runs/bench_megxl_words")
    ap.add_argument("--results", default="benchmarks/results/megxl_words_sim")
    ap.add_argument("--cell", default=None, help=argparse.SUPPRESS)  # "arm|seed", a worker
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    words, pstore = corpora(out, a.subjects, a.sentences, a.vocab)
    pre = {s: out / f"pretrain_run_s{s}" for s in a.seeds}  # codec + backbone, one per seed
    if a.cell:
        arm, seed = a.cell.rsplit("|", 1)
        cell(out, words, pre[int(seed)], arm, int(seed), a.steps)
        return
    t0 = time.perf_counter()
    for s, run in pre.items():
        if not RunFolder(run).has("model"):
            _neuroseq("pretrain", "--config", "configs/megxl_tiny.yaml", "-o", str(run),
                      f"data.store={pstore}", f"train.max_steps={a.pretrain_steps}",
                      f"train.val_check_interval={a.pretrain_steps}", f"train.seed={s}",
                      *([f"tokenizer.steps={a.codec_steps}"] if a.codec_steps else []))
    todo = [f"{arm}|{s}" for arm in ARMS for s in a.seeds]
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    running: list[subprocess.Popen] = []
    for c in todo:
        while len(running) >= a.jobs:
            running = [p for p in running if p.poll() is None]
            time.sleep(2)
        running.append(subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--cell", c],
                                        env=env))
    if any(p.wait() for p in running):
        sys.exit("a cell failed; rerun the same command to resume.")
    cells = {arm: [cell(out, words, pre[s], arm, s, a.steps) for s in a.seeds] for arm in ARMS}
    import yaml

    data_cfg = yaml.safe_load(Path(CONFIG).read_text())["data"]
    tmin, tmax = float(data_cfg["tmin"]), float(data_cfg["tmax"])
    ridge = ridge_baseline(words, tmin, tmax)
    infos = {s: RunFolder(run).info() for s, run in pre.items()}
    command = "python benchmarks/bench_megxl_words.py " + " ".join(sys.argv[1:])
    from neuroseq.atomic import write_json_atomic, write_text_atomic

    res = {"command": command.strip(), "seeds": a.seeds, "steps": a.steps,
           "corpus": {"subjects": a.subjects, "sentences": a.sentences, "vocab": a.vocab},
           "word_window_s": [tmin, tmax],
           "pretrain": {"steps": a.pretrain_steps, "codec_steps": a.codec_steps or yaml.safe_load(
               Path("configs/megxl_tiny.yaml").read_text())["tokenizer"]["steps"], "per_seed": {
               str(s): {"final_val_loss": i.get("final_val_loss"), "metrics": i.get("metrics")}
               for s, i in infos.items()}},
           "wall_s_this_invocation": round(time.perf_counter() - t0), "cells": cells,
           "ridge": ridge}
    stem = Path(a.results)
    write_json_atomic(stem.with_suffix(".json"), res)
    rr = ridge["top10_of_50"]
    md = ("# MEG-XL word retrieval on the simulated word corpus\n\n"
          f"Command: `{res['command']}` ({os.cpu_count()} CPU cores).  Word corpus: "
          f"{a.subjects} subjects hearing one story of {a.sentences} sentences over {a.vocab} "
          "word types (MEG-MASC layout, KIT-208; prepared at 50 Hz, 0.1–20 Hz, robust scaling per "
          f"channel, clip ±5), groups of 10 words, each word's {tmin:g} … {tmax:g} s window, "
          "hashed "
          "0.8/0.1/0.1 split of the groups' word strings; pretraining corpus: another story, "
          f"other subjects, {res['pretrain']['codec_steps']} codec steps, then {a.pretrain_steps} "
          "masked-token steps of the tiny MEG-XL.  Every "
          f"arm: up to {a.steps} steps (batch 4), validation every 50, patience 4 on the "
          "validation in-batch retrieval accuracy, best checkpoint tested, the pretraining "
          "run's codec (codec and pretraining made again for each seed).  Test split; retrieval "
          "set = the most frequent training words (≤ 50); GloVe 50-d targets; seeds "
          + str(a.seeds) + ", mean ± std over them.  *noise input* and *other group's input*: "
          "the same trained model fed phase-randomised training groups (their spectrum and "
          "cross-spectra) or the brain data of another test group; *constant bar*: balanced "
          "top-10 of always answering the 10 most frequent training words, on the same test "
          "words — an arm must beat it (and chance) to show word information.\n\n"
          + table(cells) + f"| ridge regression on the raw responses (5 × 0.1 s bins, 0.1–0.6 s; "
          f"alpha {ridge['alpha']:g} by CV) | — | **{rr['balanced_top_k']:.3f}** | — | — | "
          f"{rr['chance']:.3f} | {rr['constant_balanced_top_k']:.3f} | "
          + ("above the constant bar" if rr["balanced_top_k"] > max(
              rr["chance"], rr["constant_balanced_top_k"]) else "**at or below it**")
          + f" | {rr['top_k']:.3f} ({rr['frequency_top_k']:.3f}) | — | — |\n\n"
          f"Leaked word runs between splits (`leaked_runs`, recorded by every run): "
          f"{sorted({r.get('leaked_runs') for v in cells.values() for r in v}, key=str)}.  "
          f"Wall s: mean over seeds of one run's elapsed time on one core ({a.jobs} at a time), "
          "other work on the machine and pauses included; † a run was interrupted and resumed "
          "from its checkpoint, its time counts from the resume.\n")
    write_text_atomic(stem.with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()
