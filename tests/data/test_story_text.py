"""`neuroseq simulate --words --text FILE`: a real text told as a story, its words' responses
a fixed function of their features (so an unseen word's response is predictable)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from neuroseq.cli import main
from neuroseq.data.readers import find_bids_recordings, read_recording
from neuroseq.data.simulate_words import simulate_listening, text_story
from neuroseq.data.story_text import split_sentences, text_sentences
from neuroseq.data.word_vectors import word_vectors
from neuroseq.data.words import clean_words
from neuroseq.errors import DataError

PROSE = ("The old man walked to the river. He sat down on a stone, and he looked at the water!\n"
         "Was it cold? It was very cold.\n\nA second paragraph begins here. It ends here.\n")


def test_sentences_split_on_punctuation_or_lines():
    assert split_sentences(PROSE) == [
        ("the", "old", "man", "walked", "to", "the", "river"),
        ("he", "sat", "down", "on", "a", "stone", "and", "he", "looked", "at", "the", "water"),
        ("was", "it", "cold"), ("it", "was", "very", "cold"),
        ("a", "second", "paragraph", "begins", "here"), ("it", "ends", "here")]
    poem = "Roses are red\nViolets are blue\nI\n"  # no punctuation: a sentence per line
    assert split_sentences(poem) == [("roses", "are", "red"), ("violets", "are", "blue")]
    assert split_sentences("It’s here. Don't go.") == [("it's", "here"), ("don't", "go")]


def test_the_story_keeps_the_text_in_order_at_a_speech_rate(tmp_path):
    f = tmp_path / "story.txt"
    f.write_text(PROSE * 4)
    story = text_story(f, n_sentences=10, seed=0)
    assert story.sentences == tuple(split_sentences(PROSE * 4)[:10])
    on = np.concatenate(story.onsets)
    du = np.concatenate(story.durations)
    assert (np.diff(on) > du[:-1]).all()  # a word ends before the next starts
    words = [w for s in story.sentences for w in s]
    lengths = np.array([len(w) for w in words])
    assert du[lengths >= 6].mean() > du[lengths <= 3].mean() + 0.15  # longer words last longer
    rate = len(words) / (on[-1] - on[0])
    assert 1.8 < rate < 3.5  # words per second, as in spoken stories
    assert text_story(f, n_sentences=10, max_words=4).sentences == tuple(
        s for s in split_sentences(PROSE * 4) if len(s) <= 4)[:10]


def test_the_named_text_is_real_prose():
    sents = text_sentences("lee")
    assert len(sents) > 2000  # the Lee background corpus: ~2,700 sentences of news
    assert sents[0][:4] == ("hundreds", "of", "people", "have")
    assert len({w for s in sents for w in s}) > 5000


def test_cli_writes_the_text_story_and_refuses_non_text(tmp_path):
    f = tmp_path / "story.txt"
    f.write_text(PROSE * 3)
    r = CliRunner().invoke(main, ["simulate", "--words", "--text", str(f), "--sentences", "12",
                                  "--subjects", "1", "--sfreq", "100", "-o", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    rec = read_recording(find_bids_recordings(tmp_path / "c")[0])
    words = clean_words(rec.events)
    assert list(words["word"]) == [w for s in split_sentences(PROSE * 3)[:12] for w in s]
    spoken = rec.events[rec.events["kind"] == "word"]["duration"]
    assert len(spoken) == len(words) and spoken.nunique() > 5  # each word its own duration
    meta = json.loads((tmp_path / "c" / "dataset_description.json").read_text())["Simulation"]
    assert meta["responses"] == "features" and meta["text"] == str(f)
    assert (tmp_path / "c" / "stimuli" / "story.txt").read_text().splitlines()[0] == \
        "the old man walked to the river"
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 au lait. encore un caf\xe9.".encode("latin-1"))
    for bad, why in ((binary, "not a plain-text"), (latin, "not UTF-8"),
                     (tmp_path / "none.txt", "no such file")):
        r = CliRunner().invoke(main, ["simulate", "--words", "--text", str(bad), "-o",
                                      str(tmp_path / "bad")])
        assert r.exit_code == 2 and why in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(main, ["simulate", "--words", "--text", str(f), "--sentences", "500",
                                  "-o", str(tmp_path / "long")])
    assert r.exit_code == 2 and "--n-sentences" not in r.output and "--sentences" in r.output


def _unseen_word_rank_accuracy(evoked_scale: float, seed: int) -> float:
    """Ridge from a word's first response (0–0.6 s, baseline-corrected) to its GloVe vector,
    fitted on the words first heard in the first 80 % of the story; rank accuracy of the held-out
    (later) words' embeddings among each other (chance 0.5)."""
    from sklearn.linear_model import RidgeCV

    story = text_story("lee", n_sentences=40, seed=0)
    raw, _ = simulate_listening(story, sfreq=100.0, seed=seed, evoked_scale=evoked_scale,
                                responses="features")
    x = raw.get_data()
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    first: dict[str, np.ndarray] = {}
    for words, onsets in zip(story.sentences, story.onsets, strict=True):
        for w, o in zip(words, onsets, strict=True):
            a = int(round(o * 100))
            if w not in first and a >= 10:
                seg = x[:, a:a + 60] - x[:, a - 10:a].mean(1, keepdims=True)
                first[w] = seg.reshape(len(x), 12, 5).mean(-1).ravel()
    vec = word_vectors(list(first), "glove", on_missing="skip")
    words = [w for w in first if w in vec]  # in order of first hearing
    n_test = len(words) // 5
    xs, ys = np.stack([first[w] for w in words]), np.stack([vec[w] for w in words])
    model = RidgeCV(alphas=np.logspace(0, 6, 13)).fit(xs[:-n_test], ys[:-n_test])
    p = model.predict(xs[-n_test:])
    p -= p.mean(0)
    y = ys[-n_test:] - ys[:-n_test].mean(0)
    sim = (p / np.linalg.norm(p, axis=1, keepdims=True)) @ (
        y / np.linalg.norm(y, axis=1, keepdims=True)).T
    return float(np.mean([(sim[i] < sim[i, i]).sum() / (n_test - 1) for i in range(n_test)]))


def test_unseen_words_responses_predict_their_embeddings_and_the_null_does_not():
    assert _unseen_word_rank_accuracy(1.0, seed=2) > 0.75
    assert _unseen_word_rank_accuracy(0.0, seed=2) < 0.62


def test_feature_responses_are_shared_and_arbitrary_ones_stay_the_default():
    from neuroseq.data.simulate_words import feature_responses, word_responses

    a = feature_responses(("river", "water", "king"), 40, seed=7, counts={"river": 3})
    assert a == feature_responses(("river", "water", "king"), 40, seed=7, counts={"river": 3})
    assert a["river"][2:] != a["water"][2:]
    with pytest.raises(DataError, match="responses"):
        simulate_listening(text_story("lee", n_sentences=1), responses="random")
    vocab = ("dog", "the")
    assert word_responses(vocab, 40, 1234) == word_responses(vocab, 40, 1234)
