"""The table a user reads first: one row per signal, readable columns, the best value marked.

Rows come from :func:`neuroseq.evaluation.suite.compare_to_real`.  The real held-out stretch is
the ceiling and the two controls are "no skill"; they are shown but never marked best — the
mark goes to the generative model closest to ideal in each column.  A last row gives each
column's ideal value or chance.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from neuroseq.evaluation.suite import CEILING, NOISE, PHASE

REFERENCES = (CEILING, PHASE, NOISE)


@dataclass(frozen=True)
class Column:
    """One headline metric: its key, its title (with unit) and what a perfect value is."""

    key: str
    title: str
    ideal: float  # the value real data would get
    needs_events: bool = False
    higher_is_better: bool = False  # otherwise: closer to ``ideal`` is better

    def badness(self, v: float) -> float:
        return -v if self.higher_is_better else abs(v - self.ideal)


COLUMNS = (
    Column("discriminability", "real-vs-generated accuracy (0.5 = like real)", 0.5),
    Column("psd_lsd_db", "in-band PSD distance (dB)", 0.0),
    Column("out_of_band_excess_db", "out-of-band excess power (dB)", 0.0),
    Column("cov_distance", "covariance distance (relative, 0 = real)", 0.0),
    Column("evoked_corr", "evoked correlation (r)", 1.0, True, True),
    Column("hmm_fo_distance", "HMM occupancy distance (0–1)", 0.0),
    Column("hmm_state_spectra_lsd_db", "HMM state-spectra distance (dB)", 0.0),
    Column("decoding_generated_to_real", "generated→real decoding (balanced acc.)", 1.0, True,
           True),
)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) \
        and math.isfinite(v) else None


def cells(rows: dict[str, dict[str, Any]], not_applicable: dict[str, str] | None = None
          ) -> tuple[list[str], list[tuple[str, list[tuple[str, bool]]]]]:
    """Column titles and, per row, ``(text, is_best)`` cells; the last row is ideal/chance."""
    na = not_applicable or {}
    best: dict[str, str] = {}
    for col in COLUMNS:
        cand = {n: _num(r.get(col.key)) for n, r in rows.items() if n not in REFERENCES}
        cand = {n: v for n, v in cand.items() if v is not None}
        if len(cand) > 1:
            best[col.key] = min(cand, key=lambda n, c=col: c.badness(cand[n]))
    out = []
    for name, r in rows.items():
        row = []
        for col in COLUMNS:
            v = _num(r.get(col.key))
            if v is None:
                text = "n/a" if col.needs_events and na else "—"
            elif col.key == "discriminability" and _num(r.get("discriminability_p")) is not None:
                text = f"{v:.2f} (p {r['discriminability_p']:.3f})"
            else:
                text = f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
            row.append((text, best.get(col.key) == name))
        out.append((name, row))
    some = next(iter(rows.values()), {})
    chance = _num(some.get("decoding_chance"))
    ideal = []
    for col in COLUMNS:
        if col.key == "decoding_generated_to_real":
            text = f"chance {chance:.3f}" if chance is not None else "—"
        elif col.key == "discriminability":
            text = "0.5 (chance)"
        else:
            text = f"{col.ideal:g}"
        ideal.append((text, False))
    out.append(("ideal / chance", ideal))
    return [c.title for c in COLUMNS], out


def _notes(rows: dict[str, dict[str, Any]], not_applicable: dict[str, str] | None,
           passband: list[float] | tuple[float, float] | None) -> list[str]:
    na = not_applicable or {}
    notes = ["Best generative model per column in bold; the real held-out stretch is the "
             "ceiling, phase-randomised and white noise are no-skill controls."]
    some = next(iter(rows.values()), {})
    if "discriminability_p" in some:
        notes.append("Real-vs-generated accuracy: ridge classifier on compact features of 1 s "
                     "windows, 5-fold over contiguous blocks; p from block-label permutations "
                     "(p < 0.05: told apart from real).")
    if passband:
        notes.append(f"Spectral distances and discriminability features inside the data's "
                     f"passband, {passband[0]:g}–{passband[1]:g} Hz; out-of-band excess: the "
                     "generated minus the real log power outside it (0 is real).")
    if na:
        named = " and ".join(k for k in ("evoked", "decoding") if k in na)
        notes.append(f"{named}: not applicable — {next(iter(na.values()))}.")
    if "decoding_chance" in some:
        notes.append(f"Decoding: chance {some['decoding_chance']:.3f}, real→real ceiling "
                     f"{some.get('decoding_real_to_real') or float('nan'):.3f}.")
    return notes


def headline_table(rows: dict[str, dict[str, Any]],
                   not_applicable: dict[str, str] | None = None,
                   passband: list[float] | tuple[float, float] | None = None) -> str:
    """The headline as a Markdown table with its notes."""
    titles, body = cells(rows, not_applicable)
    lines = ["| signal | " + " | ".join(titles) + " |", "|" + "---|" * (len(titles) + 1)]
    for name, row in body:
        lines.append(f"| {name} | " + " | ".join(f"**{t}**" if b else t for t, b in row) + " |")
    return "\n".join(lines + [""] + _notes(rows, not_applicable, passband))


def headline_html(rows: dict[str, dict[str, Any]],
                  not_applicable: dict[str, str] | None = None,
                  passband: list[float] | tuple[float, float] | None = None) -> str:
    """The same table as HTML (best cells bold and shaded), notes below."""
    titles, body = cells(rows, not_applicable)
    head = "".join(f"<th>{html.escape(t)}</th>" for t in titles)
    trs = []
    for name, row in body:
        style = " style='color:#555;font-style:italic'" if name in REFERENCES + (
            "ideal / chance",) else ""
        tds = "".join(f"<td style='background:#d8f0d8'><b>{html.escape(t)}</b></td>" if b
                      else f"<td>{html.escape(t)}</td>" for t, b in row)
        trs.append(f"<tr{style}><td>{html.escape(name)}</td>{tds}</tr>")
    notes = "".join(f"<p style='font-size:12px'>{html.escape(n)}</p>"
                    for n in _notes(rows, not_applicable, passband))
    return (f"<table border=1 cellpadding=4 style='border-collapse:collapse;font-size:13px'>"
            f"<tr><th>signal</th>{head}</tr>{''.join(trs)}</table>{notes}")
