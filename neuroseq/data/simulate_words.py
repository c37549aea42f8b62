"""A simulated word corpus in MEG-MASC's layout, for word decoding and brain-to-text.

MEG-MASC (``../shared/research/megxl_braintotext.md`` §4) is a BIDS tree of KIT/Yokogawa MEG
(208 axial gradiometers) recorded while people listen to stories; each ``*_events.tsv`` row has a
Python-literal dict ``trial_type`` (``kind`` word / phoneme, ``word``, ``pronounced``,
``story`` …), and a phoneme row follows each word row at the same onset.  This module writes the
same tree with simulated data:

- **geometry**: the 208 channels of MNE's ``KIT-AD`` layout (names ``MEG 001`` … ``MEG 208``)
  placed on a helmet 12 cm from the head centre, radial axial gradiometers (KIT coil type), in
  device coordinates, as MEG-MASC's ``.con`` files are read without marker files (MNE, and so
  neuroseq, types axial gradiometers as ``mag``: one field component per sensor);
- **text**: ``n_sentences`` sentences drawn from a vocabulary of ``n_words`` word types with
  Zipf-like frequencies (so sentences share words); every subject hears the same story (the
  sentences in order), as in MEG-MASC, where stories repeat across subjects;
- **responses**: each word type evokes its own spatio-temporal response — three dipoles of a
  pool of cortical sources with their own latencies (120–450 ms) and signs — on top of a
  response shared by every word and of the 1/f, alpha and beta background of
  :mod:`neuroseq.data.simulate`; ``evoked_scale=0`` gives a corpus whose words evoke nothing;
- **files**: FIF (KIT ``.con`` cannot be written) with BIDS sidecars, the events as MEG-MASC
  dict strings, so the corpus is read like the real one (``mne_bids.read_raw_bids``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuroseq.data.simulate import HEAD_CENTER, background_activity, dipole_gain, random_sources
from neuroseq.errors import DataError
from neuroseq.log import logger

#: a small vocabulary, most frequent first (function words, then content words)
WORDS = ("the", "a", "and", "of", "to", "was", "in", "he", "she", "it", "that", "her", "his",
         "with", "on", "for", "at", "as", "had", "but", "man", "house", "door", "night", "water",
         "hand", "tree", "light", "road", "city", "river", "dog", "king", "ship", "stone",
         "garden", "window", "letter", "mother", "village", "forest", "winter", "morning",
         "voice", "table", "horse", "bridge", "island", "mountain", "castle", "walked", "looked",
         "opened", "found", "heard", "saw", "carried", "turned", "stood", "called", "old",
         "small", "dark", "long", "quiet", "cold", "bright", "empty", "heavy", "strange")


def kit208_info(sfreq: float = 1000.0) -> Any:
    """An MNE ``Info`` of 208 radial KIT axial gradiometers on a helmet (KIT-AD layout)."""
    import mne
    from mne.io.constants import FIFF

    lay = mne.channels.read_layout("KIT-AD")
    xy = lay.pos[:, :2] + lay.pos[:, 2:4] / 2
    xy = (xy - xy.mean(0)) / np.abs(xy - xy.mean(0)).max()
    theta = np.linalg.norm(xy, axis=1) * np.deg2rad(100)  # polar angle from the vertex
    phi = np.arctan2(xy[:, 1], xy[:, 0])
    radial = np.c_[np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)]
    info = mne.create_info(list(lay.names), sfreq, "grad")
    with info._unlock():
        for ch, ez in zip(info["chs"], radial, strict=True):
            e1 = np.cross([0.0, 0.0, 1.0], ez) if abs(ez[2]) < 0.99 else np.array([1.0, 0, 0])
            e1 /= np.linalg.norm(e1)
            ch["loc"][:] = np.r_[HEAD_CENTER + 0.12 * ez, e1, np.cross(ez, e1), ez]
            ch["coil_type"] = FIFF.FIFFV_COIL_KIT_GRAD
        info["dev_head_t"] = mne.transforms.Transform("meg", "head", np.eye(4))
    return info


@dataclass(frozen=True)
class Story:
    """Sentences (tuples of words) heard in order, with their word onsets (s)."""

    sentences: tuple[tuple[str, ...], ...]
    onsets: tuple[tuple[float, ...], ...]
    #: each word's spoken duration (s); None: 0.25 s each (the drawn stories)
    durations: tuple[tuple[float, ...], ...] | None = None
    #: where the sentences come from (``sim``: drawn from :data:`WORDS`; else the text's name)
    source: str = "sim"

    @property
    def duration(self) -> float:
        return self.onsets[-1][-1] + 1.5

    def word_duration(self, k: int, i: int) -> float:
        """The spoken duration of word ``i`` of sentence ``k``."""
        return 0.25 if self.durations is None else self.durations[k][i]


def text_story(text: str | Path, *, n_sentences: int | None = None,
               max_words: int | None = None, seed: int = 0) -> Story:
    """The story of a real text (``--text``): its sentences in order, timed as speech
    (:mod:`neuroseq.data.story_text`)."""
    from neuroseq.data.story_text import speech_timing, text_sentences

    sents = text_sentences(text, n_sentences=n_sentences, max_words=max_words)
    onsets, durations = speech_timing(sents, seed=seed)
    return Story(tuple(sents), tuple(onsets), tuple(durations), Path(str(text)).stem)


def make_story(n_sentences: int = 40, n_words: int = 60, *, seed: int = 0,
               lengths: tuple[int, int] = (5, 9), word_gap: tuple[float, float] = (0.28, 0.4),
               sentence_gap: float = 0.7) -> Story:
    """Sentences of ``lengths`` words drawn with Zipf weights from the first ``n_words`` of
    :data:`WORDS`, spoken at ``word_gap`` seconds per word, ``sentence_gap`` between sentences."""
    if not 2 <= n_words <= len(WORDS):
        raise DataError(f"n_words must be in 2…{len(WORDS)}, got {n_words}.")
    rng = np.random.default_rng(seed)
    vocab = WORDS[:n_words]
    p = 1.0 / np.arange(1, n_words + 1) ** 0.8
    p /= p.sum()
    sentences, onsets, t = [], [], 1.0
    for _ in range(n_sentences):
        n = int(rng.integers(lengths[0], lengths[1] + 1))
        words = tuple(vocab[i] for i in rng.choice(n_words, n, p=p))
        times = []
        for _ in words:
            times.append(round(t, 3))
            t += rng.uniform(*word_gap)
        sentences.append(words)
        onsets.append(tuple(times))
        t += sentence_gap
    return Story(tuple(sentences), tuple(onsets))


def word_responses(vocab: tuple[str, ...], n_sources: int, seed: int
                   ) -> dict[str, list[tuple[int, float, float, float]]]:
    """Per word type: ``(source, latency s, width s, amplitude A·m)`` components.  The same
    ``seed`` gives every subject the same word-specific sources (a shared code)."""
    rng = np.random.default_rng(seed)
    shared = [(0, 0.10, 0.025, 40e-9), (1, 0.20, 0.04, -30e-9)]
    out = {}
    for w in vocab:
        own = rng.choice(np.arange(2, n_sources), 3, replace=False)
        lat = np.sort(rng.uniform(0.12, 0.45, 3))
        out[w] = shared + [(int(s), float(la), float(rng.uniform(0.03, 0.06)),
                            float(rng.choice([-1, 1]) * rng.uniform(50e-9, 90e-9)))
                           for s, la in zip(own, lat, strict=True)]
    return out


def feature_responses(vocab: tuple[str, ...], n_sources: int, seed: int,
                      counts: dict[str, int] | None = None, n_features: int = 12
                      ) -> dict[str, list[tuple[int, float, float, float]]]:
    """Per word type, ``(source, latency s, width s, amplitude A·m)`` components that are a
    fixed function of the word's features, the same for every subject (``seed``):

    - its GloVe embedding (unit norm; a word GloVe lacks gets a fixed pseudo-random vector of
      its spelling) mapped by one seeded linear map to the amplitudes of ``n_features``
      sources, each with its own latency (150–450 ms);
    - its length: the feature components come 8 ms later per letter beyond five;
    - its frequency in the story (``counts``): rarer words give a larger late (400 ms)
      response on top of the early response every word evokes.

    So the response to a word never heard before is predictable from its features."""
    import hashlib

    from neuroseq.data.word_vectors import word_vectors

    vec = word_vectors(list(vocab), "glove", on_missing="skip")
    dim = len(next(iter(vec.values()))) if vec else 50
    code = np.random.default_rng(seed)
    n_features = min(int(n_features), n_sources - 2)
    mix = code.standard_normal((n_features, dim))
    latency = code.uniform(0.15, 0.45, n_features)
    counts = counts or {}
    total = max(sum(counts.values()), 1)
    out = {}
    for w in vocab:
        e = vec.get(w)
        if e is None:
            h = int.from_bytes(hashlib.sha256(w.encode()).digest()[:8], "little")
            e = np.random.default_rng(h).standard_normal(dim)
        e = np.asarray(e, float) / (np.linalg.norm(e) + 1e-12)
        amp = 40e-9 * mix @ e  # each component ~ N(0, 40 nA·m)
        shift = 0.008 * max(len(w) - 5, 0)
        surprisal = -np.log(max(counts.get(w, 1), 1) / total)
        late = -20e-9 * (1.0 + 0.15 * (surprisal - np.log(100.0)))
        out[w] = [(0, 0.10, 0.025, 40e-9), (1, 0.40, 0.06, float(late))] + [
            (2 + k, float(latency[k] + shift), 0.04, float(amp[k])) for k in range(n_features)]
    return out


def simulate_listening(story: Story, *, sfreq: float = 250.0, seed: int = 0,
                       code_seed: int = 1234, n_sources: int = 40,
                       evoked_scale: float = 1.0, responses: str = "arbitrary"
                       ) -> tuple[Any, list[dict[str, Any]]]:
    """One subject hearing ``story``: an MNE ``Raw`` (SI units, KIT-208) and its event rows
    (MEG-MASC fields; a phoneme row after each word row).  ``responses``: ``arbitrary`` (each
    word type its own random response, :func:`word_responses`) or ``features`` (a function of
    the word's embedding, length and frequency, :func:`feature_responses`)."""
    import mne

    rng = np.random.default_rng(seed)
    code = np.random.default_rng(code_seed)
    rr, nn, direction = random_sources(code, n_sources, HEAD_CENTER)  # shared across subjects
    info = kit208_info(sfreq)
    gain = dipole_gain(info, rr, nn)
    n_times = int(round(story.duration * sfreq))
    src = background_activity(rng, rr, direction, n_times, sfreq)
    vocab = tuple(sorted(dict.fromkeys(w for s in story.sentences for w in s)))
    if responses == "features":
        counts: dict[str, int] = {}
        for w in (w for s in story.sentences for w in s):
            counts[w] = counts.get(w, 0) + 1
        table = feature_responses(vocab, n_sources, code_seed, counts)
    elif responses == "arbitrary":
        table = word_responses(vocab, n_sources, code_seed)
    else:
        raise DataError(f"responses must be 'arbitrary' or 'features', got {responses!r}.")
    tt = np.arange(int(0.8 * sfreq)) / sfreq
    rows: list[dict[str, Any]] = []
    for k, (words, onsets) in enumerate(zip(story.sentences, story.onsets, strict=True)):
        for i, (w, onset) in enumerate(zip(words, onsets, strict=True)):
            a = int(round(onset * sfreq))
            gain_trial = rng.uniform(0.7, 1.3)
            for s, lat, width, amp in table[w]:
                seg = src[s, a:a + len(tt)]
                seg += (evoked_scale * gain_trial * amp
                        * np.exp(-0.5 * ((tt - lat) / width) ** 2))[:len(seg)]
            common = {"story": story.source, "story_uid": 0, "sound_id": k, "sequence_id": k,
                      "condition": "sentence", "word_index": i, "speech_rate": 200.0}
            rows.append({"onset": onset, "duration": story.word_duration(k, i),
                         "trial_type": str(
                {**common, "kind": "word", "meta": "", "pronounced": 1.0, "word": w})})
            rows.append({"onset": onset, "duration": 0.08, "trial_type": str(
                {**common, "kind": "phoneme", "phoneme": f"{w[0]}_B"})})
    data = gain @ src + 20e-15 * rng.standard_normal((len(info["ch_names"]), n_times))
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.info["line_freq"] = 50.0
    return raw, rows


def _write_sidecars(raw: Any, rows: list[dict[str, Any]], stem: Path) -> None:
    """``_meg.json``, ``_channels.tsv`` and ``_events.tsv`` beside ``stem_meg.fif``, as BIDS
    and MEG-MASC have them.  (``mne_bids.write_raw_bids`` cannot be used: for a KIT system it
    looks for KIT head-coil data that only ``.con`` files carry.)"""
    import json

    import pandas as pd

    sf = raw.info["sfreq"]
    meta = {"TaskName": "0", "Manufacturer": "KIT/Yokogawa", "SamplingFrequency": sf,
            "PowerLineFrequency": 50.0, "DewarPosition": "supine", "MEGChannelCount": 208,
            "MEGREFChannelCount": 0, "SoftwareFilters": "n/a", "DigitizedLandmarks": False,
            "DigitizedHeadPoints": False, "RecordingDuration": raw.times[-1],
            "RecordingType": "continuous"}
    Path(f"{stem}_meg.json").write_text(json.dumps(meta, indent=2))
    pd.DataFrame({"name": raw.ch_names, "type": "MEGGRADAXIAL", "units": "T",
                  "low_cutoff": 0.0, "high_cutoff": sf / 2, "description": "AxialGradiometer",
                  "sampling_frequency": sf, "status": "good"}).to_csv(
        f"{stem}_channels.tsv", sep="\t", index=False)
    ev = pd.DataFrame(rows)
    ev.insert(3, "value", np.where(ev["trial_type"].str.contains("'kind': 'word'"), 1, 2))
    ev["sample"] = (ev["onset"] * sf).round().astype(int)
    ev.to_csv(f"{stem}_events.tsv", sep="\t", index=False)


def write_word_corpus(root: str | Path, *, n_subjects: int = 2, n_sentences: int = 40,
                      n_words: int = 60, sfreq: float = 250.0, seed: int = 0,
                      evoked_scale: float = 1.0, lengths: tuple[int, int] = (5, 9),
                      overwrite: bool = False, text: str | Path | None = None,
                      max_words: int | None = None, responses: str | None = None
                      ) -> list[Path]:
    """Write a MEG-MASC-layout BIDS tree (``sub-XX/ses-0/meg/sub-XX_ses-0_task-0_meg.fif``
    with ``_events.tsv``, ``_channels.tsv``, ``_meg.json``; ``participants.tsv``,
    ``dataset_description.json`` and the story's text under ``stimuli/``) and return the MEG
    files.  The events are also the files' annotations, as in MEG-MASC.

    With ``text`` (a file or a named text, :mod:`neuroseq.data.story_text`) the story is its
    first ``n_sentences`` sentences of at most ``max_words`` words, spoken in order
    (``n_words`` and ``lengths`` are then unused), and ``responses`` defaults to
    ``features``; without it, sentences drawn from :data:`WORDS` and ``arbitrary``."""
    import json
    import shutil

    import mne
    import pandas as pd

    root = Path(root)
    if root.exists() and any(root.iterdir()):
        if not overwrite:
            raise DataError(f"{root} is not empty; choose another --out or pass --overwrite.")
        shutil.rmtree(root)
    if text is not None:
        story = text_story(text, n_sentences=n_sentences, max_words=max_words, seed=seed)
    else:
        story = make_story(n_sentences, n_words, seed=seed, lengths=lengths)
    responses = responses or ("features" if text is not None else "arbitrary")
    files = []
    for s in range(n_subjects):
        sub = f"{s + 1:02d}"
        raw, rows = simulate_listening(story, sfreq=sfreq, seed=seed + 100 * (s + 1),
                                       code_seed=seed + 1234, evoked_scale=evoked_scale,
                                       responses=responses)
        ev = pd.DataFrame(rows)
        raw.set_annotations(mne.Annotations(ev["onset"], ev["duration"], ev["trial_type"]))
        meg = root / f"sub-{sub}" / "ses-0" / "meg"
        meg.mkdir(parents=True)
        stem = meg / f"sub-{sub}_ses-0_task-0"
        raw.save(f"{stem}_meg.fif", verbose="error")
        _write_sidecars(raw, rows, stem)
        files.append(Path(f"{stem}_meg.fif"))
        logger.info("simulated word corpus: sub-%s, %d words, %.0f s", sub,
                    sum(map(len, story.sentences)), story.duration)
    (root / "dataset_description.json").write_text(json.dumps(
        {"Name": "neuroseq simulated word corpus (MEG-MASC layout)", "BIDSVersion": "1.8.0",
         "DatasetType": "raw", "GeneratedBy": [{"Name": "neuroseq simulate --words"}],
         "Simulation": {"n_words": n_words if text is None else
                        len({w for x in story.sentences for w in x}),
                        "n_sentences": len(story.sentences), "sfreq": sfreq, "seed": seed,
                        "evoked_scale": evoked_scale, "responses": responses,
                        "text": None if text is None else str(text)}}, indent=2))
    pd.DataFrame({"participant_id": [f"sub-{s + 1:02d}" for s in range(n_subjects)]}).to_csv(
        root / "participants.tsv", sep="\t", index=False)
    (root / "stimuli").mkdir()
    (root / "stimuli" / f"{story.source}.txt").write_text(
        "\n".join(" ".join(s) for s in story.sentences) + "\n")
    return files
