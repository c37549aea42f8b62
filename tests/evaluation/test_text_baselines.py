"""Baselines beside the brain-to-text arms: the ridge decoder reads word meaning from the brain
data when the responses carry it (and not when they do not); the constant is chosen on train."""

import numpy as np
import pandas as pd
import pytest

from neuroseq.data.recording import Recording, Sensors
from neuroseq.data.segments import InMemoryCorpus
from neuroseq.data.sentences import text_splits
from neuroseq.data.simulate_words import WORDS
from neuroseq.data.word_vectors import word_vectors
from neuroseq.evaluation.text_baselines import constant_output, ridge_text

SF = 50.0


def _corpus(scale: float, n_sentences: int = 160, seed: int = 0) -> InMemoryCorpus:
    """One recording of 16 channels; each word adds a 0.3 s response whose spatial pattern is a
    fixed linear map of its GloVe vector (scaled by ``scale``) to white noise."""
    rng = np.random.default_rng(seed)
    vocab = list(WORDS[:50])
    vec = word_vectors(vocab, "glove")
    mix = np.random.default_rng(99).standard_normal((16, 50))
    rows, t, spans = [], 1.0, []
    for k in range(n_sentences):
        for w in rng.choice(vocab, int(rng.integers(4, 7))):
            rows.append({"onset": t, "duration": 0.3, "kind": "word", "value": str(w),
                         "sequence_id": k})
            spans.append((t, str(w)))
            t += 0.6
        t += 1.5
    x = rng.standard_normal((16, int((t + 3) * SF)))
    for onset, w in spans:
        a = int(round(onset * SF))
        x[:, a:a + 15] += scale * (mix @ vec[w])[:, None] / np.linalg.norm(vec[w])
    sens = Sensors(names=[f"E{i}" for i in range(16)], kinds=["eeg"] * 16,
                   locs=np.full((16, 12), np.nan))
    return InMemoryCorpus([Recording(x.astype(np.float32), SF, sens, subject="01",
                                     events=pd.DataFrame(rows))])


@pytest.mark.parametrize("scale,above", [(1.0, True), (0.0, False)])
def test_the_ridge_decoder_finds_the_sentence_only_when_the_brain_data_carry_words(scale, above):
    sets = text_splits(_corpus(scale), seconds=3.0, tmin=-0.2, margin=1.0)
    refs = sets["test"].texts
    cands = sorted(set(refs))
    hyps, scores, facts = ridge_text(sets, cands)
    top1 = float(np.mean([h == r for h, r in zip(hyps, refs, strict=True)]))
    truth = np.array([cands.index(r) for r in refs])
    assert scores.shape == (len(refs), len(cands)) and facts["train_words"] > 100
    assert (scores.argmax(1) == truth).mean() == pytest.approx(top1)
    chance = 1 / len(cands)
    if above:
        assert top1 > 5 * chance
    else:
        assert top1 < 3 * chance


def test_the_ridge_decoder_reads_no_test_text(monkeypatch):
    """The test segments' texts never reach the fit: scrambling them changes no score."""
    sets = text_splits(_corpus(1.0), seconds=3.0, tmin=-0.2, margin=1.0)
    cands = sorted(set(sets["test"].texts))
    _, scores, _ = ridge_text(sets, cands)
    test = sets["test"]
    test.sentences = [s.__class__(s.recording, s.onset, tuple(reversed(s.words)), s.story,
                                  s.end, s.onsets) for s in test.sentences]
    _, again, _ = ridge_text(sets, cands)
    assert np.array_equal(scores, again)


def test_constant_output_minimises_training_wer():
    assert constant_output(["x y", "x y", "x z w"]) == "x y"
    assert constant_output(["a b c d", "e f g h", "a f c h"]) in {"a b c d", "e f g h",
                                                                  "a f c h", "a a a a"}


def test_word_windows_start_at_each_word_onset():
    """Known answer: the features are the 0.1 s bin means of the 0.5 s after each onset."""
    from neuroseq.evaluation.text_baselines import word_windows

    corpus = _corpus(1.0, n_sentences=20)
    train = text_splits(corpus, seconds=3.0, tmin=-0.2, margin=1.0)["train"]
    s = train.sentences[0]
    feats, words = word_windows(train, 0)
    x = corpus.read(s.recording)
    for f, w, t in zip(feats, words, s.onsets, strict=False):
        a = int(round(t * SF))
        want = x[:, a:a + 25].reshape(16, 5, 5).mean(-1).ravel()
        assert np.allclose(f, want, atol=1e-6), w
    assert words == [w.lower() for w in s.words][:len(words)] and len(words) >= 3
