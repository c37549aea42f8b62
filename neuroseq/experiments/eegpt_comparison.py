"""EEGPT against its baselines on one store, every arm under the same stopping rule.

Arms (:data:`ARMS`): EEGPT from scratch; the ETE pretrained by next-patch prediction, tuned or
frozen under the task-shared electrode graph; the ETE pretrained MAE-style (bidirectional,
tuned); the same EEGPT trained on one task at a time (the test of the task-shared graph's
multi-task claim); EEGNet-v4; a linear probe on the frozen pretrained ETE and on the same ETE
untrained; logistic regression on time-bin means.  Frozen ETEs under the graph get ``feature_norm``
(features standardised, as the linear probe's scaler does): in one trial run without it, the
graph on frozen next-patch features stayed at chance.  Regimes (:data:`REGIMES`): within
recording (train → test split) and across subjects (first recording → second), each at
several label fractions.

The rule, the same for every gradient-trained arm: up to ``max_steps``, a validation check
every ``val_every`` steps, stop after ``patience`` checks without a lower validation loss, and
test the best checkpoint.  The linear models choose their regularisation by 3-fold
cross-validation on the training epochs.  Pretraining (a fixed ``pretrain_steps``) sees only
the train split — in the cross-subject regime only the training subject.  Every cell is kept in
``out/state.json`` as it finishes (an interrupted run resumes); :func:`table` writes mean ± std
over seeds with the epochs and wall time each arm used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.atomic import write_json_atomic
from neuroseq.training.run_folder import RunFolder

#: arm → how it is trained (``ete``: which pretrained ETE; ``freeze``; ``kind``; ``probe``)
ARMS: dict[str, dict[str, Any]] = {
    "EEGPT from scratch": {"ete": None, "freeze": False},
    "EEGPT from scratch, attention pooling": {"ete": None, "freeze": False,
                                              "pooling": "attention"},
    "ETE next-patch pretrained, tuned": {"ete": "next_patch", "freeze": False},
    "ETE next-patch pretrained, frozen + TEG": {"ete": "next_patch", "freeze": True,
                                                "feature_norm": True},
    "ETE next-patch pretrained, frozen + TEG, summary-token pooling": {
        "ete": "next_patch", "freeze": True, "pooling": "summary", "feature_norm": True},
    "ETE MAE pretrained (bidirectional), tuned": {"ete": "masked", "freeze": False},
    "EEGPT from scratch, single-task (one model per task)": {"ete": None, "freeze": False,
                                                             "single": True},
    "EEGNet-v4": {"kind": "eegnet"},
    "linear probe, frozen next-patch ETE": {"probe": "next_patch"},
    "linear probe, untrained ETE": {"probe": "untrained"},
    "logistic regression (time-bin means)": {"logreg": True},
}

_LOW = ["EEGPT from scratch", "ETE next-patch pretrained, tuned",
        "linear probe, frozen next-patch ETE", "linear probe, untrained ETE",
        "logistic regression (time-bin means)"]
#: every arm but the pooling variants, which are compared within recording only
_CROSS_ALL = [a for a in ARMS if "pooling" not in a]

#: (mode, label fraction) → the arms run there, in the order they are run: the low-label
#: regimes (the question pretraining should answer) first, then every arm with all labels
REGIMES: dict[tuple[str, float], list[str]] = {
    ("within", 0.1): _LOW,
    ("within", 0.25): _LOW,
    ("cross", 0.1): _LOW,
    ("cross", 0.25): _LOW,
    ("within", 1.0): list(ARMS),
    ("cross", 1.0): _CROSS_ALL,
}


def _cross(ids: list[str]) -> list[str]:
    return [f"data.train_recordings=[{ids[0]}]", f"data.test_recordings=[{ids[1]}]"]


def _tasks_and_sets(store: Any, mode: str, ids: list[str], tasks: dict[str, dict]
                    ) -> tuple[dict, Any, Any]:
    from neuroseq.data.tasks import MultiTaskEpochs
    from neuroseq.models.electrodes import vocabulary

    kw = {"vocab": vocabulary(), "tmin": 0.0, "tmax": 1.0}
    fit_on, test_on = (None, None) if mode == "within" else ([ids[0]], [ids[1]])
    train = MultiTaskEpochs(store, tasks, split="train", recordings=fit_on, **kw)
    test = MultiTaskEpochs(store, tasks, split="test" if test_on is None else None,
                           recordings=test_on, **kw)
    return tasks, train, test


def logreg(store: Any, mode: str, ids: list[str], fraction: float, seed: int,
           tasks: dict[str, dict]) -> dict[str, dict]:
    """Logistic regression on per-channel time-bin means (C by 3-fold CV on train)."""
    from sklearn.metrics import balanced_accuracy_score

    from neuroseq.data.subsets import label_subset
    from neuroseq.evaluation.decoding import epoch_features
    from neuroseq.evaluation.probe import cv_logistic

    _, train, test = _tasks_and_sets(store, mode, ids, tasks)
    sub = label_subset(train, fraction, seed)
    idx = np.asarray(sub.indices) if hasattr(sub, "indices") else np.arange(len(train))

    def arrays(ds: Any, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items = [ds[int(i)] for i in keep]
        return (epoch_features(np.stack([it["x"].numpy() for it in items])),
                np.array([int(it["y"]) for it in items]), np.array([it["task"] for it in items]))

    xtr, ytr, ttr = arrays(train, idx)
    xte, yte, tte = arrays(test, np.arange(len(test)))
    out = {}
    for t in dict.fromkeys(tte):
        a, b = ttr == t, tte == t
        clf = cv_logistic(xtr[a], ytr[a], seed=seed)
        out[str(t)] = {"balanced_accuracy": float(balanced_accuracy_score(yte[b],
                                                                          clf.predict(xte[b]))),
                       "chance": 0.5, "n_test": int(b.sum())}
    return out


def _probe(store: Any, mode: str, ids: list[str], fraction: float, seed: int,
           ete_dir: Path | None, ete_kw: dict[str, Any], tasks: dict[str, dict]
           ) -> dict[str, dict]:
    import torch

    from neuroseq.data.subsets import label_subset
    from neuroseq.evaluation.probe import linear_probe
    from neuroseq.models.eegpt import EEGPT, ETE
    from neuroseq.models.electrodes import vocabulary

    tasks, train, test = _tasks_and_sets(store, mode, ids, tasks)
    torch.manual_seed(seed)
    model = EEGPT({t: 2 for t in tasks}, n_chans=len(vocabulary()), pooling="mean",
                  **ete_kw)
    if ete_dir is not None:
        model.ete.load_state_dict(ETE.from_pretrained(RunFolder(ete_dir).model_dir)
                                  .state_dict())
    return linear_probe(model, label_subset(train, fraction, seed), test, seed=seed)


def _finetune(run_stage: Callable, load_config: Callable, over: list[str],
              groups: list[dict[str, dict]], run_dir: Path) -> dict[str, Any]:
    """``neuroseq finetune`` once per task group (one group: the multi-task model; one group
    per task: single-task models); results merged, epochs averaged, steps summed."""
    parts = []
    for group in groups:
        sub = run_dir if len(groups) == 1 else run_dir / next(iter(group))
        cfg = load_config("configs/eegpt_finetune_tiny.yaml",
                          [*over, f"data.tasks={json.dumps(group)}"])
        parts.append(RunFolder(run_stage(cfg, "finetune", sub, resume=False)).results())
    if len(parts) == 1:
        return parts[0]
    ep = [p["epochs"] for p in parts if p.get("epochs") is not None]
    return {"tasks": {t: r for p in parts for t, r in p["tasks"].items()},
            "epochs": float(np.mean(ep)) if ep else None,
            "steps": int(sum(p["steps"] for p in parts)), "single_task": True}


def run(out: str | Path, store_path: str, *, tasks: dict[str, dict] | None = None,
        seeds: tuple[int, ...] = (0, 1, 2),
        regimes: dict[tuple[str, float], list[str]] | None = None,
        pretext: tuple[str, ...] = ("model.patch_len=25", "data.patches=4"),
        pretrain_steps: int = 600, max_steps: int = 2000, val_every: int = 50,
        patience: int = 5, shard: tuple[int, int] = (0, 1), pretrain_only: bool = False,
        echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every (regime, arm, seed) cell of this ``shard`` (index, count) into ``out``
    (``pretrain_only``: make the pretrained ETEs the cells need, and stop; do that once before
    starting several shards side by side).

    ``tasks``: ``{task: {event value: label}}`` (default: the sample EEG's four tasks);
    ``pretext``: overrides of ``configs/eegpt_tiny.yaml`` for pretraining; its ``model.*``
    settings are every EEGPT arm's too, so scratch and pretrained share one architecture.
    """
    from neuroseq.config import parse_overrides
    from neuroseq.data.store import Store
    from neuroseq.data.tasks import PYLOSSLESS_TASKS
    from neuroseq.systems import load_config
    from neuroseq.systems import run as run_stage

    tasks = tasks or PYLOSSLESS_TASKS

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / f"state_{shard[0]}.json"
    state: dict[str, Any] = json.loads(state_path.read_text()) if state_path.is_file() else {}
    store = Store(store_path)
    ids = store.ids
    regimes = regimes or REGIMES
    t0 = time.perf_counter()
    arch = [p for p in pretext if p.startswith("model.")]
    ete_kw = {"preset": "tiny"} | parse_overrides(arch).get("model", {})

    def say(msg: str) -> None:
        if echo is not None:
            echo(f"[{time.perf_counter() - t0:6.0f} s] {msg}")

    def pretrained(kind: str, mode: str) -> Path:
        """The ETE of ``kind`` for ``mode`` (cross: the training subject only), made once."""
        run_dir = out / "pretrain" / f"{kind}_{mode}"
        if not (RunFolder(run_dir).model_dir / "model.safetensors").is_file():
            if shard[1] > 1:  # shards run side by side: they must not pretrain twice at once
                raise RuntimeError(f"{run_dir} is missing: pretrain first (pretrain_only=True).")
            over = [*pretext, f"data.store={store_path}", f"objective.kind={kind}",
                    f"train.max_steps={pretrain_steps}", "train.loggers=[csv]",
                    f"train.val_check_interval={pretrain_steps}", "data.batch_size=8"]
            if mode == "cross":
                over.append(f"data.recordings=[{ids[0]}]")
            say(f"pretraining the {kind} ETE for {mode}")
            run_stage(load_config("configs/eegpt_tiny.yaml", over), "pretrain", run_dir,
                      resume=False)
        return run_dir

    cells = [(m, f, a, s) for (m, f), arms in regimes.items() for a in arms for s in seeds]
    if pretrain_only:  # the ETEs of the cells still to run
        done = state | collect(out)
        todo = [c for c in cells if f"{c[0]}|{c[1]:g}|{c[2]}|{c[3]}" not in done]
        for kind, mode in dict.fromkeys((ARMS[a].get("ete") or ARMS[a].get("probe"), m)
                                        for m, _, a, _ in todo):
            if kind in ("next_patch", "masked"):
                pretrained(kind, mode)
        return state
    mine = cells[shard[0]::shard[1]]
    for mode, frac, arm, seed in mine:
        key = f"{mode}|{frac:g}|{arm}|{seed}"
        if key in state or key in collect(out):  # done here, or by a shard of another split
            continue
        spec, t = ARMS[arm], time.perf_counter()
        say(f"{key}")
        if spec.get("logreg"):
            res = {"tasks": logreg(store, mode, ids, frac, seed, tasks)}
        elif "probe" in spec:
            src = None if spec["probe"] == "untrained" else pretrained(spec["probe"], mode)
            res = {"tasks": _probe(store, mode, ids, frac, seed, src, ete_kw, tasks)}
        else:
            over = [f"data.store={store_path}", f"data.mode={mode}",
                    f"data.label_fraction={frac}", f"train.seed={seed}",
                    f"train.max_steps={max_steps}", f"train.val_check_interval={val_every}",
                    f"train.early_stopping_patience={patience}", "train.loggers=[csv]",
                    f"train.checkpoint_every_n_steps={val_every}"]
            over += _cross(ids) if mode == "cross" else []
            if spec.get("kind") == "eegnet":
                over.append("model={kind: eegnet}")
            else:
                over += arch + [f"model.pooling={spec.get('pooling', 'mean')}",
                                f"model.feature_norm={spec.get('feature_norm', False)}"]
            if spec.get("ete"):
                over += [f"model.pretrained={pretrained(spec['ete'], mode)}",
                         f"model.freeze_ete={spec['freeze']}"]
            run_dir = out / "runs" / key.replace("|", "_").replace(" ", "_").replace(",", "")
            groups = [{t: v} for t, v in tasks.items()] if spec.get("single") else [tasks]
            res = _finetune(run_stage, load_config, over, groups, run_dir)
        res["wall_s"] = round(time.perf_counter() - t, 1)
        state[key] = res
        write_json_atomic(state_path, state)
    return state


def collect(out: str | Path) -> dict[str, Any]:
    """All shards' cells of ``out``."""
    cells: dict[str, Any] = {}
    for p in sorted(Path(out).glob("state_*.json")):
        cells |= json.loads(p.read_text())
    return cells


def table(cells: dict[str, Any]) -> str:
    """Markdown: per regime, per arm, balanced accuracy mean ± std over seeds per task, the
    mean over tasks, epochs and wall time (means over seeds)."""
    groups: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for key, res in cells.items():
        mode, frac, arm, _ = key.split("|")
        groups.setdefault((mode, frac), {}).setdefault(arm, []).append(res)
    lines = []
    for (mode, frac), arms in groups.items():
        tasks = list(next(iter(arms.values()))[0]["tasks"])
        lines += ["", f"### {mode}, {float(frac):.0%} of the training labels", "",
                  "| arm | seeds | " + " | ".join(tasks) + " | mean | epochs | wall s |",
                  "|---" * (len(tasks) + 5) + "|"]
        for arm in ARMS:
            if arm not in arms:
                continue
            runs = arms[arm]
            accs = np.array([[r["tasks"][t]["balanced_accuracy"] for t in tasks] for r in runs])
            means = accs.mean(1)
            cell = [f"{accs[:, i].mean():.3f} ± {accs[:, i].std():.3f}" for i in range(len(tasks))]
            ep = [r.get("epochs") for r in runs if r.get("epochs") is not None]
            lines.append(f"| {arm} | {len(runs)} | " + " | ".join(cell)
                         + f" | **{means.mean():.3f} ± {means.std():.3f}** | "
                         + (f"{np.mean(ep):.1f}" if ep else "—")
                         + f" | {np.mean([r['wall_s'] for r in runs]):.0f} |")
        lines.append("| chance | | " + " | ".join("0.500" for _ in tasks) + " | 0.500 | | |")
    return "\n".join(lines) + "\n"
