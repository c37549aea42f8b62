"""Which next-patch pretext teaches the EEGPT ETE something, on the real sample EEG?

Every variant pretrains the tiny ETE for the same ``--steps`` at the same batch on the
quickstart store's train split, then reports on the **val** split the next-patch MSE beside
three predictors that learn nothing (all zeros, the running mean of the patches read so far,
"the next patch equals this one") and the fraction of variance explained (``1 − mse /
zero_mse``); and, on the **test** split, a linear probe (logistic regression, C by 3-fold CV on
the train split) on the frozen, mean-pooled ETE outputs of the four tasks, beside the same
probe on the same ETE untrained (seed 0).  ``input_norm=window`` changes the target (each
window is standardised), so its MSEs are in other units: compare its FVE, not its MSE.

Run: ``python benchmarks/bench_eegpt_pretext.py [--steps 600]``; writes
``benchmarks/results/eegpt_pretext.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from neuroseq.training.run_folder import RunFolder

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")

#: variant → overrides of configs/eegpt_tiny.yaml (the first is the paper's reading at 100 Hz)
VARIANTS: dict[str, list[str]] = {
    "1 s: 4 patches of 0.25 s (default)": ["model.patch_len=25", "data.patches=4"],
    "1 s: 10 patches of 0.1 s": ["model.patch_len=10", "data.patches=10"],
    "2 s: 20 patches of 0.1 s": ["model.patch_len=10", "data.patches=20"],
    "2 s: 20 × 0.1 s, 4 patches ahead": ["model.patch_len=10", "data.patches=20",
                                         "model.horizon=4"],
    "2 s: 20 × 0.1 s, spectral term 0.1": ["model.patch_len=10", "data.patches=20",
                                           "objective.spectral_weight=0.1"],
    "2 s: 20 × 0.1 s, per-window norm": ["model.patch_len=10", "data.patches=20",
                                         "model.input_norm=window"],
}


def probe(ete_dir: Path | None, ete_kw: dict, store: str) -> dict:
    """Linear probe of the four tasks on frozen mean-pooled features (within recording)."""
    import contextlib
    import io

    import torch

    from neuroseq.data.store import Store
    from neuroseq.data.tasks import PYLOSSLESS_TASKS, MultiTaskEpochs
    from neuroseq.evaluation.probe import linear_probe
    from neuroseq.models.eegpt import EEGPT, ETE
    from neuroseq.models.electrodes import vocabulary

    st = Store(store)
    kw = {"vocab": vocabulary(), "tmin": 0.0, "tmax": 1.0}
    train = MultiTaskEpochs(st, PYLOSSLESS_TASKS, split="train", **kw)
    test = MultiTaskEpochs(st, PYLOSSLESS_TASKS, split="test", **kw)
    torch.manual_seed(0)
    model = EEGPT({t: 2 for t in PYLOSSLESS_TASKS}, n_chans=len(vocabulary()),
                  pooling="mean", **ete_kw)
    if ete_dir is not None:
        with contextlib.redirect_stdout(io.StringIO()):
            model.ete.load_state_dict(ETE.from_pretrained(RunFolder(ete_dir).model_dir)
                                      .state_dict())
    return linear_probe(model, train, test)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="*", default=None, help="names from VARIANTS")
    ap.add_argument("--out", default="runs/bench_eegpt_pretext")
    ap.add_argument("--results", default="benchmarks/results/eegpt_pretext")
    a = ap.parse_args()

    from neuroseq.atomic import write_json_atomic, write_text_atomic
    from neuroseq.data import samples
    from neuroseq.experiments import quickstart
    from neuroseq.systems import load_config, run

    if not samples.has_sample_eeg():
        sys.exit("the real sample EEG is not installed: pip install -e '.[samples]'")
    out = Path(a.out)
    data = out / "data"
    if not (data / "summary.json").is_file():
        quickstart.run(data, profile=None, seed=a.seed)
    store = json.loads((data / "summary.json").read_text())["store"]
    rows: dict[str, dict] = {}
    stem = Path(a.results)
    done = json.loads(stem.with_suffix(".json").read_text())["rows"] \
        if stem.with_suffix(".json").is_file() else {}
    for name in a.variants or list(VARIANTS):
        if name in done and done[name].get("steps") == a.steps:
            rows[name] = done[name]
            continue
        over = VARIANTS[name] + [f"data.store={store}", f"train.max_steps={a.steps}",
                                 f"data.batch_size={a.batch_size}", f"train.seed={a.seed}",
                                 f"train.val_check_interval={a.steps}", "train.loggers=[csv]"]
        cfg = load_config("configs/eegpt_tiny.yaml", over)
        t = time.perf_counter()
        slug = "".join(c if c.isalnum() else "_" for c in name)
        run_dir = run(cfg, "pretrain", out / slug, resume=False)
        train_s = time.perf_counter() - t
        met = RunFolder(run_dir).info()["metrics"]
        ete_kw = {k: v for k, v in cfg["model"].items() if k != "kind"}
        row = {"overrides": VARIANTS[name], "steps": a.steps, "train_s": round(train_s, 1),
               "val": {k: met.get(f"val_{k}") for k in ("mse", "zero_mse", "mean_mse",
                                                        "repeat_mse", "fve")},
               "probe_pretrained": probe(run_dir, ete_kw, store),
               "probe_untrained": probe(None, ete_kw, store)}
        rows[name] = row
        print(name, json.dumps(row["val"]), flush=True)
        write_json_atomic(stem.with_suffix(".json"), {"rows": rows, "store": store})
    res = {"command": "python " + " ".join(sys.argv), "store": store, "seed": a.seed,
           "batch_size": a.batch_size, "rows": rows}
    write_json_atomic(stem.with_suffix(".json"), res)
    tasks = list(next(iter(rows.values()))["probe_pretrained"])
    lines = [f"# EEGPT pretext variants on the real sample EEG ({a.steps} steps, batch "
             f"{a.batch_size}, seed {a.seed})", "", f"Command: `{res['command']}`.", "",
             "Validation split (next patch; MSE in robust units, FVE = 1 − mse / zero_mse):", "",
             "| variant | train s | mse | zeros | running mean | repeat | FVE |",
             "|---|---|---|---|---|---|---|"]
    for n, r in rows.items():
        v = r["val"]
        lines.append(f"| {n} | {r['train_s']} | {v['mse']:.4f} | {v['zero_mse']:.4f} | "
                     f"{v['mean_mse']:.4f} | {v['repeat_mse']:.4f} | {v['fve']:.3f} |")
    lines += ["", "Test split, linear probe on frozen mean-pooled features: balanced accuracy "
              "pretrained / untrained (chance 0.5):", "",
              "| variant | " + " | ".join(tasks) + " | mean |", "|---" * (len(tasks) + 2) + "|"]
    for n, r in rows.items():
        pre = [r["probe_pretrained"][t]["balanced_accuracy"] for t in tasks]
        rnd = [r["probe_untrained"][t]["balanced_accuracy"] for t in tasks]
        lines.append(f"| {n} | " + " | ".join(f"{p:.3f} / {q:.3f}" for p, q in zip(pre, rnd,
                                                                                 strict=True))
                     + f" | {sum(pre) / len(pre):.3f} / {sum(rnd) / len(rnd):.3f} |")
    write_text_atomic(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
