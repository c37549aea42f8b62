"""Transformer building blocks shared by the models.

* :class:`KVCache`, :class:`RollingKVCache`, :class:`CausalSelfAttention`, :class:`Block` —
  GPT-2 blocks with a KV cache (GPT2MEG), optionally with rotary positions and a rolling cache.
* :func:`rope`, :class:`SwiGLU`, :class:`RopeBlock` — pre-RMSNorm blocks with rotary positions
  and a gated FFN (EEGPT's ETE; MEG-XL's and brain-to-text's encoders reuse them).

The block is GPT-2's (pre-LayerNorm, fused QKV, GELU-tanh MLP of width 4·E), so a
``transformers.GPT2Model`` state dict maps onto it one to one (tested).  Attention runs through
``torch.nn.functional.scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KVCache:
    """Preallocated keys and values for every layer: ``[N, H, max_len, D]`` each.

    ``length`` is the number of positions filled; :meth:`reset` empties it without freeing.
    ``state`` holds whatever else a model carries between steps (GPT2MEG's ``local_conv``
    keeps its last inputs there); :meth:`reset` clears it too.
    """

    def __init__(self, n_layers: int, n: int, n_heads: int, max_len: int, head_dim: int, *,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        shape = (n, n_heads, max_len, head_dim)
        self.k = [torch.empty(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.v = [torch.empty(shape, device=device, dtype=dtype) for _ in range(n_layers)]
        self.max_len, self.length = max_len, 0
        self.state: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget all positions."""
        self.length, self.state = 0, None

    def rows(self, a: int, b: int) -> KVCache:
        """A cache over sequences ``a:b`` that shares this one's buffers and length.

        Writing through it fills those rows here; its ``length`` is its own, so the caller
        advances this cache's ``length`` once all row blocks are done.
        """
        view = KVCache.__new__(KVCache)
        view.k = [k[a:b] for k in self.k]
        view.v = [v[a:b] for v in self.v]
        view.max_len, view.length, view.state = self.max_len, self.length, None
        return view

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Store ``k, v`` ``[N, H, T, D]`` after the filled part; return the keys/values so far."""
        a, b = self.length, self.length + k.shape[2]
        if b > self.max_len:
            raise ValueError(f"KV cache overflow: {b} positions, room for {self.max_len}.")
        self.k[layer][:, :, a:b] = k
        self.v[layer][:, :, a:b] = v
        return self.k[layer][:, :, :b], self.v[layer][:, :, :b]


class RollingKVCache(KVCache):
    """A ring buffer of keys and values: the first ``sink`` positions stay, the other slots
    hold the latest ``max_len − sink`` positions, so a stream of any length is never
    re-encoded — each step evicts the oldest position.

    For models with relative positions (RoPE): keys are stored rotated at their absolute
    positions, so where a key sits in the buffer does not matter.  Attention always runs over
    every slot with :attr:`mask` (``[T, max_len]``: filled and not later than the query), so a
    decode step has the same shapes every time.  Call :meth:`begin` once per forward pass
    before the layers append.  The next position is also kept as a device tensor
    (:attr:`next_pos`) and a one-token step touches only preallocated buffers at fixed
    addresses, so a CUDA graph can capture it (:mod:`neuroseq.generation.decode_step`).
    """

    def __init__(self, n_layers: int, n: int, n_heads: int, max_len: int, head_dim: int, *,
                 sink: int = 0, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__(n_layers, n, n_heads, max_len, head_dim, device=device, dtype=dtype)
        if not 0 <= sink < max_len:
            raise ValueError(f"sink must be in 0…{max_len - 1}, got {sink}.")
        for buf in self.k + self.v:  # empty slots are masked, but must not hold NaN
            buf.zero_()
        self.sink = sink
        self.slot_pos = torch.full((max_len,), -1, dtype=torch.long, device=device)
        self.next_pos = torch.zeros((), dtype=torch.long, device=device)
        self.slots: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.slot_pos.fill_(-1)
        self.next_pos.zero_()

    def begin(self, t: int) -> torch.Tensor:
        """Give the next ``t`` positions their slots; return those absolute positions."""
        if t > 1 and self.length + t > self.max_len:
            raise ValueError(f"a chunk of {t} positions after {self.length} would evict keys "
                             f"its own queries need (room for {self.max_len}); feed positions "
                             "past the buffer one at a time.")
        pos = self.next_pos + torch.arange(t, device=self.slot_pos.device)
        self.next_pos += t
        ring = self.max_len - self.sink
        self.slots = torch.where(pos < self.sink, pos, self.sink + (pos - self.sink) % ring)
        self.slot_pos.index_copy_(0, self.slots, pos)
        sp = self.slot_pos[None]
        self.mask = (sp >= 0) & (sp <= pos[:, None])
        return pos

    def rows(self, a: int, b: int) -> RollingKVCache:
        view = RollingKVCache.__new__(RollingKVCache)
        view.k = [k[a:b] for k in self.k]
        view.v = [v[a:b] for v in self.v]
        view.max_len, view.length, view.state, view.sink = (self.max_len, self.length, None,
                                                            self.sink)
        view.slot_pos, view.slots, view.mask = self.slot_pos, self.slots, self.mask
        view.next_pos = self.next_pos
        return view

    def append(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Write ``k, v`` into this pass's slots; return every slot (see :attr:`mask`)."""
        if self.slots is None or len(self.slots) != k.shape[2]:
            raise RuntimeError("RollingKVCache.begin(t) must be called before appending.")
        self.k[layer].index_copy_(2, self.slots, k.to(self.k[layer].dtype))
        self.v[layer].index_copy_(2, self.slots, v.to(self.v[layer].dtype))
        return self.k[layer], self.v[layer]


def one_query_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                        mask: torch.Tensor | None = None) -> torch.Tensor:
    """Attention of a single query per row (a decode step): ``q`` ``[N, H, 1, D]`` over ``k, v``
    ``[N, H, T, D]``, ``mask`` ``[1, T]`` (True: attend).  Two batched matrix-vector products;
    on CPU faster than the fused kernel, which is tiled for many queries."""
    s = torch.matmul(q, k.transpose(-1, -2)).mul_(q.shape[-1] ** -0.5)
    if mask is not None:
        s.masked_fill_(~mask, float("-inf"))
    return torch.matmul(s.softmax(-1), v)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention over the time axis of ``[N, T, E]``; ``rope=True``
    rotates queries and keys by their positions (relative positions) instead of relying on
    learned position embeddings added to the input."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0,
                 rope: bool = False) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}.")
        if rope and (d_model // n_heads) % 2:
            raise ValueError(f"RoPE needs an even head size; {d_model}/{n_heads} is odd.")
        self.n_heads, self.head_dim, self.dropout = n_heads, d_model // n_heads, dropout
        self.rope = rope
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        n, t, e = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.rope:
            q, k = rope(q, positions=positions), rope(k, positions=positions)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(layer, k, v)
        p = self.dropout if self.training else 0.0
        if t == 1 and cache is not None and x.device.type == "cpu":
            y = one_query_attention(q, k, v, cache.mask if isinstance(cache, RollingKVCache)
                                    else None)
        elif isinstance(cache, RollingKVCache):
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=cache.mask, dropout_p=p)
        elif past == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=t > 1)
        elif t == 1:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        else:  # a chunk after cached positions: causal with an offset
            mask = torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.proj(y.transpose(1, 2).reshape(n, t, e))


class MLP(nn.Module):
    """GPT-2 feed-forward: Linear → GELU (tanh) → Linear."""

    def __init__(self, d_model: int, ratio: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc = nn.Linear(d_model, ratio * d_model)
        self.proj = nn.Linear(ratio * d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x), approximate="tanh")))


class Block(nn.Module):
    """Pre-LayerNorm transformer block (GPT-2)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, ratio: int = 4,
                 eps: float = 1e-5, rope: bool = False) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model, eps=eps)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout, rope)
        self.ln2 = nn.LayerNorm(d_model, eps=eps)
        self.mlp = MLP(d_model, ratio, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0,
                positions: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x), cache, layer, positions))
        return x + self.mlp(self.ln2(x))


class AcrossChannels(nn.Module):
    """Non-causal attention across channels at each time step of ``[B, C, T, E]`` (extension)."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        b, c, t, e = x.shape
        h = self.ln(x).transpose(1, 2).reshape(b * t, c, e)
        mask = None if pad is None else pad.repeat_interleave(t, dim=0)
        y = self.attn(h, h, h, key_padding_mask=mask, need_weights=False)[0]
        return x + y.reshape(b, t, c, e).transpose(1, 2)


def rope(x: torch.Tensor, base: float = 10000.0,
         positions: torch.Tensor | None = None) -> torch.Tensor:
    """Rotary position embedding of ``[N, H, T, D]`` (D even), halves rotated, at ``positions``
    ``[T]`` (default 0…T−1; angles in float64, so positions of hour-long streams keep their
    precision)."""
    t, d = x.shape[-2], x.shape[-1]
    dt = torch.float32 if positions is None else torch.float64  # short windows: float32
    inv = base ** (-torch.arange(0, d, 2, device=x.device, dtype=dt) / d)
    pos = torch.arange(t, device=x.device) if positions is None else positions
    ang = pos.to(dt)[:, None] * inv  # [T, D/2]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    a, b = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class SwiGLU(nn.Module):
    """``W_down(SiLU(W_gate x) ⊙ W_up x)``."""

    def __init__(self, d_model: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, hidden, bias=False)
        self.up = nn.Linear(d_model, hidden, bias=False)
        self.down = nn.Linear(hidden, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class RopeBlock(nn.Module):
    """Pre-RMSNorm causal self-attention with RoPE, then SwiGLU; residuals around both."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads or (d_model // n_heads) % 2:
            raise ValueError(f"d_model {d_model} must split into {n_heads} heads of even size.")
        self.h, self.dropout = n_heads, dropout
        self.n1, self.n2 = nn.RMSNorm(d_model), nn.RMSNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.ffn = SwiGLU(d_model, int(8 * d_model / 3 + 7) // 8 * 8)

    def forward(self, x: torch.Tensor, causal: bool = True) -> torch.Tensor:
        n, t, e = x.shape
        q, k, v = self.qkv(self.n1(x)).view(n, t, 3, self.h, e // self.h).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + self.proj(y.transpose(1, 2).reshape(n, t, e))
        return x + self.ffn(self.n2(x))


def sensor_query_pool(query: nn.Module, h: torch.Tensor, real: torch.Tensor,
                      dim: int) -> torch.Tensor:
    """Learned-query pooling over the sensor axis ``dim`` of ``h [..., d]``: ``query``
    (``Linear(d, Q)``) scores every sensor once per query, padded sensors (``real``, bool,
    broadcastable to ``h``'s shape with a last axis of 1, False) get no weight, and each query's
    softmax over the sensors averages them.  Returns ``h``'s shape without the sensor axis, with
    ``[Q, d]`` last (MEG-XL's encoder for brain-to-text and its word head pool this way)."""
    letters = "abefghijklmnoprstuvwxyz"[: h.ndim - 1]
    dim = dim % h.ndim
    axes = letters[:dim] + "c" + letters[dim:-1]
    kept = axes.replace("c", "")
    score = query(h).masked_fill(~real, float("-inf")).softmax(dim)
    return torch.einsum(f"{axes}q,{axes}d->{kept}qd", score, h)
