"""EEGPT on the real sample EEG against its baselines, every arm under one stopping rule.

Arms, regimes and the rule: :mod:`neuroseq.experiments.eegpt_comparison`.  This script makes
the quickstart store if it is missing, pretrains the ETEs once, runs the cells in ``--jobs``
processes side by side (one CPU thread each), and writes
``benchmarks/results/eegpt_real.{json,md}``.  An interrupted run resumes from ``--out``.

Run: ``python benchmarks/bench_eegpt_real.py [--seeds 0 1 2] [--jobs 2]`` (≈ 90 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")

#: the pretext every pretrained arm uses (overrides of configs/eegpt_tiny.yaml): the paper's
#: reading at 100 Hz (1 s windows of 0.25 s patches), fixed before any comparison was run;
#: benchmarks/bench_eegpt_pretext.py compares the alternatives
PRETEXT = ("model.patch_len=25", "data.patches=4")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--pretext", nargs="*", default=list(PRETEXT))
    ap.add_argument("--pretrain-steps", type=int, default=600)
    ap.add_argument("--max-steps", type=int, default=2000)
    ap.add_argument("--val-every", type=int, default=50)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--out", default="runs/bench_eegpt_real")
    ap.add_argument("--results", default="benchmarks/results/eegpt_real")
    ap.add_argument("--shard", default=None, help=argparse.SUPPRESS)  # "i/n", for the workers
    a = ap.parse_args()

    from neuroseq.atomic import write_json_atomic, write_text_atomic
    from neuroseq.data import samples
    from neuroseq.experiments import eegpt_comparison as cmp
    from neuroseq.experiments import quickstart

    out = Path(a.out)
    data = out / "data"
    kw = dict(seeds=tuple(a.seeds), pretext=tuple(a.pretext), pretrain_steps=a.pretrain_steps,
              max_steps=a.max_steps, val_every=a.val_every, patience=a.patience,
              echo=lambda m: print(m, flush=True))
    if a.shard:  # a worker
        i, n = (int(v) for v in a.shard.split("/"))
        store = json.loads((data / "summary.json").read_text())["store"]
        cmp.run(out, store, shard=(i, n), **kw)
        return
    if not samples.has_sample_eeg():
        sys.exit("the real sample EEG is not installed: pip install -e '.[samples]'")
    if not (data / "summary.json").is_file():
        quickstart.run(data, profile=None, seed=0)
    store = json.loads((data / "summary.json").read_text())["store"]
    t0 = time.perf_counter()
    cmp.run(out, store, pretrain_only=True, **kw)
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    argv = [sys.executable, __file__, *sys.argv[1:]]
    workers = [subprocess.Popen([*argv, "--shard", f"{i}/{a.jobs}"], env=env)
               for i in range(a.jobs)]
    if any(w.wait() for w in workers):
        sys.exit("a worker failed; rerun the same command to resume.")
    cells = cmp.collect(out)
    command = "python benchmarks/bench_eegpt_real.py " + " ".join(sys.argv[1:])
    res = {"command": command.strip(), "store": store, "seeds": a.seeds,
           "pretext": a.pretext, "pretrain_steps": a.pretrain_steps,
           "rule": {"max_steps": a.max_steps, "val_every": a.val_every,
                    "patience": a.patience}, "wall_s": round(time.perf_counter() - t0),
           "cells": cells}
    stem = Path(a.results)
    write_json_atomic(stem.with_suffix(".json"), res)
    md = (f"# EEGPT on the real sample EEG, every arm under one stopping rule\n\n"
          f"Command: `{res['command']}` ({os.cpu_count()} CPU cores, {a.jobs} workers of one "
          f"thread).  Store: the quickstart's 128-channel BioSemi EEG, 2 recordings, 100 Hz, "
          f"time split.  Pretext: `{' '.join(a.pretext)}`, {a.pretrain_steps} pretraining "
          f"steps at batch 8 on the train split (cross-subject: the training subject only).  "
          f"Rule for every gradient-trained arm: up to {a.max_steps} steps at batch 16, "
          f"validation every {a.val_every}, stop after {a.patience} checks without a lower "
          f"validation loss, test the best checkpoint.  Linear models: C by 3-fold CV on the "
          f"training epochs.  Balanced accuracy on the test split (within) or the second "
          f"recording (cross), mean ± std over seeds {a.seeds}; label fractions are seeded, "
          f"class-stratified subsets of the training epochs.\n" + cmp.table(cells))
    write_text_atomic(stem.with_suffix(".md"), md)
    print(md)


if __name__ == "__main__":
    main()
