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
