"""Generative models on the real sample EEG at an equal CPU budget: headline, curves, drift.

Every gradient-trained model of the quickstart comparison (three GPT2MEG variants, WaveNet)
gets the same training time on this machine (``--minutes`` in all, shared equally; its step
count comes from its measured seconds per step), is trained in ``--points`` resumed chunks of
one cosine schedule and generates after each chunk (learning curves: every headline metric
against training steps); the linear ARs (per channel and multivariate) are closed-form fits.
The final models are judged on ``--seconds`` of the test split beside the real held-out
ceiling and the two controls; ``--drift-model`` and the linear ARs generate ``--drift-seconds``
for the long-horizon drift, beside the real recording's own.

Run: ``python benchmarks/bench_generators.py [--minutes 60]`` (≈ minutes + 25 on 2 cores);
``--quick`` is a 2-minute smoke run.  Writes ``benchmarks/results/generators_eeg.{json,md}``
and ``generators_eeg_curves.png`` (``--results`` changes the stem); an interrupted run
continues from ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0,
                    help="training minutes shared by the gradient-trained models")
    ap.add_argument("--points", type=int, default=4, help="learning-curve points per model")
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds generated for the "
                    "headline")
    ap.add_argument("--curve-seconds", type=float, default=30.0)
    ap.add_argument("--drift-seconds", type=float, default=600.0)
    ap.add_argument("--drift-model", default="GPT2MEG + conv, value")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/bench_generators", help="working folder (resumable)")
    ap.add_argument("--results", default="benchmarks/results/generators_eeg",
                    help="stem of the results files")
    ap.add_argument("--quick", action="store_true", help="a 2-minute smoke run")
    a = ap.parse_args()

    from neuroseq.data import samples
    from neuroseq.experiments import generator_benchmark as gb
    from neuroseq.experiments import generator_report as gr
    from neuroseq.experiments import quickstart

    if not samples.has_sample_eeg():
        sys.exit("the real sample EEG is not installed: pip install -e '.[samples]'")
    if a.quick:
        a.minutes, a.points, a.seconds, a.curve_seconds, a.drift_seconds = 1.0, 2, 30.0, 30.0, 60.0
    out = Path(a.out)
    if not (out / "data" / "summary.json").is_file():
        quickstart.run(out / "data", profile=None, seed=a.seed)
    summary = json.loads((out / "data" / "summary.json").read_text())
    t0 = time.perf_counter()
    res = gb.run(out, summary["store"], summary["conditions"], minutes=a.minutes,
                 points=a.points, seconds=a.seconds, curve_seconds=a.curve_seconds,
                 drift_seconds=a.drift_seconds, drift_window_s=min(60.0, a.drift_seconds / 5),
                 drift_model=a.drift_model, seed=a.seed,
                 passband=samples.SAMPLE_EEG_PASSBAND, echo=print)
    res["command"] = "python " + " ".join(sys.argv)
    res["data"] = summary["data"]
    res["machine"] = f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}"
    res["this_call_s"] = round(time.perf_counter() - t0, 1)
    stem = Path(a.results)
    stem.parent.mkdir(parents=True, exist_ok=True)
    from neuroseq.atomic import write_json_atomic, write_text_atomic

    write_json_atomic(stem.with_suffix(".json"), res)
    md = (f"# Generators at an equal CPU budget — {summary['data']}\n\n"
          f"Command: `{res['command']}` ({res['machine']}).\n\n" + gr.markdown(res) + "\n")
    write_text_atomic(stem.with_suffix(".md"), md)
    fig = gr.curves_figure(res)
    fig.savefig(f"{stem}_curves.png", dpi=100)
    print(md)


if __name__ == "__main__":
    main()
