import numpy as np
import pytest
import torch

from neuroseq.data.preparation import prepare
from neuroseq.data.preprocess import Pipeline, Resample, RobustScale
from neuroseq.data.readers import read_recording
from neuroseq.data.splits import SplitSpec
from neuroseq.data.store import Store
from neuroseq.errors import DataError, FormatError


@pytest.fixture(scope="module")
def fif_corpus(tmp_path_factory, meg_rec):
    d = tmp_path_factory.mktemp("corpus")
    paths = []
    for i, sub in enumerate(("01", "02")):
        rec = meg_rec.copy()
        rec.subject = sub
        rec.data = rec.data * (1 + i)
        p = d / f"sub-{sub}_task-vis_meg.fif"
        rec.save_fif(p)
        paths.append(p)
    return paths


def test_prepare_parallel_matches_in_memory_pipeline(fif_corpus, tmp_path):
    pipe = Pipeline([Resample(100.0), RobustScale()])
    split = SplitSpec("time", {"n_val": 1, "n_test": 1})
    store = prepare(fif_corpus, tmp_path / "s.zarr", pipeline=pipe, split=split, n_jobs=2,
                    chunk=256)
    assert store.ids == ["sub-01_task-vis", "sub-02_task-vis"]
    row = store.index.iloc[1]
    assert row["subject"] == "02" and row["sfreq"] == 100.0 and row["n_samples"] == 2000
    assert row["kinds"] == {"mag": 102, "grad": 204}
    rec = read_recording(fif_corpus[1])
    spans = split.spans(rec.subject, rec.duration, rec.events)
    expected = Pipeline([Resample(100.0), RobustScale()]).fit_apply(rec, spans["train"])
    np.testing.assert_array_equal(store.read("sub-02_task-vis"), expected.data)
    # random reads across chunk boundaries equal slices of the whole
    full = store.read("sub-02_task-vis")
    for a in (0, 200, 250, 511, 1744):
        np.testing.assert_array_equal(store.read("sub-02_task-vis", a, a + 256),
                                      full[:, a:a + 256])
    assert store.split is not None and len(store.split.hash) == 64
    assert store.events("sub-01_task-vis")["value"].tolist() == rec.events["value"].tolist()
    back = store.pipeline("sub-02_task-vis").inverse_scaling(full, store.sensors(
        "sub-02_task-vis").names)
    np.testing.assert_allclose(back, Pipeline([Resample(100.0)]).fit_apply(rec).data,
                               rtol=1e-3, atol=1e-2)
    loaded = store.recording("sub-01_task-vis")
    assert loaded.n_channels == 306 and loaded.provenance[-1]["step"] == "robust_scale"


def test_store_on_fsspec_memory_url(fif_corpus):
    store = prepare(fif_corpus[:1], "memory://neuroseq-test/s.zarr", n_jobs=2, overwrite=True)
    assert len(store) == 1
    again = Store("memory://neuroseq-test/s.zarr")
    assert again.read(again.ids[0], 10, 20).shape == (306, 10)


def test_mixed_sampling_rates_are_refused_or_resampled(fif_corpus, meg_rec, tmp_path):
    other = meg_rec.copy()
    other.data = other.data[:, ::2]
    other.sfreq = 100.0
    p = tmp_path / "sub-03_task-vis_meg.fif"
    other.save_fif(p)
    with pytest.raises(DataError, match=r"mixes sampling rates.*200 Hz.*100 Hz"):
        prepare([fif_corpus[0], p], tmp_path / "a.zarr")
    store = prepare([fif_corpus[0], p], tmp_path / "b.zarr",
                    pipeline=Pipeline([Resample(50.0)]))
    assert set(store.index["sfreq"]) == {50.0}


def test_failures_keep_the_rest_and_existing_stores_are_protected(fif_corpus, tmp_path):
    bad = tmp_path / "sub-09_task-vis_meg.fif"
    bad.write_bytes(fif_corpus[0].read_bytes()[:5000])
    with pytest.raises((DataError, FormatError)):
        prepare([fif_corpus[0], bad], tmp_path / "c.zarr")
    good = prepare([fif_corpus[0]], tmp_path / "d.zarr")
    assert len(good) == 1
    with pytest.raises(DataError, match="overwrite=True"):
        prepare([fif_corpus[0]], tmp_path / "d.zarr")


def _flaky(monkeypatch, failing):
    from neuroseq.data import preparation as store_mod

    real = store_mod.read_recording

    def flaky(src, **kw):
        if any(f in str(src) for f in failing):
            raise DataError("boom")
        return real(src, **kw)

    monkeypatch.setattr(store_mod, "read_recording", flaky)


def test_a_failed_recording_leaves_no_half_store(fif_corpus, tmp_path, monkeypatch):
    _flaky(monkeypatch, ["sub-02"])
    with pytest.raises(DataError, match=r"1 of 2 recording.*no store was written.*boom"):
        prepare(fif_corpus, tmp_path / "e.zarr")
    assert not (tmp_path / "e.zarr").exists()
    assert [p.name for p in tmp_path.iterdir() if "zarr" in p.name] == []  # no build left over


def test_every_recording_failing_leaves_nothing(fif_corpus, tmp_path, monkeypatch):
    _flaky(monkeypatch, ["sub-01", "sub-02"])
    with pytest.raises(DataError, match="2 of 2 recording"):
        prepare(fif_corpus, tmp_path / "e.zarr")
    assert not any("zarr" in p.name for p in tmp_path.iterdir())


def test_overwrite_swaps_only_a_complete_store(fif_corpus, tmp_path, monkeypatch):
    from neuroseq.data import preparation as store_mod

    old = prepare(fif_corpus[:1], tmp_path / "s.zarr")
    assert old.ids == ["sub-01_task-vis"]
    _flaky(monkeypatch, ["sub-02"])  # a failed rebuild keeps the old store
    with pytest.raises(DataError, match="existing store .* is unchanged"):
        prepare(fif_corpus, tmp_path / "s.zarr", overwrite=True)
    assert Store(tmp_path / "s.zarr").ids == ["sub-01_task-vis"]

    def interrupted(*a, **k):  # an interrupted rebuild keeps it too
        raise KeyboardInterrupt

    monkeypatch.setattr(store_mod, "_write_recordings", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(fif_corpus, tmp_path / "s.zarr", overwrite=True)
    assert Store(tmp_path / "s.zarr").ids == ["sub-01_task-vis"]
    assert sorted(p.name for p in tmp_path.iterdir() if "zarr" in p.name) == ["s.zarr"]
    monkeypatch.undo()
    new = prepare(fif_corpus, tmp_path / "s.zarr", overwrite=True)
    assert new.ids == ["sub-01_task-vis", "sub-02_task-vis"]
    assert sorted(p.name for p in tmp_path.iterdir() if "zarr" in p.name) == ["s.zarr"]


def test_a_store_marked_incomplete_is_refused(fif_corpus, tmp_path):
    import zarr

    store = prepare(fif_corpus[:1], tmp_path / "s.zarr")
    root = zarr.open_group(str(store.path), mode="r+")
    root.attrs.update({"complete": False, "errors": ["sub-02: boom"]})
    with pytest.raises(FormatError, match=r"incomplete: 1 recording\(s\) failed.*sub-02: boom"):
        Store(tmp_path / "s.zarr")
    assert Store(tmp_path / "s.zarr", allow_incomplete=True).ids == ["sub-01_task-vis"]


def test_incomplete_or_foreign_store(tmp_path):
    import zarr

    zarr.open_group(str(tmp_path / "x.zarr"), mode="w").attrs["neuroseq_store"] = 1
    with pytest.raises(FormatError, match="incomplete"):
        Store(tmp_path / "x.zarr")
    zarr.open_group(str(tmp_path / "y.zarr"), mode="w")
    with pytest.raises(FormatError, match="not a neuroseq store"):
        Store(tmp_path / "y.zarr")


def test_store_is_picklable_for_dataloader_workers(fif_corpus, tmp_path):
    import pickle

    store = prepare(fif_corpus[:1], tmp_path / "p.zarr")
    clone = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(clone.read(clone.ids[0], 0, 10), store.read(store.ids[0], 0, 10))
    assert torch.from_numpy(clone.read(clone.ids[0], 0, 10)).shape == (306, 10)


@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_raw_chunk_fast_path_equals_zarr(fif_corpus, tmp_path, compression):
    store = prepare(fif_corpus[:1], tmp_path / "f.zarr", chunk=300, compression=compression)
    rid = store.ids[0]
    ref = np.asarray(store._array(rid)[:])
    fast = Store(store.path, cache_mb=0)
    n = ref.shape[1]
    for a, b in [(0, 256), (250, 506), (n - 256, n), (n - 5, n), (899, 901)]:
        np.testing.assert_array_equal(fast.read(rid, a, b), ref[:, a:b])
    assert (fast._raw_chunk_path(fast._array(rid)) is not None) == (compression == "none")
    with pytest.raises(DataError, match="outside the recording"):
        fast.read(rid, n - 10, n + 1)


def test_chunk_cache_stays_within_its_budget(fif_corpus, tmp_path):
    store = prepare(fif_corpus[:1], tmp_path / "g.zarr", chunk=128)
    small = Store(store.path, cache_mb=306 * 128 * 4 * 3 / 2**20)  # room for three chunks
    rid = small.ids[0]
    for a in range(0, small.n_samples(rid) - 256, 100):
        small.read(rid, a, a + 256)
    assert len(small._cache) <= 3 and small._cache_bytes <= small._cache_limit


def test_scan_reads_headers_only(meg_rec, tmp_path):
    from neuroseq.data.readers import scan

    from .test_readers import _write_libribrain

    fname = _write_libribrain(tmp_path, meg_rec)
    assert scan(fname) == {"sfreq": 200.0, "n_times": meg_rec.n_times, "n_channels": 306}


def test_prepare_on_a_two_worker_dask_cluster_equals_one_process(fif_corpus, tmp_path):
    """Scale-out: every recording prepared on a local two-worker Dask cluster (separate
    processes, through its scheduler address) gives the same store as one process."""
    from distributed import Client, LocalCluster

    pipe = Pipeline([Resample(100.0), RobustScale()])
    split = SplitSpec("time", {"n_val": 1, "n_test": 1})
    one = prepare(fif_corpus, tmp_path / "one.zarr", pipeline=pipe, split=split)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        dask = prepare(fif_corpus, tmp_path / "dask.zarr", pipeline=pipe, split=split,
                       scheduler=cluster.scheduler_address)
        with Client(cluster.scheduler_address) as client:
            assert len(client.scheduler_info()["workers"]) == 2
        # the recordings were prepared by the cluster's workers
        done = cluster.scheduler.task_prefixes["safe_prepare"].state_counts
        assert done["memory"] == len(fif_corpus)  # each recording computed once, there
    assert dask.ids == one.ids and dask.split.hash == one.split.hash
    for rid in one.ids:
        np.testing.assert_array_equal(dask.read(rid), one.read(rid))
    with pytest.raises(DataError, match="cannot reach the Dask scheduler"):
        prepare(fif_corpus, tmp_path / "x.zarr", scheduler="tcp://127.0.0.1:1")
    assert not (tmp_path / "x.zarr").exists()
