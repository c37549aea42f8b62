"""Report figures: panel grids whose pixel width MNE's Report reads back exactly."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from neuroseq.evaluation import report  # noqa: E402


@pytest.mark.parametrize("n", [1, 5, 6, 11, 13])
def test_grid_has_whole_pixel_sizes_and_hides_unused_panels(n):
    plt = report._plt()
    fig, axes = report._grid(plt, n, 2.4, 2.6)
    for dpi in (72, 100, 110):
        w, h = fig.get_size_inches() * dpi
        assert w == int(w) and h == int(h)  # 15.6 in gave 1559 px at 100 dpi: a sheared image
    assert axes.shape[1] <= 6 and axes.size >= n
    assert sum(ax.axison for ax in axes.flat) == n
    plt.close(fig)
