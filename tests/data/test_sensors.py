"""MEG-XL's sensor conventions on every helmet we simulate or read: types from MNE's coil
names (KIT and CTF axial gradiometers are gradiometers although MNE types them ``mag``), and
positions centred and scaled as the official preprocessing does."""

from pathlib import Path

import numpy as np
import pytest
import torch

from neuroseq.data.readers import read_recording
from neuroseq.data.sensors import Sensors
from neuroseq.models.crisscross import normalise_positions

_KIT = Path(__file__).resolve().parents[2] / ".cache" / "testdata" / "test_umd-raw.sqd"


def _check_geometry(sens):
    xyzdir = sens.official_xyzdir()
    p = xyzdir[:, :3]
    assert np.allclose(p.mean(0), 0, atol=1e-9)
    assert np.sqrt(3 * np.mean(np.sum(p ** 2, axis=1))) == pytest.approx(1.0)
    ours = normalise_positions(torch.tensor(sens.positions)[None],
                               torch.ones(1, len(sens), dtype=torch.bool))[0].numpy()
    assert np.allclose(ours, p, atol=1e-6)  # the criss-cross embeds the same positions
    return xyzdir


def test_megin_magnetometers_are_1_and_planar_gradiometers_0():
    from neuroseq.data.simulate import simulate_meg

    sens = simulate_meg(2.0, 100.0, seed=0, geometry="megin").sensors
    types = sens.official_types()
    kinds = np.asarray(sens.kinds)
    assert (types[kinds == "mag"] == 1).all() and (types[kinds == "grad"] == 0).all()
    assert types.sum() == 102 and len(types) == 306
    xyzdir = _check_geometry(sens)
    grad = kinds == "grad"
    assert np.allclose(xyzdir[grad, 3:], sens.locs[grad, 3:6])  # the gradient direction
    assert np.allclose(xyzdir[~grad, 3:], sens.locs[~grad, 9:12])  # the coil normal


def test_kit_axial_gradiometers_are_0_though_mne_types_them_mag():
    from neuroseq.data.simulate_words import kit208_info

    real = read_recording(_KIT).sensors  # a real KIT file (eelbrain's test data)
    assert set(real.kinds) == {"mag"} and len(real) == 157
    assert (real.official_types() == 0).all()
    xyzdir = _check_geometry(real)
    assert np.allclose(xyzdir[:, 3:], real.locs[:, 9:12])  # the coil normal
    sens = Sensors.from_info(kit208_info(100.0))  # the simulated KIT-208 helmet
    assert (sens.official_types() == 0).all()
    assert np.allclose(_check_geometry(sens)[:, 3:], sens.locs[:, 9:12])


def test_ctf_and_bti_follow_the_official_names():
    import mne
    from mne.io.constants import FIFF

    info = mne.create_info(["G1", "G2", "R1", "B1"], 100.0, "mag")
    coils = [FIFF.FIFFV_COIL_CTF_GRAD, FIFF.FIFFV_COIL_CTF_GRAD, FIFF.FIFFV_COIL_CTF_REF_MAG,
             FIFF.FIFFV_COIL_MAGNES_GRAD]
    with info._unlock():
        for ch, c, k in zip(info["chs"], coils, range(4), strict=True):
            ch["coil_type"] = c
            ch["loc"][:3] = [0.01 * k, 0.02, 0.05 + 0.01 * k]
            ch["loc"][9:12] = [0, 0, 1]
    sens = Sensors.from_info(info)
    # CTF axial gradiometers 0, the CTF reference magnetometer 1, BTi's gradiometer 1 (its
    # coil name, MAGNES_GRAD, holds "MAG": the official rule's quirk, kept for parity)
    assert sens.official_types().tolist() == [0, 0, 1, 1]


def test_types_survive_the_store_and_fall_back_to_kinds():
    sens = Sensors(["A", "B", "C"], ["mag", "grad", "eeg"])
    assert sens.official_types().tolist() == [1, 0, 0]  # no coil types: the kind decides
    from neuroseq.data.simulate_words import kit208_info

    back = Sensors.from_dict(Sensors.from_info(kit208_info(100.0)).to_dict())
    assert (back.official_types() == 0).all()
