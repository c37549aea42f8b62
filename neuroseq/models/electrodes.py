"""One electrode vocabulary shared across datasets: 10-05 EEG names and MEGIN MEG channels.

EEGPT (Yue et al.) gives every electrode a learned embedding, so the same name must map to the
same row in every dataset.  Names are matched case-insensitively, ignoring spaces (``"MEG0113"``
= ``"MEG 0113"``, ``"FP1"`` = ``"Fp1"``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from neuroseq.errors import DataError


def _key(name: str) -> str:
    return name.replace(" ", "").replace("-", "").upper()


def default_names() -> list[str]:
    """The 10-05 EEG names (MNE's 343-electrode montage) then the 306 MEGIN MEG channels."""
    import mne

    names = list(_eeg_1005())
    names += [n.replace(" ", "") for n in mne.channels.read_layout("Vectorview-all").names]
    return names


def _eeg_1005() -> list[str]:
    import warnings

    import mne

    with warnings.catch_warnings():  # the montage is being renamed in newer MNE
        warnings.simplefilter("ignore", FutureWarning)
        return mne.channels.make_standard_montage("standard_1005").ch_names


class ElectrodeVocab:
    """Name → row index of the electrode embedding.

    Parameters
    ----------
    names : iterable of str | None
        The vocabulary (default :func:`default_names`).
    """

    def __init__(self, names: Iterable[str] | None = None) -> None:
        self.names = list(names) if names is not None else default_names()
        self.index: dict[str, int] = {}
        for i, n in enumerate(self.names):
            self.index.setdefault(_key(n), i)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: str) -> bool:
        return _key(name) in self.index

    def ids(self, names: Iterable[str]) -> torch.Tensor:
        """Indices of ``names``; unknown names are refused with the list of them."""
        names = list(names)
        unknown = [n for n in names if _key(n) not in self.index]
        if unknown:
            raise DataError(f"electrodes {unknown[:8]} are not in the electrode vocabulary "
                            f"({len(self)} names: 10-05 EEG and MEGIN MEG); rename them to "
                            "standard names or extend the vocabulary.")
        return torch.tensor([self.index[_key(n)] for n in names], dtype=torch.long)
