"""``neuroseq quickstart``: the real sample EEG (or simulated MEG) from files to a report.

Stage 1 (here) reads the data, prepares a zarr store with a GPT2MEG-style time-contiguous split
and per-recording robust scaling, cuts training windows from it and saves a PSD figure (raw vs
prepared).  The later stages — tokenize, train GPT2MEG and the baselines, generate, evaluate,
report — are :func:`neuroseq.experiments.compare_generators.run_pipeline`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.atomic import write_json_atomic
from neuroseq.data import samples
from neuroseq.data.preparation import prepare
from neuroseq.data.preprocess import Clip, Pipeline, Resample, RobustScale
from neuroseq.data.splits import SplitSpec
from neuroseq.data.windows import WindowDataset
from neuroseq.log import logger


def _simulated_inputs(out: Path, seed: int, duration: float) -> list[Path]:
    from neuroseq.data.simulate import simulate_meg

    paths = []
    for i, subject in enumerate(("01", "02")):
        rec = simulate_meg(duration=duration, sfreq=250.0, seed=seed + i, subject=subject)
        p = out / f"sub-{subject}_task-sim_meg.fif"
        rec.save_fif(p, overwrite=True)
        paths.append(p)
    return paths


def _psd_figure(raw_rec: Any, store: Any, rid: str, fname: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mne

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, (title, x, sf) in zip(axes, (
            ("as read (neuroseq units)", raw_rec.data, raw_rec.sfreq),
            ("prepared (robust units)", store.read(rid), store.sfreq(rid))), strict=True):
        psd, f = mne.time_frequency.psd_array_welch(
            x.astype(np.float64), sf, fmin=0.5, fmax=min(60.0, sf / 2), n_fft=int(2 * sf),
            verbose="error")
        ax.semilogy(f, psd.T, color="0.7", lw=0.3)
        ax.semilogy(f, np.median(psd, axis=0), color="C0", lw=2, label="median channel")
        ax.set(title=title, xlabel="Frequency (Hz)", ylabel="PSD")
        ax.legend()
    fig.suptitle(f"{rid}: power spectra")
    fig.tight_layout()
    fig.savefig(fname, dpi=100)
    plt.close(fig)


def run(out: str | Path = "neuroseq_quickstart", *, simulated: bool | None = None,
        sfreq: float = 100.0, n_jobs: int = 2, seed: int = 0,
        sim_duration: float = 240.0, profile: str | None = None,
        echo: Any = None) -> dict[str, Any]:
    """Run the quickstart and return its summary (also written to ``summary.json``).

    ``profile=None`` only prepares the store; ``"default"`` or ``"smoke"`` then runs the full
    pipeline (:func:`~neuroseq.experiments.compare_generators.run_pipeline`) and adds its
    summary under ``results``.
    """
    from neuroseq.data.readers import find_recordings, read_recording

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if simulated is None:
        simulated = not samples.has_sample_eeg()
    if simulated:
        logger.info("sample EEG not installed (%s): using simulated MEG",
                    samples.INSTALL["pylossless"])
        inputs: Any = _simulated_inputs(out, seed, sim_duration)
        data_name = f"simulated 306-channel MEG (2 subjects x {sim_duration:g} s)"
        split = SplitSpec("time", {"n_val": 5, "n_test": 5})
        conditions: Any = "auto"
    else:
        inputs = samples.sample_eeg_root()
        data_name = "pylossless face/house EEG (real, 2 subjects, 128 channels)"
        split = SplitSpec("time", {"n_val": 20, "n_test": 20})
        values = sorted({v for task in samples.SAMPLE_EEG_TASKS.values() for v in task})
        conditions = {v: i + 1 for i, v in enumerate(values)}
    pipeline = Pipeline([Resample(sfreq), RobustScale(), Clip(4.0)])
    store = prepare(inputs, out / "store.zarr", pipeline=pipeline, split=split, n_jobs=n_jobs,
                    overwrite=True)
    rid = store.ids[0]
    first = read_recording(find_recordings(inputs)[0])
    _psd_figure(first, store, rid, out / "psd.png")
    ds = WindowDataset(store, window=256, stride=128, split="train", condition_map=conditions)
    batch = ds[0]
    summary = {
        "data": data_name,
        "store": str(out / "store.zarr"),
        "recordings": store.index[["id", "subject", "n_channels", "sfreq", "n_samples",
                                   "n_events"]].to_dict("records"),
        "pipeline": [s.name for s in pipeline.steps],
        "split_seconds": {k: round(v, 1) for k, v in store.split.summary().items()},
        "split_sha256": store.split.hash,
        "train_windows": len(ds),
        "window_shape": list(batch["x"].shape),
        "conditions": ds.condition_map,
        "psd_figure": str(out / "psd.png"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if profile is not None:
        from neuroseq.experiments.compare_generators import run_pipeline

        summary["results"] = run_pipeline(
            out, out / "store.zarr", ds.condition_map, profile=profile, seed=seed, echo=echo,
            passband=None if simulated else samples.SAMPLE_EEG_PASSBAND)
        summary["seconds"] = round(time.perf_counter() - t0, 1)
    write_json_atomic(out / "summary.json", summary)
    return summary
