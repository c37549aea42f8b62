"""Sentence segments for brain-to-text decoding, with sentence-disjoint splits.

Facts: ``../shared/research/megxl_braintotext.md`` §3–4 and ``anchors_update_2026-12.md`` §2.
MEG-MASC's stories repeat across subjects and sessions, so a random split of segments puts the
same sentence in training and test (the flaw behind published BLEU numbers that later fell to
chance on unseen text).  Here:

- a **sentence** is the run of word events sharing a ``sequence_id`` (MEG-MASC's events carry
  it; without it, a pause of more than ``gap`` seconds between words ends a sentence);
- each sentence gets **one fixed-length segment** ``[first onset + tmin, + seconds)``: every
  segment has the same duration whatever the sentence's length, so the window's length cannot
  tell the sentence (variable-length windows let pure noise retrieve the right item);
- the split hashes the sentence's **text** (salted SHA-256; 0.8 / 0.1 / 0.1), so one sentence
  lands in one split for every subject and session; ``stories`` holds whole stories out instead;
  :func:`check_disjoint` refuses splits that share a sentence text;
- **no leak in time**: segments of different splits keep ``margin`` seconds (default 1 s, longer
  than a word's evoked response, 0.8 s in the simulator) between them — each counted from its
  window's first sample to the later of the window's end and its sentence's last word's end.
  Consecutive sentences are close (a 4 s window holds the start of the next sentence), so a
  val segment near a test one is dropped, and a train segment near either (test > val > train);
  :func:`check_disjoint` refuses any pair closer than the margin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from neuroseq.data.segments import SegmentDataset
from neuroseq.data.splits import hash_split
from neuroseq.data.words import clean_words
from neuroseq.errors import DataError

SPLITS = ("train", "val", "test")
#: who keeps a segment when segments of two splits come too close: test, then val
SPLITS_BY_PRIORITY = ("test", "val", "train")


@dataclass(frozen=True)
class Sentence:
    """One sentence of one recording: its words, first onset (s) and story."""

    recording: str
    onset: float
    words: tuple[str, ...]
    story: str = ""
    #: when its last word ends (s): the last onset plus that word's duration (0 when unknown)
    end: float = 0.0
    #: each word's onset (s)
    onsets: tuple[float, ...] = ()

    @property
    def text(self) -> str:
        """The words joined by single spaces (what the split hashes, what is decoded)."""
        return " ".join(self.words)


def sentences(corpus: Any, rid: str, *, gap: float = 1.0) -> list[Sentence]:
    """The sentences of recording ``rid`` of ``corpus`` (a store or an in-memory corpus)."""
    words = clean_words(corpus.events(rid), lower=False,
                        keep=("sequence_id", "story", "duration"))
    if words.empty:
        return []
    if words["sequence_id"].notna().all():
        starts = words["sequence_id"].ne(words["sequence_id"].shift()).to_numpy()
    else:  # no sentence ids: a pause longer than `gap` ends a sentence
        starts = np.r_[True, np.diff(words["onset"].to_numpy()) > gap]
    out = []
    for _, grp in words.groupby(np.cumsum(starts), sort=True):
        story, last = grp["story"].iloc[0], grp.iloc[-1]
        end = float(last["onset"]) + (0.0 if pd.isna(last["duration"]) else
                                      float(last["duration"]))
        out.append(Sentence(rid, float(grp["onset"].iloc[0]), tuple(grp["word"]),
                            "" if pd.isna(story) else str(story), end,
                            tuple(float(t) for t in grp["onset"])))
    return out


def split_of(text: str, salt: str = "42",
             fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """``train`` / ``val`` / ``test`` of a sentence:
    :func:`~neuroseq.data.splits.hash_split` of its lower-cased text."""
    return hash_split(text.lower(), salt, fractions)


def story_split_of(story: str, stories: dict[str, list[str]]) -> str:
    """The split a held-out story list puts ``story`` in (``train`` when it is in no list)."""
    found = [sp for sp, names in stories.items() if story in {str(n) for n in names}]
    if len(found) > 1:
        raise DataError(f"story {story!r} is listed in several splits: {found}.")
    return found[0] if found else "train"


Span = tuple[str, int, int]  # (recording, first sample, stop sample)


def near_pairs(a: list[Span], b: list[Span], margin: int) -> list[tuple[int, int]]:
    """The pairs ``(i, j)`` of spans ``a[i]``, ``b[j]`` of the same recording that overlap or
    lie fewer than ``margin`` samples apart."""
    by_rid: dict[str, list[tuple[int, int, int]]] = {}
    for j, (rid, lo, hi) in enumerate(b):
        by_rid.setdefault(rid, []).append((lo, hi, j))
    return [(i, j) for i, (rid, lo, hi) in enumerate(a) for blo, bhi, j in by_rid.get(rid, [])
            if lo < bhi + margin and blo < hi + margin]


def check_disjoint(texts: dict[str, list[str]], spans: dict[str, list[Span]] | None = None,
                   margin: int = 0) -> None:
    """Refuse splits (``{split: [sentence text, ...]}``) that share a sentence text, or (with
    ``spans``, ``{split: [(recording, start, stop), ...]}`` in samples) whose segments of
    different splits overlap in time or lie fewer than ``margin`` samples apart."""
    seen: dict[str, set[str]] = {}
    for sp, items in texts.items():
        for t in items:
            seen.setdefault(t.lower(), set()).add(sp)
    leaked = sorted((t, sorted(s)) for t, s in seen.items() if len(s) > 1)
    if leaked:
        shown = "; ".join(f"{t!r} in {s}" for t, s in leaked[:3])
        raise DataError(f"{len(leaked)} sentence(s) appear in more than one split ({shown}); "
                        "brain-to-text splits must be sentence-disjoint — split by sentence "
                        "text (the default) or by story, not by segment.")
    names = sorted(spans or {})
    for k, a in enumerate(names):
        for b in names[k + 1:]:
            near = near_pairs(spans[a], spans[b], margin)
            if near:
                i, j = near[0]
                raise DataError(f"{len(near)} segment pair(s) of splits {a!r} and {b!r} overlap "
                                f"in time or lie within the {margin}-sample margin (e.g. "
                                f"{spans[a][i]} and {spans[b][j]}); a test sentence's samples "
                                "must never be read in training (data.margin).")


def protect(every: dict[str, list[Sentence]], spans: dict[str, list[Span]], margin: int
            ) -> dict[str, int]:
    """Drop, in place, the val segments near a test segment and the train segments near a
    test or val one (:func:`near_pairs`); returns how many each split lost."""
    dropped = {}
    for k, sp in enumerate(SPLITS_BY_PRIORITY[1:], 1):
        higher = [x for h in SPLITS_BY_PRIORITY[:k] for x in spans[h]]
        bad = {i for i, _ in near_pairs(spans[sp], higher, margin)}
        every[sp] = [x for i, x in enumerate(every[sp]) if i not in bad]
        spans[sp] = [x for i, x in enumerate(spans[sp]) if i not in bad]
        dropped[sp] = len(bad)
    return dropped


class SentenceDataset(SegmentDataset):
    """The fixed-length sentence segments of one split, in the shared batch layout.

    Items: ``x [C, round(seconds · sfreq)]``, ``mask``, ``sensors``, ``subject``, ``text``
    (the sentence), ``key`` (recording and onset) and ``onset`` (s).  Sentences whose segment
    leaves the recording are skipped.

    Parameters
    ----------
    corpus : Store | InMemoryCorpus
    split : ``"train"`` | ``"val"`` | ``"test"``
    seconds, tmin : float
        Segment length and its start relative to the sentence's first word onset.
    salt : str
        Salt of the sentence-text hash.
    stories : dict | None
        ``{"val": [story, ...], "test": [...]}``: hold whole stories out instead.
    margin : float
        Seconds kept free between segments of different splits.  Each segment counts from its
        first sample to the later of its window's end and its sentence's last word's end; a
        val segment that comes closer than ``margin`` to a test one is dropped, a train
        segment that comes closer to a test or val one too (``dropped`` counts them), so no
        sample of a test sentence, nor of the response to its last word, is read in training.
    """

    def __init__(self, corpus: Any, split: str, *, seconds: float = 4.0, tmin: float = -0.2,
                 salt: str = "42", stories: dict[str, list[str]] | None = None,
                 gap: float = 1.0, margin: float = 1.0,
                 channel_vocab: list[str] | None = None) -> None:
        if split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS}, got {split!r}.")
        if seconds <= 0:
            raise DataError(f"data.seconds must be positive, got {seconds}.")
        super().__init__(corpus, split, channel_vocab=channel_vocab)
        self.tmin, self.width = tmin, self.seconds_to_samples(seconds)
        if margin < 0:
            raise DataError(f"data.margin must be >= 0 seconds, got {margin}.")
        every: dict[str, list[Sentence]] = {sp: [] for sp in SPLITS}
        spans: dict[str, list[Span]] = {sp: [] for sp in SPLITS}
        n_words = 0
        for rid in corpus.ids:
            sf, n = corpus.sfreq(rid), corpus.n_samples(rid)
            for s in sentences(corpus, rid, gap=gap):
                n_words += len(s.words)
                start = int(round((s.onset + tmin) * sf))
                if start < 0 or start + self.width > n:
                    continue
                sp = story_split_of(s.story, stories) if stories else split_of(s.text, salt)
                every[sp].append(s)
                spans[sp].append((rid, start, max(start + self.width, int(round(s.end * sf)))))
        if not n_words:
            raise DataError("the corpus has no word events (kind 'word'); brain-to-text needs "
                            "word-aligned recordings such as MEG-MASC (see `neuroseq simulate "
                            "--words`).")
        self.margin = self.seconds_to_samples(margin) if margin else 0
        self.dropped = protect(every, spans, self.margin)
        check_disjoint({sp: [s.text for s in v] for sp, v in every.items()}, spans, self.margin)
        self.sentences = every[split]
        self.counts = {sp: len(v) for sp, v in every.items()}
        if not self.sentences:
            raise DataError(f"no sentence segment in split {split!r} ({self.counts}); the "
                            "corpus is too small for a sentence-disjoint split, or data.seconds "
                            "is longer than the recordings allow.")

    @property
    def texts(self) -> list[str]:
        """The sentence of every item, in order."""
        return [s.text for s in self.sentences]

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, i: int) -> dict[str, Any]:
        s = self.sentences[i]
        start = int(round((s.onset + self.tmin) * self.corpus.sfreq(s.recording)))
        x = self.corpus.read(s.recording, start, start + self.width)
        return self.item(s.recording, x) | {
            "text": s.text, "key": f"{s.recording}@{s.onset:.3f}",
            "onset": torch.tensor(s.onset + self.tmin)}


class EventTextDataset(torch.utils.data.Dataset):
    """Event-locked epochs described in words: each event value in ``descriptions`` (``{"face-
    upright": "face upright", ...}``) gives a segment ``[onset + tmin, + seconds)`` of the
    store's ``split`` whose text is its description.

    This is classification read out as text: the few descriptions repeat in every split by
    design, so the split is the store's (by time or subject), not by sentence; the honest
    comparison is against the controls and a classifier that picks the description.
    Items as :class:`SentenceDataset`'s, plus ``y`` (the description's index).
    """

    def __init__(self, corpus: Any, split: str, descriptions: dict[str, str], *,
                 seconds: float = 0.8, tmin: float = -0.1,
                 channel_vocab: list[str] | None = None) -> None:
        from neuroseq.data.windows import EpochDataset

        if not descriptions:
            raise DataError("data.descriptions is empty; map event values to their text, e.g. "
                            "{face-upright: face upright}.")
        self.descriptions = {str(k): str(v) for k, v in descriptions.items()}
        self.classes = sorted(set(self.descriptions.values()))
        event_map = {k: self.classes.index(v) for k, v in self.descriptions.items()}
        self.epochs = EpochDataset(corpus, event_map, tmin, tmin + seconds, split=split,
                                   channel_vocab=channel_vocab)
        self.channel_vocab = self.epochs.channel_vocab
        self.counts = {split: len(self.epochs)}
        self.split, self.tmin, self.sfreq = split, tmin, self.epochs.sfreq

    @property
    def texts(self) -> list[str]:
        """The description of every item, in order."""
        return [self.classes[y] for _, _, y in self.epochs.items]

    def __len__(self) -> int:
        return len(self.epochs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rid, s, y = self.epochs.items[i]
        item = self.epochs[i]
        item["text"] = self.classes[y]
        item["key"] = f"{rid}@{s}"
        item["onset"] = torch.tensor(s / self.sfreq)
        return item


def text_splits(corpus: Any, *, seconds: float, tmin: float, descriptions: dict | None = None,
                salt: str = "42", stories: dict[str, list[str]] | None = None,
                gap: float = 1.0, margin: float = 1.0) -> dict[str, Any]:
    """The train / val / test segments with their texts: sentence segments of the
    sentence-disjoint splits, or (with ``descriptions``) described event epochs of the store's
    splits; a split with no segment is left out."""
    kw: dict[str, Any] = {"seconds": float(seconds), "tmin": float(tmin)}
    if descriptions:
        train: Any = EventTextDataset(corpus, "train", dict(descriptions), **kw)
        sets = {"train": train}
        for sp in ("val", "test"):
            try:
                sets[sp] = EventTextDataset(corpus, sp, dict(descriptions),
                                            channel_vocab=train.channel_vocab, **kw)
            except DataError:
                continue  # the store has no such split
        return sets
    kw |= {"salt": str(salt), "stories": stories, "gap": float(gap), "margin": float(margin)}
    train = SentenceDataset(corpus, "train", **kw)
    sets = {"train": train}
    for sp in ("val", "test"):
        if train.counts[sp]:
            sets[sp] = SentenceDataset(corpus, sp, channel_vocab=train.channel_vocab, **kw)
    return sets


def text_facts(sets: dict[str, Any]) -> dict[str, Any]:
    """What a text run records of its splits (:func:`text_splits`): rate, channels, segments
    per split, the test texts, and for event epochs their source and descriptions."""
    train = sets["train"]
    events = isinstance(train, EventTextDataset)
    facts = {"sfreq": train.sfreq, "channel_vocab": train.channel_vocab,
             "sentences": {sp: len(v) for sp, v in sets.items()} if events else train.counts,
             "margin_s": None if events else train.margin / train.sfreq,
             "dropped_near_other_splits": None if events else train.dropped,
             "test_sentences": sorted(set(sets["test"].texts)) if "test" in sets else []}
    return facts | ({"source": "events", "descriptions": train.descriptions} if events else {})
