"""The one segment base: every segment dataset checks the sampling rate once, builds the
channel vocabulary, sensors blocks and subject map the same way, and refuses sensors outside a
given vocabulary; the one hashed split is shared by words and sentences."""

import numpy as np
import pandas as pd
import pytest

from neuroseq.data.recording import Recording, Sensors
from neuroseq.data.segments import InMemoryCorpus, SegmentDataset
from neuroseq.data.sentences import SentenceDataset
from neuroseq.data.sentences import split_of as sentence_split
from neuroseq.data.splits import hash_split
from neuroseq.data.windows import EpochDataset, WindowDataset
from neuroseq.data.words import WordGroup, WordGroupDataset
from neuroseq.data.words import split_of as word_split
from neuroseq.errors import DataError


def _rec(sf, subject, names=("A", "B", "C"), seconds=40.0):
    rows = [{"onset": 1.0 + 0.5 * i, "duration": 0.2, "kind": "word", "value": w,
             "sequence_id": i // 4} for i, w in enumerate(("the cat sat down " * 16).split())]
    rows += [{"onset": 2.0 + 3 * i, "duration": 0.0, "kind": "stimulus", "value": "x",
              "sequence_id": None} for i in range(5)]
    x = np.random.default_rng(0).standard_normal((len(names), int(seconds * sf)))
    sens = Sensors(list(names), ["eeg"] * len(names), locs=np.full((len(names), 12), np.nan))
    return Recording(x.astype(np.float32), sf, sens, subject=subject, events=pd.DataFrame(rows))


@pytest.mark.parametrize("make", [
    lambda c: WindowDataset(c, 50, split=None),
    lambda c: EpochDataset(c, {"x": 0}, split=None),
    lambda c: WordGroupDataset(c, "train", group_size=2, tmin=0.0, tmax=0.4),
    lambda c: SentenceDataset(c, "train", seconds=1.0),
])
def test_every_segment_dataset_refuses_mixed_sampling_rates(make):
    """Before, word groups, sentences and decode segments skipped this check."""
    with pytest.raises(DataError, match="mixes sampling rates"):
        make(InMemoryCorpus([_rec(50.0, "01"), _rec(100.0, "02")]))


def test_vocabulary_sensors_and_subjects_are_built_once_the_same_way():
    corpus = InMemoryCorpus([_rec(50.0, "02", ("A", "B")), _rec(50.0, "01", ("B", "C", "D"))])
    base = SegmentDataset(corpus)
    assert base.channel_vocab == ["A", "B", "C", "D"] and base.subject_map == {"01": 0, "02": 1}
    rid = corpus.ids[1]
    item = base.item(rid, np.zeros((3, 10)))
    assert item["sensors"]["ids"].tolist() == [1, 2, 3] and int(item["subject"]) == 0
    assert item["x"].dtype == item["sensors"]["pos"].dtype  # float32 throughout
    with pytest.raises(DataError, match="not among the 2 channels"):
        SegmentDataset(corpus, channel_vocab=["A", "B"])
    with pytest.raises(DataError, match="trained at 100 Hz"):
        SegmentDataset(corpus, sfreq=100.0)


def test_words_and_sentences_use_the_one_hashed_split():
    g = WordGroup("r", (0, 1), ("the", "cat"))
    assert word_split(g, salt="7") == hash_split("the cat", "7")
    assert sentence_split("The Cat", "7") == hash_split("the cat", "7")
    counts = pd.Series([hash_split(f"unit {i}") for i in range(4000)]).value_counts() / 4000
    assert abs(counts["train"] - 0.8) < 0.03 and abs(counts["test"] - 0.1) < 0.02
    with pytest.raises(DataError, match="summing to 1"):
        hash_split("x", fractions=(0.5, 0.1, 0.1))
