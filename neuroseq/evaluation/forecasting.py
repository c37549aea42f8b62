"""Forecasting evaluation: next-step scores and recursive multi-step error against horizon.

Every model is scored on the same test windows and in the same units:

- next step: cross-entropy, top-1 and top-5 accuracy on tokens, and the MSE between the
  de-quantised predicted and true tokens (normalised domain, [-1, 1]), over the positions the
  training objective scores (the last half of each window).  The linear AR predicts a value,
  quantised to a token for accuracy (it has no distribution, so no CE or top-5); "repeat last"
  predicts the previous token.
- multi-step: from the first ``window − horizon`` samples, forecast ``horizon`` steps recursively
  (greedy for token models, noise-free for the AR, constant for repeat-last) and report the MSE
  per step in the normalised domain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from neuroseq.data.collate import EncodeCollate
from neuroseq.data.windows import WindowDataset
from neuroseq.generation.sampler import SamplingConfig, generate_tokens
from neuroseq.log import progress
from neuroseq.models.linear_ar import LinearAR, RepeatLast
from neuroseq.objectives.next_token import NextTokenObjective


def _batches(ds: WindowDataset, tok: Any, batch_size: int, max_windows: int | None) -> DataLoader:
    if max_windows is not None and len(ds) > max_windows:
        idx = np.linspace(0, len(ds) - 1, max_windows).round().astype(int)
        ds = Subset(ds, idx.tolist())
    return DataLoader(ds, batch_size, collate_fn=EncodeCollate(tok, keep_signal=True))


@torch.inference_mode()
def next_step(model: nn.Module, tok: Any, ds: WindowDataset, *, loss_from: float | int = 0.5,
              batch_size: int = 8, max_windows: int | None = 256) -> dict[str, float]:
    """Mean next-step CE, accuracy, top-5 and de-quantised MSE over the test windows."""
    obj = NextTokenObjective(loss_from, grid=tok.values())
    values = tok.values()
    sums: dict[str, float] = {}
    n = 0
    for batch in progress(_batches(ds, tok, batch_size, max_windows), desc="next-step"):
        tokens = batch["tokens"]
        a = obj.first_target(tokens.shape[-1])
        target = tokens[..., a + 1:]
        if isinstance(model, LinearAR | RepeatLast):
            if isinstance(model, LinearAR):
                z = tok.normalise(batch["x"])
                pred_z = model(z)[..., a + 1 - model.order:]
                pred = tok.quantise(pred_z)
            else:
                pred = tokens[..., a:-1]
            m = {"ce": float("nan"), "acc": (pred == target).float().mean().item(),
                 "top5": float("nan"),
                 "mse": ((values[pred] - values[target]) ** 2).mean().item()}
        else:
            model.eval()
            loss, met = obj(model, batch)
            m = {"ce": loss.item(), **{k: v.item() for k, v in met.items()}}
        k = tokens.shape[0]
        for key, v in m.items():
            sums[key] = sums.get(key, 0.0) + v * k
        n += k
    return {k: v / n for k, v in sums.items()}


@torch.inference_mode()
def multi_step(model: nn.Module, tok: Any, ds: WindowDataset, *, horizon: int = 20,
               batch_size: int = 8, max_windows: int | None = 64) -> np.ndarray:
    """MSE per forecast step ``[horizon]`` (normalised domain), recursive from real context."""
    values = tok.values()
    total, n = torch.zeros(horizon, dtype=torch.float64), 0
    for batch in progress(_batches(ds, tok, batch_size, max_windows), desc="forecast"):
        tokens, x = batch["tokens"], batch["x"]
        cut = tokens.shape[-1] - horizon
        truth = values[tokens[..., cut:]]
        if isinstance(model, LinearAR):
            z = tok.normalise(x)
            pred = model.generate(z[..., :cut], horizon, noise=False).clamp(-1, 1)
        elif isinstance(model, RepeatLast):
            pred = values[tokens[..., cut - 1:cut]].expand_as(truth)
        else:
            ctx = min(cut, model.context)
            codes = generate_tokens(
                model, tokens[..., cut - ctx:cut], horizon, channels=batch["sensors"]["ids"],
                subject=batch["subject"],
                condition=batch["condition"][..., cut - ctx:] if "condition" in batch else None,
                cfg=SamplingConfig(temperature=0, shift=max(1, model.context // 2)),
                desc="forecast steps")
            pred = values[codes]
        total += ((pred.double() - truth.double()) ** 2).mean(dim=(0, 1)) * tokens.shape[0]
        n += tokens.shape[0]
    return (total / n).numpy()


def table(rows: dict[str, dict[str, float]], curves: dict[str, np.ndarray]) -> str:
    """Markdown table: next-step scores and multi-step MSE at a few horizons."""
    hs = [h for h in (1, 5, 10, 20, 50) if all(len(c) >= h for c in curves.values())]
    head = "| model | CE | acc | top-5 | MSE (1 step) | " + " | ".join(
        f"MSE @{h}" for h in hs) + " |"
    lines = [head, "|" + "---|" * (5 + len(hs))]
    fmt = lambda v: "—" if v != v else f"{v:.3f}"  # noqa: E731 - NaN shown as a dash
    for name, r in rows.items():
        c = curves.get(name, np.array([]))
        lines.append(f"| {name} | {fmt(r['ce'])} | {fmt(r['acc'])} | {fmt(r['top5'])} | "
                     f"{fmt(r['mse'])} | " + " | ".join(f"{c[h - 1]:.4f}" for h in hs) + " |")
    return "\n".join(lines)


def compare(runs: dict[str, tuple[nn.Module, Any, dict[str, Any]]], *, horizon: int = 20,
            max_windows: int = 128, multi_windows: int | None = None) -> tuple[dict, dict, Any]:
    """Score loaded runs ``{name: (model, tokenizer, meta)}`` and repeat-last on the same test
    windows (the first run's store and window length).

    Returns ``(rows, curves, dataset)``: next-step scores and multi-step MSE curves per name.
    """
    from neuroseq.data.store import Store

    rows: dict[str, dict[str, float]] = {}
    curves: dict[str, np.ndarray] = {}
    ds = tok = None
    multi = multi_windows or max_windows
    for name, (model, tok, meta) in runs.items():
        if ds is None:
            ds = WindowDataset(Store(meta["store"]), meta["window"], meta["window"] // 2,
                               split="test", condition_map=meta["condition_map"],
                               subject_map=meta["subject_map"],
                               channel_vocab=meta["channel_vocab"])
        rows[name] = next_step(model, tok, ds, max_windows=max_windows)
        curves[name] = multi_step(model, tok, ds, horizon=horizon, max_windows=multi)
    rows["repeat last"] = next_step(RepeatLast(), tok, ds, max_windows=max_windows)
    curves["repeat last"] = multi_step(RepeatLast(), tok, ds, horizon=horizon,
                                       max_windows=multi)
    return rows, curves, ds


def figure(curves: dict[str, Any], sfreq: float | None = None) -> Any:
    """Multi-step MSE against horizon (ms when ``sfreq`` is given, else steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, c in curves.items():
        x = np.arange(1, len(c) + 1) * (1000 / sfreq if sfreq else 1)
        ax.plot(x, c, marker=".", label=name)
    ax.set(xlabel="forecast horizon (ms)" if sfreq else "forecast horizon (steps)",
           ylabel="MSE (normalised units)", title="Recursive forecast error")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot(curves: dict[str, np.ndarray], fname: str | Path, sfreq: float) -> Path:
    """:func:`figure` saved to ``fname``."""
    import matplotlib.pyplot as plt

    fig = figure(curves, sfreq)
    fig.savefig(fname, dpi=120)
    plt.close(fig)
    return Path(fname)
