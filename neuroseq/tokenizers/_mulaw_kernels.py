"""Fused μ-law kernels (numba): one pass over the signal to encode, one over the codes to decode.

Encoding avoids the logarithm altogether.  μ-law quantisation into ``n`` levels is a monotone
step function of the normalised value ``z = x · a_c + b_c`` (clipped to [-1, 1]); its ``n − 1``
steps sit at ``z_k = expand((k − ½) / h − 1)``, ``h = (n − 1) / 2``.  A uniform lookup table
over [-1, 1] whose cells are narrower than the closest pair of steps holds, per cell, the code
at the cell's start and the one step inside it (or +∞), so a code is one multiply-add, one table
read and one comparison.  Steps are computed in float64, so codes equal the exact quantisation up
to the rounding of ``z`` itself.
"""

from __future__ import annotations

import numba
import numpy as np


def expand_np(y: np.ndarray, mu: float) -> np.ndarray:
    """Inverse μ-law in float64 (numpy)."""
    return np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu

#: Largest lookup table built (cells); beyond it (very fine vocabularies) the torch path is used.
MAX_CELLS = 1 << 22


def step_table(mu: float, n_bins: int) -> tuple[np.ndarray, np.ndarray, float] | None:
    """``(codes, steps, cells_per_unit)`` for :func:`encode`, or ``None`` if it would be too big."""
    half = 0.5 * (n_bins - 1)
    steps = expand_np((np.arange(1, n_bins) - 0.5) / half - 1.0, mu)
    gap = float(np.diff(steps).min())
    n_cells = int(np.ceil(2.0 / gap * 1.01)) + 1
    if n_cells > MAX_CELLS:
        return None
    per_unit = (n_cells - 1) / 2.0
    start = np.arange(n_cells) / per_unit - 1.0
    below = np.searchsorted(steps, start, side="right")  # steps <= cell start
    end = start + 1.0 / per_unit
    inside = np.full(n_cells, np.inf)
    has = (below < steps.size) & (steps[np.minimum(below, steps.size - 1)] < end)
    inside[has] = steps[below[has]]
    return below.astype(np.int32), inside, per_unit


@numba.njit(parallel=True, cache=True, nogil=True)
def encode(x, a, b, codes, steps, per_unit, out):  # pragma: no cover - compiled
    """Codes of ``x[R, T]`` (row ``r`` is channel ``r % len(a)``) to ``out``; False on NaN/Inf."""
    n_rows, n_t = x.shape
    n_ch = a.shape[0]
    last = codes.shape[0] - 1
    ok = np.ones(n_rows, dtype=np.bool_)
    for r in numba.prange(n_rows):
        ar, br = a[r % n_ch], b[r % n_ch]
        for t in range(n_t):
            v = x[r, t]
            if not np.isfinite(v):
                ok[r] = False
                v = 0.0
            z = min(max(v * ar + br, -1.0), 1.0)
            i = min(int((z + 1.0) * per_unit), last)
            out[r, t] = codes[i] + (z >= steps[i])
    return ok.all()


@numba.njit(parallel=True, cache=True, nogil=True)
def decode(codes, table, out):  # pragma: no cover - compiled
    """``out[r, t] = table[r % C, codes[r, t]]``; False if a code is outside the table."""
    n_rows, n_t = codes.shape
    n_ch, n_bins = table.shape
    ok = np.ones(n_rows, dtype=np.bool_)
    for r in numba.prange(n_rows):
        row = table[r % n_ch]
        for t in range(n_t):
            q = codes[r, t]
            if q < 0 or q >= n_bins:
                ok[r] = False
                q = 0
            out[r, t] = row[q]
    return ok.all()
