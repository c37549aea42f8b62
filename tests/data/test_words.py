"""Word-aligned groups: cleaning, windows, concatenation, hashed split, shifted-group leakage."""

import numpy as np
import pytest
import torch

from neuroseq.data.collate import pad_collate
from neuroseq.data.recording import Recording, Sensors, make_events
from neuroseq.data.segments import InMemoryCorpus
from neuroseq.data.words import (
    WordGroupDataset,
    clean_words,
    leaked_runs,
    split_of,
    word_groups,
)
from neuroseq.errors import DataError

STORY = "the cat sat on the mat and the dog ran far away from home".split()


def recording(n_words=120, subject="01", sfreq=50.0, seconds=None):
    words = [STORY[i % len(STORY)] for i in range(n_words)]
    onsets = 1.0 + 0.4 * np.arange(n_words)
    kinds = ["word"] * n_words
    words = [w if i % 10 != 3 else "sp" for i, w in enumerate(words)]  # silences
    words[5] = "'The'"
    ev = make_events(list(onsets) + [2.0], 0.0, kinds + ["stimulus"], words + ["beep"])
    n = int((seconds or onsets[-1] + 4.0) * sfreq)
    rng = np.random.default_rng(0)
    sens = Sensors(["MEG001", "MEG002", "MEG003"], ["mag"] * 3)
    return Recording(rng.standard_normal((3, n)).astype(np.float32), sfreq, sens,
                     subject=subject, events=ev)


def test_clean_words_skips_silence_and_normalises():
    w = clean_words(recording().events)
    assert "sp" not in set(w["word"]) and w["word"][4] == "the"
    assert len(w) == 120 - 12 and (np.diff(w["onset"]) > 0).all()


def test_groups_windows_and_concatenation():
    rec = recording()
    corpus = InMemoryCorpus([rec])
    groups = word_groups(corpus, group_size=10)
    assert len(groups) == 108 // 10 and all(len(g.words) == 10 for g in groups)
    g = groups[0]
    assert g.starts[0] == int(round((1.0 - 0.5) * 50))  # onset − 0.5 s
    split = split_of(g)
    ds = WordGroupDataset(corpus, split, group_size=10)
    item = ds[ds.groups.index(g)]
    assert item["x"].shape == (3, 10 * 150) and item["words"] == list(g.words)
    np.testing.assert_array_equal(item["x"][:, 150:300].numpy(),
                                  rec.data[:, g.starts[1]:g.starts[1] + 150])
    batch = pad_collate([item, item])
    assert batch["x"].shape == (2, 3, 1500) and batch["words"][1] == list(g.words)


def test_a_group_restarts_where_a_window_leaves_the_recording():
    rec = recording(n_words=30, seconds=1.0 + 0.4 * 12 + 2.0)  # word 13's window ends outside
    groups = word_groups(InMemoryCorpus([rec]), group_size=5)
    assert len(groups) == 2  # 11 words fit (1 silence among the first 12) → 2 groups of 5


def test_hashed_split_keeps_the_same_words_together_across_subjects():
    a, b = recording(subject="01"), recording(subject="02")
    groups = word_groups(InMemoryCorpus([a, b]), group_size=10)
    by_text: dict[str, set[str]] = {}
    for g in groups:
        by_text.setdefault(g.text, set()).add(split_of(g))
    assert all(len(s) == 1 for s in by_text.values())
    sizes = {sp: sum(split_of(g) == sp for g in word_groups(
        InMemoryCorpus([recording(2000)]), group_size=5)) for sp in ("train", "val", "test")}
    assert sizes["train"] > 4 * sizes["val"] > 0 and sizes["test"] > 0


def test_leakage_check_catches_groups_shifted_by_a_few_words():
    groups = word_groups(InMemoryCorpus([recording(n_words=60)]), group_size=10)
    moved = [type(g)(g.recording, g.starts, g.words[2:] + g.words[:2]) for g in groups]
    splits = ["train"] * len(groups) + ["test"] * len(moved)
    leaks = leaked_runs(groups + moved, splits, run=8)
    assert leaks and all(s == ["test", "train"] for _, s in leaks)
    assert not leaked_runs(groups, ["train"] * len(groups), run=8)


def test_train_pct_subsamples_train_groups_only():
    corpus = InMemoryCorpus([recording(1500)])
    full = WordGroupDataset(corpus, "train", group_size=5)
    part = WordGroupDataset(corpus, "train", group_size=5, train_pct=0.25, seed=1)
    assert len(part) == round(0.25 * len(full)) and set(part.groups) <= set(full.groups)
    assert len(WordGroupDataset(corpus, "val", group_size=5, train_pct=0.25)) > 0
    with pytest.raises(DataError, match="no group of 5000 words"):
        WordGroupDataset(corpus, "val", group_size=5000)
    assert torch.equal(part[0]["word_starts"], torch.arange(5) * 150)


def test_session_split_keeps_each_session_in_its_split():
    recs = []
    for ses in ("001", "002", "003"):
        r = recording(n_words=60)
        r.session = ses
        recs.append(r)
    corpus = InMemoryCorpus(recs)
    splits = {"train": ["001"], "val": ["002"], "test": ["003"]}
    sets = {sp: WordGroupDataset(corpus, sp, group_size=5, sessions=splits)
            for sp in splits}
    for sp, ds in sets.items():
        assert {corpus.session(g.recording) for g in ds.groups} == set(splits[sp])
    assert len(sets["train"]) == len(sets["val"]) == len(sets["test"]) > 0
    with pytest.raises(DataError, match="several splits"):
        WordGroupDataset(corpus, "train", group_size=5,
                         sessions={"train": ["001"], "test": ["001"]})
