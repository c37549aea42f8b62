"""One decode step of a rolling-cache model with fixed shapes: eager, compiled or a CUDA graph.

After the context is encoded, every step of a RoPE GPT2MEG with a
:class:`~neuroseq.models.layers.RollingKVCache` reads one token per sequence and touches only
preallocated buffers: the token and condition inputs here, the cache's keys, values, slot
positions and next position.  So the same step can run

- ``"eager"``: the model's forward, as :func:`~neuroseq.generation.sampler.generate_tokens`
  runs it;
- ``"compile"``: the forward through ``torch.compile`` (``dynamic=False``: the shapes never
  change);
- ``"cudagraph"``: captured once as a CUDA graph and replayed (GPU only): the launch overhead
  of hundreds of small kernels per step is paid once.

Which is fastest is measured (``benchmarks/gpu_suite.sh``), not assumed; all three give the
same logits up to floating-point reordering (eager and compiled: tested in the suite's dry run
on CPU).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuroseq.models.layers import RollingKVCache

MODES = ("eager", "compile", "cudagraph")


class DecodeStep:
    """``step(tokens [B, C, 1], condition [B, 1] | None) -> logits [B·C, V]`` for a model with
    a rolling cache, on fixed buffers (see the module docstring).

    Parameters
    ----------
    model : nn.Module
        A model with ``supports_rolling`` (GPT2MEG with ``positions="rope"``).
    cache : RollingKVCache
        Its cache, already holding the encoded context.
    channels, subject : Tensor | None
        As for the model's forward; fixed for the whole generation.
    conditioned : bool
        Whether a condition id is fed each step.
    mode : ``"eager"`` | ``"compile"`` | ``"cudagraph"``
    """

    def __init__(self, model: nn.Module, cache: RollingKVCache, batch: int, n_channels: int,
                 *, channels: torch.Tensor | None = None, subject: torch.Tensor | None = None,
                 conditioned: bool = False, mode: str = "eager") -> None:
        if mode not in MODES:
            raise ValueError(f"decode mode must be one of {MODES}, got {mode!r}.")
        if not isinstance(cache, RollingKVCache):
            raise ValueError("a static decode step needs a RollingKVCache (a model with "
                             "relative positions).")
        device = cache.slot_pos.device
        if mode == "cudagraph" and device.type != "cuda":
            raise ValueError("CUDA graphs need the model on a CUDA device.")
        self.model, self.cache, self.mode = model, cache, mode
        self.channels, self.subject = channels, subject
        self.tokens = torch.zeros(batch, n_channels, 1, dtype=torch.long, device=device)
        self.condition = torch.zeros(batch, 1, dtype=torch.long, device=device) \
            if conditioned else None
        self._fn = torch.compile(self._forward, dynamic=False) if mode == "compile" else \
            self._forward
        self._graph: Any = None
        self._out: torch.Tensor | None = None

    def _forward(self) -> torch.Tensor:
        out = self.model(self.tokens, self.channels, self.subject, self.condition,
                         cache=self.cache, last_only=True)["logits"]
        return out.reshape(-1, out.shape[-1])

    def _capture(self) -> None:
        """Record one step as a CUDA graph (after a warm-up on a side stream, as CUDA graphs
        need); the warm-up's writes are undone by restoring the cache's positions, and the
        real step rewrites the same slot before reading it."""
        c = self.cache
        saved = (c.next_pos.clone(), c.slot_pos.clone(),
                 None if c.state is None else c.state.clone())
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(2):
                self._forward()
                c.next_pos.copy_(saved[0])
                c.slot_pos.copy_(saved[1])
                if saved[2] is not None:
                    c.state.copy_(saved[2])
        torch.cuda.current_stream().wait_stream(stream)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph):  # records the kernels without running them
            self._out = self._forward()

    @torch.inference_mode()
    def __call__(self, tokens: torch.Tensor, condition: torch.Tensor | None = None
                 ) -> torch.Tensor:
        self.tokens.copy_(tokens)
        if self.condition is not None:
            if condition is None:
                raise ValueError("this step was built with conditioned=True; pass a condition.")
            self.condition.copy_(condition)
        c = self.cache
        length = c.length
        # the step reads its positions from device tensors; the Python count is held at one
        # value while it runs, so a compiled step is never re-specialised on it
        c.length = c.max_len
        try:
            if self.mode != "cudagraph":
                out = self._fn()
            else:
                if self._graph is None:
                    self._capture()
                self._graph.replay()
                out = self._out
        finally:
            c.length = length + 1
        return out
