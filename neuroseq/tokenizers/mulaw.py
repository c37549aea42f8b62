"""μ-law tokenizer: the GPT2MEG scheme (Csaky et al.; ``../shared/research/gpt2meg_eegpt.md`` §1.2).

Per channel: robust scaling (median / inter-quartile range) fitted on training data, clipping at
±4 robust units, max-abs scaling to [-1, 1] fitted on the clipped training data, μ-law
companding with μ = 255, and uniform quantisation of the companded value into 256 levels.

Bin centres: the original encoder rounds ``(y + 1) / 2 · μ`` to the nearest integer ``q`` but its
decoder expands ``(q − 0.5) · 2 / μ − 1``, half a bin below the value ``q`` was rounded to.  We
decode to the grid point ``q · 2 / (n − 1) − 1`` itself, so the companded error is at most half a
bin, ``1 / (n − 1)``, and codes stay identical to the original's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from neuroseq.errors import DataError
from neuroseq.tokenizers import _mulaw_kernels as _kernels
from neuroseq.tokenizers.base import InvalidCodes, Tokenizer, check_finite


def robust_stats(arrays: list[np.ndarray], max_samples: int = 2_000_000,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel median and inter-quartile range of ``[C, T]`` arrays.

    Uses at most ``max_samples`` evenly spaced samples per channel.  Returns
    ``(median, iqr, samples)``; refuses channels whose IQR is zero (flat).
    """
    total = sum(a.shape[1] for a in arrays)
    step = max(1, int(np.ceil(total / max_samples)))
    x = np.concatenate(arrays, axis=1)[:, ::step] if len(arrays) > 1 else arrays[0][:, ::step]
    q25, med, q75 = np.percentile(x, [25, 50, 75], axis=1)
    iqr = q75 - q25
    if np.any(iqr <= 0):
        raise DataError(f"channels {np.flatnonzero(iqr <= 0)[:5].tolist()} have zero inter-"
                        "quartile range in the training data (flat); drop them before fitting.")
    return med, iqr, x


def compand(z: torch.Tensor, mu: float) -> torch.Tensor:
    """μ-law: ``sign(z) · ln(1 + μ|z|) / ln(1 + μ)`` for ``z`` in [-1, 1]."""
    return torch.log1p(z.abs() * mu).mul_(1.0 / float(np.log1p(mu))).copysign_(z)


def expand(y: torch.Tensor, mu: float) -> torch.Tensor:
    """Inverse μ-law: ``sign(y) · ((1 + μ)^|y| − 1) / μ``."""
    return torch.expm1(y.abs() * float(np.log1p(mu))).mul_(1.0 / mu).copysign_(y)


class MuLawTokenizer(Tokenizer):
    """Per-channel μ-law tokens (GPT2MEG).

    Parameters
    ----------
    mu : float
        Companding constant (255 in the paper).
    n_bins : int
        Quantisation levels, i.e. the vocabulary (256 in the paper; 1024 also common).
    clip : float | None
        Clip at ±``clip`` robust units before max-abs scaling (4 in the paper).
    robust : bool
        Fit the median/IQR scaling; ``False`` when the data are already robust-scaled.
    max_fit_samples : int
        Samples per channel used to fit the scalers (evenly spaced).
    """

    kind: ClassVar[str] = "mulaw"
    fused_checks: ClassVar[bool] = True

    def __init__(self, mu: float = 255.0, n_bins: int = 256, clip: float | None = 4.0,
                 robust: bool = True, max_fit_samples: int = 2_000_000) -> None:
        super().__init__()
        if mu <= 0 or n_bins < 2:
            raise ValueError(f"need mu > 0 and n_bins >= 2, got mu={mu}, n_bins={n_bins}.")
        if clip is not None and clip <= 0:
            raise ValueError(f"clip must be positive or None, got {clip}.")
        self.mu, self.n_bins, self.clip = float(mu), int(n_bins), clip
        self.robust, self.max_fit_samples = robust, int(max_fit_samples)
        self.center = self.scale = None  # per-channel float64: x -> (x - center) / scale in [-1, 1]
        self._cache: dict[str, torch.Tensor] = {}

    @property
    def vocab_size(self) -> int:
        return self.n_bins

    def config(self) -> dict[str, Any]:
        return {"mu": self.mu, "n_bins": self.n_bins, "clip": self.clip, "robust": self.robust,
                "max_fit_samples": self.max_fit_samples}

    def _fit(self, arrays: list[np.ndarray], **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"MuLawTokenizer.fit got unexpected arguments {sorted(kwargs)}.")
        if self.robust:
            med, iqr, x = robust_stats(arrays, self.max_fit_samples)
            r = (x - med[:, None]) / iqr[:, None]
        else:
            med = np.zeros(arrays[0].shape[0])
            iqr = np.ones_like(med)
            r = robust_stats(arrays, self.max_fit_samples)[2]
        if self.clip is not None:
            r = np.clip(r, -self.clip, self.clip)
        maxabs = np.abs(r).max(axis=1)
        if np.any(maxabs <= 0):
            raise DataError(f"channels {np.flatnonzero(maxabs <= 0)[:5].tolist()} are zero in "
                            "the training data; drop them before fitting.")
        self.center, self.scale = med.astype(np.float64), (iqr * maxabs).astype(np.float64)
        self._cache.clear()

    # -- fast paths: fused numba kernels (``_mulaw_kernels``); torch for huge vocabularies ----
    def _affine(self) -> tuple[torch.Tensor, torch.Tensor]:
        if "a" not in self._cache:
            a = 1.0 / self.scale
            self._cache["a"] = torch.from_numpy(a.astype(np.float32))[:, None]
            self._cache["b"] = torch.from_numpy((-self.center * a).astype(np.float32))[:, None]
        return self._cache["a"], self._cache["b"]

    def grid(self) -> torch.Tensor:
        """Companded value of each code (the bin centres), shape ``[n_bins]``."""
        return torch.linspace(-1.0, 1.0, self.n_bins, dtype=torch.float64)

    def _table(self) -> torch.Tensor:
        if "table" not in self._cache:
            z = expand(self.grid(), self.mu).numpy()
            t = z[None, :] * self.scale[:, None] + self.center[:, None]
            self._cache["table"] = torch.from_numpy(t.astype(np.float32))
        return self._cache["table"]

    def values(self) -> torch.Tensor:
        """Normalised value (in [-1, 1], before companding) of each code, ``[n_bins]``."""
        return expand(self.grid(), self.mu).float()

    def quantise(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (long) of values already in the normalised domain (e.g. AR predictions)."""
        y = compand(z.double().clamp(-1.0, 1.0), self.mu)
        return ((y + 1.0) * (0.5 * (self.n_bins - 1)) + 0.5).floor().long()

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Signal to the clipped [-1, 1] domain that is companded."""
        a, b = self._affine()
        return torch.addcmul(b, x, a).clamp_(-1.0, 1.0)

    def _blocks(self, shape: torch.Size) -> list[tuple[int, slice]]:
        """(batch, channel slice) blocks of ~1 M samples, so every pass stays in cache."""
        rows = max(1, (1 << 20) // max(1, shape[-1]))
        return [(i, slice(c, c + rows)) for i in range(shape[0])
                for c in range(0, shape[1], rows)]

    def _steps(self) -> tuple[np.ndarray, np.ndarray, float] | None:
        if "steps" not in self._cache:
            self._cache["steps"] = _kernels.step_table(self.mu, self.n_bins)
        return self._cache["steps"]

    def _code_dtype(self) -> torch.dtype:
        return torch.uint8 if self.n_bins <= 256 else torch.int16 if self.n_bins <= 32767 \
            else torch.int32

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        steps = self._steps()
        if steps is None:  # a vocabulary too fine for the lookup table
            check_finite(x)
            return self._encode_torch(x)
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        out = torch.empty(x.shape, dtype=self._code_dtype())
        xs = np.ascontiguousarray(x.detach().cpu().numpy()).reshape(-1, x.shape[-1])
        a, b = 1.0 / self.scale, -self.center / self.scale
        if not _kernels.encode(xs, a, b, *steps, out.numpy().reshape(xs.shape)):
            check_finite(x)  # raises, naming the first non-finite sample
        return out

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        out = torch.empty(codes.shape, dtype=torch.float32)
        c = np.ascontiguousarray(codes.detach().cpu().numpy()).reshape(-1, codes.shape[-1])
        if not _kernels.decode(c, self._table().numpy(), out.numpy().reshape(c.shape)):
            raise InvalidCodes
        return out

    def _encode_torch(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self._affine()
        out = torch.empty(x.shape, dtype=self._code_dtype())
        half = 0.5 * (self.n_bins - 1)
        for i, c in self._blocks(x.shape):
            z = torch.addcmul(b[c], x[i, c], a[c]).clamp_(-1.0, 1.0)
            y = compand(z, self.mu).add_(1.0).mul_(half).add_(0.5).floor_()
            out[i, c] = y.clamp_(0, self.n_bins - 1)
        return out

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"center": torch.from_numpy(self.center), "scale": torch.from_numpy(self.scale)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.center = state["center"].double().numpy()
        self.scale = state["scale"].double().numpy()
        self._cache.clear()
