import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from neuroseq.data.collate import pad_collate
from neuroseq.data.preparation import prepare
from neuroseq.data.recording import Recording, Sensors, make_events
from neuroseq.data.segments import InMemoryCorpus
from neuroseq.data.splits import SplitSpec
from neuroseq.data.windows import EpochDataset, WindowDataset
from neuroseq.errors import DataError


def _rec(n_ch, subject, seed=0):
    rng = np.random.default_rng(seed)
    names = [f"E{i}" for i in range(n_ch)]
    ev = make_events(np.arange(1.0, 19.0, 1.0), 0.2, "stimulus",
                     ["a", "b"] * 9)
    return Recording(rng.standard_normal((n_ch, 2000)) * 5, 100.0, Sensors(names, ["eeg"] * n_ch),
                     subject=subject, events=ev)


def test_windows_cover_split_with_conditions():
    corpus = InMemoryCorpus([_rec(4, "s1")], split=SplitSpec("time", {"n_val": 2, "n_test": 2}))
    ds = WindowDataset(corpus, window=100, stride=50, split="train",
                       condition_map={"a": 1, "b": 2}, condition_seconds=0.5)
    (a, b), = corpus.split.spans(corpus.ids[0], "train")
    assert len(ds) == (int(round(b * 100)) - int(round(a * 100)) - 100) // 50 + 1
    item = ds[0]
    assert item["x"].shape == (4, 100) and item["x"].dtype == torch.float32
    assert item["sensors"]["ids"].tolist() == [0, 1, 2, 3] and item["mask"].all()
    rid, start = ds.items[0]
    cond = ds._conditions[rid]
    onset = int(np.ceil(start / 100)) * 100  # first event onset at or after the window start
    label = 1 if (onset // 100) % 2 == 1 else 2
    assert cond[onset] == label and cond[onset + 49] == label and cond[onset + 50] == 0
    np.testing.assert_array_equal(item["condition"].numpy(), cond[start:start + 100])
    val = WindowDataset(corpus, window=100, split="val")
    assert {s for _, s in val.items}.isdisjoint({s for _, s in ds.items})


def test_padding_mixed_channel_counts_and_subjects():
    corpus = InMemoryCorpus([_rec(3, "s1"), _rec(5, "s2", seed=1)])
    ds = WindowDataset(corpus, window=50, split=None)
    batch = next(iter(DataLoader(ds, batch_size=len(ds), collate_fn=pad_collate)))
    assert batch["x"].shape == (len(ds), 5, 50)
    first = batch["mask"][0].tolist()
    assert first == [True, True, True, False, False]
    assert batch["x"][0, 3:].abs().sum() == 0
    assert set(batch["subject"].tolist()) == {0, 1}
    assert ds.channel_vocab == [f"E{i}" for i in range(5)]


def test_epochs_labels_baseline_and_errors():
    corpus = InMemoryCorpus([_rec(4, "s1")])
    ds = EpochDataset(corpus, {"a": 0, "b": 1}, tmin=-0.1, tmax=0.4, split=None,
                      baseline=(-0.1, 0.0))
    assert len(ds) == 18 and ds.labels.tolist() == [0, 1] * 9
    x = ds[0]["x"]
    assert x.shape == (4, 50)
    np.testing.assert_allclose(x[:, :10].mean(1).numpy(), 0, atol=1e-5)
    with pytest.raises(DataError, match=r"values never found.*'zzz'"):
        EpochDataset(corpus, {"zzz": 0}, split=None)
    with pytest.raises(DataError, match="has no split"):
        EpochDataset(corpus, {"a": 0}, split="train")


def test_windows_from_store_are_lazy_and_match(tmp_path):
    recs = [_rec(4, "s1"), _rec(4, "s2", seed=3)]
    paths = []
    for r in recs:
        p = tmp_path / f"sub-{r.subject}_task-t_eeg.fif"
        r.save_fif(p)
        paths.append(p)
    store = prepare(paths, tmp_path / "s.zarr", split=SplitSpec("subject",
                                                               {"val_subjects": ["s2"]}))
    train = WindowDataset(store, 128, 64, split="train")
    val = WindowDataset(store, 128, 64, split="val")
    assert {rid for rid, _ in train.items} == {"sub-s1_task-t"}
    assert {rid for rid, _ in val.items} == {"sub-s2_task-t"}
    rid, s = val.items[3]
    np.testing.assert_allclose(val[3]["x"].numpy(), recs[1].data[:, s:s + 128], atol=1e-4)


def test_one_batch_layout_with_a_sensors_block(meg_rec, eeg_rec):
    """Recordings with different sensor sets batch into x, mask and a sensors block (vocabulary
    ids, positions in m, orientations, kinds) that models read directly."""
    from neuroseq.data.recording import KINDS

    meg, eeg = meg_rec.copy().pick(np.arange(6)), eeg_rec.copy().pick(np.arange(4))
    vocab = meg.ch_names + eeg.ch_names
    sets = [WindowDataset(InMemoryCorpus([r]), window=50, split=None, channel_vocab=vocab)
            for r in (meg, eeg)]
    b = pad_collate([sets[0][0], sets[1][0]])
    assert b["x"].shape == (2, 6, 50)
    assert b["mask"].tolist() == [[True] * 6, [True] * 4 + [False] * 2]
    s = b["sensors"]
    assert set(s) == {"ids", "pos", "ori", "kind", "official_xyz", "official_dir",
                      "official_type"} and s["pos"].shape == (2, 6, 3)
    assert s["official_type"][0].tolist() == meg.sensors.official_types().tolist()
    assert (s["official_xyz"][1, 4:] == 0).all() and (s["official_type"][1, 4:] == 0).all()
    np.testing.assert_allclose(s["pos"][0].numpy(), meg.sensors.positions, atol=1e-6)
    np.testing.assert_allclose(s["ori"][0].numpy(), meg.sensors.orientations, atol=1e-6)
    assert [KINDS[k] for k in s["kind"][0].tolist()] == meg.sensors.kinds
    assert s["kind"][1, :4].tolist() == [KINDS.index("eeg")] * 4 and (s["pos"][1, 4:] == 0).all()
    assert s["ids"][1, :4].tolist() == [6, 7, 8, 9]  # the EEG names follow the MEG ones


def test_a_vocabulary_maps_sensor_ids(meg_rec):
    class Vocab:  # any object with ids(names), e.g. EEGPT's electrode vocabulary
        def ids(self, names):
            return torch.arange(len(names)) + 100

    ds = WindowDataset(InMemoryCorpus([meg_rec]), window=50, split=None, vocab=Vocab())
    assert ds[0]["sensors"]["ids"][:3].tolist() == [100, 101, 102]
