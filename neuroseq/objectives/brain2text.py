"""Brain-to-text objectives, one per training phase, and distillation.

- :class:`MaskedReconstruction` (phase 1): hide a share of the encoder's frames, reconstruct
  every real sensor's signal there; reported beside the all-zero prediction (``r2``).
- :class:`QuantizerFit` (phase 2, encoder frozen): the RVQ's commitment loss, its
  codebook-usage (entropy) loss and the reconstruction of the frozen features from the
  quantised ones; per-level code perplexity logged.
- :class:`TextLoss` (phase 3): the LLM's cross-entropy on the sentence's tokens after the MEG
  prefix (teacher forcing is how a language model is *trained*; evaluation never uses it).
- :class:`Distillation`: :class:`TextLoss` plus the KL divergence from a trained teacher run's
  token distributions (temperature ``T``, weight ``alpha``), and optionally matching the
  teacher's encoder features.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from neuroseq.models.brain2text import Brain2Text


def lm_cross_entropy(logits: torch.Tensor, ids: torch.Tensor, valid: torch.Tensor
                     ) -> torch.Tensor:
    """Mean cross-entropy over the valid text tokens."""
    return F.cross_entropy(logits[valid].float(), ids[valid])


def text_targets(model: Brain2Text, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's ``text_ids`` and ``text_valid`` (on the logits' device), or a clear error."""
    if "text_ids" not in batch:
        raise ValueError("the batch has no text_ids: batch sentences with "
                         "neuroseq.data.collate.TextCollate(model.tokenizer).")
    dev = model.meg_open.device
    return batch["text_ids"].to(dev), batch["text_valid"].to(dev)


def frame_mask(b: int, n_frames: int, ratio: float, generator: torch.Generator | None = None
               ) -> torch.Tensor:
    """``[b, n_frames]`` bool, ``round(ratio · n_frames)`` (≥ 1) random frames per row."""
    k = max(1, int(round(ratio * n_frames)))
    order = torch.rand(b, n_frames, generator=generator).argsort(-1)
    return order < k


class MaskedReconstruction:
    """Phase 1: masked-autoencoder loss of the MEG encoder (MSE on the hidden frames)."""

    def __init__(self, ratio: float = 0.5) -> None:
        if not 0 < ratio < 1:
            raise ValueError(f"objective.mask_ratio must be in (0, 1), got {ratio}.")
        self.ratio = ratio

    def __call__(self, model: Brain2Text, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x = batch["x"]
        hidden = frame_mask(len(x), model.n_frames(x.shape[-1]), self.ratio).to(x.device)
        rec = model(batch | {"frame_mask": hidden})["reconstruction"]
        target = x[..., : rec.shape[-1]]
        sel = hidden.repeat_interleave(model.stride, -1)[:, None, :] & batch["mask"][..., None]
        mse = ((rec - target) ** 2)[sel].mean()
        zero = (target ** 2)[sel].mean().detach()
        return mse, {"mse": mse.detach(), "mse_zero": zero, "r2": 1 - mse.detach() / zero}


class _Weighted:
    """An objective with the RVQ commitment loss's weight."""

    def __init__(self, commitment_weight: float = 0.0) -> None:
        self.commitment_weight = commitment_weight


class QuantizerFit(_Weighted):
    """Phase 2: fit the residual VQ on the (frozen) encoder's features."""

    def __init__(self, commitment_weight: float = 0.25) -> None:
        super().__init__(commitment_weight)

    def __call__(self, model: Brain2Text, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = model(batch)
        parts, h = out["vq"], out["features"].detach()
        recon = F.mse_loss(out["feature_reconstruction"], h)
        loss = recon + self.commitment_weight * parts["commitment"] + \
            model.diversity_weight * parts["diversity"]
        metrics = {k: v.detach() for k, v in parts.items()}
        metrics |= {"recon": recon.detach(), "recon_rel": recon.detach() / h.var()}
        return loss, metrics


class TextLoss(_Weighted):
    """Phase 3: cross-entropy of the sentence's tokens given the MEG prefix."""

    def __call__(self, model: Brain2Text, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = model(batch)
        ids, valid = text_targets(model, batch)
        logits = out["logits"]
        ce = lm_cross_entropy(logits, ids, valid)
        acc = (logits.argmax(-1) == ids)[valid].float().mean()
        loss = ce + self.commitment_weight * out["vq"]["commitment"]
        return loss, {"ce": ce.detach(), "token_acc": acc}


class Distillation(TextLoss):
    """:class:`TextLoss` plus ``alpha · T² · KL(teacher ‖ student)`` on the text tokens and,
    with ``feature_weight > 0``, the MSE between the student's and teacher's encoder features
    (when their widths agree).  The teacher is frozen and in eval mode."""

    def __init__(self, teacher: Brain2Text, *, alpha: float = 0.5, temperature: float = 2.0,
                 feature_weight: float = 0.0, commitment_weight: float = 0.0) -> None:
        super().__init__(commitment_weight)
        self.teacher = teacher.eval().requires_grad_(False)
        self.alpha, self.t, self.feature_weight = alpha, temperature, feature_weight
        self._same_tokenizer: bool | None = None

    def __call__(self, model: Brain2Text, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self._same_tokenizer is None:
            self._same_tokenizer = self.teacher.tokenizer.get_vocab() == \
                model.tokenizer.get_vocab()
        if not self._same_tokenizer:
            raise ValueError("the teacher's tokenizer differs from the student's; distillation "
                             "needs the same LLM tokenizer.")
        out = model(batch)
        ids, valid = text_targets(model, batch)
        logits = out["logits"]
        ce = lm_cross_entropy(logits, ids, valid)
        with torch.no_grad():
            t_out = self.teacher(batch)
            t_logits = t_out["logits"]
        s = F.log_softmax(logits[valid].float() / self.t, -1)
        t = F.log_softmax(t_logits[valid].float() / self.t, -1)
        kl = F.kl_div(s, t, log_target=True, reduction="batchmean") * self.t ** 2
        loss = (1 - self.alpha) * ce + self.alpha * kl + \
            self.commitment_weight * out["vq"]["commitment"]
        metrics = {"ce": ce.detach(), "kl": kl.detach()}
        if self.feature_weight > 0 and out["features"].shape == t_out["features"].shape:
            feat = F.mse_loss(out["features"], t_out["features"])
            loss = loss + self.feature_weight * feat
            metrics["feature_mse"] = feat.detach()
        return loss, metrics
