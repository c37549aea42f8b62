"""The brain-to-text evaluation, tested through ``evaluate_text`` with a stand-in model whose
decoded text says whose brain data it read: a control that reads the item's own MEG, noise
made from test MEG, a model arm that is not decoded or a decoder handed the text turn these
red."""

import numpy as np
import pytest
import torch

from neuroseq.data.collate import pad_collate
from neuroseq.evaluation.text import grouped_mean, paired_permutation_p
from neuroseq.evaluation.text_decoding import TEXT_FIELDS, constant_output, evaluate_text

SF, T = 64, 128  # a 2 s segment at 64 Hz


class _Sentences(torch.utils.data.Dataset):
    """Segments with texts; ``signal(i)`` gives item ``i``'s ``[2, T]`` signal."""

    def __init__(self, texts, signal):
        self.texts, self.signal = list(texts), signal

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        return {"x": self.signal(i), "mask": torch.ones(2, dtype=torch.bool),
                "sensors": {"ids": torch.arange(2)}, "subject": torch.tensor(0),
                "key": f"rec@{i}", "text": self.texts[i]}


class _Model:
    """Decodes 'heard <text K>' from a signal that is the constant K (test items carry their
    index + 1 as a constant; never the bare reference), 'noise' from anything else, 'llm'
    with no brain input; its likelihood prefers the text whose index matches the constant."""

    def __init__(self, test_texts):
        self.cands = sorted(set(test_texts))
        self.test_texts = test_texts
        self.batches = []

    def eval(self):
        return self

    def collate_fn(self):
        return pad_collate

    def meg_embeddings(self, batch):
        self.batches.append(batch)
        return batch["x"]

    def generate(self, meg, n, **kw):
        if meg is None:
            return ["llm"] * n
        out = []
        for x in meg:
            v = float(x[0, 0])
            const = torch.allclose(x, torch.full_like(x, v)) and v == round(v) \
                and 1 <= v <= len(self.test_texts)
            out.append("heard " + self.test_texts[int(v) - 1] if const else "noise")
        return out

    def log_likelihood(self, meg, texts):
        if meg is None:
            return torch.zeros(len(texts))
        return torch.tensor([-abs(float(x[0, 0]) - 1 - self.test_texts.index(t))
                             if t in self.test_texts else -99.0
                             for x, t in zip(meg, texts, strict=True)])

    def candidate_log_likelihoods(self, meg, cands, n):
        return torch.stack([self.log_likelihood(meg, [c] * n) for c in cands], 1)


TEST = ["the dog ran", "a cat sat down", "the man ran home now", "birds sing",
        "rain fell on the town", "she sat"]
TRAIN = ["the dog sat", "a man ran", "the cat ran home", "birds fly south", "he sat down"] * 3


def _train_signal(i):
    t = torch.arange(T) / SF
    return torch.stack([torch.sin(2 * np.pi * 5 * t + i), 2 * torch.sin(2 * np.pi * 5 * t)])


def _run(test_signal=None):
    test = _Sentences(TEST, test_signal or (lambda i: torch.full((2, T), float(i + 1))))
    sets = {"train": _Sentences(TRAIN, _train_signal), "test": test}
    model = _Model(TEST)
    dec = {"max_new_tokens": 8, "num_beams": 1, "do_sample": False, "temperature": 1.0,
           "top_p": 1.0, "seed": 0, "bertscore": False}
    res = evaluate_text(model, sets, dec=dec, batch_size=4, seed=0, events=False)
    return res, model


def _decoded(res, arm):
    return [e["decoded"].removeprefix("heard ") for e in res["arms"][arm]["examples"]]


def test_the_model_arm_is_decoded_and_free_running():
    res, model = _run()
    got = [e["decoded"] for e in res["arms"]["model"]["examples"]]
    assert got == ["heard " + t for t in TEST]  # what generate() made of each item's MEG
    assert res["arms"]["model"]["retrieval"]["top1"] == 1.0
    assert res["teacher_forced"] is False
    assert not any(k in b for b in model.batches for k in TEXT_FIELDS)  # no text reached it


def test_retrieval_ranks_by_each_arm_s_own_likelihood_never_the_reference():
    """Each arm's retrieval reads the likelihoods the model gave its own input: the stand-in
    prefers the text whose index its MEG carries, so another sentence's MEG ranks that other
    sentence first, and no brain data (all ties) never wins."""
    res, _ = _run()
    top1 = {a: res["arms"][a]["retrieval"]["top1"] for a in res["arms"]
            if res["arms"][a]["retrieval"] is not None}
    assert top1["model"] == 1.0
    assert top1["shuffled"] == 0.0
    assert top1["llm_only"] == 0.0
    assert top1["noise"] < 0.5
    assert res["arms"]["model"]["retrieval"]["chance_top1"] == pytest.approx(1 / len(TEST))


def test_the_noise_arm_sees_no_test_meg_and_has_the_training_spectrum():
    res, model = _run()
    assert set(_decoded(res, "noise")) == {"noise"}
    noise = [b["x"] for b in model.batches if "key" not in b]  # the noise batches drop keys
    assert noise
    x = torch.cat(noise).numpy()
    power = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    assert (power[..., 10].sum() / power.sum()) > 0.9  # 5 Hz, as the training segments
    # spatial covariance kept: channel 2 has twice channel 1's amplitude in every training item
    assert x[:, 1].std() == pytest.approx(2 * x[:, 0].std(), rel=0.05)
    res2, model2 = _run(lambda i: torch.full((2, T), 100.0 * (i + 1)))  # other test MEG
    noise2 = [b["x"] for b in model2.batches if "key" not in b]
    assert all(torch.equal(a, b) for a, b in zip(noise, noise2, strict=True))


def test_the_shuffled_arm_reads_another_sentence_of_similar_length():
    res, _ = _run()
    got = _decoded(res, "shuffled")
    lengths = [len(t.split()) for t in TEST]
    for ref, donor in zip(TEST, got, strict=True):
        assert donor != ref and donor in TEST
        others = [n for t, n in zip(TEST, lengths, strict=True) if t != ref]
        best = min(abs(n - len(ref.split())) for n in others)
        assert abs(len(donor.split()) - len(ref.split())) == best


def test_the_constant_output_is_chosen_on_training_texts():
    res, _ = _run()
    assert res["constant_output"] == constant_output(TRAIN)
    assert set(_decoded(res, "constant")) == {res["constant_output"]}
    assert res["constant_output"] not in TEST
    assert constant_output(["x y", "x y", "x z w"]) == "x y"
    assert set(_decoded(res, "llm_only")) == {"llm"}


def test_the_table_is_computed_over_sentences():
    """Each sentence heard twice (two subjects): the table's values and p-values are those of
    the per-sentence statistic grouped by sentence."""
    test = _Sentences(TEST + TEST, lambda i: torch.full((2, T), float(i % len(TEST) + 1)))
    sets = {"train": _Sentences(TRAIN, _train_signal), "test": test}
    dec = {"max_new_tokens": 8, "num_beams": 1, "do_sample": False, "temperature": 1.0,
           "top_p": 1.0, "seed": 0, "bertscore": False}
    res = evaluate_text(_Model(TEST), sets, dec=dec, batch_size=4, seed=0, events=False)
    refs = TEST + TEST
    for row in res["table"]:
        per = res["arms"]["model"]["per_sentence"][row["metric"]]
        assert row["model"] == pytest.approx(grouped_mean(per, refs))
        if row["metric"] == "wer":
            noise = res["arms"]["noise"]["per_sentence"]["wer"]
            assert row["p_vs_noise"] == pytest.approx(paired_permutation_p(
                np.asarray(per), np.asarray(noise), False, groups=refs))
            assert row["p_vs_noise"] != pytest.approx(paired_permutation_p(
                np.asarray(per), np.asarray(noise), False))
