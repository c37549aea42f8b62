"""Causal SEANet-style convolutional encoder and decoder (EnCodec / BioCodec family).

Single-channel in, single-channel out: a multichannel recording is coded as ``B·C`` independent
sequences.  Convolutions are causal (padded on the left: zeros in our layout, the reflection of
the signal in BioCodec's, ``pad_mode="reflect"``) and weight-normalised.  With strides
``(2, 2, 3)`` one latent frame covers 12 samples, as in BioCodec
(``../shared/research/megxl_braintotext.md`` §1.2).  Input lengths must be multiples of the hop.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class CausalConv1d(nn.Module):
    """Weight-normalised ``Conv1d`` padded on the left so output ``t`` sees inputs ``<= t``."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1,
                 dilation: int = 1, pad_mode: str = "constant") -> None:
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(c_in, c_out, kernel, stride=stride, dilation=dilation))
        self.pad, self.pad_mode = (kernel - 1) * dilation - (stride - 1), pad_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad_mode != "reflect" or not self.pad:
            return self.conv(nn.functional.pad(x, (self.pad, 0)))
        short = max(0, self.pad + 1 - x.shape[-1])  # reflection needs more samples than the pad
        y = nn.functional.pad(nn.functional.pad(x, (0, short)), (self.pad, 0), mode="reflect")
        return self.conv(y[..., : y.shape[-1] - short])


class CausalConvTranspose1d(nn.Module):
    """Weight-normalised transposed conv; the tail beyond ``T · stride`` is trimmed."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv = weight_norm(nn.ConvTranspose1d(c_in, c_out, 2 * stride, stride=stride))
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)[..., : x.shape[-1] * self.stride]


class ResidualUnit(nn.Module):
    """ELU → conv(k, dilation) → ELU → 1×1 conv, added to the input (identity skip)."""

    def __init__(self, dim: int, kernel: int = 3, dilation: int = 1, compress: int = 2,
                 pad_mode: str = "constant") -> None:
        super().__init__()
        hidden = max(1, dim // compress)
        self.block = nn.Sequential(
            nn.ELU(), CausalConv1d(dim, hidden, kernel, dilation=dilation, pad_mode=pad_mode),
            nn.ELU(), CausalConv1d(hidden, dim, 1, pad_mode=pad_mode))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class SkipLSTM(nn.Module):
    """Multi-layer LSTM over time with a residual connection; ``[N, D, T]`` in and out."""

    def __init__(self, dim: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(dim, dim, layers, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.transpose(1, 2)
        return (self.lstm(y)[0] + y).transpose(1, 2)


def _units(dim: int, n_residual: int, kernel: int, compress: int, pad_mode: str
           ) -> list[nn.Module]:
    return [ResidualUnit(dim, kernel, 2**j, compress, pad_mode) for j in range(n_residual)]


class SEANetEncoder(nn.Module):
    """``[N, 1, T]`` → ``[N, dim, T / prod(strides)]``.

    Parameters
    ----------
    dim : int
        Latent width (128 in BioCodec).
    base : int
        Channels after the first conv; doubled at every downsampling stage (32 → 256).
    strides : tuple of int
        Downsampling factors, in encoder order.
    n_residual : int
        Residual units per stage (dilations 1, 2, ...).
    lstm_layers : int
        LSTM layers at the bottleneck (0 for none).
    kernel : int
        Kernel of the first, last and residual convs.
    compress : int
        Residual units narrow to ``width / compress`` (BioCodec: 1).
    pad_mode : str
        ``"constant"`` (zeros) or ``"reflect"`` (BioCodec's) causal padding.
    """

    def __init__(self, dim: int = 128, base: int = 32, strides: tuple[int, ...] = (2, 2, 3),
                 n_residual: int = 2, lstm_layers: int = 2, kernel: int = 3, compress: int = 2,
                 pad_mode: str = "constant") -> None:
        super().__init__()
        layers: list[nn.Module] = [CausalConv1d(1, base, kernel, pad_mode=pad_mode)]
        ch = base
        for s in strides:
            layers += _units(ch, n_residual, kernel, compress, pad_mode)
            layers += [nn.ELU(), CausalConv1d(ch, 2 * ch, 2 * s, stride=s, pad_mode=pad_mode)]
            ch *= 2
        if lstm_layers:
            layers.append(SkipLSTM(ch, lstm_layers))
        layers += [nn.ELU(), CausalConv1d(ch, dim, kernel, pad_mode=pad_mode)]
        self.net = nn.Sequential(*layers)
        self.hop = math.prod(strides)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SEANetDecoder(nn.Module):
    """Mirror of :class:`SEANetEncoder`: ``[N, dim, T']`` → ``[N, 1, T' · hop]``."""

    def __init__(self, dim: int = 128, base: int = 32, strides: tuple[int, ...] = (2, 2, 3),
                 n_residual: int = 2, lstm_layers: int = 2, kernel: int = 3, compress: int = 2,
                 pad_mode: str = "constant") -> None:
        super().__init__()
        ch = base * 2 ** len(strides)
        layers: list[nn.Module] = [CausalConv1d(dim, ch, kernel, pad_mode=pad_mode)]
        if lstm_layers:
            layers.append(SkipLSTM(ch, lstm_layers))
        for s in reversed(strides):
            layers += [nn.ELU(), CausalConvTranspose1d(ch, ch // 2, s)]
            ch //= 2
            layers += _units(ch, n_residual, kernel, compress, pad_mode)
        layers += [nn.ELU(), CausalConv1d(ch, 1, kernel, pad_mode=pad_mode)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
