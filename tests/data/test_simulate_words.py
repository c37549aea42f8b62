"""`neuroseq simulate --words`: a MEG-MASC-layout BIDS tree whose word types evoke their own
responses, read back like the real corpus."""

import ast

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from neuroseq.cli import main
from neuroseq.data.readers import find_bids_recordings, read_recording
from neuroseq.data.words import clean_words


def _corpus(root, scale):
    r = CliRunner().invoke(main, ["simulate", "--words", "--subjects", "2", "--sentences", "30",
                                  "--vocab", "20", "--sfreq", "100", "--evoked-scale",
                                  str(scale), "-o", str(root)])
    assert r.exit_code == 0, r.output
    return [read_recording(p) for p in find_bids_recordings(root)]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("words")
    return root, _corpus(root / "evoked", 1.0), _corpus(root / "silent", 0.0)


def test_the_tree_has_meg_masc_layout_and_events(corpora):
    root, recs, _ = corpora
    meg = root / "evoked" / "sub-01" / "ses-0" / "meg"
    for suffix in ("meg.fif", "events.tsv", "channels.tsv", "meg.json"):
        assert (meg / f"sub-01_ses-0_task-0_{suffix}").is_file()
    ev = pd.read_csv(meg / "sub-01_ses-0_task-0_events.tsv", sep="\t")
    assert list(ev.columns[:3]) == ["onset", "duration", "trial_type"]
    rows = [ast.literal_eval(t) for t in ev["trial_type"]]
    kinds = [r["kind"] for r in rows]
    assert kinds[0::2] == ["word"] * (len(rows) // 2) and set(kinds[1::2]) == {"phoneme"}
    assert (ev["onset"].to_numpy()[0::2] == ev["onset"].to_numpy()[1::2]).all()
    assert rows[0]["pronounced"] == 1.0 and rows[0]["story"] == "sim"
    a, b = recs
    assert a.n_channels == 208 and a.sensors.names[0] == "MEG 001" and a.sfreq == 100.0
    assert (a.subject, a.session, a.task) == ("01", "0", "0")
    wa, wb = clean_words(a.events), clean_words(b.events)
    assert len(wa) == len(rows) // 2 and list(wa["word"]) == list(wb["word"])  # one story
    text = (root / "evoked" / "stimuli" / "sim.txt").read_text().split()
    assert text == list(wa["word"])


def _epochs(rec, pair):
    """Channel means of four 0.1 s bins, 0.1–0.5 s after each word of ``pair``; labels."""
    words = clean_words(rec.events)
    keep = words[words["word"].isin(pair)]
    on = (keep["onset"].to_numpy() * rec.sfreq).astype(int)
    x = np.stack([rec.data[:, o + 10:o + 50].reshape(rec.n_channels, 4, 10).mean(-1).ravel()
                  for o in on])
    return x, (keep["word"] == pair[0]).to_numpy().astype(int)


def test_each_word_type_has_its_own_response_shared_across_subjects(corpora):
    """A classifier of two words trained on one subject reads the other subject: the words
    evoke their own responses, the same in everyone; not so when words evoke nothing."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def accuracy(recs, pair):
        (xa, ya), (xb, yb) = _epochs(recs[0], pair), _epochs(recs[1], pair)
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
        return balanced_accuracy_score(yb, clf.fit(xa, ya).predict(xb))

    _, evoked, silent = corpora
    top = clean_words(evoked[0].events)["word"].value_counts().index[:4]
    pairs = [(top[0], top[1]), (top[0], top[2]), (top[1], top[3]), (top[2], top[3])]
    acc_evoked = [accuracy(evoked, p) for p in pairs]
    acc_silent = [accuracy(silent, p) for p in pairs]
    # measured 0.91–1.00 and 0.49–0.63 (mean 0.57)
    assert min(acc_evoked) > 0.85 and np.mean(acc_silent) < 0.65, (acc_evoked, acc_silent)


def test_word_corpus_errors_name_the_flags(tmp_path):
    r = CliRunner().invoke(main, ["simulate", "--words", "--vocab", "500", "-o",
                                  str(tmp_path / "x")])
    assert r.exit_code == 2 and "--vocab" in r.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    r = CliRunner().invoke(main, ["simulate", "--words", "-o", str(tmp_path / "full")])
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_sentence_lengths_follow_the_flag(tmp_path):
    r = CliRunner().invoke(main, ["simulate", "--words", "--subjects", "1", "--sentences", "25",
                                  "--vocab", "10", "--sfreq", "100", "--sentence-words", "2,3",
                                  "-o", str(tmp_path / "short")])
    assert r.exit_code == 0, r.output
    ev = pd.read_csv(next((tmp_path / "short").rglob("*_events.tsv")), sep="\t")
    rows = [ast.literal_eval(t) for t in ev["trial_type"]]
    lengths = pd.Series([r["sequence_id"] for r in rows if r["kind"] == "word"]).value_counts()
    assert len(lengths) == 25 and set(lengths) == {2, 3}
    for bad in ("3", "4,2", "0,3", "a,b"):
        r = CliRunner().invoke(main, ["simulate", "--words", "--sentence-words", bad, "-o",
                                      str(tmp_path / f"bad{bad}")])
        assert r.exit_code == 2 and "--sentence-words" in r.output, bad
