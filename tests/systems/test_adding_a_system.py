"""A system declared in this file alone — one module's worth of code plus one config — trains,
evaluates and loads back through the CLI and the one runner (docs/adding_a_system.md)."""

import json

import pytest
import torch
import yaml
from click.testing import CliRunner
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from neuroseq import systems
from neuroseq.cli import main
from neuroseq.data.windows import WindowDataset
from neuroseq.errors import NeuroseqError
from neuroseq.training.run import RunContext, Stage, System


class NextSample(nn.Module, PyTorchModelHubMixin):
    """Predicts every channel's next sample from its last ``order`` samples (one causal filter)."""

    def __init__(self, order: int = 4) -> None:
        super().__init__()
        self.order = order
        self.filter = nn.Conv1d(1, 1, order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        return self.filter(x.reshape(b * c, 1, t)).reshape(b, c, -1)  # [B, C, T - order + 1]


def next_sample_mse(model: nn.Module, batch: dict) -> tuple[torch.Tensor, dict]:
    x = batch["x"]
    pred, target = model(x)[..., :-1], x[..., model.order:]
    keep = batch["mask"][..., None].to(x.dtype)
    loss = (((pred - target) ** 2) * keep).sum() / (keep.sum() * target.shape[-1])
    n = keep.sum() * target.shape[-1]
    copy = x[..., model.order - 1:-1]  # the same target from "the next sample is this one"
    return loss, {"zero_mse": ((target ** 2) * keep).sum() / n,
                  "repeat_mse": (((copy - target) ** 2) * keep).sum() / n}


def windows(ctx: RunContext) -> dict:
    d = ctx.cfg["data"]
    train = WindowDataset(ctx.store, d["window"], d["window"] // 2, split="train")
    ctx.meta |= {"model_kind": "next_sample", "sfreq": train.sfreq}
    return {"train": train, "val": WindowDataset(ctx.store, d["window"], split="val")}


def val_scores(ctx: RunContext, model: nn.Module, sets: dict) -> dict:
    batch = torch.utils.data.default_collate([sets["val"][i] for i in range(len(sets["val"]))])
    with torch.no_grad():
        loss, m = next_sample_mse(model.eval(), batch)
    return {"val_mse": float(loss), "zero_predictor_mse": float(m["zero_mse"]),
            "repeat_last_mse": float(m["repeat_mse"])}


TOY = System(
    name="toy_next_sample", description="linear next-sample prediction (a test)",
    defaults={"data": {"window": 64}, "model": {"kind": "next_sample", "order": 4}},
    stages={"pretrain": Stage(
        datasets=windows, model=lambda ctx: NextSample(ctx.cfg["model"]["order"]),
        objective=lambda ctx: next_sample_mse, evaluate=val_scores,
        summary=lambda res: [f"val mse {res['val_mse']:.4f} (predicting zero "
                             f"{res['zero_predictor_mse']:.4f}, repeating the last sample "
                             f"{res['repeat_last_mse']:.4f})"],
        models={"next_sample": NextSample})},
    accepts={"model": (NextSample,)},
)


@pytest.fixture
def toy():
    systems.register(TOY, replace=True)
    yield TOY
    systems.SYSTEMS.pop(TOY.name)


def test_a_system_declared_here_trains_through_the_cli(toy, sim_store, tmp_path):
    config = tmp_path / "toy.yaml"  # the system's one config preset
    config.write_text(yaml.safe_dump({
        "system": "toy_next_sample", "data": {"window": 64, "batch_size": 8},
        "model": {"order": 4}, "optim": {"lr": 0.05, "warmup_steps": 0},
        "train": {"max_steps": 100, "loggers": ["csv"], "val_check_interval": 30}}))
    run = tmp_path / "run"
    r = CliRunner().invoke(main, ["pretrain", "--config", str(config), f"data.store={sim_store}",
                                  "-o", str(run)])
    assert r.exit_code == 0, r.output
    assert "val mse" in r.output and "repeating the last sample" in r.output  # its summary
    for need in ("config.yaml", "meta.json", "model", "run.json", "results.json",
                 "checkpoints/last.ckpt"):
        assert (run / need).exists(), need
    res = json.loads((run / "results.json").read_text())
    # it learned the signal's dynamics: well below predicting zero and below repeating the last
    # sample (a target shifted onto the input makes repeat-last perfect, and this fail)
    assert res["val_mse"] < 0.6 * res["zero_predictor_mse"]
    assert res["val_mse"] < 0.8 * res["repeat_last_mse"]
    model, tok, meta = systems.load_run(run)
    assert isinstance(model, NextSample) and tok is None and meta["system"] == "toy_next_sample"
    r = CliRunner().invoke(main, ["finetune", "--config", str(config),
                                  f"data.store={sim_store}", "-o", str(tmp_path / "ft")])
    assert r.exit_code == 2 and "has no 'finetune' stage" in r.output


def test_config_keys_are_checked_against_the_systems_own_defaults(toy):
    cfg = systems.load_config(None, ["system=toy_next_sample", "data.window=32"])
    assert cfg["data"]["window"] == 32 and "condition_map" not in cfg["data"]
    with pytest.raises(NeuroseqError, match="unknown configuration key 'data.patches'"):
        systems.load_config(None, ["system=toy_next_sample", "data.patches=4"])
    with pytest.raises(NeuroseqError, match="model.ordr .did you mean model.order"):
        systems.load_config(None, ["system=toy_next_sample", "model.ordr=3"])
    with pytest.raises(NeuroseqError, match="unknown system 'nope'"):
        systems.load_config(None, ["system=nope"])
