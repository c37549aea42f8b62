"""Large-scale dynamics: a time-delay-embedded Gaussian HMM fitted on real data (hmmlearn).

The GPT2MEG paper compares real and generated data through a TDE-HMM (osl-dynamics: 12 states,
15 embeddings, PCA to 80; ``../shared/research/gpt2meg_eegpt.md`` §1.6).  Here the channels are
standardised, embedded with ``n_embeddings`` lags, reduced by PCA and modelled by
``hmmlearn.hmm.GaussianHMM``.  The HMM is fitted on **real** data only; the same scaling, PCA
and HMM then decode the generated data, so both are described in one state space.  Defaults
are sized for a CPU (6 states, PCA 20); pass the paper's numbers where time allows.

Compared statistics: fractional occupancy, mean state lifetime, switching rate, and each
state's power spectrum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.decomposition import PCA

from neuroseq.evaluation.fidelity import check_pair


def _zero_mean_hmm() -> type:
    from hmmlearn.hmm import GaussianHMM

    class ZeroMeanHMM(GaussianHMM):
        """Gaussian HMM whose means stay fixed (``params`` without ``"m"``).

        hmmlearn 0.3 only accumulates the state posteriors when the means are learned, so
        covariance updates without ``"m"`` would divide by zero; this keeps the statistics on.
        """

        def _needs_sufficient_statistics_for_mean(self) -> bool:
            return True

    return ZeroMeanHMM


def time_delay_embed(x: np.ndarray, n_embeddings: int) -> np.ndarray:
    """``[C, T]`` → ``[T − L + 1, C·L]``: each row holds ``L`` consecutive samples per channel."""
    if n_embeddings < 1 or x.shape[-1] < n_embeddings:
        raise ValueError(f"time-delay embedding of {n_embeddings} lags needs at least that "
                         f"many samples (have {x.shape[-1]}).")
    win = np.lib.stride_tricks.sliding_window_view(x, n_embeddings, axis=-1)  # [C, T', L]
    return win.transpose(1, 0, 2).reshape(win.shape[1], -1)


@dataclass
class TDEHMM:
    """Time-delay-embedded Gaussian HMM.

    Parameters
    ----------
    n_states : int
        Hidden states (paper: 12).
    n_embeddings : int
        Lags in the embedding (paper: 15, i.e. ±7 samples).
    n_pca : int
        PCA components kept after embedding (paper: 80).
    covariance_type : str
        hmmlearn covariance type of each state (``"full"`` as in osl-dynamics).
    n_iter, n_init : int
        EM iterations and random restarts (the best log-likelihood is kept).
    seed : int
    """

    n_states: int = 6
    n_embeddings: int = 15
    n_pca: int = 20
    covariance_type: str = "full"
    n_iter: int = 50
    n_init: int = 2
    seed: int = 0
    sfreq: float = field(default=100.0, init=False)

    def _features(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean_[:, None]) / self.std_[:, None]
        return self.pca_.transform(time_delay_embed(z, self.n_embeddings))

    def fit(self, x: np.ndarray, sfreq: float) -> TDEHMM:
        """Fit scaling, PCA and HMM on real data ``[C, T]``."""
        if not np.isfinite(x).all():
            raise ValueError("TDE-HMM: the real data holds NaN/Inf.")
        self.sfreq = float(sfreq)
        self.mean_, self.std_ = x.mean(-1), x.std(-1)
        if (self.std_ == 0).any():
            raise ValueError(f"TDE-HMM: flat channels {np.flatnonzero(self.std_ == 0)[:5]}.")
        emb = time_delay_embed((x - self.mean_[:, None]) / self.std_[:, None], self.n_embeddings)
        k = min(self.n_pca, emb.shape[1], emb.shape[0] - 1)
        self.pca_ = PCA(k, random_state=self.seed).fit(emb)
        feats = self.pca_.transform(emb)
        best, best_ll = None, -np.inf
        _ZeroMeanHMM = _zero_mean_hmm()  # noqa: N806
        for i in range(self.n_init):
            hmm = _ZeroMeanHMM(self.n_states, covariance_type=self.covariance_type,
                              n_iter=self.n_iter, random_state=self.seed + i, min_covar=1e-3,
                              params="stc", init_params="")
            self._initialise(hmm, feats, np.random.default_rng(self.seed + i))
            hmm.fit(feats)
            ll = hmm.score(feats)
            if ll > best_ll:
                best, best_ll = hmm, ll
        self.hmm_, self.log_likelihood_ = best, float(best_ll)
        return self

    def _initialise(self, hmm: Any, feats: np.ndarray, rng: np.random.Generator) -> None:
        """Zero means (as in osl-dynamics' TDE-HMM: states differ in covariance, i.e. in
        spectra and coupling), sticky transitions, and covariances from a random state time
        course of ~0.5 s blocks, which breaks the symmetry between states."""
        k, d = self.n_states, feats.shape[1]
        block = max(1, int(0.5 * self.sfreq))
        guess = np.repeat(rng.integers(0, k, len(feats) // block + 1), block)[:len(feats)]
        covs = np.stack([np.cov(feats[guess == j].T) if (guess == j).sum() > d
                         else np.cov(feats.T) for j in range(k)]).reshape(k, d, d)
        covs += 1e-3 * np.eye(d)
        hmm.n_features = d
        hmm.startprob_ = np.full(k, 1.0 / k)
        hmm.transmat_ = np.full((k, k), 0.1 / max(k - 1, 1)) + np.eye(k) * (0.9 - 0.1 / max(
            k - 1, 1)) if k > 1 else np.ones((1, 1))
        hmm.means_ = np.zeros((k, d))
        kind = self.covariance_type
        hmm.covars_ = (covs if kind == "full" else
                       np.stack([np.diag(c) for c in covs]) if kind == "diag" else
                       covs.mean(0) if kind == "tied" else
                       np.array([np.trace(c) / d for c in covs]))

    def states(self, x: np.ndarray) -> np.ndarray:
        """Most likely state per embedded sample (Viterbi)."""
        if x.shape[0] != self.mean_.shape[0]:
            raise ValueError(f"TDE-HMM was fitted on {self.mean_.shape[0]} channels; got "
                             f"{x.shape[0]}.")
        return self.hmm_.predict(self._features(x))

    def statistics(self, x: np.ndarray) -> dict[str, Any]:
        """State statistics of ``x``: occupancy, lifetimes (s), switching rate (Hz), spectra."""
        s = self.states(x)
        return state_statistics(s, self.n_states, self.sfreq,
                                x[:, self.n_embeddings // 2: self.n_embeddings // 2 + len(s)])


def state_statistics(states: np.ndarray, n_states: int, sfreq: float,
                     x: np.ndarray | None = None, window: float = 1.0) -> dict[str, Any]:
    """Fractional occupancy, mean lifetime (s), switching rate (Hz) and optional state spectra.

    A state's spectrum is the mean periodogram (Hann) of the 1 s windows, hopped by a quarter,
    whose majority state it is, averaged over standardised channels; ``None`` for states
    without such a window.
    """
    fo = np.bincount(states, minlength=n_states) / len(states)
    change = np.flatnonzero(np.diff(states)) + 1
    starts, ends = np.r_[0, change], np.r_[change, len(states)]
    lifetimes = [[] for _ in range(n_states)]
    for a, b in zip(starts, ends, strict=True):
        lifetimes[states[a]].append((b - a) / sfreq)
    out: dict[str, Any] = {
        "fractional_occupancy": fo,
        "mean_lifetime_s": np.array([np.mean(v) if v else 0.0 for v in lifetimes]),
        "switching_rate_hz": len(change) / (len(states) / sfreq)}
    if x is not None:
        n = int(round(window * sfreq))
        hop = max(1, n // 4)
        z = (x - x.mean(-1, keepdims=True)) / np.maximum(x.std(-1, keepdims=True), 1e-12)
        taper = np.hanning(n)
        sums, counts = np.zeros((n_states, n // 2 + 1)), np.zeros(n_states)
        for a in range(0, x.shape[-1] - n + 1, hop):
            k = np.bincount(states[a:a + n], minlength=n_states).argmax()
            sums[k] += (np.abs(np.fft.rfft(z[:, a:a + n] * taper, axis=-1)) ** 2).mean(0)
            counts[k] += 1
        out["freqs"] = np.fft.rfftfreq(n, 1 / sfreq)
        out["state_spectra"] = [sums[k] / counts[k] if counts[k] else None
                                for k in range(n_states)]
    return out


def compare_statistics(real: dict[str, Any], gen: dict[str, Any]) -> dict[str, float]:
    """Distances between two :func:`state_statistics` results (0 = identical).

    ``fo_distance``: total variation between occupancies (0…1); ``lifetime_abs_diff_s`` the mean
    absolute difference of lifetimes; ``switching_rate_ratio`` generated / real; and
    ``state_spectra_lsd_db`` the mean log-spectral distance (1–45 Hz) over states present in both.
    """
    out = {"fo_distance": float(0.5 * np.abs(real["fractional_occupancy"]
                                             - gen["fractional_occupancy"]).sum()),
           "lifetime_abs_diff_s": float(np.abs(real["mean_lifetime_s"]
                                               - gen["mean_lifetime_s"]).mean()),
           "switching_rate_ratio": float(gen["switching_rate_hz"]
                                         / max(real["switching_rate_hz"], 1e-12))}
    if "state_spectra" in real and "state_spectra" in gen:
        f = real["freqs"]
        sel = (f >= 1) & (f <= 45)
        d = [np.sqrt(np.mean((10 * np.log10(a[sel] + 1e-30) - 10 * np.log10(b[sel] + 1e-30)) ** 2))
             for a, b in zip(real["state_spectra"], gen["state_spectra"], strict=True)
             if a is not None and b is not None]
        out["state_spectra_lsd_db"] = float(np.mean(d)) if d else float("nan")
    return out


def hmm_comparison(real_fit: np.ndarray, real_test: np.ndarray,
                   generated: dict[str, np.ndarray], sfreq: float,
                   hmm: TDEHMM | None = None) -> dict[str, Any]:
    """Fit the TDE-HMM on ``real_fit``; compare each generated signal (and ``real_test``, the
    held-out ceiling) with ``real_fit``'s statistics."""
    for g in generated.values():
        check_pair(real_fit, g, "TDE-HMM")
    hmm = (hmm or TDEHMM()).fit(real_fit, sfreq)
    ref = hmm.statistics(real_fit)
    stats = {"real (held out)": hmm.statistics(real_test)} | {
        k: hmm.statistics(v) for k, v in generated.items()}
    return {"model": hmm, "reference": ref, "statistics": stats,
            "distances": {k: compare_statistics(ref, v) for k, v in stats.items()}}
