"""Model folders load strictly: a weights file that does not match its config is refused."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from neuroseq.errors import FormatError
from neuroseq.models.crisscross import CrissCross
from neuroseq.models.gpt2meg import GPT2MEG


def _tiny(width: int = 16) -> GPT2MEG:
    return GPT2MEG(n_chans=4, d_model=width, n_layers=1, n_heads=2, context=32, preset=None)


def test_a_saved_model_loads_back_equal_and_prints_nothing(tmp_path, capsys):
    torch.manual_seed(0)
    model = _tiny()
    model.save_pretrained(tmp_path)
    back = GPT2MEG.from_pretrained(tmp_path)
    assert capsys.readouterr().out == ""
    for (k, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_missing_and_unexpected_tensors_are_named_not_left_random(tmp_path):
    _tiny().save_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    gone = sorted(weights)[0]
    del weights[gone]
    weights["head.extra"] = torch.zeros(3)
    save_file(weights, str(tmp_path / "model.safetensors"))
    with pytest.raises(FormatError, match="missing 1 tensors") as err:
        GPT2MEG.from_pretrained(tmp_path)
    assert gone in str(err.value) and "unexpected 1 tensors (head.extra)" in str(err.value)
    GPT2MEG.from_pretrained(tmp_path, strict=False)  # asked for explicitly


def test_weights_of_another_size_are_refused(tmp_path):
    _tiny(32).save_pretrained(tmp_path / "wide")
    _tiny(16).save_pretrained(tmp_path / "narrow")
    (tmp_path / "wide" / "config.json").write_text((tmp_path / "narrow" / "config.json")
                                                   .read_text())
    with pytest.raises(FormatError, match="shapes differ.*size mismatch"):
        GPT2MEG.from_pretrained(tmp_path / "wide")


def test_a_folder_without_weights_says_so(tmp_path):
    CrissCross(n_levels=1, codebook_size=8, d_model=16, n_layers=1, n_heads=2,
               preset=None).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(FormatError, match="no model.safetensors"):
        CrissCross.from_pretrained(tmp_path)
