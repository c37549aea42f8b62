"""Scaling sweep (``neuroseq sweep``): EEGPT ETE sizes × pretraining-data fractions.

For every size and data fraction the sweep pretrains an ETE (``neuroseq pretrain``'s code, on
that seeded share of the train windows, for the same number of steps), records its final
validation pretraining loss, fine-tunes it on the downstream tasks (``neuroseq finetune``'s code)
and records the mean balanced accuracy.  It then fits power laws by least squares in log–log
space — loss against non-embedding parameters at each fraction, and loss against training
windows at each size, ``L = a · x^(−α)`` — as Yue et al. report for EEGPT (lower pretraining
loss and better downstream accuracy with size; ``../shared/research/gpt2meg_eegpt.md`` §2).

Writes ``OUT/sweep.json`` (every run and fit), ``OUT/sweep.md`` (a table) and ``OUT/sweep.png``.
The sweep configuration (``configs/eegpt_sweep_tiny.yaml``)::

    store: PATH                         # prepared store
    pretrain: configs/eegpt_tiny.yaml   # base configurations and their overrides
    pretrain_overrides: [train.max_steps=400, data.batch_size=8]
    finetune: configs/eegpt_finetune_tiny.yaml
    finetune_overrides: [train.max_steps=150, model.freeze_ete=false, model.feature_norm=true]
    sizes: [{d_model: 16, n_layers: 1, n_heads: 2}, tiny]  # presets or explicit sizes
    fractions: [0.02, 0.1, 1.0]

Every cell trains for the same number of steps, so a fraction only matters once the steps ×
batch exceed its windows (``epochs`` in the table; a warning says when they do not).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from neuroseq.atomic import write_json_atomic, write_text_atomic
from neuroseq.errors import NeuroseqError
from neuroseq.log import logger, progress
from neuroseq.training.run_folder import RunFolder

SWEEP_KEYS = {"store", "pretrain", "pretrain_overrides", "finetune", "finetune_overrides",
              "sizes", "fractions", "graph_layers"}


def load_sweep(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> dict[str, Any]:
    """The sweep configuration with ``key=value`` overrides; unknown keys are refused."""
    from neuroseq.config import parse_overrides

    p = Path(path)
    if not p.is_file():
        raise NeuroseqError(f"sweep configuration {p} not found (see configs/eegpt_sweep_*.yaml).")
    cfg = (yaml.safe_load(p.read_text()) or {}) | parse_overrides(overrides)
    unknown = set(cfg) - SWEEP_KEYS
    if unknown:
        raise NeuroseqError(f"unknown sweep keys {sorted(unknown)}; known: {sorted(SWEEP_KEYS)}.")
    for key in ("store", "pretrain", "finetune", "sizes", "fractions"):
        if not cfg.get(key):
            raise NeuroseqError(f"the sweep needs `{key}` (e.g. {key}=... on the command line).")
    if any(not 0 < float(f) <= 1 for f in cfg["fractions"]):
        raise NeuroseqError(f"fractions must lie in (0, 1]: {cfg['fractions']}.")
    return cfg


def size_overrides(size: str | dict[str, Any]) -> dict[str, Any]:
    """A preset name or explicit ``{d_model, n_layers, n_heads}`` → model keys."""
    from neuroseq.models.eegpt import PRESETS

    if isinstance(size, str):
        if size not in PRESETS:
            raise NeuroseqError(f"unknown EEGPT preset {size!r}; choose from {sorted(PRESETS)} "
                                "or give {d_model, n_layers, n_heads}.")
        return {"preset": size}
    need = {"d_model", "n_layers", "n_heads"}
    if not isinstance(size, dict) or need - set(size):
        raise NeuroseqError(f"a sweep size is a preset name or a mapping with {sorted(need)}; "
                            f"got {size!r}.")
    return {"preset": None, **{k: int(v) for k, v in size.items()}}


def power_law(x: np.ndarray, y: np.ndarray) -> dict[str, float] | None:
    """Least-squares fit of ``y = a · x^(−alpha)`` in log–log space (None with < 2 points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if len(np.unique(x[ok])) < 2:
        return None
    lx, ly = np.log(x[ok]), np.log(y[ok])
    slope, icpt = np.polyfit(lx, ly, 1)
    resid = ly - (icpt + slope * lx)
    ss = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / ss if ss > 0 else 1.0
    return {"a": float(np.exp(icpt)), "alpha": float(-slope), "r2": r2, "n": int(ok.sum())}


def power_law_vs_flat(x: np.ndarray, y: np.ndarray) -> dict[str, Any] | None:
    """The power law beside a flat line ``y = c`` (the loss does not depend on ``x``), each
    judged by its leave-one-out error in log space (a fit with fewer free parameters is not
    favoured by a smaller in-sample error); ``better`` names the lower one.  None with fewer
    than three usable points (leaving one out must leave two distinct ``x``)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or len(np.unique(x)) < 3:
        return None
    pl = power_law(x, y)
    lx, ly = np.log(x), np.log(y)
    err_pl, err_flat = [], []
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        slope, icpt = np.polyfit(lx[keep], ly[keep], 1)
        err_pl.append(ly[i] - (icpt + slope * lx[i]))
        err_flat.append(ly[i] - ly[keep].mean())
    rmse_pl = float(np.sqrt(np.mean(np.square(err_pl))))
    rmse_flat = float(np.sqrt(np.mean(np.square(err_flat))))
    return (pl or {}) | {"flat": float(np.exp(ly.mean())), "loo_rmse_power_law": rmse_pl,
                         "loo_rmse_flat": rmse_flat,
                         "better": "power law" if rmse_pl < rmse_flat else "flat line"}


def _ete_params(run: Path) -> tuple[int, int]:
    """(non-embedding, total) parameter counts of a pretrained ETE."""
    from neuroseq.models.eegpt import ETE

    ete = ETE.from_pretrained(RunFolder(run).model_dir)
    total = sum(p.numel() for p in ete.parameters())
    return total - ete.electrode.weight.numel(), total


def run_sweep(cfg: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """Run (or resume) every size × fraction; fit, tabulate and plot; returns the summary."""
    from neuroseq.systems import load_config, run

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    grid = [(i, s, float(f)) for i, s in enumerate(cfg["sizes"]) for f in cfg["fractions"]]
    for i, size, frac in progress(grid, desc="sweep", total=len(grid)):
        model = size_overrides(size)
        sized = [f"data.store={cfg['store']}"]
        sized += [f"model.{k}={'null' if v is None else v}" for k, v in model.items()]
        over = sized + [f"data.fraction={frac}"]
        name = f"size{i}_frac{frac:g}"
        pcfg = load_config(cfg["pretrain"], over + list(cfg.get("pretrain_overrides") or []))
        prun = run(pcfg, "pretrain", out / name / "pretrain")
        info = RunFolder(prun).info()
        if "final_val_loss" not in info:
            raise NeuroseqError(f"{prun}: no validation windows, so no pretraining loss to fit; "
                                "the store needs a val split.")
        fover = sized + [f"model.pretrained={prun}"]
        if model["preset"] is None:
            fover.append(f"model.graph_layers={int(cfg.get('graph_layers') or 2)}")
        fcfg = load_config(cfg["finetune"], fover + list(cfg.get("finetune_overrides") or []))
        res = RunFolder(run(fcfg, "finetune", out / name / "finetune")).results()
        params, total = _ete_params(prun)
        epochs = info["global_step"] * pcfg["data"]["batch_size"] / info["n_train_windows"]
        if frac < 1.0 and epochs < 1.0:
            logger.warning("%s saw %.2f epochs of its data: more steps or a larger batch are "
                           "needed for the data fraction to matter.", name, epochs)
        rows.append({"size": size, "fraction": frac, "params": params, "params_total": total,
                     "train_windows": info["n_train_windows"], "epochs": epochs,
                     "val_loss": info["final_val_loss"],
                     "mean_balanced_accuracy": res["mean_balanced_accuracy"],
                     "chance": float(np.mean([v["chance"] for v in res["tasks"].values()])),
                     "tasks": {t: v["balanced_accuracy"] for t, v in res["tasks"].items()}})
        logger.info("%s: loss %.4f, accuracy %.3f", name, rows[-1]["val_loss"],
                    rows[-1]["mean_balanced_accuracy"])
    summary = {"rows": rows, "fits": fits(rows)}
    write_json_atomic(out / "sweep.json", summary)
    write_text_atomic(out / "sweep.md", table(summary))
    figure(summary).savefig(out / "sweep.png", dpi=120, bbox_inches="tight")
    return summary


def fits(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Power laws of loss in parameters (per fraction) and in training windows (per size)."""
    out: dict[str, Any] = {"loss_vs_params": {}, "loss_vs_data": {}}
    for f in sorted({r["fraction"] for r in rows}):
        sel = [r for r in rows if r["fraction"] == f]
        xy = [r["params"] for r in sel], [r["val_loss"] for r in sel]
        out["loss_vs_params"][f"{f:g}"] = power_law_vs_flat(*xy) or power_law(*xy)
    for p in sorted({r["params"] for r in rows}):
        sel = [r for r in rows if r["params"] == p]
        xy = [r["train_windows"] for r in sel], [r["val_loss"] for r in sel]
        out["loss_vs_data"][str(p)] = power_law_vs_flat(*xy) or power_law(*xy)
    return out


def table(summary: dict[str, Any]) -> str:
    """Markdown: one row per run, then the fits."""
    lines = ["| size | params (non-emb.) | data fraction | train windows | epochs | val loss | "
             "mean balanced acc (chance) |", "|---|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        z = r["size"]
        size = z if isinstance(z, str) else \
            f"width {z['d_model']}, {z['n_layers']} layers, {z['n_heads']} heads"
        lines.append(f"| {size} | {r['params']:,} | {r['fraction']:g} | "
                     f"{r['train_windows']} | {r['epochs']:.2f} | {r['val_loss']:.4f} | "
                     f"{r['mean_balanced_accuracy']:.3f} ({r['chance']:.3f}) |")
    lines.append("\nPower laws `L = a · x^(-alpha)` (least squares in log–log):\n")
    for kind, label in (("loss_vs_params", "fraction"), ("loss_vs_data", "params")):
        for key, f in summary["fits"][kind].items():
            if f:
                line = (f"- {kind} at {label} {key}: alpha {f['alpha']:.3f}, "
                        f"a {f['a']:.4g}, R² {f['r2']:.2f} ({f['n']} points)")
                if "better" in f:
                    line += (f"; flat line {f['flat']:.4f}; leave-one-out RMSE (log) power law "
                             f"{f['loo_rmse_power_law']:.4f} vs flat {f['loo_rmse_flat']:.4f}: "
                             f"**{f['better']}** fits better")
                lines.append(line)
    return "\n".join(lines) + "\n"


def figure(summary: dict[str, Any]) -> Any:
    """Loss vs parameters (log–log, fits dashed), loss vs data, accuracy vs parameters."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    fracs = sorted({r["fraction"] for r in rows})
    for f in fracs:
        sel = sorted((r for r in rows if r["fraction"] == f), key=lambda r: r["params"])
        x = np.array([r["params"] for r in sel])
        line = ax[0].loglog(x, [r["val_loss"] for r in sel], "o-", label=f"data {f:g}")[0]
        fit = summary["fits"]["loss_vs_params"].get(f"{f:g}")
        if fit:
            xx = np.geomspace(x.min(), x.max(), 50)
            ax[0].loglog(xx, fit["a"] * xx ** -fit["alpha"], "--", color=line.get_color(),
                         label=f"α={fit['alpha']:.3f}")
        ax[2].semilogx(x, [r["mean_balanced_accuracy"] for r in sel], "o-",
                       color=line.get_color(), label=f"data {f:g}")
    for p in sorted({r["params"] for r in rows}):
        sel = sorted((r for r in rows if r["params"] == p), key=lambda r: r["train_windows"])
        ax[1].loglog([r["train_windows"] for r in sel], [r["val_loss"] for r in sel], "o-",
                     label=f"{p:,} params")
    ax[2].axhline(float(np.mean([r["chance"] for r in rows])), color="k", ls=":", label="chance")
    ax[0].set(xlabel="ETE parameters (non-embedding)", ylabel="val next-patch loss",
              title="pretraining loss vs size")
    ax[1].set(xlabel="training windows", ylabel="val next-patch loss",
              title="pretraining loss vs data")
    ax[2].set(xlabel="ETE parameters (non-embedding)", ylabel="mean balanced accuracy",
              title="downstream accuracy vs size")
    from matplotlib.ticker import FormatStrFormatter

    for a in ax:
        a.legend(fontsize=7)
    for a in ax[:2]:  # plain numbers on the log loss axes
        a.yaxis.set_major_formatter(FormatStrFormatter("%.3f"))
        a.yaxis.set_minor_formatter(FormatStrFormatter("%.3f"))
    fig.tight_layout()
    return fig
