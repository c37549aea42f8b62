"""Reliability: SIGKILL mid-epoch then resume gives the uninterrupted weights; DDP on 2 CPUs."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import lightning as L
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset
    from neuroseq.training import TaskModule, TrainConfig, fit
    from neuroseq.training.loader import ResumableLoader

    run_dir, kill_at = sys.argv[1], int(sys.argv[2])

    class Kill(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    def mse(model, batch):
        x, y = batch
        return nn.functional.mse_loss(model(x), y), {}

    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 4, generator=g)
    ds = TensorDataset(x, x @ torch.tensor([1.0, -2.0, 0.5, 3.0])[:, None])
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    module = TaskModule(net, mse, lr=0.05, max_steps=30, warmup_steps=3)
    fit(module, ResumableLoader(ds, batch_size=8, seed=1), run_dir=run_dir,
        cfg=TrainConfig(max_steps=30, checkpoint_every_n_steps=5, progress=False,
                        loggers=("csv",)),
        callbacks=[Kill()] if kill_at else None)
    torch.save(module.model.state_dict(), os.path.join(run_dir, "final.pt"))
""")


def _run(script, run_dir, kill_at):
    return subprocess.run([sys.executable, str(script), str(run_dir), str(kill_at)],
                          capture_output=True, text=True, env=os.environ | {"PYTHONHASHSEED": "0"})


def test_sigkill_mid_epoch_then_resume_gives_the_same_weights(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    ref = _run(script, tmp_path / "a", 0)
    assert ref.returncode == 0, ref.stderr[-2000:]
    # 13 batches per epoch: killed at step 17 (epoch 1), resumed from the step-15 checkpoint
    killed = _run(script, tmp_path / "b", 17)
    assert killed.returncode == -9
    assert (tmp_path / "b" / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "b" / "final.pt").exists()
    resumed = _run(script, tmp_path / "b", 0)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = torch.load(tmp_path / "a" / "final.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "final.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    info = json.loads((tmp_path / "b" / "run.json").read_text())
    assert info["resumed_from"].endswith("last.ckpt") and info["global_step"] == 30
    steps = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert len(steps) == len((tmp_path / "a" / "metrics.csv").read_text().splitlines())


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without distributed")
def test_ddp_two_cpu_processes_train_a_50m_parameter_preset(sim_store, tmp_path):
    """Scale-out: DDP across two CPU processes (gloo) on the width-1024 preset cut to 4 layers
    (≥ 50 M parameters); both ranks step together and the saved weights moved."""
    from safetensors.torch import load_file

    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "neuroseq.cli", "pretrain", "--config",
           "configs/gpt2meg_tiny.yaml", "--out", str(run), f"data.store={sim_store}",
           "train.max_steps=3", "train.accelerator=cpu", "train.devices=2",
           "train.strategy=ddp", "train.val_check_interval=null", "model.preset=wide",
           "model.n_layers=4", "model.context=32", "data.window=33", "data.batch_size=1",
           "train.checkpoint_every_n_steps=100"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=root,
                         env=os.environ | {"NEUROSEQ_PROGRESS": "off", "OMP_NUM_THREADS": "1"},
                         timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads((run / "run.json").read_text())
    assert info["global_step"] == 3 and info["config"]["train"]["devices"] == 2
    assert np.isfinite(info["metrics"]["train_loss"])
    weights = load_file(str(run / "model" / "model.safetensors"))
    assert sum(w.numel() for w in weights.values()) >= 50_000_000
    assert "last.ckpt" in info["checkpoints_sha256"]
