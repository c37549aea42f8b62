"""Signal fidelity of generated vs real M/EEG: spectra, autocorrelation, amplitudes, covariance.

Every function takes channel-by-time arrays ``[C, T]`` (the same channels in the same order
for both signals) and returns per-channel values plus an aggregate, so a report can show both.
Distances are 0 for identical inputs (tested).  Evoked responses live in
:mod:`neuroseq.evaluation.evoked`, HMM dynamics in :mod:`neuroseq.evaluation.dynamics`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import signal, stats

BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0),
    "gamma": (30.0, 45.0),
}


def bands_within(passband: tuple[float, float] | None) -> dict[str, tuple[float, float]]:
    """:data:`BANDS` clipped to ``passband`` (all of them when None); bands outside it dropped."""
    if passband is None:
        return dict(BANDS)
    lo, hi = passband
    out = {k: (max(a, lo), min(b, hi)) for k, (a, b) in BANDS.items()}
    return {k: (a, b) for k, (a, b) in out.items() if b > a}


def check_pair(real: np.ndarray, gen: np.ndarray, what: str = "signals") -> None:
    """Refuse arrays that cannot be compared channel by channel."""
    for name, x in (("real", real), ("generated", gen)):
        if x.ndim != 2:
            raise ValueError(f"{what}: {name} data must be [channels, times], got {x.shape}.")
        if not np.isfinite(x).all():
            raise ValueError(f"{what}: {name} data holds NaN/Inf; clean it before evaluating.")
    if real.shape[0] != gen.shape[0]:
        raise ValueError(f"{what}: channel mismatch — real has {real.shape[0]} channels, "
                         f"generated {gen.shape[0]}; pick the same channels in the same order.")


def psd(x: np.ndarray, sfreq: float, *, seconds: float = 2.0,
        fmax: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density per channel (Hann windows of ``seconds``, 50 % overlap).

    Returns ``freqs [F]`` and ``psd [C, F]`` from 0 Hz to ``fmax`` (default Nyquist).
    """
    nper = int(min(x.shape[-1], round(seconds * sfreq)))
    if nper < 8:
        raise ValueError(f"psd: {x.shape[-1]} samples are too few for a spectrum.")
    f, p = signal.welch(x, fs=sfreq, nperseg=nper, axis=-1)
    keep = f <= (fmax if fmax is not None else sfreq / 2)
    return f[keep], p[..., keep]


def log_spectral_distance(real: np.ndarray, gen: np.ndarray, sfreq: float, *,
                          fmin: float = 1.0, fmax: float = 45.0,
                          bands: dict[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """Root-mean-square difference of the log spectra in dB, per channel and per band.

    ``LSD = sqrt(mean_f (10·log10 P_gen(f) − 10·log10 P_real(f))²)`` over ``fmin…fmax``.
    Returns ``{"per_channel": [C], "overall": median over channels, "bands": {band: median}}``.
    """
    check_pair(real, gen, "log-spectral distance")
    fmax = min(fmax, sfreq / 2)
    f, pr = psd(real, sfreq)
    _, pg = psd(gen, sfreq)
    tiny = np.finfo(np.float64).tiny
    d2 = (10 * np.log10(np.maximum(pg, tiny)) - 10 * np.log10(np.maximum(pr, tiny))) ** 2
    sel = (f >= fmin) & (f <= fmax)
    per = np.sqrt(d2[:, sel].mean(-1))
    out: dict[str, Any] = {"per_channel": per, "overall": float(np.median(per)), "bands": {}}
    for name, (lo, hi) in (bands or BANDS).items():
        b = (f >= lo) & (f < hi) & (f <= fmax)
        if b.any():
            out["bands"][name] = float(np.median(np.sqrt(d2[:, b].mean(-1))))
    return out


def peak_alpha_frequency(x: np.ndarray, sfreq: float,
                         band: tuple[float, float] = (7.0, 14.0)) -> np.ndarray:
    """Frequency of the largest spectral value within ``band`` per channel (Hz)."""
    f, p = psd(x, sfreq, seconds=4.0)
    sel = (f >= band[0]) & (f <= band[1])
    if not sel.any():
        raise ValueError(f"peak alpha: no frequency bins in {band} Hz at {sfreq} Hz.")
    return f[sel][np.argmax(p[:, sel], axis=-1)]


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Normalised autocorrelation per channel for lags ``0…max_lag`` (``[C, max_lag + 1]``)."""
    x = x - x.mean(-1, keepdims=True)
    n = x.shape[-1]
    spec = np.fft.rfft(x, n=2 * n, axis=-1)
    ac = np.fft.irfft(spec * np.conj(spec), axis=-1)[:, : max_lag + 1]
    return ac / np.maximum(ac[:, :1], np.finfo(np.float64).tiny)


def acf_distance(real: np.ndarray, gen: np.ndarray, sfreq: float,
                 max_seconds: float = 0.5) -> dict[str, Any]:
    """Mean absolute difference of the autocorrelation functions up to ``max_seconds``."""
    check_pair(real, gen, "autocorrelation distance")
    lag = max(1, int(round(max_seconds * sfreq)))
    per = np.abs(autocorrelation(real, lag) - autocorrelation(gen, lag))[:, 1:].mean(-1)
    return {"per_channel": per, "overall": float(per.mean())}


def amplitude_distance(real: np.ndarray, gen: np.ndarray, *, max_samples: int = 20000,
                       seed: int = 0) -> dict[str, Any]:
    """Amplitude distributions per channel: 1-D Wasserstein distance and KS statistic.

    Long signals are subsampled to ``max_samples`` values per channel (seeded).
    """
    check_pair(real, gen, "amplitude distance")
    rng = np.random.default_rng(seed)

    def sub(x: np.ndarray) -> np.ndarray:
        if x.shape[-1] <= max_samples:
            return x
        return x[:, np.sort(rng.choice(x.shape[-1], max_samples, replace=False))]

    r, g = sub(real), sub(gen)
    w = np.array([stats.wasserstein_distance(a, b) for a, b in zip(r, g, strict=True)])
    ks = np.array([stats.ks_2samp(a, b).statistic for a, b in zip(r, g, strict=True)])
    return {"wasserstein": w, "ks": ks, "wasserstein_mean": float(w.mean()),
            "ks_mean": float(ks.mean())}


def covariance_distance(real: np.ndarray, gen: np.ndarray) -> dict[str, Any]:
    """Cross-channel structure: relative Frobenius distances of covariance and correlation.

    ``cov = ‖C_gen − C_real‖_F / ‖C_real‖_F``; ``corr`` the same for correlation matrices
    (off-diagonal only); ``eig`` is the mean absolute difference of the log eigen-spectra,
    each normalised to sum 1 (shape of the spatial spectrum, independent of scale).
    """
    check_pair(real, gen, "covariance distance")
    cr, cg = np.cov(real), np.cov(gen)
    out: dict[str, Any] = {"cov": float(np.linalg.norm(cg - cr) / max(np.linalg.norm(cr), 1e-300))}
    if real.shape[0] < 2:
        return out | {"corr": 0.0, "eig": 0.0}
    rr, rg = np.corrcoef(real), np.corrcoef(gen)
    off = ~np.eye(real.shape[0], dtype=bool)
    out["corr"] = float(np.linalg.norm((rg - rr)[off]) / max(np.linalg.norm(rr[off]), 1e-300))
    er, eg = (np.clip(np.linalg.eigvalsh(c)[::-1], 1e-12, None) for c in (cr, cg))
    out["eig"] = float(np.abs(np.log(er / er.sum()) - np.log(eg / eg.sum())).mean())
    out["real_eigenspectrum"], out["generated_eigenspectrum"] = er / er.sum(), eg / eg.sum()
    return out


def out_of_band_excess(real: np.ndarray, gen: np.ndarray, sfreq: float,
                       passband: tuple[float, float], fmin: float = 0.5) -> float:
    """Median over channels of the mean log-power excess (dB) of ``gen`` over ``real`` at the
    frequencies outside ``passband`` (from ``fmin`` to Nyquist): what a filter removed from the
    real data and a generator put back, e.g. sampling noise.  Positive = more than real."""
    check_pair(real, gen, "out-of-band excess")
    f, pr = psd(real, sfreq)
    _, pg = psd(gen, sfreq)
    sel = (f >= fmin) & ((f < passband[0]) | (f > passband[1]))
    if not sel.any():
        raise ValueError(f"no frequency outside the passband {passband} below Nyquist.")
    tiny = np.finfo(np.float64).tiny
    d = 10 * np.log10(np.maximum(pg[:, sel], tiny)) - 10 * np.log10(np.maximum(pr[:, sel], tiny))
    return float(np.median(d.mean(-1)))


def spectral_summary(real: np.ndarray, gen: np.ndarray, sfreq: float,
                     passband: tuple[float, float] | None = None) -> dict[str, Any]:
    """Everything above in one dict of scalars (for tables and JSON).

    With ``passband`` (the band the real data were filtered to), spectral distances are taken
    inside it and ``out_of_band_excess_db`` reports the rest on its own.
    """
    if passband is None:
        lsd = log_spectral_distance(real, gen, sfreq)
    else:
        lsd = log_spectral_distance(real, gen, sfreq, fmin=passband[0], fmax=passband[1],
                                    bands=bands_within(passband))
    acf = acf_distance(real, gen, sfreq)
    amp = amplitude_distance(real, gen)
    cov = covariance_distance(real, gen)
    paf_r, paf_g = peak_alpha_frequency(real, sfreq), peak_alpha_frequency(gen, sfreq)
    out = {"psd_lsd_db": lsd["overall"], "acf_distance": acf["overall"],
           "amplitude_wasserstein": amp["wasserstein_mean"], "amplitude_ks": amp["ks_mean"],
           "cov_distance": cov["cov"], "corr_distance": cov["corr"], "eig_distance": cov["eig"],
           "peak_alpha_hz_real": float(np.median(paf_r)),
           "peak_alpha_hz_generated": float(np.median(paf_g)),
           "peak_alpha_abs_diff_hz": float(np.mean(np.abs(paf_r - paf_g)))}
    out.update({f"psd_lsd_{k}_db": v for k, v in lsd["bands"].items()})
    if passband is not None:
        out["out_of_band_excess_db"] = out_of_band_excess(real, gen, sfreq, passband)
    return out


def drift(x: np.ndarray, sfreq: float, *, window_s: float = 60.0,
          bands: dict[str, tuple[float, float]] | None = None) -> dict[str, Any]:
    """How a long signal changes from its first to its last ``window_s`` seconds.

    Returns ``amplitude_ratio`` (median over channels of last/first standard deviation; 1 is
    stationary), ``band_power_change_db`` (per band, median over channels of the last minus the
    first window's log band power, dB; 0 is stationary) and ``max_abs_band_change_db``.
    A generator that slowly decays to silence or blows up shows here, not in a 60 s excerpt.
    """
    n = int(round(window_s * sfreq))
    if x.ndim != 2 or x.shape[-1] < 2 * n:
        raise ValueError(f"drift needs [channels, times] with at least 2 × {window_s:g} s; got "
                         f"{x.shape} at {sfreq:g} Hz.")
    if not np.isfinite(x).all():
        raise ValueError("drift: the signal holds NaN/Inf.")
    first, last = x[:, :n], x[:, -n:]
    tiny = np.finfo(np.float64).tiny
    ratio = np.std(last, axis=-1) / np.maximum(np.std(first, axis=-1), tiny)
    f, p1 = psd(first, sfreq)
    _, p2 = psd(last, sfreq)
    change = {}
    for name, (lo, hi) in (bands or BANDS).items():
        b = (f >= lo) & (f < hi)
        if b.any():
            d = 10 * np.log10(np.maximum(p2[:, b].mean(-1), tiny) /
                              np.maximum(p1[:, b].mean(-1), tiny))
            change[name] = float(np.median(d))
    return {"amplitude_ratio": float(np.median(ratio)), "band_power_change_db": change,
            "max_abs_band_change_db": max((abs(v) for v in change.values()), default=0.0),
            "window_s": window_s, "seconds": x.shape[-1] / sfreq}
