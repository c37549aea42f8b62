"""Sensors: channel names, kinds (``mag``, ``grad``, ``eeg``) and geometry.

Units inside neuroseq are fixed and converted at read time: magnetometers in fT, planar
gradiometers in fT/cm, EEG in µV.  Geometry follows MNE's ``info["chs"][i]["loc"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neuroseq.errors import DataError

KINDS = ("mag", "grad", "eeg")
#: Unit of each sensor kind inside neuroseq, and the factor from MNE's SI unit to it.
UNITS = {"mag": "fT", "grad": "fT/cm", "eeg": "uV"}
SI_TO_UNIT = {"mag": 1e15, "grad": 1e13, "eeg": 1e6}


def coil_names() -> dict[int, str]:
    """MNE's FIFF coil-type names by number (``{3012: "FIFFV_COIL_VV_PLANAR_T1", …}``)."""
    from mne.io.constants import FIFF

    return {int(v): k for k, v in FIFF.items() if k.startswith("FIFFV_COIL_")}


@dataclass
class Sensors:
    """Channel names, kinds and geometry.

    Parameters
    ----------
    names : list of str
        Channel names.
    kinds : list of str
        ``"mag"``, ``"grad"`` or ``"eeg"`` per channel.
    locs : ndarray, shape (n_channels, 12) | None
        MNE ``loc`` vectors (position in m, then three orientation vectors).  NaN where unknown.
    coil_types : list of int | None
        MNE/FIFF coil types, kept so that files written back keep their coil definitions.
    """

    names: list[str]
    kinds: list[str]
    locs: np.ndarray | None = None
    coil_types: list[int] | None = None

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        self.kinds = [str(k) for k in self.kinds]
        if len(self.names) != len(self.kinds):
            raise DataError(
                f"Sensors: {len(self.names)} names but {len(self.kinds)} kinds; give one kind "
                "per channel."
            )
        bad = sorted({k for k in self.kinds if k not in KINDS})
        if bad:
            raise DataError(f"Sensors: unknown sensor kind(s) {bad}; use one of {KINDS}.")
        if len(set(self.names)) != len(self.names):
            dup = sorted({n for n in self.names if self.names.count(n) > 1})
            raise DataError(f"Sensors: duplicated channel names {dup[:5]}; names must be unique.")
        if self.locs is None:
            self.locs = np.full((len(self.names), 12), np.nan)
        self.locs = np.asarray(self.locs, dtype=np.float64).reshape(len(self.names), 12)
        if self.coil_types is not None:
            self.coil_types = [int(c) for c in self.coil_types]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def positions(self) -> np.ndarray:
        """Sensor positions in metres, shape ``(n_channels, 3)`` (``loc[0:3]``)."""
        return self.locs[:, :3].copy()

    @property
    def orientations(self) -> np.ndarray:
        """Sensing directions, shape ``(n_channels, 3)``.

        Magnetometers (and axial gradiometers): the coil normal ``loc[9:12]``; planar
        gradiometers: the gradient direction ``loc[3:6]``; EEG: zeros.
        """
        out = np.zeros((len(self), 3))
        kinds = np.asarray(self.kinds)
        out[kinds == "mag"] = self.locs[kinds == "mag", 9:12]
        out[kinds == "grad"] = self.locs[kinds == "grad", 3:6]
        return out

    def official_types(self) -> np.ndarray:
        """MEG-XL's sensor types (``int [C]``): its preprocessing reads MNE's coil-type name and
        says 1 (magnetometer) when the name holds ``MAG``, else 0 (gradiometer).  So MEGIN
        magnetometers are 1 and planar gradiometers 0, and the axial gradiometers of KIT and
        CTF, which MNE types as ``mag``, are 0 — while BTi/4D's (``FIFFV_COIL_MAGNES_GRAD``)
        are 1, a quirk of the official rule kept for parity.  Without coil types (arrays read
        from ``.npy``) the kind decides: ``mag`` 1, anything else 0."""
        if self.coil_types is None:
            return (np.asarray(self.kinds) == "mag").astype(np.int64)
        names = coil_names()
        return np.array([int("MAG" in names.get(c, "")) for c in self.coil_types],
                        dtype=np.int64)

    def official_xyzdir(self) -> np.ndarray:
        """MEG-XL's sensor geometry (``float [C, 6]``): position and direction — the gradient
        direction ``loc[3:6]`` for planar coils, the coil normal ``loc[9:12]`` for any other
        — with the positions centred on their mean and divided by √(3·mean‖p‖²), as its
        ``norm_sensor_positions`` does (the criss-cross's :func:`~neuroseq.models.crisscross.
        normalise_positions` is the same map).  Without coil types, ``grad`` is planar."""
        names = coil_names() if self.coil_types is not None else {}
        planar = [("PLANAR" in names.get(c, "")) for c in self.coil_types] \
            if self.coil_types is not None else [k == "grad" for k in self.kinds]
        out = np.concatenate([self.locs[:, :3], np.where(np.asarray(planar)[:, None],
                                                         self.locs[:, 3:6], self.locs[:, 9:12])],
                             axis=1)
        out[:, :3] -= out[:, :3].mean(0, keepdims=True)
        out[:, :3] /= np.sqrt(3 * np.mean(np.sum(out[:, :3] ** 2, axis=1)))
        return out

    def picks(self, kinds: str | list[str]) -> np.ndarray:
        """Indices of the channels of the given kind(s)."""
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        return np.flatnonzero(np.isin(self.kinds, kinds))

    def counts(self) -> dict[str, int]:
        """Number of channels of each kind present."""
        return {k: self.kinds.count(k) for k in KINDS if k in self.kinds}

    def subset(self, idx: np.ndarray | list[int]) -> Sensors:
        """The sensors at the given indices, in that order."""
        idx = np.asarray(idx, dtype=int)
        return Sensors(
            names=[self.names[i] for i in idx],
            kinds=[self.kinds[i] for i in idx],
            locs=self.locs[idx],
            coil_types=None if self.coil_types is None else [self.coil_types[i] for i in idx],
        )

    @classmethod
    def from_info(cls, info: Any, picks: list[int] | np.ndarray | None = None) -> Sensors:
        """Build from an MNE ``Info`` (MNE channel type ``mag``/``grad``/``eeg`` per channel)."""
        import mne

        if picks is None:
            picks = mne.pick_types(info, meg=True, eeg=True, ref_meg=False, exclude=[])
        types = info.get_channel_types(picks=picks)
        chs = [info["chs"][i] for i in picks]
        return cls(
            names=[c["ch_name"] for c in chs],
            kinds=list(types),
            locs=np.array([c["loc"] for c in chs], dtype=np.float64),
            coil_types=[int(c["coil_type"]) for c in chs],
        )

    def to_info(self, sfreq: float) -> Any:
        """An MNE ``Info`` with these channels, locations and coil types."""
        import mne

        info = mne.create_info(self.names, sfreq, self.kinds)
        with info._unlock():
            for i, ch in enumerate(info["chs"]):
                ch["loc"][:] = self.locs[i]
                if self.coil_types is not None:
                    ch["coil_type"] = self.coil_types[i]
        return info

    def to_dict(self) -> dict:
        """JSON-serialisable form (NaN locations become ``None``)."""
        locs = [[None if not np.isfinite(v) else float(v) for v in row] for row in self.locs]
        return {"names": self.names, "kinds": self.kinds, "locs": locs,
                "coil_types": self.coil_types}

    @classmethod
    def from_dict(cls, d: dict) -> Sensors:
        """Inverse of :meth:`to_dict`."""
        locs = np.array([[np.nan if v is None else v for v in row] for row in d["locs"]],
                        dtype=np.float64).reshape(len(d["names"]), 12)
        return cls(names=d["names"], kinds=d["kinds"], locs=locs, coil_types=d.get("coil_types"))
