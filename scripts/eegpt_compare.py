"""EEGPT on the real sample EEG: pretrained vs scratch vs a logistic-regression baseline.

Usage::

    python scripts/eegpt_compare.py STORE OUT [--seeds 0 1 2] [--modes within cross]
        [--steps 300] [--pretrain-steps 300] [--variants scratch pretrained ...]

Pretrains tiny ETEs once (next-patch, and masked when ``mae`` is asked), then fine-tunes per
variant (see ``VARIANTS``: scratch or pretrained ETE, frozen or tuned, one multi-task TEG or
one TEG per task), mode and seed through ``neuroseq finetune``'s code, and fits logistic
regression on the same epochs (time-bin means per channel).  Single-task runs train for
``steps / n_tasks`` steps each, so every task gets as many training samples as in the
multi-task run.  Writes ``OUT/table.md`` and ``OUT/table.json``:
balanced accuracy mean ± std over seeds per task, chance beside it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")


# variant → (pretrained ETE: None / next_patch / masked, ETE frozen, one TEG per task)
VARIANTS: dict[str, tuple[str | None, bool, bool]] = {
    "scratch": (None, False, False),
    "scratch_single": (None, False, True),
    "pretrained": ("next_patch", False, False),
    "pretrained_single": ("next_patch", False, True),
    "pretrained_frozen": ("next_patch", True, False),
    "mae": ("masked", False, False),
}


def logreg(store, mode: str, ids: list[str], seed: int) -> dict[str, float]:
    """Balanced accuracy per task of logistic regression on epoch time-bin means."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from neuroseq.data.tasks import PYLOSSLESS_TASKS, MultiTaskEpochs
    from neuroseq.evaluation.decoding import epoch_features
    from neuroseq.models.electrodes import ElectrodeVocab

    vocab, out = ElectrodeVocab(), {}
    for task, m in PYLOSSLESS_TASKS.items():
        kw = {"tmin": 0.0, "tmax": 1.0}
        if mode == "within":
            tr = MultiTaskEpochs(store, {task: m}, vocab, split="train", **kw)
            te = MultiTaskEpochs(store, {task: m}, vocab, split="test", **kw)
        else:
            tr = MultiTaskEpochs(store, {task: m}, vocab, split=None, recordings=ids[:1], **kw)
            te = MultiTaskEpochs(store, {task: m}, vocab, split=None, recordings=ids[1:], **kw)
        xs = [np.stack([d[i]["x"].numpy() for i in range(len(d))]) for d in (tr, te)]
        ys = [d.labels(task) for d in (tr, te)]
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000,
                                                                 random_state=seed))
        clf.fit(epoch_features(xs[0]), ys[0])
        out[task] = float(balanced_accuracy_score(ys[1], clf.predict(epoch_features(xs[1]))))
    return out


def main() -> None:
    from neuroseq.data.store import Store
    from neuroseq.systems import load_config, run

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("out")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--modes", nargs="+", default=["within", "cross"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--pretrain-steps", type=int, default=300)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="extra fine-tuning overrides, e.g. model.feature_norm=true")
    ap.add_argument("--pretrained-from", default=None, metavar="DIR",
                    help="reuse DIR/ete_next_patch and DIR/ete_masked instead of pretraining")
    args = ap.parse_args()
    out = Path(args.out)
    store = Store(args.store)
    ids = store.ids
    runs: dict[str, Path] = {}
    for kind in ("next_patch", "masked"):
        if not any(VARIANTS[v][0] == kind for v in args.variants if v in VARIANTS):
            continue
        cfg = load_config("configs/eegpt_tiny.yaml", [
            f"data.store={args.store}", f"objective.kind={kind}",
            f"train.max_steps={args.pretrain_steps}", "train.loggers=[csv]"])
        if args.pretrained_from:
            runs[kind] = Path(args.pretrained_from) / f"ete_{kind}"
            continue
        runs[kind] = run(cfg, "pretrain", out / f"ete_{kind}", resume=False)
    results: dict[str, dict] = {}
    from neuroseq.data.tasks import PYLOSSLESS_TASKS

    for mode in args.modes:
        cross = [f"data.train_recordings=[{ids[0]}]", f"data.test_recordings=[{ids[1]}]"]
        for variant in args.variants:
            if variant not in VARIANTS:
                raise SystemExit(f"unknown variant {variant!r}; choose from {sorted(VARIANTS)}")
            ete, freeze, single = VARIANTS[variant]
            for seed in args.seeds:
                over = [f"data.store={args.store}", f"data.mode={mode}", f"train.seed={seed}"]
                over += cross if mode == "cross" else []
                if ete:
                    over += [f"model.pretrained={runs[ete]}", f"model.freeze_ete={freeze}"]
                # single-task runs see as many samples of their task as the multi-task run
                steps = max(1, args.steps // len(PYLOSSLESS_TASKS)) if single else args.steps
                tasks = [{t: m} for t, m in PYLOSSLESS_TASKS.items()] if single else [None]
                acc: dict[str, float] = {}
                for one in tasks:
                    o = over + [f"train.max_steps={steps}"] + list(args.set)
                    if one:
                        o.append("data.tasks=" + json.dumps(one))
                    cfg = load_config("configs/eegpt_finetune_tiny.yaml", o)
                    done = run(cfg, "finetune", out / f"{mode}_{variant}_{seed}_{len(acc)}",
                               resume=False)
                    res = json.loads((done / "results.json").read_text())["tasks"]
                    acc |= {k: v["balanced_accuracy"] for k, v in res.items()}
                results.setdefault(f"{mode}/{variant}", {})[seed] = acc
                (out / "table.json").write_text(json.dumps(results, indent=1))
            print(mode, variant, results[f"{mode}/{variant}"], flush=True)
        results[f"{mode}/logreg"] = {s: logreg(store, mode, ids, s) for s in args.seeds[:1]}
    tasks = list(next(iter(results.values()))[args.seeds[0]])
    lines = ["| mode / model | " + " | ".join(tasks) + " |", "|" + "---|" * (len(tasks) + 1)]
    for key, by_seed in results.items():
        cells = []
        for t in tasks:
            v = np.array([a[t] for a in by_seed.values()])
            cells.append(f"{v.mean():.3f} ± {v.std():.3f}" if len(v) > 1 else f"{v[0]:.3f}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    lines.append("\nChance: 0.500 for every task (balanced accuracy, two classes).")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "table.json").write_text(json.dumps(results, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
