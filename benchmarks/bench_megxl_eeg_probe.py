"""MEG-XL on the real sample EEG: masked-token pretraining, then a linear probe of face vs house
vs checkerboard, beside the same probe on a random backbone and logistic regression.

The store is the quickstart's (128-channel BioSemi EEG, 2 recordings, 100 Hz, time split).  A
tiny MEG-XL (``configs/megxl_tiny.yaml``: RVQ codec, then masked-token pretraining on 12 s
samples of the train split) is trained once.  Epochs 0–1 s after each face, house and
checkerboard stimulus (3 classes, chance 1/3); features = each sensor's backbone output averaged
over the epoch's frames, flattened; a standardised logistic regression with C from 3-fold CV on
the train split, scored (balanced accuracy) on the test split.  Arms: the pretrained backbone;
the same architecture untrained (``--seeds`` initialisations, same codec); logistic regression
on per-channel time-bin means of the raw epochs.

Run: ``python benchmarks/bench_megxl_eeg_probe.py [--pretrain-steps 300] [--seeds 0 1 2]``;
writes ``benchmarks/results/megxl_eeg_probe.{json,md}``.
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

TASK = {"face_house_checker": {"face-upright": 0, "face-inverted": 0, "house-upright": 1,
                               "house-inverted": 1, "checker-left": 2, "checker-right": 2}}


def features(model, codec, ds) -> tuple:
    """``[N, C·d]`` frame-averaged backbone outputs and labels of every epoch of ``ds``."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from neuroseq.data.collate import pad_collate

    model.eval()
    xs, ys = [], []
    with torch.no_grad():
        for b in DataLoader(ds, 64, collate_fn=pad_collate):
            codes = codec.encode(b["x"]).long()
            h = model(codes, b["sensors"], b["mask"])["hidden"]  # [B, C, T', d]
            xs.append(h.mean(2).flatten(1).numpy())
            ys.append(b["y"].numpy())
    return np.concatenate(xs), np.concatenate(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pretrain-steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="runs/bench_megxl_eeg_probe")
    ap.add_argument("--results", default="benchmarks/results/megxl_eeg_probe")
    a = ap.parse_args()

    import numpy as np
    import torch
    from sklearn.metrics import balanced_accuracy_score

    from neuroseq import systems
    from neuroseq.atomic import write_json_atomic, write_text_atomic
    from neuroseq.data import samples
    from neuroseq.data.store import Store
    from neuroseq.data.tasks import MultiTaskEpochs
    from neuroseq.evaluation.decoding import epoch_features
    from neuroseq.evaluation.probe import cv_logistic
    from neuroseq.experiments import quickstart
    from neuroseq.models.crisscross import CrissCross
    from neuroseq.models.electrodes import vocabulary

    out = Path(a.out)
    data = out / "data"
    if not (data / "summary.json").is_file():
        if not samples.has_sample_eeg():
            sys.exit("the real sample EEG is not installed: pip install -e '.[samples]'")
        quickstart.run(data, profile=None, seed=0)
    store_path = json.loads((data / "summary.json").read_text())["store"]
    t0 = time.perf_counter()
    pre = out / "pretrain"
    if not RunFolder(pre).has("model"):
        cfg = systems.load_config("configs/megxl_tiny.yaml", [
            f"data.store={store_path}", f"train.max_steps={a.pretrain_steps}",
            f"train.val_check_interval={a.pretrain_steps}", "train.loggers=[csv]"])
        systems.run(cfg, "pretrain", pre, resume=True)
    model, codec, _ = systems.load_run(pre)
    info = RunFolder(pre).info()
    store = Store(store_path)
    kw = {"vocab": vocabulary(), "tmin": 0.0, "tmax": 1.0}
    train = MultiTaskEpochs(store, TASK, split="train", **kw)
    test = MultiTaskEpochs(store, TASK, split="test", **kw)

    def probe(m, seed: int) -> float:
        xtr, ytr = features(m, codec, train)
        xte, yte = features(m, codec, test)
        clf = cv_logistic(xtr, ytr, seed=seed)
        return float(balanced_accuracy_score(yte, clf.predict(xte)))

    cells: dict[str, list[float]] = {"linear probe, pretrained MEG-XL backbone": [probe(model, 0)]}
    cfg = RunFolder(pre).model_config()
    cells["linear probe, untrained backbone (same codec)"] = []
    for s in a.seeds:
        torch.manual_seed(s)
        rand = CrissCross(**cfg)
        rand.set_codebooks(model.codebooks)
        cells["linear probe, untrained backbone (same codec)"].append(probe(rand, s))
    raw = [np.stack([it["x"].numpy() for it in ds]) for ds in (train, test)]
    ytr = np.array([int(it["y"]) for it in train])
    yte = np.array([int(it["y"]) for it in test])
    clf = cv_logistic(epoch_features(raw[0]), ytr, seed=0)
    cells["logistic regression (time-bin means)"] = [
        float(balanced_accuracy_score(yte, clf.predict(epoch_features(raw[1]))))]
    command = "python benchmarks/bench_megxl_eeg_probe.py " + " ".join(sys.argv[1:])
    m = info.get("metrics", {})
    res = {"command": command.strip(), "store": store_path, "seeds": a.seeds,
           "n_train": len(train), "n_test": len(test), "chance": 1 / 3,
           "pretrain": {"steps": info.get("global_step"), "metrics": m},
           "wall_s": round(time.perf_counter() - t0), "cells": cells}
    stem = Path(a.results)
    write_json_atomic(stem.with_suffix(".json"), res)
    acc = [f"level {i}: {m[f'val_acc_l{i}']:.3f} (unigram {m[f'val_unigram_acc_l{i}']:.3f})"
           for i in range(4) if f"val_acc_l{i}" in m]
    lines = ["| arm | runs | balanced accuracy (test) |", "|---|---|---|"]
    for arm, v in cells.items():
        sd = f" ± {np.std(v):.3f}" if len(v) > 1 else ""
        lines.append(f"| {arm} | {len(v)} | **{np.mean(v):.3f}**{sd} |")
    lines.append("| chance | | 0.333 |")
    md = ("# MEG-XL on the real sample EEG: face vs house vs checkerboard\n\n"
          f"Command: `{res['command']}` ({os.cpu_count()} CPU cores).  Store: the quickstart's "
          "128-channel BioSemi EEG, 100 Hz, time split; epochs 0–1 s, "
          f"{len(train)} train / {len(test)} test.  Tiny MEG-XL pretrained "
          f"{info.get('global_step')} steps (masked-token validation accuracy per RVQ "
          f"{'; '.join(acc) or 'level: not logged'}).  Probe: frame-averaged backbone outputs "
          "per sensor, standardised logistic regression, C by 3-fold CV on train; random "
          f"backbones: seeds {a.seeds}.\n\n" + "\n".join(lines) + "\n")
    write_text_atomic(stem.with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()
