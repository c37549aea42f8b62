"""The equal-budget generator benchmark's results as people read them: a Markdown report
(budgets, headline table, learning curves, drift) and the learning-curve figure
(:mod:`neuroseq.experiments.generator_benchmark` runs the benchmark)."""

from __future__ import annotations

from typing import Any

from neuroseq.experiments.generator_benchmark import CURVE_METRICS, GOAL_METRICS


def markdown(results: dict[str, Any]) -> str:
    """The results as Markdown: budgets, headline table, learning curves, drift."""
    from neuroseq.evaluation.headline import headline_table

    lines = [f"Training budget: {results['minutes']:g} CPU minutes shared equally by the "
             f"gradient-trained models (seed {results['seed']}, batch "
             f"{results['batch_size']}); the linear ARs are closed-form fits.", "",
             "| model | steps | s/step | training s |", "|---|---|---|---|"]
    for n, m in results["models"].items():
        sps = f"{m['seconds_per_step']:.2f}" if m.get("seconds_per_step") else "—"
        lines.append(f"| {n} | {m.get('steps') or 'closed form'} | {sps} | {m['train_s']} |")
    f = results["final"]
    lines += ["", f"## Headline (test split, {f['n_samples']} samples per signal)", "",
              headline_table(f["rows"], f.get("not_applicable"), f.get("passband_hz")), "",
              f"## Learning curves (first {results['curve_seconds']:g} s of each generation)",
              "", "| model | step | training s | " + " | ".join(CURVE_METRICS) + " |",
              "|---" * (3 + len(CURVE_METRICS)) + "|"]

    def fmt(v: Any) -> str:
        return "—" if v is None else f"{v:.3f}"

    for n, pts in results["curves"]["models"].items():
        for p in pts:
            lines.append(f"| {n} | {p['step']} | {p['train_s']} | " +
                         " | ".join(fmt(p.get(k)) for k in CURVE_METRICS) + " |")
    for n, r in results["curves"]["references"].items():
        lines.append(f"| {n} | — | — | " + " | ".join(fmt(r.get(k)) for k in CURVE_METRICS)
                     + " |")
    lines += ["", "Validation next-token cross-entropy (nats; val split, 20 batches) at each "
              "point:", ""]
    lines += [f"- {n}: " + ", ".join(f"{v:.3f} at step {s}" for s, v in pts)
              for n, pts in results.get("val_ce", {}).items()]
    sel = results["selection"]
    lines += ["", f"## Sampling settings chosen on the validation split ({sel['model']}, final "
              f"weights, {sel['n_samples']} samples)", "",
              f"Rule, fixed before the run: most of the five goal metrics "
              f"({', '.join(GOAL_METRICS)}) better than {sel['baseline']}, ties broken by mean "
              f"rank.  **Chosen: {sel['chosen']}.**", "",
              "| setting | wins vs " + sel["baseline"] + " (of 5) | mean rank |", "|---|---|---|"]
    lines += [f"| {k} | {v['wins']} | {v['mean_rank']:.1f} |" for k, v in sel["score"].items()]
    lines += ["", headline_table(sel["rows"], f.get("not_applicable"), f.get("passband_hz"))]
    lines += [f"\nNot judged — {k}: {v}." for k, v in sel.get("failed", {}).items()]
    samp = results["sampling"]
    lines += ["", f"## Sampling settings on the test split ({samp['model']}, final weights)", "",
              headline_table(samp["rows"], f.get("not_applicable"), f.get("passband_hz"))]
    lines += [f"\nNot judged — {k}: {v}." for k, v in samp.get("failed", {}).items()]
    d = results["drift"]
    bands = list(next(iter(d["rows"].values()))["band_power_change_db"])
    lines += ["", f"## Long-horizon drift ({d['seconds']:g} s; last vs first "
              f"{d['window_s']:g} s)", "",
              "| signal | amplitude ratio | " + " | ".join(f"{b} change (dB)" for b in bands)
              + " |", "|---" * (2 + len(bands)) + "|"]
    def db(v: float) -> str:  # a generation stuck on one code has no power left
        return "flat (< −100)" if v < -100 else f"{v:+.2f}"

    for n, r in d["rows"].items():
        lines.append(f"| {n} | {r['amplitude_ratio']:.3f} | " +
                     " | ".join(db(r['band_power_change_db'][b]) for b in bands) + " |")
    return "\n".join(lines)


def curves_figure(results: dict[str, Any]) -> Any:
    """Each curve metric against training steps, one panel per metric, references dashed."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    refs = results["curves"]["references"]
    for ax, key in zip(axes.flat, CURVE_METRICS, strict=False):
        for n, pts in results["curves"]["models"].items():
            xs = [p["step"] for p in pts if p.get(key) is not None]
            ys = [p[key] for p in pts if p.get(key) is not None]
            ax.plot(xs, ys, "o-", label=n)
        for i, (n, r) in enumerate(refs.items()):
            if r.get(key) is not None:
                ax.axhline(r[key], ls="--", lw=1, color=f"C{6 + i % 4}", label=n)
        ax.set_title(key)
        ax.set_xlabel("training step")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"Learning curves at an equal budget ({results['minutes']:g} CPU min in all)")
    fig.tight_layout()
    return fig
