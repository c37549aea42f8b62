"""Causal SEANet-style convolutional encoder and decoder (EnCodec / BioCodec family).

Single-channel in, single-channel out: a multichannel recording is coded as ``B·C`` independent
sequences.  Convolutions are causal (padded on the left) and weight-normalised.  With strides
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
                 dilation: int = 1) -> None:
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(c_in, c_out, kernel, stride=stride, dilation=dilation))
        self.pad = (kernel - 1) * dilation - (stride - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.pad(x, (self.pad, 0)))


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

    def __init__(self, dim: int, kernel: int = 3, dilation: int = 1, compress: int = 2) -> None:
        super().__init__()
        hidden = max(1, dim // compress)
        self.block = nn.Sequential(nn.ELU(), CausalConv1d(dim, hidden, kernel, dilation=dilation),
                                   nn.ELU(), CausalConv1d(hidden, dim, 1))

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


def _units(dim: int, n_residual: int, kernel: int) -> list[nn.Module]:
    return [ResidualUnit(dim, kernel, dilation=2**j) for j in range(n_residual)]


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
    """

    def __init__(self, dim: int = 128, base: int = 32, strides: tuple[int, ...] = (2, 2, 3),
                 n_residual: int = 2, lstm_layers: int = 2, kernel: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [CausalConv1d(1, base, kernel)]
        ch = base
        for s in strides:
            layers += _units(ch, n_residual, kernel)
            layers += [nn.ELU(), CausalConv1d(ch, 2 * ch, 2 * s, stride=s)]
            ch *= 2
        if lstm_layers:
            layers.append(SkipLSTM(ch, lstm_layers))
        layers += [nn.ELU(), CausalConv1d(ch, dim, kernel)]
        self.net = nn.Sequential(*layers)
        self.hop = math.prod(strides)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SEANetDecoder(nn.Module):
    """Mirror of :class:`SEANetEncoder`: ``[N, dim, T']`` → ``[N, 1, T' · hop]``."""

    def __init__(self, dim: int = 128, base: int = 32, strides: tuple[int, ...] = (2, 2, 3),
                 n_residual: int = 2, lstm_layers: int = 2, kernel: int = 3) -> None:
        super().__init__()
        ch = base * 2 ** len(strides)
        layers: list[nn.Module] = [CausalConv1d(dim, ch, kernel)]
        if lstm_layers:
            layers.append(SkipLSTM(ch, lstm_layers))
        for s in reversed(strides):
            layers += [nn.ELU(), CausalConvTranspose1d(ch, ch // 2, s)]
            ch //= 2
            layers += _units(ch, n_residual, kernel)
        layers += [nn.ELU(), CausalConv1d(ch, 1, kernel)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)
