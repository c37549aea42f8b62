"""Shared layers: the single-query attention of a decode step."""

import torch
import torch.nn.functional as F

from neuroseq.models.layers import one_query_attention


def test_one_query_attention_matches_sdpa_with_and_without_mask() -> None:
    g = torch.Generator().manual_seed(0)
    q = torch.randn(5, 3, 1, 8, generator=g)
    k, v = torch.randn(2, 5, 3, 11, 8, generator=g)
    mask = torch.ones(1, 11, dtype=torch.bool)
    mask[0, [0, 4, 7]] = False
    for m in (None, mask):
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        torch.testing.assert_close(one_query_attention(q, k, v, m), ref)
    # masked slots are ignored: changing them changes nothing
    k2, v2 = k.clone(), v.clone()
    k2[..., [0, 4, 7], :] += 100.0
    v2[..., [0, 4, 7], :] -= 100.0
    torch.testing.assert_close(one_query_attention(q, k2, v2, mask),
                               one_query_attention(q, k, v, mask))


def test_sensor_query_pool_averages_real_sensors_only():
    """Known answer: a query that scores every sensor alike gives the mean of the real
    sensors; padded sensors (whatever they hold) change nothing."""
    from neuroseq.models.layers import sensor_query_pool

    query = torch.nn.Linear(4, 2)
    torch.nn.init.zeros_(query.weight)
    torch.nn.init.zeros_(query.bias)
    h = torch.randn(3, 5, 4)  # [B, C, d]
    real = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]).bool()
    out = sensor_query_pool(query, h, real[..., None], dim=1)
    assert out.shape == (3, 2, 4)
    for b in range(3):
        torch.testing.assert_close(out[b, 0], h[b, real[b]].mean(0))
    h2 = h.clone()
    h2[~real] = 1e3
    torch.testing.assert_close(sensor_query_pool(query, h2, real[..., None], dim=1), out)
    # the sensor axis anywhere: [C, B, d] gives the same pooling
    torch.testing.assert_close(sensor_query_pool(query, h.transpose(0, 1),
                                                 real.T[..., None], dim=0), out)
