"""Real prose as a listening story: its sentences in order, each word spoken for a time that
grows with its length.

Used by ``neuroseq simulate --words --text FILE`` (:func:`neuroseq.data.simulate_words.
write_word_corpus`).  Any plain-text file works: paragraphs are separated by blank lines; a
paragraph with sentence punctuation is split after ``.``, ``!`` or ``?``, one without is read a
line per sentence (a poem, a list of sentences).  Words are lower-cased runs of letters, digits
and apostrophes (what a transcript of speech holds); punctuation is not spoken.

Timing (a plausible speech rate, MEG-MASC's stories run at about 2.5–3.5 words a second): a
word lasts ``0.08 s + 0.055 s × letters`` (×U(0.9, 1.1)), the next word starts 20–80 ms after
it ends, and 0.4–0.8 s of silence follow a sentence — about 0.4 s a word for prose (150
words a minute).

``lee``: the Lee background corpus (Lee, Pincombe & Welsh 2005; 300 Australian news articles
of the ABC, about 2,500 sentences) that gensim's wheel ships for its tests
(``gensim/test/test_data/lee_background.cor``; gensim is LGPL-2.1).  Install the file with
``pip install --no-deps gensim==4.4.0``; it is read without importing gensim.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np

from neuroseq.errors import DataError

#: named texts that ``--text`` accepts besides a file path
NAMED_TEXTS = {"lee": ("gensim", "test/test_data/lee_background.cor")}
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def text_path(text: str | Path) -> Path:
    """The file ``--text`` names: a path, or a named text (:data:`NAMED_TEXTS`)."""
    if str(text) in NAMED_TEXTS:
        package, rel = NAMED_TEXTS[str(text)]
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise DataError(f"--text {text} reads a file that the {package} wheel ships, and "
                            f"{package} is not installed; install the file with `pip install "
                            f"--no-deps gensim==4.4.0` or give --text a file of your own.")
        path = Path(next(iter(spec.submodule_search_locations))) / rel
        if not path.is_file():
            raise DataError(f"--text {text}: {path} is missing from the installed {package}; "
                            "reinstall it with `pip install --no-deps gensim==4.4.0`.")
        return path
    return Path(text)


def read_text(text: str | Path) -> str:
    """The UTF-8 text of ``--text`` (a file path or a named text); a missing file, a binary
    file or one that is not UTF-8 is a :class:`~neuroseq.errors.DataError`."""
    path = text_path(text)
    if not path.is_file():
        raise DataError(f"--text {text}: no such file; give a plain-text (UTF-8) file, or "
                        f"one of {sorted(NAMED_TEXTS)}.")
    raw = path.read_bytes()
    if b"\x00" in raw[:65536]:
        raise DataError(f"--text {path} is not a plain-text file (it holds binary data); give "
                        "a UTF-8 text file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"--text {path} is not UTF-8 text (byte {e.start}); convert it, e.g. "
                        "`iconv -t utf-8`.") from None


def split_sentences(text: str, *, min_words: int = 2) -> list[tuple[str, ...]]:
    """The sentences of ``text`` in order, each a tuple of lower-cased words (see the module
    docstring); sentences of fewer than ``min_words`` words are left out."""
    out = []
    for para in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        if re.search(r"[.!?]", para):
            parts = _SENTENCE_END.split(" ".join(para.split()))
        else:
            parts = para.splitlines()
        for part in parts:
            words = tuple(_WORD.findall(part.lower().replace("’", "'")))
            if len(words) >= min_words:
                out.append(words)
    return out


def text_sentences(text: str | Path, *, n_sentences: int | None = None,
                   max_words: int | None = None) -> list[tuple[str, ...]]:
    """The first ``n_sentences`` sentences of ``--text`` (all when None) of at most
    ``max_words`` words (longer ones are skipped; the rest stay in order)."""
    sents = split_sentences(read_text(text))
    if max_words is not None:
        sents = [s for s in sents if len(s) <= int(max_words)]
    if not sents:
        raise DataError(f"--text {text} holds no sentence of 2 words or more"
                        + (f" and at most {max_words}" if max_words is not None else "")
                        + "; give a file of English prose.")
    if n_sentences is not None and len(sents) < int(n_sentences):
        raise DataError(f"--text {text} has {len(sents)} usable sentences, fewer than "
                        f"--sentences {n_sentences}; lower it or give a longer text.")
    return sents[:n_sentences] if n_sentences is not None else sents


def speech_timing(sentences: list[tuple[str, ...]], *, seed: int = 0, start: float = 1.0
                  ) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]]]:
    """Word onsets and durations (s) of ``sentences`` read aloud in order (module docstring)."""
    rng = np.random.default_rng(seed)
    onsets, durations, t = [], [], float(start)
    for words in sentences:
        on, du = [], []
        for w in words:
            d = (0.08 + 0.055 * len(w)) * rng.uniform(0.9, 1.1)
            on.append(round(t, 3))
            du.append(round(d, 3))
            t += d + rng.uniform(0.02, 0.08)
        onsets.append(tuple(on))
        durations.append(tuple(du))
        t += rng.uniform(0.4, 0.8)
    return onsets, durations
