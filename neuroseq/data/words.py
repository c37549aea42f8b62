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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from neuroseq.data.collate import EncodeCollate
from neuroseq.data.segments import SegmentDataset
from neuroseq.data.splits import hash_split
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
    """``train``/``val``/``test`` of a group: :func:`~neuroseq.data.splits.hash_split` of its
    word string."""
    return hash_split(group.text, salt, fractions)


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


class WordGroupDataset(SegmentDataset):
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
        super().__init__(corpus, split, channel_vocab=channel_vocab)
        self.width = self.seconds_to_samples(tmax - tmin)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> dict[str, Any]:
        g = self.groups[i]
        x = np.concatenate([self.corpus.read(g.recording, s, s + self.width) for s in g.starts],
                           axis=1)
        return self.item(g.recording, x) | {
            "words": list(g.words), "key": f"{g.recording}@{g.starts[0]}",
            "word_starts": torch.arange(len(g.words)) * self.width}


def save_word_targets(table: dict[str, np.ndarray], folder: str | Path) -> None:
    """Write a ``{word: embedding}`` table as ``word_targets.safetensors`` + ``.json`` (the word
    names, in the rows' order) in ``folder``."""
    from safetensors.torch import save_file

    from neuroseq.atomic import write_json_atomic

    names = sorted(table)
    folder = Path(folder)
    tmp = folder / "word_targets.safetensors.tmp"
    save_file({"vectors": torch.tensor(np.stack([table[w] for w in names]))}, str(tmp))
    tmp.replace(folder / "word_targets.safetensors")
    write_json_atomic(folder / "word_targets.json", names)


def make_word_targets(sets: dict[str, WordGroupDataset], encoder: str, folder: str | Path,
                      on_missing: str = "skip") -> dict[str, np.ndarray]:
    """The ``{word: embedding}`` table of every word in ``sets`` (``encoder``: see
    :func:`~neuroseq.data.word_vectors.word_vectors`), saved in ``folder``."""
    from neuroseq.data.word_vectors import word_vectors

    words = [w for ds in sets.values() for g in ds.groups for w in g.words]
    table = word_vectors(words, encoder, on_missing=on_missing)
    save_word_targets(table, folder)
    return table


def load_word_targets(folder: str | Path) -> dict[str, torch.Tensor]:
    """The ``{word: embedding}`` table saved by :func:`save_word_targets` in ``folder``."""
    import json

    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "word_targets.json").is_file():
        raise DataError(f"{folder} holds no word targets (word_targets.json); it is not a "
                        "finished word-retrieval run.")
    names = json.loads((folder / "word_targets.json").read_text())
    vectors = load_file(str(folder / "word_targets.safetensors"))["vectors"]
    return dict(zip(names, vectors, strict=True))


class WordCollate(EncodeCollate):
    """Word groups batched for word retrieval: the frozen codec's ``codes [B, C, Q, T']`` of
    each group (coded once and kept: the codec is frozen), each word's frame range
    ``word_frames [B, W, 2]`` (``[(start + a) // hop, ⌈(start + b) / hop⌉)`` for the pooled
    ``span`` ``(a, b)`` of its window, the whole window by default), its embedding
    ``targets [B, W, D]`` and ``word_valid [B, W]`` (False where a word has no embedding).
    """

    def __init__(self, codec: Any, table: dict[str, torch.Tensor], width: int,
                 span: tuple[int, int] | None = None) -> None:
        super().__init__(codec, "codes", cache=True)
        self.table, self.width = table, width
        self.span = span or (0, width)  # the samples of each word's window that are pooled
        self.dim = len(next(iter(table.values())))

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().__call__(items)
        words, starts = batch.pop("words"), batch.pop("word_starts")
        n_frames, hop = batch["codes"].shape[-1], self.encoder.hop
        lo, hi = starts + self.span[0], starts + self.span[1]
        batch["word_frames"] = torch.stack([lo // hop, (hi + hop - 1) // hop],
                                           -1).clamp(max=n_frames)
        zero = torch.zeros(self.dim)
        batch["targets"] = torch.stack([torch.stack([self.table.get(w, zero) for w in ws])
                                        for ws in words])
        batch["word_valid"] = torch.tensor([[w in self.table for w in ws] for ws in words])
        batch["words"] = words
        return batch


def pool_span(window: tuple[float, float] | list[float] | None, tmin: float, tmax: float,
              sfreq: float) -> tuple[int, int] | None:
    """A pooling ``window`` ``[a, b]`` (seconds from word onset) as samples of the word's window
    ``[tmin, tmax)``; None (MEG-XL's own choice): the whole window."""
    if window is None:
        return None
    a, b = (float(v) for v in window)
    if not float(tmin) <= a < b <= float(tmax):
        raise DataError(f"model.pool_window={list(window)} must lie inside the word window "
                        f"[data.tmin, data.tmax] = [{tmin}, {tmax}].")
    return (int(round((a - float(tmin)) * sfreq)), int(round((b - float(tmin)) * sfreq)))


def word_splits(corpus: Any, *, group_size: int, tmin: float, tmax: float, salt: str = "42",
                sessions: dict[str, list[str]] | None = None, train_pct: float = 1.0,
                seed: int = 0, shuffle_labels: bool = False) -> dict[str, WordGroupDataset]:
    """Train / val / test word groups (a seeded ``train_pct`` of the train groups; with
    ``shuffle_labels`` the train groups' words permuted among themselves, a control)."""
    kw = {"group_size": int(group_size), "tmin": float(tmin), "tmax": float(tmax),
          "salt": str(salt), "sessions": sessions}
    train = WordGroupDataset(corpus, "train", train_pct=float(train_pct), seed=seed, **kw)
    sets = {"train": train}
    for split in ("val", "test"):
        sets[split] = WordGroupDataset(corpus, split, channel_vocab=train.channel_vocab, **kw)
    if shuffle_labels:
        shuffle_words(train, seed)
    return sets


def word_facts(sets: dict[str, WordGroupDataset]) -> dict[str, Any]:
    """What a word run records of its splits: rate, word width, channels, groups per split,
    the shifted runs of words that straddle splits (:func:`leaked_runs`), the training words."""
    train = sets["train"]
    leaked = leaked_runs([g for ds in sets.values() for g in ds.groups],
                         [sp for sp, ds in sets.items() for _ in ds.groups])
    return {"sfreq": train.sfreq, "word_width": train.width,
            "n_chans": len(train.channel_vocab), "channel_vocab": train.channel_vocab,
            "groups": {k: len(v) for k, v in sets.items()}, "leaked_runs": len(leaked),
            "train_words": [w for g in train.groups for w in g.words]}
