"""Multi-task epochs for EEGPT: several tasks, shared electrode vocabulary, mixed batches."""

import pytest
import torch
from torch.utils.data import DataLoader

from neuroseq.data.collate import pad_collate
from neuroseq.data.store import Store
from neuroseq.data.tasks import PYLOSSLESS_TASKS, MultiTaskEpochs
from neuroseq.errors import DataError
from neuroseq.models.eegpt import EEGPT
from neuroseq.models.electrodes import ElectrodeVocab
from neuroseq.objectives.patch import MultiTaskObjective


@pytest.fixture(scope="module")
def vocab():
    return ElectrodeVocab()


def test_tasks_share_epochs_and_the_vocabulary(sim_store, vocab):
    st = Store(sim_store)
    tasks = {"a_vs_b": {"a": 0, "b": 1}, "b_only": {"b": 0, "a": 1}}
    ds = MultiTaskEpochs(st, tasks, vocab, tmin=0.0, tmax=0.5, split="train")
    assert len(ds) == 2 * len(ds.labels("a_vs_b")) and ds.n_classes == {"a_vs_b": 2, "b_only": 2}
    item = ds[len(ds) - 1]
    assert item["task"] == "b_only" and item["x"].shape == (8, 50)
    names = st.sensors(st.ids[0]).names
    assert torch.equal(item["sensors"]["ids"], vocab.ids(names))
    one = MultiTaskEpochs(st, tasks, vocab, tmax=0.5, recordings=[st.ids[1]])
    assert 0 < len(one) < len(ds)
    with pytest.raises(DataError, match="not in the corpus"):
        MultiTaskEpochs(st, tasks, vocab, recordings=["nope"])


def test_mixed_batches_train_an_eegpt(sim_store, vocab):
    st = Store(sim_store)
    ds = MultiTaskEpochs(st, {"ab": {"a": 0, "b": 1}, "ba": {"b": 0, "a": 1}}, vocab,
                         tmax=0.64, split="train")
    batch = next(iter(DataLoader(ds, 16, shuffle=True, collate_fn=pad_collate,
                                 generator=torch.Generator().manual_seed(0))))
    assert batch["x"].shape == (16, 8, 64) and batch["mask"].all()
    assert set(batch["task"]) == {"ab", "ba"}
    model = EEGPT(ds.n_classes, n_chans=len(vocab), preset="tiny", patch_len=16,
                  freeze_ete=False)
    objective = MultiTaskObjective()
    first, met = objective(model, batch)
    logits = torch.stack([model(batch["x"][i:i + 1], batch["sensors"]["ids"][i:i + 1],
                                batch["mask"][i:i + 1], t)[0] for i, t in enumerate(batch["task"])])
    assert float(met["acc"]) == pytest.approx(float((logits.argmax(-1) == batch["y"]).float()
                                                    .mean()))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(40):  # mixed-task batches train both heads: the batch is learned
        loss, met = objective(model, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * float(first) and float(met["acc"]) == 1.0


def test_pylossless_task_map_covers_four_binary_tasks():
    assert len(PYLOSSLESS_TASKS) == 4
    assert all(set(m.values()) == {0, 1} for m in PYLOSSLESS_TASKS.values())
