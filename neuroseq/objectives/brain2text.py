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

from neuroseq.models.brain2text import Brain2Text, lm_cross_entropy


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
        enc, x = model.encoder, batch["x"]
        n_frames = enc.n_frames(x.shape[-1])
        hidden = frame_mask(len(x), n_frames, self.ratio).to(x.device)
        h = enc(x, batch["sensors"], batch["mask"], hidden)
        rec = enc.reconstruct(h, batch["sensors"], batch["mask"])
        target = x[..., : rec.shape[-1]]
        sel = hidden.repeat_interleave(enc.stride, -1)[:, None, :] & batch["mask"][..., None]
        mse = ((rec - target) ** 2)[sel].mean()
        zero = (target ** 2)[sel].mean().detach()
        return mse, {"mse": mse.detach(), "mse_zero": zero, "r2": 1 - mse.detach() / zero}


class QuantizerFit:
    """Phase 2: fit the residual VQ on the (frozen) encoder's features."""

    def __init__(self, commitment_weight: float = 0.25) -> None:
        self.commitment_weight = commitment_weight

    def __call__(self, model: Brain2Text, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        q, _, parts, h = model.quantize(batch)
        h = h.detach()
        recon = F.mse_loss(model.post_vq(q), h)
        loss = recon + self.commitment_weight * parts["commitment"] + \
            model.diversity_weight * parts["diversity"]
        metrics = {k: v.detach() for k, v in parts.items()}
        metrics |= {"recon": recon.detach(), "recon_rel": recon.detach() / h.var()}
        return loss, metrics


def _meg_or_none(model: Brain2Text, batch: dict[str, Any]) -> tuple[torch.Tensor, dict]:
    q, _, parts, h = model.quantize(batch)
    return model.projector(q), parts | {"features": h}


class TextLoss:
    """Phase 3: cross-entropy of the sentence's tokens given the MEG prefix."""

    def __init__(self, commitment_weight: float = 0.0) -> None:
        self.commitment_weight = commitment_weight

    def __call__(self, model: Brain2Text, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        meg, parts = _meg_or_none(model, batch)
        logits, ids, valid = model.text_logits(meg, batch["text"])
        ce = lm_cross_entropy(logits, ids, valid)
        acc = (logits.argmax(-1) == ids)[valid].float().mean()
        loss = ce + self.commitment_weight * parts["commitment"]
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

    def __call__(self, model: Brain2Text, batch: dict[str, Any]
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        meg, parts = _meg_or_none(model, batch)
        logits, ids, valid = model.text_logits(meg, batch["text"])
        ce = lm_cross_entropy(logits, ids, valid)
        with torch.no_grad():
            t_meg, t_parts = _meg_or_none(self.teacher, batch)
            t_logits, t_ids, _ = self.teacher.text_logits(t_meg, batch["text"])
        if not torch.equal(t_ids, ids):
            raise ValueError("the teacher's tokenizer differs from the student's; distillation "
                             "needs the same LLM tokenizer.")
        s = F.log_softmax(logits[valid].float() / self.t, -1)
        t = F.log_softmax(t_logits[valid].float() / self.t, -1)
        kl = F.kl_div(s, t, log_target=True, reduction="batchmean") * self.t ** 2
        loss = (1 - self.alpha) * ce + self.alpha * kl + \
            self.commitment_weight * parts["commitment"]
        metrics = {"ce": ce.detach(), "kl": kl.detach()}
        if self.feature_weight > 0 and parts["features"].shape == t_parts["features"].shape:
            feat = F.mse_loss(parts["features"], t_parts["features"])
            loss = loss + self.feature_weight * feat
            metrics["feature_mse"] = feat.detach()
        return loss, metrics
