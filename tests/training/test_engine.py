"""The generic LightningModule and trainer: schedule, loss falls, NaN stops, run record."""

import json

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from neuroseq.errors import NeuroseqError
from neuroseq.training import TaskModule, TrainConfig, fit
from neuroseq.training.loader import ResumableLoader
from neuroseq.training.module import warmup_cosine

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def mse(model, batch):
    x, y = batch
    loss = nn.functional.mse_loss(model(x), y)
    return loss, {"mse": loss.detach()}


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    return DataLoader(TensorDataset(x, x @ torch.tensor([1.0, -2.0, 0.5, 3.0])[:, None]),
                      batch_size=32)


def test_schedule():
    assert warmup_cosine(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(100, 10, 100, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(55, 10, 100, 0.1) == pytest.approx(0.55)


def test_fit_learns_and_records_the_run(tmp_path):
    module = TaskModule(nn.Linear(4, 1), mse, lr=0.3, max_steps=80)
    trainer = fit(module, loader(), loader(), run_dir=tmp_path,
                  cfg=TrainConfig(max_steps=80, val_check_interval=40, log_every_n_steps=5))
    info = json.loads((tmp_path / "run.json").read_text())
    assert info["metrics"]["val_loss"] < 0.05 and trainer.global_step == 80
    assert {"best.ckpt", "last.ckpt"} <= set(info["checkpoints_sha256"])
    assert info["versions"]["torch"] == torch.__version__ and info["seed"] == 0


def test_fused_adamw_and_tf32_flags_train_the_same_model(tmp_path):
    """``optim.fused`` and ``train.tf32`` are switches the GPU suite measures; on CPU they
    must train like the defaults (TF32 has no effect here, fused AdamW is the same update)."""
    runs = {}
    for fused in (False, True):
        torch.manual_seed(0)
        module = TaskModule(nn.Linear(4, 1), mse, lr=0.3, max_steps=80, fused=fused)
        fit(module, loader(), None, run_dir=tmp_path / str(fused),
            cfg=TrainConfig(max_steps=80, log_every_n_steps=5, tf32=fused, loggers=("csv",)))
        runs[fused] = module.model.weight.detach().clone()
        assert module.optimizers().optimizer.defaults["fused"] is (True if fused else None)
    assert torch.allclose(runs[False], runs[True], atol=1e-5)
    assert torch.allclose(runs[True], torch.tensor([[1.0, -2.0, 0.5, 3.0]]), atol=0.1)


def test_chunks_resumed_towards_one_schedule_equal_one_run(tmp_path):
    """Learning curves train in resumed chunks; ``schedule_steps`` keeps the one cosine decay."""

    def train(run, steps, schedule=None):
        torch.manual_seed(0)
        module = TaskModule(nn.Linear(4, 1), mse, lr=0.1, warmup_steps=4, max_steps=steps,
                            schedule_steps=schedule)
        data = ResumableLoader(loader().dataset, 32, seed=0)
        fit(module, data, None, run_dir=tmp_path / run,
            cfg=TrainConfig(max_steps=steps, checkpoint_every_n_steps=10, val_check_interval=None))
        return module.model.weight.detach().clone(), module.lr_schedulers().get_last_lr()[0]

    one, lr_one = train("one", 30)
    train("chunks", 10, schedule=30)
    train("chunks", 20, schedule=30)
    chunked, lr_chunked = train("chunks", 30, schedule=30)
    assert torch.equal(one, chunked) and lr_one == pytest.approx(lr_chunked) == pytest.approx(0.01)
    without, lr_without = train("no_schedule", 10)  # decayed to its floor after 10 steps
    assert lr_without == pytest.approx(0.01) and not torch.equal(one, without)


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    def bad(model, batch):
        loss, m = mse(model, batch)
        return loss * float("nan"), m

    with pytest.raises(NeuroseqError, match="loss is nan at step 0"):
        fit(TaskModule(nn.Linear(4, 1), bad), loader(), run_dir=tmp_path,
            cfg=TrainConfig(max_steps=5))


def test_parameter_groups_set_learning_rates_and_freeze(tmp_path):
    """Per-module learning rates (MEG-XL fine-tuning: backbone 1e-5, head 1e-3) and frozen
    modules (LoRA): the frozen part does not move, the slow part moves less than the fast."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 1))
    before = [m.weight.detach().clone() for m in model]
    groups = [{"prefix": "0.", "frozen": True}, {"prefix": "1.", "lr": 1e-4}]
    module = TaskModule(model, mse, lr=0.05, max_steps=20, param_groups=groups)
    lrs = sorted({g["lr"] for g in module.optimizer_groups()})
    assert lrs == [1e-4, 0.05] and not model[0].weight.requires_grad
    fit(module, loader(), run_dir=tmp_path, cfg=TrainConfig(max_steps=20, loggers=("csv",)))
    moved = [float((m.weight - b).abs().max()) for m, b in zip(model, before, strict=True)]
    assert moved[0] == 0.0 and 0 < moved[1] < 0.2 * moved[2]
    with pytest.raises(NeuroseqError, match="matches no parameter"):
        TaskModule(model, mse, param_groups=[{"prefix": "head.", "lr": 1e-3}])
    with pytest.raises(NeuroseqError, match="needs a 'prefix'"):
        TaskModule(model, mse, param_groups=[{"lr": 1e-3}])


def test_the_monitored_metric_and_its_direction_pick_the_best_step(tmp_path):
    def scored(model, batch):
        loss, _ = mse(model, batch)
        return loss, {"neg": -loss.detach()}  # higher is better

    def run(name, mode):
        module = TaskModule(nn.Linear(4, 1), scored, lr=0.3, max_steps=80)
        cfg = TrainConfig(max_steps=80, val_check_interval=10, early_stopping_patience=2,
                          monitor=name, monitor_mode=mode, log_every_n_steps=5)
        fit(module, loader(), loader(), run_dir=tmp_path / f"{name}_{mode}", cfg=cfg)
        return json.loads((tmp_path / f"{name}_{mode}" / "run.json").read_text())

    by_loss, by_score, wrong_way = run("val_loss", "min"), run("val_neg", "max"), \
        run("val_neg", "min")
    assert by_score["best_step"] == by_loss["best_step"] >= 40  # the loss keeps falling
    assert wrong_way["early_stopped"] and wrong_way["best_step"] == 10  # the worst is first
    with pytest.raises(NeuroseqError, match="monitor_mode"):
        fit(TaskModule(nn.Linear(4, 1), mse), loader(), loader(), run_dir=tmp_path / "x",
            cfg=TrainConfig(max_steps=2, monitor_mode="median"))


def _diverging_val():
    """Validation whose targets are the negated training targets: learning makes it worse."""
    x, y = loader().dataset.tensors
    return DataLoader(TensorDataset(x, -y), batch_size=32)


def test_an_early_stopped_run_resumed_stays_stopped_and_an_interrupted_one_stops_alike(
        tmp_path):
    """Running a finished, early-stopped run again does not train further (it once went on
    for another ``patience`` checks), and a run cut short resumes its patience where it was."""

    def run(folder, max_steps=200, schedule=200):
        torch.manual_seed(0)
        module = TaskModule(nn.Linear(4, 1), mse, lr=0.05, max_steps=max_steps,
                            schedule_steps=schedule)
        cfg = TrainConfig(max_steps=max_steps, val_check_interval=8, early_stopping_patience=3,
                          checkpoint_every_n_steps=8, log_every_n_steps=4)
        fit(module, ResumableLoader(loader().dataset, 32, seed=0), _diverging_val(),
            run_dir=tmp_path / folder, cfg=cfg)
        info = json.loads((tmp_path / folder / "run.json").read_text())
        return info, module.model.weight.detach().clone()

    once, w_once = run("once")
    assert once["early_stopped"] and once["best_step"] == 8 and once["global_step"] == 32
    again, w_again = run("once")
    assert again["global_step"] == once["global_step"] and torch.equal(w_again, w_once)
    run("cut", max_steps=16)  # two checks, the second already worse
    resumed, w_resumed = run("cut")
    assert resumed["global_step"] == once["global_step"] and torch.equal(w_resumed, w_once)


def test_a_finished_run_run_again_keeps_its_record_and_weights(tmp_path):
    """Running a run that reached ``max_steps`` again trains nothing and keeps its run.json
    (it was once rewritten with empty metrics); a longer ``max_steps`` still continues it."""

    def run(steps):
        torch.manual_seed(0)
        module = TaskModule(nn.Linear(4, 1), mse, lr=0.1, max_steps=steps, schedule_steps=20)
        fit(module, ResumableLoader(loader().dataset, 32, seed=0), None, run_dir=tmp_path,
            cfg=TrainConfig(max_steps=steps, checkpoint_every_n_steps=5, val_check_interval=None))
        return json.loads((tmp_path / "run.json").read_text()), module.model.weight.detach()

    first, w_first = run(10)
    again, w_again = run(10)
    assert again == first and torch.equal(w_again, w_first) and first["metrics"]
    longer, _ = run(20)
    assert longer["global_step"] == 20
