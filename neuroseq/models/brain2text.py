"""Brain-to-text, LLaVA-style: MEG encoder → residual VQ → projector → causal LLM with LoRA.

Facts: ``../shared/seeds/003_*.txt``.  The MEG segment's encoder features
(:class:`~neuroseq.models.meg_encoder.MEGEncoder`) are projected to the quantizer's width and
quantised by the shared residual VQ (seed: 8 levels × 8192 codes × 256 dimensions); a two-layer
projector maps every quantised frame to the LLM's width, and the LLM reads::

    <s> <meg> [one vector per MEG frame] </meg> text … </s>

``<meg>`` and ``</meg>`` are special tokens of the tokenizer; their input vectors are learned
here.  The LLM is frozen but for its LoRA adapters.  The text is scored by the LLM's loss on the
text tokens only.  The honest controls' inputs (noise, another sentence's MEG, an empty
``<meg></meg>`` block: the LLM alone) are made by :mod:`neuroseq.evaluation.arms`.

Saving: ``config.json`` + ``model.safetensors`` (everything but the LLM) and ``adapter/`` (the
LoRA adapters alone, ``peft``'s format); the LLM itself is read again from its name.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from neuroseq.data.collate import EncodeCollate, pad_collate, text_ids
from neuroseq.errors import FormatError
from neuroseq.models.causal_lm import MEG_TOKENS, add_lora, load_causal_lm, load_lora
from neuroseq.models.meg_encoder import MEGEncoder
from neuroseq.models.quantizers import ResidualQuantizer

QUANTIZER_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"n_q": 8, "codebook_size": 8192, "dim": 256},
    "tiny": {"n_q": 4, "codebook_size": 64, "dim": 64},
}


ENCODERS = ("conv", "megxl")


def build_encoder(cfg: dict[str, Any]) -> nn.Module:
    """The MEG encoder named by ``cfg["kind"]`` (see :class:`Brain2Text`); an encoder made of
    other runs' parts (``megxl``) is built by the system and passed to :class:`Brain2Text`."""
    c = dict(cfg)
    kind = c.pop("kind", "conv")
    if kind == "conv":
        return MEGEncoder(**c)
    if kind == "megxl":
        raise ValueError("model.encoder.kind=megxl is built from a MEG-XL run's codec and "
                         "backbone: pass it as Brain2Text(..., encoder=MEGXLEncoder(codec, "
                         "backbone)) (neuroseq.training.parts.load_encoder reads them).")
    raise ValueError(f"unknown encoder kind {kind!r}; known: {ENCODERS}.")


class Brain2Text(nn.Module):
    """The whole model; the LLM is attached for the text phase (:meth:`attach_llm`).

    Parameters
    ----------
    encoder : dict
        ``kind``: ``conv`` (default, :class:`MEGEncoder`: ``preset`` and overrides) or
        ``megxl`` (:class:`~neuroseq.models.megxl_encoder.MEGXLEncoder` over a MEG-XL run
        ``from_run``, with ``n_queries``: passed in as ``encoder_module``).
    quantizer : dict
        ``preset`` (``paper`` / ``tiny``) and overrides of ``n_q``, ``codebook_size``, ``dim``;
        ``diversity_weight`` (codebook-usage entropy loss weight).
    llm : dict
        ``name`` (see :mod:`neuroseq.models.causal_lm`), ``lora_r``, ``lora_alpha``,
        ``lora_dropout``, ``lora_targets``.
    encoder_module : nn.Module, optional
        The encoder itself, when it is made of other runs' parts (saved weights load into it).
    """

    def __init__(self, encoder: dict[str, Any], quantizer: dict[str, Any],
                 llm: dict[str, Any], encoder_module: nn.Module | None = None) -> None:
        super().__init__()
        self.config = {"encoder": dict(encoder), "quantizer": dict(quantizer), "llm": dict(llm)}
        self.encoder = encoder_module if encoder_module is not None else build_encoder(encoder)
        q = dict(quantizer)
        q = QUANTIZER_PRESETS[q.pop("preset", "tiny")] | q
        self.diversity_weight = float(q.pop("diversity_weight", 0.0))
        self.vq_dim = int(q["dim"])
        self.pre_vq = nn.Linear(self.encoder.d_model, self.vq_dim)
        self.post_vq = nn.Linear(self.vq_dim, self.encoder.d_model)
        self.quantizer = ResidualQuantizer(self.vq_dim, int(q["n_q"]), int(q["codebook_size"]),
                                           self.vq_dim, diversity_weight=self.diversity_weight)
        self.llm: nn.Module | None = None
        self.tokenizer: Any = None

    # -- the training seam -------------------------------------------------------------------
    @property
    def stride(self) -> int:
        """Samples per encoder frame."""
        return int(self.encoder.stride)

    def n_frames(self, n_samples: int) -> int:
        """Encoder frames of a segment of ``n_samples``."""
        return int(self.encoder.n_frames(n_samples))

    def collate_fn(self) -> Any:
        """How items become this model's batches: :func:`~neuroseq.data.collate.pad_collate`,
        or, for an encoder that reads codes (MEG-XL's), an
        :class:`~neuroseq.data.collate.EncodeCollate` with its frozen codec (each segment coded
        once, whole frames only)."""
        if self.encoder.reads == "x":
            return pad_collate
        return EncodeCollate(self.encoder.codec, self.encoder.reads, keep_signal=True,
                             cache=True, whole_frames=True)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Everything an objective reads, in one dict.

        With ``batch["frame_mask"]`` ``[B, F]`` (phase 1): ``features`` of the encoder with
        those frames hidden and the ``reconstruction`` ``[B, C, F · stride]`` of every sensor.
        Otherwise: ``features`` ``[B, F, d]``, ``quantized``, ``codes``, ``vq`` (the quantizer's
        loss parts and per-level perplexities) and ``feature_reconstruction`` (the features
        back from the codes); with an LLM attached and ``text_ids`` / ``text_valid`` in the
        batch (:class:`~neuroseq.data.collate.TextCollate`), also the ``logits`` ``[B, L, V]``
        predicting each text token after the MEG prefix (teacher forcing: training and
        likelihood scoring only — decoding is :meth:`generate`).
        """
        hidden = batch.get("frame_mask")
        h = self.encoder(batch[self.encoder.reads], batch["sensors"], batch["mask"], hidden)
        if hidden is not None:
            return {"features": h,
                    "reconstruction": self.encoder.reconstruct(h, batch["sensors"],
                                                               batch["mask"])}
        q, codes, parts = self.quantizer.losses(self.pre_vq(h))
        out = {"features": h, "quantized": q, "codes": codes, "vq": parts,
               "feature_reconstruction": self.post_vq(q)}
        if self.llm is not None and "text_ids" in batch:
            out["logits"] = self.text_logits(self.projector(q), batch["text_ids"],
                                             batch["text_valid"])
        return out

    # -- MEG side ---------------------------------------------------------------------------
    def quantize(self, batch: dict[str, Any], frame_mask: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """``(quantised [B, F, dim], codes [B, F, n_q], loss parts, features [B, F, d])``."""
        h = self.encoder(batch[self.encoder.reads], batch["sensors"], batch["mask"], frame_mask)
        q, codes, parts = self.quantizer.losses(self.pre_vq(h))
        return q, codes, parts, h

    # -- LLM side ---------------------------------------------------------------------------
    def attach_llm(self, adapter_dir: str | Path | None = None) -> None:
        """Load the LLM, add the projector, ``<meg>``/``</meg>`` vectors and LoRA adapters
        (new, or those saved in ``adapter_dir``)."""
        c = self.config["llm"]
        model, self.tokenizer = load_causal_lm(c["name"])
        width = model.config.hidden_size
        self.projector = nn.Sequential(nn.Linear(self.vq_dim, width), nn.GELU(),
                                       nn.Linear(width, width))
        emb = model.get_input_embeddings().weight.detach()
        scale = emb[: -len(MEG_TOKENS)].std()
        self.meg_open = nn.Parameter(torch.randn(width) * scale)
        self.meg_close = nn.Parameter(torch.randn(width) * scale)
        if adapter_dir is not None:
            self.llm = load_lora(model, adapter_dir)
        else:
            self.llm = add_lora(model, r=int(c.get("lora_r", 8)),
                                alpha=int(c.get("lora_alpha", 16)),
                                dropout=float(c.get("lora_dropout", 0.05)),
                                targets=c.get("lora_targets"))
        self.llm.train(self.training)

    def _need_llm(self) -> nn.Module:
        if self.llm is None:
            raise RuntimeError("no LLM attached: call attach_llm() (the text phase does).")
        return self.llm

    def meg_embeddings(self, batch: dict[str, Any]) -> torch.Tensor:
        """The projected MEG frames ``[B, F, width]`` of a batch (the controls' inputs — noise,
        another sentence's MEG, none — are made by :mod:`neuroseq.evaluation.arms`)."""
        q, *_ = self.quantize(batch)
        return self.projector(q)

    def prefix(self, meg: torch.Tensor | None, batch_size: int) -> torch.Tensor:
        """``<s> <meg> [MEG frames] </meg>`` as input vectors ``[B, P, width]``."""
        llm = self._need_llm()
        emb = llm.get_input_embeddings()
        dev = self.meg_open.device
        bos = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None \
            else self.tokenizer.eos_token_id
        start = emb(torch.full((batch_size, 1), bos, device=dev))
        parts = [start, self.meg_open.expand(batch_size, 1, -1)]
        if meg is not None:
            parts.append(meg)
        parts.append(self.meg_close.expand(batch_size, 1, -1))
        return torch.cat(parts, 1)

    def text_logits(self, meg: torch.Tensor | None, ids: torch.Tensor, valid: torch.Tensor
                    ) -> torch.Tensor:
        """Logits ``[B, L, V]`` predicting each token of ``ids [B, L]`` (valid where ``valid``)
        after the prefix of ``meg``."""
        llm = self._need_llm()
        ids, valid = ids.to(self.meg_open.device), valid.to(self.meg_open.device)
        pre = self.prefix(meg, len(ids))
        x = torch.cat([pre, llm.get_input_embeddings()(ids)], 1)
        att = torch.cat([torch.ones(pre.shape[:2], dtype=torch.long, device=x.device),
                         valid.long()], 1)
        logits = llm(inputs_embeds=x, attention_mask=att).logits
        p = pre.shape[1]
        return logits[:, p - 1: p - 1 + ids.shape[1]]

    @torch.no_grad()
    def log_likelihood(self, meg: torch.Tensor | None, texts: list[str]) -> torch.Tensor:
        """Total log-probability ``[B]`` of each text (EOS included) given its prefix."""
        ids, valid = text_ids(self.tokenizer, texts)
        ids, valid = ids.to(self.meg_open.device), valid.to(self.meg_open.device)
        logits = self.text_logits(meg, ids, valid)
        lp = logits.float().log_softmax(-1).gather(-1, ids[..., None])[..., 0]
        return (lp * valid).sum(-1)

    @torch.no_grad()
    def candidate_log_likelihoods(self, meg: torch.Tensor | None, candidates: list[str],
                                  batch_size: int) -> torch.Tensor:
        """Log-probability ``[B, C]`` of every candidate text (EOS included) after each item's
        prefix: what :meth:`log_likelihood` gives for ``[candidate] * B``, but the prefix is run
        through the LLM once and its keys and values are reused for every candidate."""
        import copy

        from transformers import DynamicCache

        llm = self._need_llm()
        pre = self.prefix(meg, batch_size)
        base = llm.get_base_model() if hasattr(llm, "get_base_model") else llm
        name = "cache" if "cache" in inspect.signature(base.forward).parameters \
            else "past_key_values"  # transformers ≥ 5.x names it ``cache``
        prefix_cache = DynamicCache()
        logits = llm(inputs_embeds=pre, use_cache=True, **{name: prefix_cache}).logits
        first = logits[:, -1].float().log_softmax(-1)  # predicts each text's first token
        n_pre = pre.shape[1]
        ids, valid = text_ids(self.tokenizer, candidates)
        rows = []
        for row, ok in zip(ids.to(pre.device), valid, strict=True):
            tok = row[: int(ok.sum())].expand(batch_size, -1)
            att = torch.ones(batch_size, n_pre + tok.shape[1], dtype=torch.long,
                             device=pre.device)
            logits = llm(input_ids=tok, attention_mask=att, use_cache=True,
                         **{name: copy.deepcopy(prefix_cache)}).logits
            rest = logits[:, :-1].float().log_softmax(-1).gather(-1, tok[:, 1:, None])[..., 0]
            rows.append(first.gather(-1, tok[:, :1])[:, 0] + rest.sum(-1))
        return torch.stack(rows, 1)

    @torch.no_grad()
    def generate(self, meg: torch.Tensor | None, batch_size: int, *, max_new_tokens: int = 32,
                 num_beams: int = 1, do_sample: bool = False, temperature: float = 1.0,
                 top_p: float = 1.0, seed: int = 0) -> list[str]:
        """Free-running decoding from the prefix alone (never teacher-forced)."""
        llm = self._need_llm()
        pre = self.prefix(meg, batch_size)
        att = torch.ones(pre.shape[:2], dtype=torch.long, device=pre.device)
        torch.manual_seed(seed)
        kw: dict[str, Any] = {"do_sample": do_sample, "num_beams": num_beams}
        if do_sample:
            kw |= {"temperature": temperature, "top_p": top_p}
        out = llm.generate(inputs_embeds=pre, attention_mask=att, max_new_tokens=max_new_tokens,
                           pad_token_id=self.tokenizer.pad_token_id,
                           eos_token_id=self.tokenizer.eos_token_id, **kw)
        return [t.strip() for t in self.tokenizer.batch_decode(out, skip_special_tokens=True)]

    # -- saving -----------------------------------------------------------------------------
    def save_pretrained(self, out_dir: str | Path) -> None:
        """``config.json``, ``model.safetensors`` (all but the LLM) and, with an LLM attached,
        its LoRA adapters in ``adapter/``."""
        from safetensors.torch import save_file

        from neuroseq.atomic import write_json_atomic

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self.state_dict().items()
                 if not k.startswith("llm.")}
        tmp = out / "model.safetensors.tmp"
        save_file(state, str(tmp))
        tmp.replace(out / "model.safetensors")
        if self.llm is not None:
            # the adapters alone: the resized embedding rows of <meg>/</meg> are not used (their
            # input vectors are meg_open / meg_close here)
            self.llm.save_pretrained(str(out / "adapter"), save_embedding_layers=False)
        write_json_atomic(out / "config.json", self.config | {"has_llm": self.llm is not None})

    @classmethod
    def from_pretrained(cls, run_model_dir: str | Path, *, with_llm: bool | None = None,
                        llm: dict[str, Any] | None = None,
                        encoder_module: nn.Module | None = None) -> Brain2Text:
        """A saved model; its LLM and adapters are attached when it was saved with them
        (``with_llm`` overrides: False skips the LLM, True attaches new adapters if none;
        ``llm`` overrides the saved LLM settings, e.g. for a model trained without one)."""
        from safetensors.torch import load_file

        d = Path(run_model_dir)
        cfg = json.loads((d / "config.json").read_text())
        model = cls(cfg["encoder"], cfg["quantizer"], cfg["llm"] | (llm or {}), encoder_module)
        attach = cfg.get("has_llm", False) if with_llm is None else with_llm
        if attach:
            adapter = d / "adapter" if (d / "adapter").is_dir() else None
            model.attach_llm(adapter)
        state = load_file(str(d / "model.safetensors"))
        if not attach:
            state = {k: v for k, v in state.items() if not k.startswith(
                ("projector.", "meg_open", "meg_close"))}
        missing, unexpected = model.load_state_dict(state, strict=False)
        fresh = ("llm.",) if cfg.get("has_llm") else ("llm.", "projector.", "meg_open",
                                                       "meg_close")
        missing = [k for k in missing if not k.startswith(fresh)]
        if missing or unexpected:
            raise FormatError(f"{d / 'model.safetensors'} does not match the Brain2Text that "
                              f"config.json describes: missing {len(missing)} tensors "
                              f"{missing[:4]}, unexpected {len(unexpected)} {unexpected[:4]}.")
        return model

