"""Model, tokenizer and objective keys are checked: a typo is a one-line error naming it and
the valid keys (exit 2 on the CLI), an old constructor name still loads with a deprecation."""

import pytest
from click.testing import CliRunner

from neuroseq import systems
from neuroseq.cli import main
from neuroseq.errors import NeuroseqError


@pytest.mark.parametrize(("config", "key", "hint"), [
    ("configs/gpt2meg_tiny.yaml", "model.n_layerz=2", "model.n_layers"),
    ("configs/eegpt_tiny.yaml", "objective.horizn=2", None),
    ("configs/megxl_tiny.yaml", "model.d_modle=8", "model.d_model"),
    ("configs/brain2text_tiny.yaml", "model.encoder.n_layer=1", "model.encoder.n_layers"),
    ("configs/brain2text_tiny.yaml", "model.quantizer.n_qq=2", "model.quantizer.n_q"),
])
def test_an_unknown_key_is_refused_naming_it_and_the_valid_ones(config, key, hint):
    with pytest.raises(NeuroseqError) as err:
        systems.load_config(config, [key])
    msg = str(err.value)
    assert key.split("=")[0] in msg and "valid" in msg
    if hint:
        assert f"did you mean {hint}?" in msg


def test_valid_keys_of_every_preset_load():
    import glob

    for path in glob.glob("configs/*.yaml"):
        if "sweep" in path:  # a sweep's grid file, not a system configuration
            continue
        systems.load_config(path)


def test_cli_says_it_in_one_line_with_exit_2(tmp_path):
    r = CliRunner().invoke(main, ["pretrain", "--config", "configs/gpt2meg_tiny.yaml",
                                  "data.store=x.zarr", "model.n_layerz=2", "-o",
                                  str(tmp_path / "r")])
    assert r.exit_code == 2 and "Traceback" not in r.output and "TypeError" not in r.output
    assert "model.n_layerz" in r.output and "n_layers" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_an_old_constructor_name_is_renamed_with_a_deprecation():
    with pytest.warns(DeprecationWarning, match="n_chans"):
        cfg = systems.load_config("configs/eegpt_tiny.yaml", ["model.n_electrodes=50"])
    assert cfg["model"]["n_chans"] == 50 and "n_electrodes" not in cfg["model"]
