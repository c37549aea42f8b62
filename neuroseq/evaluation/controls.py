"""Trivial controls that give every fidelity number its scale.

* :func:`phase_randomised` keeps each channel's power spectrum and (with one set of random phases
  for all channels) the cross-spectra, but destroys non-linear structure, events and dynamics —
  a strong control for spectral metrics and a weak one for evoked responses and HMM states.
* :func:`white_noise` keeps each channel's mean and variance only.
"""

from __future__ import annotations

import numpy as np


def phase_randomised(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Fourier surrogate of ``[C, T]``: random phases shared by all channels, same amplitudes."""
    rng = np.random.default_rng(seed)
    spec = np.fft.rfft(x, axis=-1)
    phase = np.exp(2j * np.pi * rng.random(spec.shape[-1]))
    phase[0] = 1.0
    if x.shape[-1] % 2 == 0:
        phase[-1] = 1.0
    return np.fft.irfft(spec * phase, n=x.shape[-1], axis=-1)


def white_noise(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """Gaussian white noise with each channel's mean and standard deviation."""
    rng = np.random.default_rng(seed)
    return x.mean(-1, keepdims=True) + x.std(-1, keepdims=True) * rng.standard_normal(x.shape)
