"""Shared fixtures: small simulated recordings written by the tests themselves."""

import os

import numpy as np
import pytest

os.environ.setdefault("NEUROSEQ_PROGRESS", "off")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def meg_rec():
    """20 s of simulated 306-channel MEG at 200 Hz (synthetic helmet, 3 conditions)."""
    from neuroseq.data.simulate import simulate_meg

    return simulate_meg(20.0, 200.0, seed=1, geometry="synthetic", n_sources=12)


@pytest.fixture(scope="session")
def eeg_rec():
    """30 s of simulated 64-channel EEG at 128 Hz."""
    from neuroseq.data.simulate import simulate_eeg

    return simulate_eeg(30.0, 128.0, seed=2, n_sources=12, conditions=("a", "b"))


@pytest.fixture
def small_rec():
    """A tiny hand-made 4-channel EEG recording with known events."""
    from neuroseq.data.recording import Recording, Sensors, make_events

    rng = np.random.default_rng(0)
    sens = Sensors(["C1", "C2", "C3", "C4"], ["eeg"] * 4)
    ev = make_events([1.0, 2.0, 3.0, 4.0], 0.0, "stimulus", ["a", "b", "a", "b"])
    return Recording(rng.standard_normal((4, 1000)) * 10, 100.0, sens, events=ev)


@pytest.fixture(scope="session")
def sim_store(tmp_path_factory):
    """A store of 2 × 120 s of simulated 8-channel EEG at 100 Hz with a time split, 2 conditions."""
    from neuroseq.data.preparation import prepare
    from neuroseq.data.preprocess import Clip, Pipeline, RobustScale
    from neuroseq.data.simulate import simulate_eeg
    from neuroseq.data.splits import SplitSpec

    root = tmp_path_factory.mktemp("store")
    files = []
    for i in range(2):
        rec = simulate_eeg(120.0, 100.0, seed=10 + i, n_sources=8, conditions=("a", "b"))
        rec = rec.pick(np.arange(8))
        rec.subject = f"0{i + 1}"
        files.append(rec.save_fif(str(root / f"sub-0{i + 1}_eeg.fif")))
    path = root / "sim.zarr"
    prepare(files, path, pipeline=Pipeline([RobustScale(), Clip(4.0)]),
            split=SplitSpec("time", {"n_val": 4, "n_test": 4}), n_jobs=1)
    return path


@pytest.fixture(scope="session")
def sentence_store(tmp_path_factory):
    """A simulated word corpus (MEG-MASC layout, 2 subjects × 40 sentences, 20 word types,
    KIT-208) prepared at 50 Hz: brain-to-text's test data."""
    from click.testing import CliRunner

    from neuroseq.cli import main

    root = tmp_path_factory.mktemp("sentences")
    r = CliRunner().invoke(main, ["simulate", "--words", "--subjects", "2", "--sentences", "40",
                                  "--vocab", "20", "--sfreq", "100", "-o", str(root / "bids")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["prepare", str(root / "bids"), "-o", str(root / "s.zarr"),
                                  "--resample", "50", "--h-freq", "20", "--clip", "5",
                                  "--split", "none"])
    assert r.exit_code == 0, r.output
    return root / "s.zarr"


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory):
    """A small random Llama with a word-level tokenizer of the simulated corpus's words, saved
    as a Hugging Face model directory (loaded through ``from_pretrained`` like any LLM)."""
    from neuroseq.data.simulate_words import WORDS
    from neuroseq.models.causal_lm import tiny_llm

    return tiny_llm(tmp_path_factory.mktemp("llm") / "tiny", [" ".join(WORDS)])
