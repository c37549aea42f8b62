"""MEG-XL corpus recipes on fixtures written in each corpus's own layout."""

import json

import mne
import numpy as np
import pytest
from click.testing import CliRunner

from neuroseq.cli import main
from neuroseq.data.recipes import get_recipe
from neuroseq.data.store import Store
from neuroseq.errors import FormatError


def _raw_with_eeg(meg_rec, seconds: float = 12.0):
    """306 MEG channels plus one EEG channel (which the recipes must drop)."""
    raw = meg_rec.to_raw().crop(0, seconds)
    eeg = mne.io.RawArray(np.random.default_rng(0).standard_normal((1, raw.n_times)) * 1e-5,
                          mne.create_info(["EEG061"], raw.info["sfreq"], "eeg"),
                          verbose="error")
    raw.load_data().add_channels([eeg], force_update_info=True)
    raw.set_annotations(None)
    raw.info["line_freq"] = 50.0
    return raw


def _write_bids(raw, tmp_path, root, **entities):
    import mne_bids

    fif = tmp_path / "tmp_raw.fif"
    raw.save(fif, overwrite=True, verbose="error")
    bp = mne_bids.BIDSPath(root=root, datatype="meg", **entities)
    mne_bids.write_raw_bids(mne.io.read_raw_fif(fif, verbose="error"), bp, overwrite=True,
                            format="FIF", verbose="error")
    return bp.fpath


@pytest.fixture(scope="module")
def camcan(meg_rec, tmp_path_factory):
    """CamCAN release005 BIDSsep: one BIDS root per task, sessions named after the task."""
    tmp = tmp_path_factory.mktemp("camcan")
    raw = _raw_with_eeg(meg_rec)
    for task in ("rest", "smt", "passive"):
        for sub in ("CC110033", "CC110037", "CC120065", "CC221107"):
            _write_bids(raw, tmp, tmp / "BIDSsep" / task, subject=sub, session=task, task=task)
    return tmp / "BIDSsep"


def test_camcan_recipe_finds_rest_and_smt_and_validates_three_subjects(camcan):
    sources, val = get_recipe("camcan").sources(camcan)
    names = sorted(p.fpath.name for p in sources)
    assert len(names) == 8 and not any("passive" in n for n in names)
    assert names[0] == "sub-CC110033_ses-rest_task-rest_meg.fif"
    assert sorted(val) == sorted(n for n in names if "CC110033" not in n)
    one, val1 = get_recipe("camcan").sources(camcan, subjects=["CC110033"])
    assert len(one) == 2 and val1 == []  # the same validation subjects for a subset
    _, val2 = get_recipe("camcan").sources(camcan, subjects=["CC110033", "CC221107"])
    assert sorted(val2) == ["sub-CC221107_ses-rest_task-rest_meg.fif",
                            "sub-CC221107_ses-smt_task-smt_meg.fif"]


def test_prepare_recipe_reads_meg_only_in_the_megxl_preset_with_the_val_split(camcan,
                                                                               tmp_path):
    out = tmp_path / "camcan.zarr"
    res = CliRunner().invoke(main, ["prepare", str(camcan), "--recipe", "camcan", "-o",
                                    str(out), "--subject", "CC110033", "--subject", "CC221107"])
    assert res.exit_code == 0, res.output
    store = Store(out)
    assert len(store.ids) == 4
    for rid in store.ids:
        rec = store.recording(rid)
        assert rec.sfreq == 50.0 and rec.n_channels == 306
        assert set(rec.sensors.kinds) == {"mag", "grad"}
        assert np.abs(rec.data).max() <= 5.0 + 1e-6
    val = [r for r in store.ids if store.split.spans(r, "val")]
    assert len(val) == 2 and all("CC221107" in store.index.set_index("id").loc[r, "source"]
                                 for r in val)
    assert json.loads(json.dumps(store.split.to_dict()))["method"] == "listed"


def test_prepare_recipe_refuses_its_own_settings_and_a_wrong_tree(camcan, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["prepare", str(camcan), "--recipe", "camcan", "-o",
                               str(tmp_path / "a.zarr"), "--split", "subject"])
    assert res.exit_code == 2 and "--recipe" in res.output
    res = runner.invoke(main, ["prepare", str(camcan / "rest"), "--recipe", "camcan", "-o",
                               str(tmp_path / "b.zarr")])
    assert res.exit_code == 2 and "CamCAN" in res.output and "BIDSsep" in res.output


def test_smn4lang_recipe_reads_runs_and_validates_runs_56_to_60(meg_rec, tmp_path):
    raw = _raw_with_eeg(meg_rec, 4.0)
    root = tmp_path / "ds004078"
    for run in (1, 2, 56, 60):
        _write_bids(raw, tmp_path, root, subject="01", task="RDR", run=run)
    _write_bids(raw, tmp_path, root, subject="01", task="rest")
    sources, val = get_recipe("smn4lang").sources(root)
    assert sorted(int(p.run) for p in sources) == [1, 2, 56, 60]
    assert sorted(val) == ["sub-01_task-RDR_run-56_meg.fif", "sub-01_task-RDR_run-60_meg.fif"]


def test_mous_recipe_finds_ctf_directories_of_the_auditory_task(tmp_path):
    """MOUS is CTF ``.ds`` (directories); MNE cannot write CTF, so the fixture has the layout
    and names only, and reading a ``.ds`` is MNE's (``mne.io.read_raw_ctf``)."""
    root = tmp_path / "MOUS"
    root.mkdir()
    (root / "dataset_description.json").write_text('{"Name": "MOUS", "BIDSVersion": "1.2"}')
    for sub in ("A2002", "A2003", "A2120", "V1001"):
        task = "visual" if sub.startswith("V") else "auditory"
        ds = root / f"sub-{sub}" / "meg" / f"sub-{sub}_task-{task}_meg.ds"
        ds.mkdir(parents=True)
        (ds / f"sub-{sub}_task-{task}_meg.meg4").write_bytes(b"MEG41CP\x00")
    sources, val = get_recipe("mous").sources(root)
    assert sorted(p.subject for p in sources) == ["A2002", "A2003", "A2120"]
    assert val == ["sub-A2120_task-auditory_meg.ds"]
    with pytest.raises(FormatError, match="unknown corpus recipe"):
        get_recipe("hcp")
