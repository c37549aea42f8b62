"""Judge generated files against the real data they continue (``neuroseq evaluate/report``).

Each generated ``.fif`` has a sidecar saying which real recording and sample it continues and
in which units it is; the real stretch is cut from the store, the generated data are brought
into the store's units, and :func:`~neuroseq.evaluation.suite.compare_to_real` scores them
beside the held-out ceiling and the controls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.atomic import write_json_atomic
from neuroseq.data.store import Store
from neuroseq.errors import DataError
from neuroseq.evaluation.dynamics import TDEHMM
from neuroseq.evaluation.suite import compare_to_real, real_segments
from neuroseq.generation.recording import read_generated, to_store_units


def store_passband(store: Store, rid: str) -> tuple[float, float] | None:
    """The band-pass a store's pipeline applied to ``rid`` (its low edge or 0, its high edge or
    Nyquist), or None when it applied none."""
    from neuroseq.data.preprocess import BandPass

    pipe = store.pipeline(rid)
    nyquist = store.sfreq(rid) / 2
    for step in (pipe.steps if pipe is not None else []):
        if isinstance(step, BandPass):
            return (float(step.l_freq or 0.0), float(min(step.h_freq or nyquist, nyquist)))
    return None


def ceiling_split(store: Any, recording: str, start: int, n: int) -> str:
    """The split the real ceiling is cut from: ``val``, unless the generation continues the val
    split (sampling settings are chosen there), then ``test`` — never the stretch judged."""
    if store.split is None:
        return "val"
    sf = store.sfreq(recording)
    for a, b in store.split.spans(recording, "val"):
        if start < b * sf and start + n > a * sf:
            return "test"
    return "val"


def judge(generated: dict[str, str], *, store: str | None = None, hmm_states: int = 6,
          hmm_pca: int = 20, conditions: list[str] | None = None,
          passband: tuple[float, float] | None = None) -> tuple[Any, dict, dict]:
    """Read generated ``.fif`` files and their sidecars, cut the real data, evaluate.

    Returns ``(real_segments, result, signals)``; all generated files must continue the same
    recording from the same sample.  ``passband`` (Hz) defaults to the store's band-pass, if
    its pipeline has one (data filtered before they reached neuroseq need it given).
    """
    recs, sides = {}, {}
    for name, path in generated.items():
        recs[name], sides[name] = read_generated(path)
    seeds = {(s["recording"], s["start_sample"]) for s in sides.values()}
    if len(seeds) > 1:
        raise DataError(f"the generated files continue different real stretches {seeds}; "
                        "generate them from the same recording and split to compare them.")
    rid, start = seeds.pop()
    side = next(iter(sides.values()))
    st = Store(store or side.get("store") or "")
    recs = {k: to_store_units(r, sides[k], st) for k, r in recs.items()}
    n = min(r.n_times for r in recs.values())
    real = real_segments(st, rid, int(start), n,
                         ceiling_split=ceiling_split(st, rid, int(start), n))
    hmm = TDEHMM(n_states=hmm_states, n_pca=hmm_pca)
    band = passband or store_passband(st, rid)
    res = compare_to_real(real, recs, conditions=conditions, hmm=hmm, passband=band)
    return real, res, {k: r.data[:, :n].astype(np.float64) for k, r in recs.items()}


def jsonable_rows(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The metric rows with numbers as floats and arrays left out, ready for JSON."""
    return {k: {m: (float(v) if isinstance(v, int | float | np.floating) else v)
                for m, v in r.items() if not isinstance(v, np.ndarray)} for k, r in rows.items()}


def write_metrics(res: dict[str, Any], path: str | Path, extra: dict | None = None) -> Path:
    """The flat metrics table (plus ``extra``) as JSON, written atomically."""
    out = {"metrics": jsonable_rows(res["rows"]), "conditions": res["details"]["conditions"],
           "n_samples": res["details"]["n_samples"]} | (extra or {})
    if res["details"].get("passband_hz"):
        out["passband_hz"] = res["details"]["passband_hz"]
    if res["details"].get("not_applicable"):
        out["not_applicable"] = res["details"]["not_applicable"]
    return write_json_atomic(path, out)
