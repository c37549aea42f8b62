"""One electrode vocabulary shared across datasets: 10-05 EEG, BioSemi-128 and MEGIN MEG.

EEGPT (Yue et al.) gives every electrode a learned embedding, so the same name must map to the
same row in every dataset.  Names are matched case-insensitively, ignoring spaces (``"MEG0113"``
= ``"MEG 0113"``, ``"FP1"`` = ``"Fp1"``).  BioSemi's ABCD names (``A1``…``D32``) are stored as
``biosemi:A1``…; a montage whose names all follow that pattern, and that holds at least one name
outside 10-05, is read as BioSemi — so ``A1`` means the BioSemi vertex electrode there and the
left earlobe in a 10-05 montage.
"""

from __future__ import annotations

import functools
import re
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
    names += [BIOSEMI + n for n in _montage("biosemi128")]
    return names


def _eeg_1005() -> list[str]:
    return _montage("standard_1005")


def _montage(kind: str) -> list[str]:
    import warnings

    import mne

    with warnings.catch_warnings():  # some montages are being renamed in newer MNE
        warnings.simplefilter("ignore", FutureWarning)
        return mne.channels.make_standard_montage(kind).ch_names


BIOSEMI = "biosemi:"
_BIOSEMI_NAME = re.compile(r"^[A-H]([1-9]|[1-2][0-9]|3[0-2])$")


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

    def is_biosemi(self, names: list[str]) -> bool:
        """All names look like BioSemi ABCD names and at least one is not a 10-05 name."""
        return bool(names) and all(_BIOSEMI_NAME.match(n) for n in names) and any(
            _key(n) not in self.index for n in names)

    def ids(self, names: Iterable[str]) -> torch.Tensor:
        """Indices of ``names``; unknown names are refused with the list of them."""
        names = list(names)
        if self.is_biosemi(names):
            names = [BIOSEMI + n for n in names]
        unknown = [n for n in names if _key(n) not in self.index]
        if unknown:
            raise DataError(f"electrodes {unknown[:8]} are not in the electrode vocabulary "
                            f"({len(self)} names: 10-05 EEG and MEGIN MEG); rename them to "
                            "standard names or extend the vocabulary.")
        return torch.tensor([self.index[_key(n)] for n in names], dtype=torch.long)


@functools.cache
def vocabulary() -> ElectrodeVocab:
    """The shared electrode vocabulary (10-05 EEG, MEGIN MEG, BioSemi-128), built once."""
    return ElectrodeVocab()
