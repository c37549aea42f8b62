"""Word-aligned samples for word decoding (MEG-XL's fine-tuning data).

Facts: ``../shared/research/megxl_braintotext.md`` §1.5.  Word events (``kind == "word"``; the
word in ``value``) are sorted by onset, lower-cased, stripped of quotes, and silence markers
(``sp``, ``silence``) are skipped.  Each word gets a window ``[onset + tmin, onset + tmax)``
(−0.5 … +2.5 s); ``group_size`` consecutive words (50) make one sample, their windows
concatenated.  A group restarts when a window leaves its recording.  Groups are split by a
salted SHA-256 of their word string (0.8 / 0.1 / 0.1), so the same 50 words land in the same
split for every subject; :func:`leaked_runs` also finds groups *shifted by a few words* that
straddle splits, which the exact-string check misses.  The alternative, the session split
(``sessions={"train": [...], "val": [...], "test": [...]}``), splits by recording session.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from neuroseq.data.windows import sensor_block
from neuroseq.errors import DataError

SILENCE = frozenset({"sp", "silence", "<sil>", ""})


def clean_words(events: pd.DataFrame, *, lower: bool = True,
                keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """``onset`` and ``word`` of the word events, sorted, lower-cased (unless ``lower=False``),
    silences dropped; the events' columns named in ``keep`` ride along (NaN when absent)."""
    ev = events[events["kind"] == "word"].sort_values("onset", kind="stable")
    words = ev["value"].astype(str).str.strip().str.strip("'\"")
    out = pd.DataFrame({"onset": ev["onset"].to_numpy(float),
                        "word": (words.str.lower() if lower else words).to_numpy()})
    for col in keep:
        out[col] = ev[col].to_numpy() if col in ev else np.nan
    return out[~out["word"].str.lower().isin(SILENCE)].reset_index(drop=True)


@dataclass(frozen=True)
class WordGroup:
    """``group_size`` consecutive words of one recording and their window starts (samples)."""

    recording: str
    starts: tuple[int, ...]
    words: tuple[str, ...]

    @property
    def text(self) -> str:
        """The words joined by spaces (what the split hashes)."""
        return " ".join(self.words)


def word_groups(corpus: Any, *, group_size: int = 50, tmin: float = -0.5,
                tmax: float = 2.5) -> list[WordGroup]:
    """Every complete group of consecutive words of every recording of ``corpus``."""
    groups = []
    for rid in corpus.ids:
        sf, n = corpus.sfreq(rid), corpus.n_samples(rid)
        width = int(round((tmax - tmin) * sf))
        starts, words = [], []
        for onset, word in clean_words(corpus.events(rid)).itertuples(index=False):
            s = int(round((onset + tmin) * sf))
            if s < 0 or s + width > n:  # the window leaves the recording: start again
                starts, words = [], []
                continue
            starts.append(s)
            words.append(word)
            if len(words) == group_size:
                groups.append(WordGroup(rid, tuple(starts), tuple(words)))
                starts, words = [], []
    return groups


def split_of(group: WordGroup, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
             salt: str = "42") -> str:
    """``train``/``val``/``test`` from a salted SHA-256 of the group's words."""
    u = int(hashlib.sha256(f"{salt}:{group.text}".encode()).hexdigest(), 16) % 10**6 / 10**6
    return "train" if u < fractions[0] else "val" if u < fractions[0] + fractions[1] else "test"


def session_split_of(corpus: Any, rid: str, sessions: dict[str, list[str]]) -> str | None:
    """The split whose session list holds ``rid``'s session (MEG-XL's alternative to the hashed
    split: Armeni ses-001…008 / 009 / 010); None for a session in no list."""
    ses = corpus.session(rid)
    found = [sp for sp, names in sessions.items() if ses in {str(n) for n in names}]
    if len(found) > 1:
        raise DataError(f"session {ses!r} is listed in several splits: {found}.")
    return found[0] if found else None


def leaked_runs(groups: list[WordGroup], splits: list[str], run: int = 8) -> list[tuple]:
    """Runs of ``run`` consecutive words found in groups of different splits: shifted groups
    that the exact-string split does not keep together.  Returns ``(words, splits)`` pairs."""
    seen: dict[tuple[str, ...], set[str]] = {}
    for g, sp in zip(groups, splits, strict=True):
        for i in range(len(g.words) - run + 1):
            seen.setdefault(g.words[i:i + run], set()).add(sp)
    return [(" ".join(w), sorted(s)) for w, s in seen.items() if len(s) > 1]


def shuffle_words(ds: WordGroupDataset, seed: int) -> None:
    """Permute the words of all of ``ds``'s groups among themselves (seeded), keeping every
    window where it is: the brain-to-word link is broken, the word frequencies are not."""
    flat = [w for g in ds.groups for w in g.words]
    perm = np.random.default_rng(seed).permutation(len(flat))
    it = iter(flat[i] for i in perm)
    ds.groups = [WordGroup(g.recording, g.starts, tuple(next(it) for _ in g.words))
                 for g in ds.groups]


class WordGroupDataset(Dataset):
    """Word groups of one split as samples in the shared layout.

    Items: ``x [C, group_size · window]`` (the groups' windows concatenated), ``mask``,
    ``sensors``, ``subject``, ``words`` (list of str), ``word_starts`` (each word's first
    sample in ``x``) and ``key`` (the group's recording and first sample: one name per
    group).  ``train_pct`` keeps a seeded share of the train groups.
    """

    def __init__(self, corpus: Any, split: str, *, group_size: int = 50, tmin: float = -0.5,
                 tmax: float = 2.5, train_pct: float = 1.0, seed: int = 0,
                 salt: str = "42", channel_vocab: list[str] | None = None,
                 sessions: dict[str, list[str]] | None = None) -> None:
        if not 0 < train_pct <= 1:
            raise DataError(f"train_pct must be in (0, 1], got {train_pct}.")
        groups = word_groups(corpus, group_size=group_size, tmin=tmin, tmax=tmax)
        if sessions is None:
            self.groups = [g for g in groups if split_of(g, salt=salt) == split]
        else:
            self.groups = [g for g in groups
                           if session_split_of(corpus, g.recording, sessions) == split]
        if split == "train" and train_pct < 1:
            k = max(1, int(round(train_pct * len(self.groups))))
            keep = np.random.default_rng(seed).permutation(len(self.groups))[:k]
            self.groups = [self.groups[i] for i in sorted(keep)]
        if not self.groups:
            raise DataError(f"no group of {group_size} words in split {split!r} "
                            f"({len(groups)} groups in all); use a smaller group_size.")
        self.corpus, self.width = corpus, int(round((tmax - tmin) * corpus.sfreq(corpus.ids[0])))
        names = channel_vocab or list(dict.fromkeys(
            n for r in corpus.ids for n in corpus.sensors(r).names))
        self.channel_vocab = names
        lookup = {n: i for i, n in enumerate(names)}
        self._sensors = {r: sensor_block(corpus.sensors(r), torch.tensor(
            [lookup[n] for n in corpus.sensors(r).names])) for r in corpus.ids}
        subjects = sorted({corpus.subject(r) for r in corpus.ids})
        self.subject_map = {s: i for i, s in enumerate(subjects)}

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> dict[str, Any]:
        g = self.groups[i]
        x = np.concatenate([self.corpus.read(g.recording, s, s + self.width) for s in g.starts],
                           axis=1).astype(np.float32)
        return {"x": torch.from_numpy(x), "mask": torch.ones(x.shape[0], dtype=torch.bool),
                "sensors": self._sensors[g.recording],
                "subject": torch.tensor(self.subject_map[self.corpus.subject(g.recording)]),
                "words": list(g.words), "key": f"{g.recording}@{g.starts[0]}",
                "word_starts": torch.arange(len(g.words)) * self.width}
