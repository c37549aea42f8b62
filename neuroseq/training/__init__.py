"""Training engine: one LightningModule for any model + objective, and a Trainer from config."""

from neuroseq.training.module import TaskModule
from neuroseq.training.trainer import TrainConfig, fit

__all__ = ["TaskModule", "TrainConfig", "fit"]
