"""Seedable, realistic MEG and EEG simulation.

Sources are current dipoles in a spherical head, projected to the sensors with MNE's sphere
forward model (real 306-channel MEGIN geometry when ``osl-ephys`` is installed, otherwise a
helmet built from MNE's Vectorview layout; standard montages for EEG).  Every source carries
1/f background activity, correlated between nearby sources; posterior sources carry alpha
bursts (8-12 Hz) and central ones beta bursts (15-25 Hz).  Each condition has its own evoked
sources (so its own topography) with its own latencies.  With ``background="mvar"`` the MEG
background comes instead from the MVAR model fitted to real resting MEG that ``osl-ephys``
ships.  Sensor noise is added last.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from neuroseq.data.recording import SI_TO_UNIT, Recording, Sensors, make_events
from neuroseq.errors import DataError
from neuroseq.log import logger

HEAD_CENTER = np.array([0.0, 0.0, 0.04])
_CORR_LENGTH = 0.02  # m: background activity of sources closer than this is correlated
#: sensor noise floors (neuroseq units, white, before any filtering)
_SENSOR_NOISE = {"mag": 8.0, "grad": 3.0, "eeg": 1.0}


def _synthetic_megin_info() -> Any:
    """306-channel Vectorview-like info from MNE's 2-D layout projected onto a helmet."""
    import mne
    from mne.io.constants import FIFF

    lay = mne.channels.read_layout("Vectorview-all")
    mags = [i for i, n in enumerate(lay.names) if n.endswith("1")]
    xy = lay.pos[mags, :2] + lay.pos[mags, 2:4] / 2
    xy = (xy - xy.mean(0)) / np.abs(xy - xy.mean(0)).max()
    theta = np.linalg.norm(xy, axis=1) * np.deg2rad(105)  # polar angle from the vertex
    phi = np.arctan2(xy[:, 1], xy[:, 0])
    radial = np.c_[np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)]
    names, types, locs, coils = [], [], [], []
    for k, i in enumerate(mags):
        base = lay.names[i].replace(" ", "")[:-1]
        ez = radial[k]
        e1 = np.cross([0.0, 0.0, 1.0], ez) if abs(ez[2]) < 0.99 else np.array([1.0, 0, 0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(ez, e1)
        r0 = HEAD_CENTER + 0.12 * ez
        for suffix, kind, ex, ey, coil in (("1", "mag", e1, e2, FIFF.FIFFV_COIL_VV_MAG_T1),
                                           ("2", "grad", e1, e2, FIFF.FIFFV_COIL_VV_PLANAR_T1),
                                           ("3", "grad", e2, -e1, FIFF.FIFFV_COIL_VV_PLANAR_T1)):
            names.append(base + suffix)
            types.append(kind)
            locs.append(np.r_[r0, ex, ey, ez])
            coils.append(coil)
    info = mne.create_info(names, 1000.0, types)
    with info._unlock():
        for ch, loc, coil in zip(info["chs"], locs, coils, strict=True):
            ch["loc"][:] = loc
            ch["coil_type"] = coil
        info["dev_head_t"] = mne.transforms.Transform("meg", "head", np.eye(4))
    return info


def meg_info(geometry: Literal["auto", "megin", "synthetic"] = "auto") -> Any:
    """306-channel MEG ``Info``: the real MEGIN template, or the synthetic helmet."""
    from neuroseq.data import samples

    if geometry == "megin" or (geometry == "auto" and samples.has_megin_template()):
        import mne

        info = samples.megin_template_info()
        return mne.pick_info(info, mne.pick_types(info, meg=True, ref_meg=False, exclude=[]))
    return _synthetic_megin_info()


def eeg_info(montage: str = "biosemi64") -> Any:
    """EEG ``Info`` with the positions of a standard MNE montage (fiducials excluded)."""
    import mne

    mont = mne.channels.make_standard_montage(montage)
    names = list(mont.ch_names)
    info = mne.create_info(names, 1000.0, "eeg")
    info.set_montage(mont, on_missing="ignore")
    return info


def pink_noise(rng: np.random.Generator, n: int, n_times: int, exponent: float = 1.0
               ) -> np.ndarray:
    """``n`` unit-variance series with power spectrum ∝ 1/f^exponent."""
    spec = rng.standard_normal((n, n_times // 2 + 1)) + 1j * rng.standard_normal(
        (n, n_times // 2 + 1))
    f = np.arange(n_times // 2 + 1, dtype=float)
    f[0] = 1.0
    spec *= f ** (-exponent / 2)
    spec[:, 0] = 0.0
    x = np.fft.irfft(spec, n=n_times, axis=1)
    return x / x.std(axis=1, keepdims=True)


def correlated_background(rng: np.random.Generator, rr: np.ndarray, n_times: int
                          ) -> np.ndarray:
    """Unit-variance 1/f series, one per source at ``rr``, correlated as exp(-distance / 2 cm)."""
    dist = np.linalg.norm(rr[:, None] - rr[None], axis=-1)
    mix = np.linalg.cholesky(np.exp(-dist / _CORR_LENGTH) + 1e-9 * np.eye(len(rr)))
    return mix @ pink_noise(rng, len(rr), n_times, exponent=rng.uniform(0.8, 1.4))


def bursts(rng: np.random.Generator, n_times: int, sfreq: float, freq: float,
           rate: float = 0.5, mean_len: float = 0.6) -> np.ndarray:
    """An oscillation at ``freq`` Hz switched on in random bursts (``rate`` per second)."""
    env = np.zeros(n_times)
    t = 0.0
    while True:
        t += rng.exponential(1.0 / rate)
        length = rng.gamma(4.0, mean_len / 4.0)
        a, b = int(t * sfreq), int((t + length) * sfreq)
        if a >= n_times:
            break
        win = np.hanning(max(b - a, 3))
        env[a:min(b, n_times)] = np.maximum(env[a:min(b, n_times)], win[:min(b, n_times) - a])
    phase = 2 * np.pi * np.cumsum(freq + 0.5 * rng.standard_normal(n_times)) / sfreq
    return env * np.sin(phase)


def background_activity(rng: np.random.Generator, rr: np.ndarray, direction: np.ndarray,
                        n_times: int, sfreq: float) -> np.ndarray:
    """Source activity ``[S, T]`` (A·m): correlated 1/f everywhere, alpha bursts at posterior
    sources, beta bursts at central ones."""
    src = correlated_background(rng, rr, n_times) * 15e-9
    posterior, central = direction[:, 1] < -0.2, np.abs(direction[:, 1]) < 0.3
    for i in range(len(rr)):
        if posterior[i]:
            src[i] += 25e-9 * bursts(rng, n_times, sfreq, rng.uniform(8.5, 11.5), 0.6, 1.0)
        elif central[i]:
            src[i] += 15e-9 * bursts(rng, n_times, sfreq, rng.uniform(16, 24), 0.5, 0.3)
    return src


def dipole_gain(info: Any, rr: np.ndarray, nn: np.ndarray) -> np.ndarray:
    """Gain ``[C, S]`` (SI units per A·m) of fixed dipoles at ``rr`` oriented ``nn`` for the
    sensors of ``info``, in a spherical head (MNE's forward solution)."""
    import mne

    src = mne.setup_volume_source_space(pos={"rr": rr, "nn": nn}, verbose="error")
    if any(ch["kind"] == 2 for ch in info["chs"]):  # EEG: fit the sphere to the electrodes
        sphere = mne.make_sphere_model("auto", "auto", info, verbose="error")
    else:
        sphere = mne.make_sphere_model(HEAD_CENTER, None, verbose="error")
    fwd = mne.make_forward_solution(info, None, src, sphere, eeg=True, meg=True,
                                    verbose="error")
    g = fwd["sol"]["data"].reshape(len(info["ch_names"]), len(rr), 3)
    return np.einsum("csk,sk->cs", g, nn)  # fixed orientations


def random_sources(rng: np.random.Generator, n: int, center: np.ndarray) -> tuple[np.ndarray, ...]:
    """Random dipoles 3-6 cm from the centre, upper half, random orientation."""
    v = rng.standard_normal((n, 3))
    v[:, 2] = np.abs(v[:, 2]) * 0.8
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    rr = center + v * rng.uniform(0.03, 0.06, (n, 1))
    nn = rng.standard_normal((n, 3))
    nn /= np.linalg.norm(nn, axis=1, keepdims=True)
    return rr, nn, v


def _mvar_background(rng: np.random.Generator, info: Any, n_times: int, sfreq: float
                     ) -> np.ndarray:
    import mne

    from neuroseq.data import samples

    out = np.zeros((len(info["ch_names"]), n_times))
    for kind, unit in (("mag", 1e-12), ("grad", 1e-12)):
        p = samples.megin_mvar_params(kind)
        n150 = int(np.ceil(n_times * 150.0 / sfreq)) + 200
        lags = p["coefs"][:, :, 1:]  # x[t] = sum_k A_k x[t-k] + e[t]
        order = lags.shape[2]
        a = np.concatenate([lags[:, :, k] for k in range(order)], axis=1)  # [50, 50*order]
        e = rng.standard_normal((n150, 50)) @ np.linalg.cholesky(p["resid_cov"]).T
        x = np.zeros((n150, 50))
        for t in range(order, n150):
            x[t] = a @ x[t - order:t][::-1].ravel() + e[t]
        sens = (p["components"].T @ x[200:].T) * unit  # SI
        if sfreq != 150.0:
            sens = mne.filter.resample(sens, sfreq / 150.0, 1.0, method="polyphase",
                                       verbose="error")
        picks = mne.pick_types(info, meg=kind)
        if len(picks) != sens.shape[0]:
            raise DataError("the MVAR model needs the 306-channel MEGIN geometry.")
        out[picks] = sens[:, :n_times]
    return out


def simulate(info: Any, *, duration: float = 120.0, sfreq: float = 250.0,
             conditions: tuple[str, ...] = ("face", "house", "checker"), seed: int = 0,
             n_sources: int = 40, isi: tuple[float, float] = (0.8, 1.4),
             evoked_scale: float = 1.0, background: Literal["sources", "mvar"] = "sources",
             subject: str = "01", task: str = "sim") -> Recording:
    """Simulate a recording for the channels of ``info`` (see module docstring).

    Returns a :class:`Recording` in neuroseq units with ``stimulus`` events (value = condition,
    duration 0.5 s).
    """
    import mne

    if duration <= 0 or sfreq <= 0:
        raise DataError(f"duration ({duration}) and sfreq ({sfreq}) must be positive.")
    rng = np.random.default_rng(seed)
    n_times = int(round(duration * sfreq))
    rr, nn, direction = random_sources(rng, n_sources, HEAD_CENTER)
    info = info.copy()
    with info._unlock():
        info["sfreq"] = float(sfreq)
    gain = dipole_gain(info, rr, nn)  # [C, S], SI units per A·m

    src = background_activity(rng, rr, direction, n_times, sfreq)

    # events and evoked responses with condition-specific sources and latencies
    onsets, values = [], []
    t = 1.0
    while t < duration - 1.2:
        onsets.append(t)
        values.append(conditions[rng.integers(len(conditions))] if conditions else "stim")
        t += rng.uniform(*isi)
    tt = np.arange(int(0.8 * sfreq)) / sfreq
    shared = rng.choice(n_sources, 2, replace=False)
    evoked = {}
    for k, c in enumerate(conditions):
        own = rng.choice(n_sources, 3, replace=False)
        lat = 0.10 + 0.015 * k, 0.17 + 0.03 * k, 0.30 + 0.04 * k
        comps = [(shared[0], lat[0], 0.02, 60e-9), (shared[1], lat[0] + 0.01, 0.02, -40e-9),
                 (own[0], lat[1], 0.03, 80e-9), (own[1], lat[1] + 0.02, 0.03, -60e-9),
                 (own[2], lat[2], 0.06, 50e-9)]
        evoked[c] = comps
    for onset, c in zip(onsets, values, strict=True):
        a = int(round(onset * sfreq))
        for s, lat, width, amp in evoked.get(c, []):
            wave = amp * evoked_scale * np.exp(-0.5 * ((tt - lat) / width) ** 2)
            seg = src[s, a:a + len(tt)]
            seg += wave[:len(seg)] * rng.uniform(0.7, 1.3)

    picks = mne.pick_types(info, meg=True, eeg=True, ref_meg=False, exclude=[])
    sensors = Sensors.from_info(info, picks)
    data = gain[picks] @ src
    if background == "mvar":
        data = data + _mvar_background(rng, info, n_times, sfreq)[picks]
    elif background != "sources":
        raise DataError(f"background must be 'sources' or 'mvar', got {background!r}.")
    scale = np.array([SI_TO_UNIT[k] for k in sensors.kinds])[:, None]
    data = data * scale
    noise = np.array([_SENSOR_NOISE[k] for k in sensors.kinds])[:, None]
    data += noise * rng.standard_normal(data.shape)
    events = make_events(onsets, 0.5, "stimulus", values)
    rec = Recording(data=data.astype(np.float32), sfreq=sfreq, sensors=sensors, subject=subject,
                    task=task, events=events, source=f"simulated(seed={seed})")
    logger.info("simulated %s", rec)
    return rec.add_step("simulate", duration=duration, sfreq=sfreq, seed=seed,
                        conditions=list(conditions), n_sources=n_sources, background=background,
                        evoked_scale=evoked_scale)


def simulate_meg(duration: float = 120.0, sfreq: float = 250.0, *, seed: int = 0,
                 geometry: Literal["auto", "megin", "synthetic"] = "auto",
                 background: Literal["auto", "sources", "mvar"] = "sources",
                 **kwargs: Any) -> Recording:
    """306-channel MEG (102 mags + 204 planar grads); see :func:`simulate`."""
    from neuroseq.data import samples

    info = meg_info(geometry)
    if background == "auto":
        background = "mvar" if (samples.has_megin_template() and len(info["ch_names"]) == 306
                                and geometry != "synthetic") else "sources"
    return simulate(info, duration=duration, sfreq=sfreq, seed=seed, background=background,
                    **kwargs)


def simulate_eeg(duration: float = 120.0, sfreq: float = 250.0, *, seed: int = 0,
                 montage: str = "biosemi64", **kwargs: Any) -> Recording:
    """EEG on a standard montage; see :func:`simulate`."""
    return simulate(eeg_info(montage), duration=duration, sfreq=sfreq, seed=seed, **kwargs)
