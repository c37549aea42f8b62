import json
import os

import pytest
from click.testing import CliRunner

from neuroseq.cli import main
from neuroseq.data import samples


def test_info_prepare_and_errors(meg_rec, tmp_path):
    fif = tmp_path / "sub-01_task-vis_meg.fif"
    meg_rec.save_fif(fif)
    r = CliRunner().invoke(main, ["info", str(fif)])
    assert r.exit_code == 0, r.output
    assert "102 mag (fT), 204 grad (fT/cm)" in r.output and "200 Hz" in r.output
    assert "stimulus/face" in r.output
    r = CliRunner().invoke(main, ["info", "--json", str(fif)])
    assert json.loads(r.output)[0]["channels"] == {"mag": 102, "grad": 204}
    r = CliRunner().invoke(main, ["prepare", str(fif), "-o", str(tmp_path / "s.zarr"),
                                  "--resample", "100", "--clip", "4", "--n-val", "1"])
    assert r.exit_code == 0, r.output
    assert "sub-01_task-vis" in r.output and "split (time)" in r.output
    bad = tmp_path / "x.txt"
    bad.write_text("nope")
    r = CliRunner().invoke(main, ["info", str(bad)])
    assert r.exit_code == 2 and "unknown file type '.txt'" in r.output


def test_simulate_command(tmp_path):
    out = tmp_path / "sim_eeg.fif"
    r = CliRunner().invoke(main, ["simulate", "--modality", "eeg", "--duration", "5",
                                  "--sfreq", "100", "--out", str(out), "--psd",
                                  str(tmp_path / "psd.png")])
    assert r.exit_code == 0, r.output
    assert out.exists() and (tmp_path / "psd.png").stat().st_size > 1000


@pytest.mark.skipif(not samples.has_sample_eeg() and not os.environ.get("CI"),
                    reason="pylossless sample EEG not installed (CI installs it)")
def test_info_on_real_bids_root():
    r = CliRunner().invoke(main, ["info", str(samples.sample_eeg_root()), "--subject", "s02"])
    assert r.exit_code == 0, r.output
    assert "128 eeg (uV)" in r.output and "256 Hz" in r.output
    assert "face-upright" in r.output and "sub-s01" not in r.output


def test_array_inputs_take_their_facts_from_flags(meg_rec, tmp_path):
    import numpy as np

    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((3, 500)) * 10)
    r = CliRunner().invoke(main, ["info", str(tmp_path / "x.npy")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "needs --sfreq, --ch-names, --ch-types" in r.output  # every missing field at once
    r = CliRunner().invoke(main, ["info", str(tmp_path / "x.npy"), "--sfreq", "100"])
    assert r.exit_code == 2 and "needs --ch-names, --ch-types" in r.output
    r = CliRunner().invoke(main, ["info", str(tmp_path / "x.npy"), "--sfreq", "100",
                                  "--ch-names", "Fz,Cz,Pz", "--ch-types", "eeg"])
    assert r.exit_code == 0 and "3 eeg (uV)" in r.output and "100 Hz" in r.output, r.output
    fif = tmp_path / "sub-01_task-vis_meg.fif"
    meg_rec.save_fif(fif)
    r = CliRunner().invoke(main, ["prepare", str(fif), "-o", str(tmp_path / "s.zarr"),
                                  "--sfreq", "100"])
    assert r.exit_code == 2 and "--sfreq, --ch-names and --ch-types describe .npy" in r.output
    assert "--resample" in r.output


def test_failed_prepare_names_cli_flags_and_leaves_no_store(meg_rec, tmp_path):
    rec = meg_rec.copy()
    rec.data[5] = 0.0  # a flat channel
    fif = tmp_path / "sub-01_task-vis_meg.fif"
    rec.save_fif(fif)
    r = CliRunner().invoke(main, ["prepare", str(fif), "-o", str(tmp_path / "s.zarr")])
    assert r.exit_code == 2 and "no store was written" in r.output
    assert "--on-flat drop" in r.output and "on_flat=" not in r.output
    assert not any("zarr" in p.name for p in tmp_path.iterdir())
    r = CliRunner().invoke(main, ["prepare", str(fif), "-o", str(tmp_path / "s.zarr"),
                                  "--on-flat", "drop"])
    assert r.exit_code == 0 and (tmp_path / "s.zarr").is_dir(), r.output


def test_megxl_preset_is_the_papers_pipeline(meg_rec, tmp_path):
    import numpy as np

    from neuroseq.data.store import Store

    fif = tmp_path / "r.fif"
    meg_rec.save_fif(str(fif))
    r = CliRunner().invoke(main, ["prepare", str(fif), "-o", str(tmp_path / "s.zarr"),
                                  "--preset", "megxl", "--split", "none"])
    assert r.exit_code == 0, r.output
    st = Store(tmp_path / "s.zarr")
    rid = st.ids[0]
    steps = st.pipeline(rid).steps
    assert [s.name for s in steps] == ["bandpass", "resample", "chunk_baseline", "robust_scale",
                                       "clip"]
    assert st.sfreq(rid) == 50.0 and steps[3].per_kind and steps[4].limit == 5.0
    x = st.read(rid, 0, st.n_samples(rid))
    assert np.abs(x).max() <= 5.0
    # per kind: one centre and scale for all magnetometers, one for all gradiometers
    kinds = np.array(st.sensors(rid).kinds)
    names = st.sensors(rid).names
    assert len({steps[3].scale[n] for n, k in zip(names, kinds, strict=True) if k == "mag"}) == 1
    bad = CliRunner().invoke(main, ["prepare", str(fif), "-o", str(tmp_path / "t.zarr"),
                                    "--preset", "megxl", "--resample", "100"])
    assert bad.exit_code == 2 and "--preset" in bad.output


def test_a_flag_that_disagrees_with_the_sidecar_is_an_error(tmp_path):
    """Before: `info a.npy --sfreq 50` with a sidecar saying 400 Hz read 10 s as 80 s."""
    import json

    import numpy as np

    np.save(tmp_path / "a.npy", np.random.default_rng(0).standard_normal((2, 4000)))
    (tmp_path / "a.json").write_text(json.dumps({"sfreq": 400, "ch_names": ["Fz", "Cz"],
                                                 "ch_types": ["eeg", "eeg"]}))
    r = CliRunner().invoke(main, ["info", str(tmp_path / "a.npy"), "--sfreq", "50"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "--sfreq" in r.output and "50" in r.output and "400" in r.output
    assert "a.json" in r.output
    r = CliRunner().invoke(main, ["info", str(tmp_path / "a.npy"), "--sfreq", "400"])
    assert r.exit_code == 0 and "10.0 s" in r.output, r.output  # agreeing flag: as before
    r = CliRunner().invoke(main, ["info", str(tmp_path / "a.npy")])
    assert r.exit_code == 0 and "400 Hz" in r.output
    r = CliRunner().invoke(main, ["info", str(tmp_path / "a.npy"), "--ch-names", "O1,O2"])
    assert r.exit_code == 2 and "--ch-names" in r.output


def test_info_describes_a_prepared_store(meg_rec, tmp_path):
    """Before: `info STORE.zarr` said 'no readable recording in directory'."""
    fif = tmp_path / "sub-01_task-vis_meg.fif"
    meg_rec.save_fif(fif)
    store = tmp_path / "s.zarr"
    r = CliRunner().invoke(main, ["prepare", str(fif), "-o", str(store)])
    assert r.exit_code == 0, r.output
    assert "(change with --split / --n-val)" in r.output and "%" in r.output
    r = CliRunner().invoke(main, ["info", str(store)])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "prepared store, 1 recording(s)" in out and "Hz" in out
    assert "split:    time: train" in out and "val" in out and "test" in out
    assert "pipeline: robust_scale" in out.lower() or "pipeline:" in out
    assert "events:" in out


def test_errors_show_paths_not_path_objects():
    from pathlib import Path

    from neuroseq.cli import cli_phrasing

    msg = f"cannot read {Path('/data/a.fif')!r} nor {Path('b c.fif')!r}"
    assert cli_phrasing(msg) == "cannot read /data/a.fif nor b c.fif"


def test_a_word_corpus_is_not_split_by_word_conditions(tmp_path):
    """Before: every word type became a condition of the time split, and on this corpus 1.9 s of
    128 s was left for training; word and phoneme events are no trial conditions."""
    corpus = tmp_path / "w"
    r = CliRunner().invoke(main, ["simulate", "--words", "--subjects", "1", "--vocab", "20",
                                  "--sfreq", "100", "-o", str(corpus)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["prepare", str(corpus), "-o", str(tmp_path / "s.zarr"),
                                  "--preset", "megxl"])
    assert r.exit_code == 0, r.output
    from neuroseq.data.store import Store

    secs = Store(tmp_path / "s.zarr").split.summary()
    assert secs["train"] > 0.7 * sum(secs.values())
    assert "warning: only" not in r.output


def test_every_option_of_every_command_is_described():
    """Before: `decode --help` and `generate --help` left --batch-size, --max-new-tokens,
    --seed, --split and --top-k undescribed."""
    import click

    def commands(group, prefix=()):
        for name, cmd in group.commands.items():
            if isinstance(cmd, click.Group):
                yield from commands(cmd, (*prefix, name))
            else:
                yield (*prefix, name), cmd

    bare = [f"{' '.join(path)} {opt.opts[0]}" for path, cmd in commands(main)
            for opt in cmd.params if isinstance(opt, click.Option) and not opt.help]
    assert not bare, bare
