"""The run folder names every path of a run and reads its parts with clear errors."""

import json

import pytest

from neuroseq.errors import NeuroseqError
from neuroseq.training.run_folder import RunFolder


def test_parts_round_trip_and_missing_or_corrupt_parts_are_named(tmp_path):
    run = RunFolder(tmp_path / "run").create()
    assert run.info() == {}  # before training has written run.json
    with pytest.raises(NeuroseqError, match="not a finished run directory .meta.json, model"):
        run.require("meta", "model")
    run.write_meta({"system": "gpt2meg", "stage": "pretrain"})
    run.write_results({"acc": 0.5})
    assert run.meta()["system"] == "gpt2meg" and run.results() == {"acc": 0.5}
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["stage"] == "pretrain"
    assert run.model_dir == tmp_path / "run" / "model"
    assert run.checkpoint("best") == tmp_path / "run" / "checkpoints" / "best.ckpt"
    (tmp_path / "run" / "meta.json").write_text("{not json")
    with pytest.raises(NeuroseqError, match="corrupt"):
        run.meta()
    with pytest.raises(NeuroseqError, match="no saved model"):
        run.model_config()
    assert run.tokenizer() is None and str(run) == str(tmp_path / "run")
