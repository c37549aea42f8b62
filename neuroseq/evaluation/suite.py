"""Judge generated recordings against real data, with every number shown in its context.

For each generated signal (GPT2MEG, baselines) the *reference* is the real stretch it continues:
the same recording, from the same sample on, with the same condition timeline.  Beside the
models sit a **ceiling** — another real stretch of the same length (the val split) judged the
same way — and two trivial **controls** (phase-randomised and white-noise copies of the
reference), so each distance can be read against "as good as real" and "no skill".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from neuroseq.data.recording import Recording
from neuroseq.errors import DataError
from neuroseq.evaluation import controls, decoding, dynamics, evoked, fidelity
from neuroseq.evaluation.discriminability import discriminability
from neuroseq.log import logger, progress

CEILING, PHASE, NOISE = "real (held out)", "phase-randomised", "white noise"


@dataclass
class RealSegments:
    """The real data a set of generated recordings is judged against (store units)."""

    sfreq: float
    reference: np.ndarray
    reference_events: pd.DataFrame
    ceiling: np.ndarray
    ceiling_events: pd.DataFrame
    train: np.ndarray
    train_events: pd.DataFrame
    ch_names: list[str] = field(default_factory=list)
    sensors: Any = None


def _events_between(ev: pd.DataFrame, sfreq: float, a: int, b: int) -> pd.DataFrame:
    t0, t1 = a / sfreq, b / sfreq
    sel = ev[(ev["onset"] >= t0) & (ev["onset"] < t1)].copy()
    sel["onset"] = sel["onset"] - t0
    return sel.reset_index(drop=True)


def real_segments(store: Any, recording: str, start_sample: int, n_samples: int, *,
                  ceiling_split: str = "val", train_seconds: float = 300.0) -> RealSegments:
    """Cut the reference, ceiling and decoder-training stretches from ``store``.

    The reference starts at ``start_sample`` (where generation began); the ceiling is the first
    ``n_samples`` of the ``ceiling_split`` span; the training stretch (real→real decoding) is
    the first ``train_seconds`` (or as much as there is) of the train split.
    """
    if recording not in store.ids:
        raise DataError(f"recording {recording!r} is not in the store ({store.ids[:5]}).")
    sf, total = store.sfreq(recording), store.n_samples(recording)
    if start_sample + n_samples > total:
        raise DataError(f"the reference needs samples {start_sample}…{start_sample + n_samples} "
                        f"of {recording}, which has {total}; generate fewer seconds.")
    ev = store.events(recording)

    def span(name: str, n: int, least: int | None = None) -> tuple[int, int]:
        spans = store.split.spans(recording, name) if store.split else []
        if not spans:
            raise DataError(f"{recording} has no {name!r} split; the ceiling and real→real "
                            "decoding need one (prepare the store with a time split).")
        a = int(round(spans[0][0] * sf))
        b = min(int(round(spans[0][1] * sf)), a + n)
        if b - a < (least or n):
            raise DataError(f"the {name} split of {recording} has {(b - a) / sf:.0f} s; "
                            f"{n / sf:.0f} s are needed — generate fewer seconds.")
        return a, b

    ca, cb = span(ceiling_split, n_samples)
    ta, tb = span("train", int(train_seconds * sf), least=min(n_samples, int(10 * sf)))
    b = start_sample + n_samples
    sens = store.sensors(recording)
    return RealSegments(
        sf, store.read(recording, start_sample, b).astype(np.float64),
        _events_between(ev, sf, start_sample, b), store.read(recording, ca, cb).astype(np.float64),
        _events_between(ev, sf, ca, cb), store.read(recording, ta, tb).astype(np.float64),
        _events_between(ev, sf, ta, tb), list(sens.names), sens)


def _epochs(x: np.ndarray, ev: pd.DataFrame, sf: float, values: list[str]) -> tuple:
    try:
        return evoked.epochs(x, sf, ev, values=values)
    except DataError:
        return None


def _default_conditions(real: RealSegments, generated: dict[str, Recording]) -> list[str]:
    """Event values every generated recording's timeline holds (else the real non-bad ones)."""
    ref = real.reference_events
    ok = set(map(str, ref.loc[ref["kind"] != "bad", "value"]))
    for g in generated.values():
        if len(g.events):
            ok &= set(map(str, g.events["value"]))
    return sorted(ok)


def compare_to_real(real: RealSegments, generated: dict[str, Recording], *,
                    conditions: list[str] | None = None, hmm: dynamics.TDEHMM | None = None,
                    with_controls: bool = True, seed: int = 0,
                    passband: tuple[float, float] | None = None,
                    n_permutations: int = 1000) -> dict[str, Any]:
    """All metrics for every generated signal, the ceiling and the controls.

    Returns ``{"rows": {name: {metric: value}}, "details": {...}}``: ``rows`` is the flat table
    (JSON-ready); ``details`` keeps arrays for figures (spectra, evoked, HMM statistics) and,
    for data without condition events (resting state), ``not_applicable``: the metrics that
    need events, with the reason.  ``passband`` (Hz) keeps spectral distances and the
    discriminability features inside the band the real data were filtered to and reports the
    power outside it as ``out_of_band_excess_db``.
    """
    sf = real.sfreq
    n = min([real.reference.shape[1]] + [g.n_times for g in generated.values()])
    ref = real.reference[:, :n]
    signals: dict[str, tuple[np.ndarray, pd.DataFrame]] = {}
    for name, g in generated.items():
        if g.ch_names != real.ch_names:
            raise DataError(f"{name}: channels differ from the real recording "
                            f"({g.ch_names[:3]}… vs {real.ch_names[:3]}…).")
        if abs(g.sfreq - sf) > 1e-6:
            raise DataError(f"{name} is at {g.sfreq:g} Hz, the real data at {sf:g} Hz.")
        signals[name] = (g.data[:, :n].astype(np.float64), g.events)
    signals = {CEILING: (real.ceiling[:, :n], real.ceiling_events)} | signals
    if with_controls:
        signals[PHASE] = (controls.phase_randomised(ref, seed), real.reference_events)
        signals[NOISE] = (controls.white_noise(ref, seed), real.reference_events)
    conds = conditions or _default_conditions(real, generated)
    ref_ep = _epochs(ref, real.reference_events, sf, conds)
    train_ep = _epochs(real.train, real.train_events, sf, conds)
    real_evoked = evoked.evoked(*ref_ep) if ref_ep else {}
    rows: dict[str, dict[str, Any]] = {}
    details: dict[str, Any] = {"evoked": {"real": real_evoked}, "psd": {}, "n_samples": n,
                               "conditions": conds,
                               "passband_hz": list(passband) if passband else None}
    if not conds:
        why = "the real data have no condition events in this stretch (e.g. resting state)"
        details["not_applicable"] = {"evoked": why, "decoding": why}
    ceiling_dec: dict[str, Any] = {}  # real→real decoding, computed once
    f, p = fidelity.psd(ref, sf)
    details["psd"]["real"] = (f, p)
    # 1 s windows, shorter (to 0.25 s) when the signals are too short for 25 of them
    window_s = max(0.25, min(1.0, n / sf / 25))
    for name, (x, ev) in progress(signals.items(), desc="evaluating", total=len(signals)):
        row = fidelity.spectral_summary(ref, x, sf, passband)
        details["psd"][name] = fidelity.psd(x, sf)
        try:
            dis = discriminability(ref, x, sf, seed=seed, n_permutations=n_permutations,
                                   seconds=window_s,
                                   bands=fidelity.bands_within(passband) if passband else None)
            row |= {"discriminability": dis["accuracy"],
                    "discriminability_ci_low": dis["ci95"][0],
                    "discriminability_ci_high": dis["ci95"][1],
                    "discriminability_p": dis["p_value"], "discriminability_window_s": window_s}
        except DataError as err:
            logger.warning("%s: discriminability not computed — %s", name, err)
            row["discriminability_note"] = str(err)
        ep = _epochs(x, ev, sf, conds)
        if ep is not None and real_evoked:
            ev_g = evoked.evoked(*ep)
            details["evoked"][name] = ev_g
            if set(ev_g) & set(real_evoked):
                agr = evoked.evoked_agreement(real_evoked, ev_g, sf)
                row |= {"evoked_corr": agr["corr"],
                        "evoked_peak_latency_diff_s": agr["peak_latency_diff_s"],
                        "evoked_peak_amplitude_ratio": agr["peak_amplitude_ratio"]}
            if ref_ep is not None:
                try:
                    dec = decoding.generated_to_real(ep, ref_ep, None if ceiling_dec else train_ep,
                                                     skip=int(0.1 * sf))
                    ceiling_dec.setdefault("real_to_real", dec.get("real_to_real"))
                    row |= {"decoding_generated_to_real": dec["generated_to_real"],
                            "decoding_real_to_real": ceiling_dec["real_to_real"],
                            "decoding_chance": dec["chance"]}
                except DataError as err:
                    logger.warning("%s: decoding skipped — %s", name, err)
                    row["decoding_note"] = str(err)
        rows[name] = row
    logger.info("fitting the TDE-HMM on the real reference (%d channels, %d samples)",
                ref.shape[0], n)
    cmp = dynamics.hmm_comparison(ref, real.ceiling[:, :n],
                                  {k: v[0] for k, v in signals.items() if k != CEILING}, sf, hmm)
    for name, d in cmp["distances"].items():
        rows[name] |= {f"hmm_{k}": v for k, v in d.items()}
    details["hmm"] = {"reference": cmp["reference"], "statistics": cmp["statistics"],
                      "n_states": cmp["model"].n_states}
    return {"rows": rows, "details": details}
