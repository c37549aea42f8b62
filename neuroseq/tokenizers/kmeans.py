"""k-means tokenizer: a learned codebook of short per-channel segments.

Each channel is robust-scaled (median / IQR fitted on training data) and clipped, cut into
segments of ``segment`` samples every ``hop`` samples, and each segment is replaced by the index
of its nearest centroid (scikit-learn ``MiniBatchKMeans``, shared across channels).  Decoding
overlap-adds the centroids with a ``sin²`` window, which sums to one at 50 % overlap, and
normalises by the summed weights, so any ``hop <= segment`` works.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from neuroseq.log import logger
from neuroseq.tokenizers.base import Tokenizer
from neuroseq.tokenizers.mulaw import robust_stats


def _window(n: int) -> torch.Tensor:
    return torch.sin(torch.pi * (torch.arange(n, dtype=torch.float32) + 0.5) / n) ** 2


class KMeansTokenizer(Tokenizer):
    """Per-channel segment codebook.

    Parameters
    ----------
    vocab_size : int
        Number of centroids.
    segment : int
        Samples per segment.
    hop : int | None
        Samples between segment starts (default ``segment // 2``, i.e. 50 % overlap).
    clip : float | None
        Clip at ±``clip`` robust units before clustering.
    max_fit_segments : int
        Segments (randomly drawn) used to fit the codebook.
    seed : int
        Seed of the segment draw and of k-means.
    """

    kind: ClassVar[str] = "kmeans"

    def __init__(self, vocab_size: int = 1024, segment: int = 8, hop: int | None = None,
                 clip: float | None = 4.0, max_fit_segments: int = 200_000, seed: int = 0) -> None:
        super().__init__()
        hop = max(1, segment // 2) if hop is None else hop
        if not 1 <= hop <= segment:
            raise ValueError(f"need 1 <= hop <= segment, got hop={hop}, segment={segment}.")
        if vocab_size < 2:
            raise ValueError(f"vocab_size must be at least 2, got {vocab_size}.")
        self._vocab, self.segment, self._hop = int(vocab_size), int(segment), int(hop)
        self.clip, self.max_fit_segments, self.seed = clip, int(max_fit_segments), int(seed)
        self.center = self.scale = None
        self.centroids: torch.Tensor | None = None
        self.inertia: float | None = None

    @property
    def vocab_size(self) -> int:
        return self._vocab

    @property
    def hop(self) -> int:
        return self._hop

    def config(self) -> dict[str, Any]:
        return {"vocab_size": self._vocab, "segment": self.segment, "hop": self._hop,
                "clip": self.clip, "max_fit_segments": self.max_fit_segments, "seed": self.seed}

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        c = torch.from_numpy(self.center.astype(np.float32))[:, None]
        s = torch.from_numpy(self.scale.astype(np.float32))[:, None]
        z = (x - c) / s
        return z.clamp_(-self.clip, self.clip) if self.clip is not None else z

    def _segments(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, C, T]`` to ``[B, C, F, segment]``; the end is padded by repeating the edge."""
        t = z.shape[-1]
        n_frames = max(1, -(-t // self._hop))
        pad = (n_frames - 1) * self._hop + self.segment - t
        z = F.pad(z, (0, pad), mode="replicate") if pad > 0 else z
        return z.unfold(-1, self.segment, self._hop)[..., :n_frames, :]

    def _fit(self, arrays: list[np.ndarray], **kwargs: Any) -> None:
        from sklearn.cluster import MiniBatchKMeans

        self.center, self.scale, _ = robust_stats(arrays)
        rng = np.random.default_rng(self.seed)
        frames = [a.shape[0] * max(1, (a.shape[1] - self.segment) // self._hop + 1)
                  for a in arrays if a.shape[1] >= self.segment]
        total = sum(frames)
        if total < self._vocab:
            raise ValueError(f"only {total} training segments for {self._vocab} centroids; "
                             "fit on more data or lower vocab_size.")
        parts = []
        for a in (a for a in arrays if a.shape[1] >= self.segment):
            z = self._scaled(torch.from_numpy(a)).numpy()
            n_fr = (a.shape[1] - self.segment) // self._hop + 1
            k = min(a.shape[0] * n_fr, int(np.ceil(self.max_fit_segments * a.shape[0] * n_fr
                                                    / total)))
            pick = rng.choice(a.shape[0] * n_fr, k, replace=False)
            ch, fr = np.divmod(pick, n_fr)
            idx = fr[:, None] * self._hop + np.arange(self.segment)
            parts.append(z[ch[:, None], idx])
        data = np.concatenate(parts)
        logger.info("k-means: %d centroids on %d segments of %d samples", self._vocab, len(data),
                    self.segment)
        km = MiniBatchKMeans(n_clusters=self._vocab, batch_size=max(4096, 2 * self._vocab),
                             n_init=3, random_state=self.seed, **kwargs).fit(data)
        self.centroids = torch.from_numpy(km.cluster_centers_.astype(np.float32))
        self.inertia = float(km.inertia_) / len(data)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        segs = self._segments(self._scaled(x))
        flat = segs.reshape(-1, self.segment)
        c = self.centroids
        c2 = (c * c).sum(1)
        out = torch.empty(len(flat), dtype=torch.int32)
        step = max(1, (1 << 24) // self._vocab)  # bound the distance matrix to ~64 MB
        for i in range(0, len(flat), step):
            s = flat[i:i + step]
            out[i:i + step] = torch.addmm(c2, s, c.T, alpha=-2.0).argmin(1)
        return out.reshape(segs.shape[:-1])

    def _decode(self, codes: torch.Tensor) -> torch.Tensor:
        b, ch, n = codes.shape
        w = _window(self.segment)
        segs = (self.centroids[codes.long()] * w).reshape(b * ch, n, self.segment).transpose(1, 2)
        length = (n - 1) * self._hop + self.segment
        fold = {"output_size": (1, length), "kernel_size": (1, self.segment),
                "stride": (1, self._hop)}
        y = F.fold(segs, **fold)
        norm = F.fold(w[None, :, None].expand(1, -1, n).contiguous(), **fold)
        y = (y / norm.clamp_min(1e-6)).reshape(b, ch, length)[..., :n * self._hop]
        c = torch.from_numpy(self.center.astype(np.float32))[:, None]
        s = torch.from_numpy(self.scale.astype(np.float32))[:, None]
        return y * s + c

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"center": torch.from_numpy(self.center), "scale": torch.from_numpy(self.scale),
                "centroids": self.centroids}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.center = state["center"].double().numpy()
        self.scale = state["scale"].double().numpy()
        self.centroids = state["centroids"].float()
        if self.centroids.shape != (self._vocab, self.segment):
            raise ValueError(f"centroids of shape {tuple(self.centroids.shape)} do not match "
                             f"vocab_size={self._vocab}, segment={self.segment}.")
