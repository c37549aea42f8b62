"""Linear autoregressive baselines of GPT2MEG (``../shared/research/gpt2meg_eegpt.md`` §1.4).

Order-``p`` AR fitted by least squares on continuous data in the tokenizer's normalised domain
(robust-scaled, as the paper's AR runs on unquantised robust-scaled data): per channel
(univariate, ``mode="channel"``) or jointly (multivariate VAR, ``mode="multivariate"``).
Generation runs the filter driven by Gaussian noise with the residual (co)variance.  Also
:class:`RepeatLast`, which predicts the previous value.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from neuroseq.errors import DataError
from neuroseq.models.hub import HubModel


def _lagged(x: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Design ``[T-p, C, p]`` (most recent lag first) and targets ``[T-p, C]`` of ``x[C, T]``."""
    c, t = x.shape
    if t <= p:
        raise DataError(f"a segment of {t} samples is too short for an AR of order {p}.")
    win = np.lib.stride_tricks.sliding_window_view(x, p, axis=1)[:, :-1]  # [C, T-p, p]
    return np.ascontiguousarray(win[:, :, ::-1].transpose(1, 0, 2)), x[:, p:].T


_BLOCK = 8192  # samples per least-squares block


class LinearAR(nn.Module, HubModel):
    """Order-``p`` linear AR, per channel or multivariate.

    Parameters
    ----------
    n_chans : int
    order : int
        Lags (20 in the paper's code).
    mode : "channel" | "multivariate"
    ridge : float
        Tikhonov regularisation of the normal equations (relative to their trace).
    """

    def __init__(self, n_chans: int, order: int = 20,
                 mode: Literal["channel", "multivariate"] = "channel", ridge: float = 1e-6,
                 sfreq: float = 100.0) -> None:
        super().__init__()
        if mode not in ("channel", "multivariate"):
            raise ValueError(f"mode must be 'channel' or 'multivariate', got {mode!r}.")
        self.n_chans, self.order, self.mode = n_chans, order, mode
        self.ridge, self.sfreq = ridge, sfreq
        self.context = order
        shape = (n_chans, order) if mode == "channel" else (n_chans, n_chans * order)
        self.register_buffer("coef", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("intercept", torch.zeros(n_chans, dtype=torch.float64))
        self.register_buffer("noise", torch.zeros(n_chans, n_chans, dtype=torch.float64))

    def fit(self, segments: list[np.ndarray]) -> LinearAR:
        """Least squares on ``[C, T]`` segments (normalised domain); residual covariance kept."""
        p, c = self.order, self.n_chans
        k = p if self.mode == "channel" else c * p
        shape = (c, k + 1, k + 1) if self.mode == "channel" else (k + 1, k + 1)
        xtx, xty = np.zeros(shape), np.zeros((c, k + 1) if self.mode == "channel" else (k + 1, c))
        for seg in segments:
            if seg.shape[0] != c:
                raise DataError(f"segment has {seg.shape[0]} channels, the AR {c}.")
            seg = np.asarray(seg, dtype=np.float64)
            if seg.shape[1] <= p:
                raise DataError(f"a segment of {seg.shape[1]} samples is too short for an AR "
                                f"of order {p}.")
            for a in range(0, seg.shape[1] - p, _BLOCK):  # blocks of time keep memory flat
                lag, y = _lagged(seg[:, a:a + _BLOCK + p], p)
                if self.mode == "channel":  # batched over channels: [C, N, k+1]
                    d = np.concatenate([lag, np.ones(lag.shape[:2] + (1,))], 2).transpose(1, 0, 2)
                    dt = d.transpose(0, 2, 1)
                    xtx += dt @ d
                    xty += (dt @ y.T[..., None])[..., 0]
                else:
                    d = np.concatenate([lag.reshape(len(lag), -1), np.ones((len(lag), 1))], 1)
                    xtx += d.T @ d
                    xty += d.T @ y
        eye = np.eye(k + 1)
        lam = self.ridge * np.trace(xtx, axis1=-2, axis2=-1)[..., None, None] / (k + 1)
        sol = np.linalg.solve(xtx + lam * eye, xty[..., None] if self.mode == "channel" else xty)
        if self.mode == "channel":
            w = sol[..., 0]
            self.coef.copy_(torch.from_numpy(w[:, :k]))
            self.intercept.copy_(torch.from_numpy(w[:, k]))
        else:
            self.coef.copy_(torch.from_numpy(sol[:k].T))
            self.intercept.copy_(torch.from_numpy(sol[k]))
        res = [self._residuals(np.asarray(s[:, a:a + _BLOCK + p], dtype=np.float64))
               for s in segments for a in range(0, s.shape[1] - p, _BLOCK)]
        r = np.concatenate(res, axis=0)
        cov = np.cov(r.T) if self.mode == "multivariate" else np.diag(r.var(axis=0))
        self.noise.copy_(torch.from_numpy(np.linalg.cholesky(cov + 1e-12 * np.eye(c))))
        return self

    def _residuals(self, seg: np.ndarray) -> np.ndarray:
        lag, y = _lagged(seg, self.order)
        return y - self._predict(torch.from_numpy(lag)).numpy()

    def _predict(self, lag: torch.Tensor) -> torch.Tensor:
        """Next values ``[N, C]`` from lags ``[N, C, p]`` (most recent first)."""
        if self.mode == "channel":
            return (lag * self.coef).sum(-1) + self.intercept
        return lag.reshape(len(lag), -1) @ self.coef.T + self.intercept

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One-step predictions ``[B, C, T-p]`` of ``x[B, C, T]`` for positions ``p…T-1``."""
        b, c, t = x.shape
        win = x.double().unfold(2, self.order, 1)[:, :, :-1].flip(-1)  # [B, C, T-p, p]
        lag = win.permute(0, 2, 1, 3).reshape(-1, c, self.order)
        return self._predict(lag).view(b, t - self.order, c).transpose(1, 2)

    @torch.no_grad()
    def generate(self, context: torch.Tensor, n_steps: int, *, noise: bool = True,
                 seed: int = 0) -> torch.Tensor:
        """Run the filter from ``context[B, C, Tc]`` (Tc ≥ order) for ``n_steps``."""
        b, c, tc = context.shape
        if tc < self.order:
            raise DataError(f"the AR needs {self.order} context samples, got {tc}.")
        g = torch.Generator().manual_seed(seed)
        hist = context[..., -self.order:].double().flip(-1).clone()  # most recent first
        out = torch.empty(b, c, n_steps, dtype=torch.float64)
        for i in range(n_steps):
            nxt = self._predict(hist)
            if noise:
                nxt = nxt + torch.randn(b, c, generator=g, dtype=torch.float64) @ self.noise.T
            out[..., i] = nxt
            hist = torch.cat([nxt[..., None], hist[..., :-1]], dim=-1)
        return out.float()


class RepeatLast(nn.Module):
    """Predicts the previous token/value: the trivial forecaster."""

    context = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predictions for positions ``1…T-1`` of ``x[B, C, T]``."""
        return x[..., :-1]
