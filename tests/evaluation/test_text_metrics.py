"""Text metrics, likelihood retrieval and the permutation test against controls."""

import numpy as np
import pytest

from neuroseq.evaluation import text as tm

REFS = ["the dog saw the man", "a king walked to the river", "she opened the old door",
        "the horse found water"]


def test_known_answers_perfect_and_unrelated_text():
    per = tm.per_sentence(REFS, REFS, bertscore=False)
    assert tm.corpus_scores(REFS, REFS, per) == pytest.approx(
        {"bleu4": 100.0, "rouge_l": 1.0, "wer": 0.0, "exact_match": 1.0})
    bad = ["zebra"] * len(REFS)
    per_bad = tm.per_sentence(bad, REFS, bertscore=False)
    c = tm.corpus_scores(bad, REFS, per_bad)
    assert c["bleu4"] < 1 and c["rouge_l"] == 0 and c["wer"] == pytest.approx(1.0)
    assert c["exact_match"] == 0
    # shifting the hypotheses by one sentence breaks every metric
    shifted = REFS[1:] + REFS[:1]
    c2 = tm.corpus_scores(shifted, REFS, tm.per_sentence(shifted, REFS, bertscore=False))
    assert c2["bleu4"] < 20 and c2["wer"] > 0.5


def test_bertscore_offline_encoder_ranks_the_right_sentence_higher():
    f_same = tm.bert_f1(REFS, REFS)
    f_other = tm.bert_f1(REFS[1:] + REFS[:1], REFS)
    assert (f_same > 0.99).all() and (f_other < f_same - 0.05).all()


def test_likelihood_retrieval_known_answer_and_chance():
    ll = np.array([[0.0, -5, -5], [-5, 0.0, -5], [-5, -5, 0.0], [0.0, -1, -2]])
    truth = np.array([0, 1, 2, 2])
    r = tm.likelihood_retrieval(ll, truth)
    assert r["top1"] == 0.75 and r["mean_rank"] == pytest.approx((1 + 1 + 1 + 3) / 4)
    assert r["ranks"] == [1, 1, 1, 3]
    assert r["chance_top1"] == pytest.approx(1 / 3)
    tie = tm.likelihood_retrieval(np.zeros((3, 3)), np.arange(3))  # a constant scorer
    assert tie["top1"] == 0.0  # ties count against the model


def test_permutation_test_finds_a_planted_gain_and_not_a_null_one():
    rng = np.random.default_rng(0)
    control = rng.random(40)
    assert tm.paired_permutation_p(control + 0.2 + 0.05 * rng.standard_normal(40), control) < 0.01
    assert tm.paired_permutation_p(control + 0.05 * rng.standard_normal(40), control) > 0.05
    # lower-is-better metrics (WER): a lower model beats the control
    assert tm.paired_permutation_p(control - 0.3, control, higher_better=False) < 0.01


def test_permutation_over_sentences_counts_each_sentence_once():
    """A gain carried by one sentence heard by many subjects: significant when segments are
    the unit, not when sentences are (the segments of one sentence are one piece of evidence)."""
    rng = np.random.default_rng(1)
    groups = np.repeat([f"s{k}" for k in range(10)], 8)  # 10 sentences × 8 subjects
    control = rng.random(80)
    model = control + 0.05 * rng.standard_normal(80)
    model[groups == "s0"] += 1.0  # one sentence decoded well, for every subject
    assert tm.paired_permutation_p(model, control) < 0.05
    assert tm.paired_permutation_p(model, control, groups=groups) > 0.05
    # a gain on every sentence stays significant over sentences
    assert tm.paired_permutation_p(control + 0.3, control, groups=groups) < 0.01
    with pytest.raises(ValueError, match="group labels"):
        tm.paired_permutation_p(model, control, groups=groups[:5])


def test_comparison_table_says_when_the_model_loses():
    per_good = {"bleu4": np.full(30, 50.0), "rouge_l": np.full(30, 0.6), "wer": np.full(30, 0.3)}
    per_bad = {"bleu4": np.full(30, 5.0), "rouge_l": np.full(30, 0.1), "wer": np.full(30, 0.9)}
    per_good = {k: v + np.linspace(0, 1e-3, 30) for k, v in per_good.items()}

    def arm(per):
        return {"corpus": {k: float(np.mean(v)) for k, v in per.items()}, "per_sentence": per}

    rows = tm.comparison_table({"model": arm(per_good), "noise": arm(per_bad)})
    assert all(r["beats_all_controls"] for r in rows)
    rows = tm.comparison_table({"model": arm(per_bad), "noise": arm(per_good)})
    assert not any(r["beats_all_controls"] for r in rows)


def test_the_table_shows_the_statistic_its_p_value_tests():
    """Values are means over sentences of per-sentence means (what the permutation over
    sentences tests), the corpus values beside; one sentence decoded well for ten subjects
    does not carry the table."""
    groups = np.array(["s0"] * 10 + [f"s{i}" for i in range(1, 11)])
    good = np.r_[np.full(10, 1.0), np.zeros(10)]
    arms = {"model": {"corpus": {"rouge_l": 0.9}, "per_sentence": {"rouge_l": good}},
            "noise": {"corpus": {"rouge_l": 0.1}, "per_sentence": {"rouge_l": np.zeros(20)}}}
    row = tm.comparison_table(arms, metrics=["rouge_l"], groups=list(groups))[0]
    assert row["model"] == pytest.approx(1 / 11) and row["noise"] == 0.0
    assert row["corpus"] == {"model": 0.9, "noise": 0.1}
    assert row["p_vs_noise"] > 0.05 and not row["beats_all_controls"]
    ungrouped = tm.comparison_table(arms, metrics=["rouge_l"])[0]
    assert ungrouped["model"] == pytest.approx(0.5) and ungrouped["p_vs_noise"] < 0.05


def test_word_recall_splits_seen_and_unseen_words():
    got = tm.word_recall(["the dog the", "zebra"], ["the the dog ran", "a zebra"],
                         seen={"the", "dog", "a"})
    assert got == {"seen": 3 / 4, "unseen": 1 / 2, "n_seen": 4, "n_unseen": 2}
    assert tm.word_recall(["x"], ["x"], seen=set())["seen"] is None
