"""One self-contained HTML page (``mne.Report``) judging generated data; figures also as PNG.

Summary first: the headline table (readable columns with units, best model per column marked,
the real ceiling, the controls and the ideal/chance row), the forecasting table, then every
metric.  Figures: PSD overlays (the passband marked), real vs generated traces, evoked
overlays and topomaps (with a colour bar), correlation matrices of the real ceiling, every
model and the controls, HMM state statistics, forecasting curves and training curves.
"""

from __future__ import annotations

import csv
import html
import json
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.evaluation import controls
from neuroseq.evaluation.headline import COLUMNS, headline_html
from neuroseq.evaluation.suite import CEILING, NOISE, PHASE, RealSegments


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def psd_figure(result: dict[str, Any]) -> Any:
    """Median-over-channels PSD of the real reference and of every signal; the region outside
    the data's passband shaded (metrics ignore it)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (name, (f, p)) in enumerate(result["details"]["psd"].items()):
        sel = f >= 0.5
        ax.semilogy(f[sel], np.median(p[:, sel], 0), lw=2.5 if name == "real" else 1.3,
                    color="k" if name == "real" else f"C{i}", label=name)
    band = result["details"].get("passband_hz")
    if band:
        f = next(iter(result["details"]["psd"].values()))[0]
        ax.axvspan(0, band[0], color="0.85", zorder=0)
        ax.axvspan(band[1], f[-1], color="0.85", zorder=0, label="outside the passband")
        ax.set_xlim(0, f[-1])
    ax.set(xlabel="Frequency (Hz)", ylabel="PSD (median channel, store units²/Hz)",
           title="Power spectra")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def traces_figure(real: RealSegments, signals: dict[str, np.ndarray], seconds: float = 5.0,
                  n_channels: int = 4) -> Any:
    """The first seconds of a few channels, real above each generated signal."""
    plt = _plt()
    n = int(seconds * real.sfreq)
    picks = np.linspace(0, real.reference.shape[0] - 1, n_channels).astype(int)
    rows = {"real": real.reference} | signals
    fig, axes = plt.subplots(len(rows), 1, figsize=(9, 1.3 * len(rows) + 0.6), sharex=True,
                             squeeze=False)
    t = np.arange(n) / real.sfreq
    for ax, (name, x) in zip(axes[:, 0], rows.items(), strict=True):
        for j, c in enumerate(picks):
            ax.plot(t[:x.shape[1]], x[c, :n] + 4 * j, lw=0.7)
        ax.set_ylabel(name, rotation=0, ha="right", fontsize=8)
        ax.set_yticks([])
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"channels {[real.ch_names[c] for c in picks]}", fontsize=9)
    fig.tight_layout()
    return fig


def evoked_figure(result: dict[str, Any], sfreq: float, tmin: float = -0.1) -> Any | None:
    """Real vs generated evoked response per condition at the real data's peak channel."""
    ev = result["details"]["evoked"]
    real = ev.get("real", {})
    if not real:
        return None
    plt = _plt()
    conds = sorted(real)
    cols = min(4, len(conds))
    rows = int(np.ceil(len(conds) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(math.ceil(3.2 * cols), 2.6 * rows), squeeze=False)
    for ax, cond in zip(axes.ravel(), conds, strict=False):
        r = real[cond]
        ch = int(np.argmax(np.abs(r).max(-1)))
        t = tmin + np.arange(r.shape[1]) / sfreq
        ax.plot(t, r[ch], "k", lw=2, label="real")
        for i, (name, d) in enumerate(ev.items()):
            if name != "real" and cond in d:
                ax.plot(t, d[cond][ch], color=f"C{i}", lw=1, label=name)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_title(f"{cond} (ch {ch})", fontsize=9)
    for ax in axes.ravel()[len(conds):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _grid(plt: Any, n: int, w: float, h: float, max_cols: int = 6) -> tuple[Any, Any]:
    """``n`` panels in rows of at most ``max_cols`` (unused panels hidden), room for a colour
    bar on the right."""
    cols = min(n, max_cols)
    rows = -(-n // cols)
    # whole inches: MNE's Report reads the canvas back at size × dpi, and a fractional pixel
    # width (15.6 in → 1559.99 px) shears the embedded image
    fig, axes = plt.subplots(rows, cols, figsize=(math.ceil(w * cols + 1.2), math.ceil(h * rows)),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, axes


def topomap_figure(result: dict[str, Any], real: RealSegments,
                   tmin: float = -0.1) -> Any | None:
    """Topomaps at the real evoked peak for the first condition: real and each signal."""
    ev = result["details"]["evoked"]
    if not ev.get("real") or real.sensors is None:
        return None
    import mne

    info = real.sensors.to_info(real.sfreq)
    kinds = info.get_channel_types()
    kind = next((k for k in ("mag", "eeg", "grad") if k in kinds), kinds[0])
    picks = [i for i, k in enumerate(kinds) if k == kind]
    info = mne.pick_info(info, picks)
    pos_ok = all(np.isfinite(ch["loc"][:3]).all() and np.any(ch["loc"][:3])
                 for ch in info["chs"])
    if not pos_ok:
        return None
    plt = _plt()
    cond = sorted(ev["real"])[0]
    r = ev["real"][cond]
    k = int(np.argmax(np.abs(r).max(0)))
    maps = {name: d[cond][picks, k] for name, d in ev.items() if cond in d}
    fig, axes = _grid(plt, len(maps), 2.4, 2.6)
    lim = np.abs(maps["real"]).max()
    im = None
    for ax, (name, v) in zip(axes.flat, maps.items(), strict=False):
        im, _ = mne.viz.plot_topomap(v, info, axes=ax, show=False, vlim=(-lim, lim))
        ax.set_title(textwrap.fill(name, 24), fontsize=8)
    fig.colorbar(im, ax=list(axes.flat), shrink=0.6, label="store units (robust-scaled)")
    fig.suptitle(f"{cond} at {tmin + k / real.sfreq:.2f} s ({kind}); one colour scale, the "
                 "real map's", fontsize=9)
    return fig


def correlation_figure(real: RealSegments, signals: dict[str, np.ndarray],
                       rows: dict[str, dict[str, Any]] | None = None) -> Any:
    """Channel-by-channel correlation matrices: the real reference, the real held-out ceiling,
    every model and the two controls, each titled with its covariance distance."""
    plt = _plt()
    ref = real.reference
    n = min([ref.shape[1]] + [x.shape[1] for x in signals.values()])
    mats = {"real (reference)": ref[:, :n], CEILING: real.ceiling[:, :n]} | signals | {
        PHASE: controls.phase_randomised(ref[:, :n]), NOISE: controls.white_noise(ref[:, :n])}
    fig, axes = _grid(plt, len(mats), 2.3, 2.7)
    im = None
    for ax, (name, x) in zip(axes.flat, mats.items(), strict=False):
        im = ax.imshow(np.corrcoef(x), vmin=-1, vmax=1, cmap="RdBu_r")
        d = (rows or {}).get(name, {}).get("cov_distance")
        ax.set_title(textwrap.fill(name, 24) + (f"\ncov dist {d:.2f}" if d is not None else ""),
                     fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=list(axes.flat), shrink=0.6, label="correlation")
    return fig


def hmm_figure(result: dict[str, Any]) -> Any:
    """Fractional occupancy and mean lifetime per HMM state, real reference beside the rest."""
    plt = _plt()
    h = result["details"]["hmm"]
    stats = {"real": h["reference"]} | h["statistics"]
    k = h["n_states"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
    w = 0.8 / len(stats)
    for i, (name, s) in enumerate(stats.items()):
        col = "k" if name == "real" else f"C{i}"
        axes[0].bar(np.arange(k) + i * w, s["fractional_occupancy"], w, color=col, label=name)
        axes[1].bar(np.arange(k) + i * w, s["mean_lifetime_s"], w, color=col)
        axes[2].bar(i, s["switching_rate_hz"], color=col)
    axes[0].set(title="fractional occupancy", xlabel="state")
    axes[1].set(title="mean lifetime (s)", xlabel="state")
    axes[2].set(title="switching rate (Hz)", xticks=range(len(stats)))
    axes[2].set_xticklabels(list(stats), rotation=45, ha="right", fontsize=7)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def forecast_figure(forecast_json: Path) -> Any:
    """Recursive forecast MSE against horizon from ``neuroseq forecast``'s JSON."""
    from neuroseq.evaluation.forecasting import figure

    d = json.loads(Path(forecast_json).read_text())
    return figure(d["multi_step_mse"])


def training_figure(runs: dict[str, Path]) -> Any | None:
    """Training and validation loss of every run that logged ``metrics.csv``."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    drawn = False
    for i, (name, run) in enumerate(runs.items()):
        f = Path(run) / "metrics.csv"
        if not f.exists():
            continue
        rows = list(csv.DictReader(f.open()))
        for key, style in (("train_loss", "-"), ("val_loss", "o--")):
            pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, color=f"C{i}", ms=3,
                        label=f"{name} {key.split('_')[0]}")
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xlabel="step", ylabel="cross-entropy (nats)", title="Training curves")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def metrics_html(rows: dict[str, dict[str, Any]]) -> str:
    """Every scalar metric as an HTML table (headline columns first)."""
    keys = [c.key for c in COLUMNS]
    for r in rows.values():
        keys += [k for k, v in r.items() if k not in keys and isinstance(v, int | float)]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        f"<tr><td>{html.escape(n)}</td>" + "".join(
            f"<td>{r[k]:.4g}</td>" if isinstance(r.get(k), int | float) and r.get(k) is not None
            else "<td>—</td>" for k in keys) + "</tr>" for n, r in rows.items())
    return (f"<div style='overflow-x:auto'><table border=1 cellpadding=3 style='font-size:11px;"
            f"border-collapse:collapse'><tr><th>signal</th>{head}</tr>{body}</table></div>")


def markdown_table_html(md: str) -> str:
    """A Markdown pipe table (as :func:`neuroseq.evaluation.forecasting.table` writes) as HTML."""
    lines = [ln.strip() for ln in md.splitlines() if ln.strip().startswith("|")]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines
            if not set(ln.replace("|", "")) <= set("-: ")]
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows[1:])
    return (f"<table border=1 cellpadding=4 style='border-collapse:collapse;font-size:13px'>"
            f"<tr>{head}</tr>{body}</table>")


def forecast_html(forecast_json: Path) -> str:
    """The forecasting table of ``forecast.json`` (next-step scores, multi-step MSE)."""
    from neuroseq.evaluation.forecasting import table

    d = json.loads(Path(forecast_json).read_text())
    curves = {k: np.asarray(v) for k, v in d["multi_step_mse"].items()}
    return (markdown_table_html(table(d["next_step"], curves)) +
            "<p style='font-size:12px'>Test split; MSE in store units on the μ-law-decoded "
            "signal; 'repeat last' is the no-skill baseline.</p>")


def build_report(result: dict[str, Any], real: RealSegments, signals: dict[str, np.ndarray],
                 out_dir: str | Path, *, runs: dict[str, Path] | None = None,
                 forecast_json: Path | None = None, title: str = "neuroseq: generated vs real"
                 ) -> Path:
    """Write ``report.html`` and one PNG per figure into ``out_dir``; returns the HTML path."""
    import mne

    plt = _plt()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep = mne.Report(title=title, verbose="error")
    det = result["details"]
    rep.add_html(headline_html(result["rows"], det.get("not_applicable"),
                               det.get("passband_hz")), title="Headline", section="summary")
    if forecast_json:
        rep.add_html(forecast_html(forecast_json), title="Forecasting", section="summary")
    rep.add_html(metrics_html(result["rows"]), title="All metrics", section="summary")
    figs = {"psd_generated": (psd_figure(result), "Power spectra"),
            "traces": (traces_figure(real, signals), "Real vs generated traces"),
            "evoked": (evoked_figure(result, real.sfreq), "Evoked responses"),
            "topomaps": (topomap_figure(result, real), "Evoked topomaps"),
            "correlation": (correlation_figure(real, signals, result["rows"]),
                            "Channel covariance structure (correlation matrices)"),
            "hmm": (hmm_figure(result), "TDE-HMM state statistics"),
            "forecast": (forecast_figure(forecast_json) if forecast_json else None,
                         "Forecasting"),
            "training": (training_figure(runs or {}), "Training curves")}
    for key, (fig, caption) in figs.items():
        if fig is None:
            continue
        fig.savefig(out / f"{key}.png", dpi=110)
        rep.add_figure(fig, title=caption, section="figures", image_format="png")
        plt.close(fig)
    path = out / "report.html"
    rep.save(path, overwrite=True, open_browser=False, verbose="error")
    return path
