"""Sentence segments and sentence-disjoint splits for brain-to-text."""

import numpy as np
import pandas as pd
import pytest

from neuroseq.data.recording import Recording, Sensors
from neuroseq.data.segments import InMemoryCorpus
from neuroseq.data.sentences import SentenceDataset, check_disjoint, sentences, split_of
from neuroseq.errors import DataError

TEXTS = [f"the dog number {i} ran home" for i in range(40)]


def _corpus(n_subjects=2, with_ids=True, story=None):
    """Recordings where every subject hears TEXTS: one sentence every 3 s, 0.3 s per word."""
    recs = []
    for s in range(n_subjects):
        rows, t = [], 1.0
        for k, text in enumerate(TEXTS):
            for i, w in enumerate(text.split()):
                row = {"onset": t + 0.3 * i, "duration": 0.2, "kind": "word", "value": w,
                       "story": story or ("a" if k < 20 else "b")}
                if with_ids:
                    row["sequence_id"] = k
                rows.append(row)
            t += 3.0
        sf = 50.0
        x = np.random.default_rng(s).standard_normal((3, int((t + 3) * sf))).astype(np.float32)
        sens = Sensors(names=["E1", "E2", "E3"], kinds=["eeg"] * 3,
                       locs=np.full((3, 12), np.nan))
        rec = Recording(x, sf, sens, subject=f"0{s + 1}", events=pd.DataFrame(rows))
        recs.append(rec)
    return InMemoryCorpus(recs)


def test_sentences_grouped_by_sequence_id_or_by_pauses():
    for ids in (True, False):
        c = _corpus(1, with_ids=ids)
        got = sentences(c, c.ids[0])
        assert [s.text for s in got] == TEXTS
        assert got[1].onset == pytest.approx(4.0)


def test_sentence_disjoint_split_fixed_length_segments_and_every_subject_same_split():
    c = _corpus(2)
    sets = {sp: SentenceDataset(c, sp, seconds=2.0, tmin=-0.2) for sp in ("train", "val", "test")}
    texts = {sp: set(ds.texts) for sp, ds in sets.items()}
    assert not (texts["train"] & texts["test"]) and not (texts["train"] & texts["val"])
    assert sum(map(len, texts.values())) == len(TEXTS)
    for sp, ds in sets.items():
        assert len(ds) == 2 * len(texts[sp])  # both subjects, same split
        assert all(ds[i]["x"].shape == (3, 100) for i in range(len(ds)))
        assert all(split_of(t) == sp for t in ds.texts)
    item = sets["train"][0]
    assert item["onset"].item() == pytest.approx(sets["train"].sentences[0].onset - 0.2)


def test_the_split_check_catches_a_leaked_sentence():
    check_disjoint({"train": ["a b", "c d"], "test": ["e f"]})
    with pytest.raises(DataError, match="more than one split"):
        check_disjoint({"train": ["a b", "c d"], "test": ["e f", "C D"]})


def test_stories_held_out_whole():
    c = _corpus(1)
    test = SentenceDataset(c, "test", seconds=2.0, stories={"test": ["b"]})
    train = SentenceDataset(c, "train", seconds=2.0, stories={"test": ["b"]})
    assert set(test.texts) == set(TEXTS[20:]) and set(train.texts) == set(TEXTS[:20])


def test_no_word_events_is_a_clear_error():
    c = _corpus(1)
    c._recs[c.ids[0]].events = c._recs[c.ids[0]].events.iloc[0:0]
    with pytest.raises(DataError, match="no word events"):
        SentenceDataset(c, "train")


def test_event_descriptions_follow_the_store_split(sim_store):
    from neuroseq.data.sentences import EventTextDataset
    from neuroseq.data.store import Store

    store = Store(sim_store)
    desc = {"a": "the house", "b": "the river"}
    tr = EventTextDataset(store, "train", desc, seconds=0.5, tmin=-0.1)
    te = EventTextDataset(store, "test", desc, seconds=0.5, tmin=-0.1)
    assert set(tr.texts) == set(te.texts) == {"the house", "the river"}
    item = te[0]
    assert item["x"].shape == (8, 50) and item["text"] in desc.values()
    spans = store.split.recordings
    for ds, sp in ((tr, "train"), (te, "test")):  # every epoch inside its split's spans
        for rid, s, _ in ds.epochs.items:
            assert any(a * 100 <= s and s + 50 <= b * 100 for a, b in spans[rid][sp])
    with pytest.raises(DataError, match="descriptions"):
        EventTextDataset(store, "train", {})


def test_check_disjoint_refuses_a_planted_overlap_in_time():
    texts = {"train": ["a b"], "test": ["c d"]}
    check_disjoint(texts, {"train": [("r1", 0, 100)], "test": [("r1", 150, 250)]}, margin=50)
    check_disjoint(texts, {"train": [("r1", 0, 100)], "test": [("r2", 50, 250)]}, margin=50)
    for test_span in (("r1", 90, 200), ("r1", 149, 250)):  # overlapping; 49 samples apart
        with pytest.raises(DataError, match="margin"):
            check_disjoint(texts, {"train": [("r1", 0, 100)], "test": [test_span]}, margin=50)


def _read_spans(ds):
    """(recording, first, stop) of the samples each item of ``ds`` reads."""
    return [(s.recording, int(round((s.onset + ds.tmin) * 50)),
             int(round((s.onset + ds.tmin) * 50)) + ds.width) for s in ds.sentences]


def test_no_training_sample_within_a_test_sentence_plus_the_margin():
    c = _corpus(2)
    # 4 s windows on sentences 3 s apart: each window holds the start of the next sentence
    sets = {sp: SentenceDataset(c, sp, seconds=4.0, tmin=-0.2, margin=1.0)
            for sp in ("train", "val", "test")}
    assert sets["train"].dropped["train"] > 0 and sets["train"].margin == 50
    test = [(s.recording, int(round((s.onset - 0.2) * 50)), int(round(s.end * 50)))
            for s in sets["test"].sentences]
    for sp in ("train", "val"):
        for rid, lo, hi in _read_spans(sets[sp]):
            for trid, tlo, thi in test:
                assert rid != trid or hi + 50 <= tlo or thi + 50 <= lo, (sp, lo, hi, tlo, thi)
    assert len(sets["test"]) == 2 * len(set(sets["test"].texts))  # the test split keeps all
    # 2 s windows 1 s apart: no overlap, so only a margin over 1 s drops anything
    assert SentenceDataset(c, "train", seconds=2.0, tmin=-0.2, margin=1.0).dropped == \
        {"val": 0, "train": 0}
    wide = SentenceDataset(c, "train", seconds=2.0, tmin=-0.2, margin=1.5)
    assert wide.dropped["train"] > 0 and wide.dropped["val"] >= 0


def test_the_dataset_refuses_splits_whose_margin_was_not_kept(monkeypatch):
    """The time check runs inside the dataset: with the dropping disabled, it refuses."""
    import neuroseq.data.sentences as S

    monkeypatch.setattr(S, "protect", lambda every, spans, margin: {})
    with pytest.raises(DataError, match="overlap in time"):
        S.SentenceDataset(_corpus(2), "train", seconds=4.0, tmin=-0.2, margin=1.0)
