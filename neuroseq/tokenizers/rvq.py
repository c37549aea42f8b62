"""Residual-VQ neural codec in the spirit of BioCodec (Avramidis et al., arXiv 2510.09095).

Every channel is coded on its own: it is divided by its RMS over the input, encoded by a causal
SEANet encoder (strides 2, 2, 3 → one frame per 12 samples) with an LSTM, quantised by a residual
stack of vector quantisers from ``vector-quantize-pytorch`` (default 6 levels × 256 codes, each
level with its own 128 → 16 projection, k-means init, EMA 0.99, dead-code replacement), and
decoded by the mirrored decoder.  Facts: ``../shared/research/megxl_braintotext.md`` §1.2.

The brain-to-text seed's quantiser (8 levels × 8192 codes × 256 dims) is ``preset="brain2text"``.
``preset="biocodec_official"`` (``layout="official"``) is BioCodec exactly as MEG-XL ships it, to
code with its published weights (``neuroseq convert megxl``): reflect padding, residual units of
full width, and codes chosen by cosine similarity after each level's projection.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from neuroseq.errors import DataError, NeuroseqError
from neuroseq.models.quantizers import CosineResidualQuantizer, CosineVQ, ResidualQuantizer
from neuroseq.models.seanet import SEANetDecoder, SEANetEncoder
from neuroseq.tokenizers.base import ArrayLike, Tokenizer, as_batch

_OURS = {"compress": 2, "layout": "neuroseq"}
PRESETS: dict[str, dict[str, Any]] = {
    # BioCodec's sizes, our layout (zero padding, residual units of half width, k-means
    # codebooks trained with vector-quantize-pytorch's Euclidean distance).
    "biocodec": {"dim": 128, "base": 32, "strides": (2, 2, 3), "n_residual": 2, "lstm_layers": 2,
                 "n_q": 6, "codebook_size": 256, "codebook_dim": 16} | _OURS,
    # BioCodec as shipped with MEG-XL, for its published weights (``neuroseq convert megxl``):
    # reflect padding, full-width residual units, cosine-similarity codes; frozen.
    "biocodec_official": {"dim": 128, "base": 32, "strides": (2, 2, 3), "n_residual": 2,
                          "lstm_layers": 2, "n_q": 6, "codebook_size": 256, "codebook_dim": 16,
                          "compress": 1, "layout": "official"},
    # The brain-to-text seed's RVQ: 8 × 8192 × 256.
    "brain2text": {"dim": 256, "base": 32, "strides": (2, 2, 3), "n_residual": 2,
                   "lstm_layers": 2, "n_q": 8, "codebook_size": 8192, "codebook_dim": 256} | _OURS,
    # Small enough to train in seconds on a CPU (tests, quickstart).
    "tiny": {"dim": 32, "base": 8, "strides": (2, 2, 3), "n_residual": 1, "lstm_layers": 1,
             "n_q": 4, "codebook_size": 64, "codebook_dim": 8} | _OURS,
}


class CodecModel(nn.Module):
    """Encoder → residual VQ → decoder for ``[N, 1, T]`` single-channel sequences."""

    def __init__(self, dim: int = 128, base: int = 32, strides: tuple[int, ...] = (2, 2, 3),
                 n_residual: int = 2, lstm_layers: int = 2, n_q: int = 6,
                 codebook_size: int = 256, codebook_dim: int = 16, compress: int = 2,
                 layout: str = "neuroseq") -> None:
        super().__init__()
        if layout not in ("neuroseq", "official"):
            raise ValueError(f"unknown codec layout {layout!r}; choose 'neuroseq' or 'official'.")
        arch = {"dim": dim, "base": base, "strides": tuple(strides), "n_residual": n_residual,
                "lstm_layers": lstm_layers, "compress": compress,
                "pad_mode": "reflect" if layout == "official" else "constant"}
        self.encoder, self.decoder = SEANetEncoder(**arch), SEANetDecoder(**arch)
        vq = CosineResidualQuantizer if layout == "official" else ResidualQuantizer
        self.quantizer = vq(dim, n_q, codebook_size, codebook_dim)
        self.hop = math.prod(strides)

    @staticmethod
    def rms(x: torch.Tensor) -> torch.Tensor:
        """RMS over time of each sequence, floored at 1e-8."""
        return x.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-8)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 1, T]`` → codes ``[N, n_q, T / hop]``."""
        z = self.encoder(x / self.rms(x)).transpose(1, 2)
        return self.quantizer(z)[1].transpose(1, 2)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[N, n_q, T']`` → RMS-normalised signal ``[N, 1, T' · hop]``."""
        return self.decoder(self.quantizer.decode(codes.transpose(1, 2)).transpose(1, 2))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        target = x / self.rms(x)
        q, codes, commit = self.quantizer(self.encoder(target).transpose(1, 2))
        return {"recon": self.decoder(q.transpose(1, 2)), "target": target, "codes": codes,
                "commit_loss": commit}


class CropDataset(Dataset):
    """Random single-channel crops ``{"x": [1, crop]}`` from ``[C, T]`` arrays.

    Item ``i`` is drawn by a generator seeded with ``(seed, i)``, so the sequence of crops does
    not depend on workers or on resuming.
    """

    def __init__(self, arrays: list[np.ndarray], crop: int, n_items: int, seed: int = 0) -> None:
        self.arrays = [a for a in arrays if a.shape[1] >= crop]
        if not self.arrays:
            raise DataError(f"no training array is {crop} samples long; lower the crop length.")
        sizes = np.array([a.shape[0] * (a.shape[1] - crop + 1) for a in self.arrays], float)
        self.p = sizes / sizes.sum()
        self.crop, self.n_items, self.seed = crop, n_items, seed

    def __len__(self) -> int:
        return self.n_items

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, i))
        a = self.arrays[rng.choice(len(self.arrays), p=self.p)]
        c = rng.integers(a.shape[0])
        s = rng.integers(a.shape[1] - self.crop + 1)
        return {"x": torch.from_numpy(np.ascontiguousarray(a[c:c + 1, s:s + self.crop]))}


class RVQCodec(Tokenizer):
    """Trainable per-channel neural codec with residual-VQ codes ``[B, C, n_q, T / hop]``.

    Channel-agnostic (every channel is coded alone and RMS-normalised), so it encodes any channel
    count; the sampling rate is still checked.  ``decode`` returns RMS-normalised signals unless
    ``scale`` (from :meth:`scale_of` on the input) is given.

    Parameters
    ----------
    preset : str
        ``"biocodec"`` (default), ``"brain2text"`` or ``"tiny"``; keyword arguments override it.
    **arch
        ``dim``, ``base``, ``strides``, ``n_residual``, ``lstm_layers``, ``n_q``,
        ``codebook_size``, ``codebook_dim``, ``compress``, ``layout`` (``neuroseq`` or
        ``official``: BioCodec's, see ``biocodec_official``).
    """

    kind: ClassVar[str] = "rvq"
    channel_specific: ClassVar[bool] = False

    def __init__(self, preset: str = "biocodec", **arch: Any) -> None:
        super().__init__()
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}.")
        unknown = set(arch) - set(PRESETS[preset])
        if unknown:
            raise TypeError(f"RVQCodec got unknown arguments {sorted(unknown)}.")
        self.preset = preset
        self.arch = PRESETS[preset] | arch
        self.arch["strides"] = tuple(self.arch["strides"])
        self.model = CodecModel(**self.arch)
        self.batch_size = 512  # sequences per forward pass when coding

    @property
    def vocab_size(self) -> int:
        return int(self.arch["codebook_size"])

    @property
    def n_levels(self) -> int:
        return int(self.arch["n_q"])

    @property
    def hop(self) -> int:
        return self.model.hop

    def config(self) -> dict[str, Any]:
        return {"preset": self.preset, **{k: list(v) if isinstance(v, tuple) else v
                                          for k, v in self.arch.items()}}

    def fit(self, data: Any, **kwargs: Any) -> RVQCodec:
        """The codec is a neural network trained with gradient steps by the training engine:
        use :func:`neuroseq.training.codec.fit_codec` (or ``neuroseq tokenize fit rvq``)."""
        raise NeuroseqError("RVQCodec is trained by the training engine: call "
                            "neuroseq.training.codec.fit_codec(codec, data, run_dir=..., "
                            "max_steps=...) or run `neuroseq tokenize fit rvq`.")

    def _fit(self, arrays: list[np.ndarray], **kwargs: Any) -> None:
        self.fit(arrays)

    def codebook_vectors(self) -> torch.Tensor:
        """The codebook vectors of every level, ``[n_levels, vocab_size, codebook_dim]`` (what
        MEG-XL's model embeds a code with)."""
        return torch.stack([(vq.embed if isinstance(vq, CosineVQ) else vq.codebook).detach()
                            .reshape(self.vocab_size, -1) for vq in self.model.quantizer.levels])

    def scale_of(self, x: ArrayLike) -> ArrayLike:
        """Per-channel RMS of ``x[B, C, T]`` → ``[B, C, 1]`` (pass to :meth:`decode`)."""
        t, was_numpy, was_2d = as_batch(x)
        s = CodecModel.rms(t)
        s = s[0] if was_2d else s
        return s.numpy() if was_numpy else s

    def _chunks(self, n: int) -> range:
        return range(0, n, self.batch_size)

    @torch.inference_mode()
    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        pad = -t % self.hop
        if pad:
            x = nn.functional.pad(x, (0, pad), mode="replicate")
        flat = x.reshape(b * c, 1, -1)
        self.model.eval()
        codes = torch.cat([self.model.encode(flat[i:i + self.batch_size])
                           for i in self._chunks(len(flat))])
        return codes.reshape(b, c, self.n_levels, -1)

    @torch.inference_mode()
    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        b, c, q, n = codes.shape
        flat = codes.long().reshape(b * c, q, n)
        self.model.eval()
        y = torch.cat([self.model.decode(flat[i:i + self.batch_size])
                       for i in self._chunks(len(flat))])
        return y.reshape(b, c, -1)

    def decode(self, codes: ArrayLike, scale: ArrayLike | None = None) -> ArrayLike:
        """Codes → signal; multiplied by ``scale`` (``[B, C, 1]``) when given."""
        y = super().decode(codes)
        if scale is None:
            return y
        s = scale if isinstance(y, torch.Tensor) == isinstance(scale, torch.Tensor) else (
            torch.as_tensor(scale) if isinstance(y, torch.Tensor) else np.asarray(scale))
        return y * s

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.model.state_dict())

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
        self.model.eval()
