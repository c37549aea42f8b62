import numpy as np
import pytest

from neuroseq.data.recording import make_events
from neuroseq.data.splits import Split, SplitSpec, hashed_spans, subject_spans, time_spans
from neuroseq.errors import DataError


def _events(n_per_class=10, classes=("a", "b", "c"), seed=0):
    rng = np.random.default_rng(seed)
    values = rng.permutation(np.repeat(classes, n_per_class))
    onsets = 1.0 + np.arange(len(values)) * 1.5
    return make_events(onsets, 0.5, "stimulus", values)


def test_time_split_gpt2meg_protocol():
    ev = _events()
    sp = time_spans(50.0, ev, n_val=2, n_test=3)
    (v0, v1), (t0, t1), (r0, r1) = sp["val"][0], sp["test"][0], sp["train"][0]
    assert v0 == 0.0 and v1 == t0 and t1 == r0 and r1 == 50.0

    def inside(a, b):
        return ev[(ev["onset"] >= a) & (ev["onset"] < b)]["value"].value_counts()

    assert inside(v0, v1).min() >= 2 and inside(t0, t1).min() >= 3
    onsets = ev["onset"].to_numpy()
    for b in (v1, t1):  # each boundary lies midway between two consecutive events
        i = np.searchsorted(onsets, b)
        assert b == pytest.approx((onsets[i - 1] + onsets[i]) / 2)


def test_time_split_without_events_uses_fractions():
    sp = time_spans(100.0, make_events(), val_fraction=0.1, test_fraction=0.2)
    flat = {k: [tuple(round(x, 9) for x in span) for span in v] for k, v in sp.items()}
    assert flat == {"val": [(0.0, 10.0)], "test": [(10.0, 30.0)], "train": [(30.0, 100.0)]}


def test_subject_and_hashed_splits_are_deterministic():
    assert subject_spans("s1", 10.0, val_subjects=["s1"])["val"] == [(0.0, 10.0)]
    names = {s: next(k for k, v in subject_spans(s, 1.0).items() if v) for s in "abcdefgh"}
    assert names == {s: next(k for k, v in subject_spans(s, 1.0).items() if v) for s in "abcdefgh"}
    ev = make_events(np.arange(1, 60, 0.5), 0.3, "word",
                     [w for _ in range(30) for w in ("the", "cat", "sat", "mat")][:118])
    sp = hashed_spans(ev, 70.0, tmin=-0.1, tmax=0.4, val_fraction=0.25, test_fraction=0.25)
    for word in ("the", "cat", "sat", "mat"):  # every repeat of a word in the same split
        onsets = ev[ev["value"] == word]["onset"]
        where = {k for k, spans in sp.items() for a, b in spans
                 for o in onsets if a <= o - 0.1 + 1e-9 and o + 0.4 <= b + 1e-9}
        assert len(where) == 1
    with pytest.raises(DataError, match="no column"):
        hashed_spans(ev, 70.0, group="sentence")


def test_split_save_load_and_hash(tmp_path):
    spec = SplitSpec("time", {"n_val": 1, "n_test": 1})
    split = Split(spec, {"r1": spec.spans("01", 50.0, _events())})
    h = split.save(tmp_path / "split.json")
    assert len(h) == 64 and Split.load(tmp_path / "split.json").hash == h
    text = (tmp_path / "split.json").read_text().replace('"n_val": 1', '"n_val": 2')
    (tmp_path / "split.json").write_text(text)
    with pytest.raises(DataError, match="hash mismatch"):
        Split.load(tmp_path / "split.json")
    with pytest.raises(DataError, match="unknown split"):
        split.spans("r1", "training")
