"""The HTML report's tables fit the page, overlapping lines stay tellable apart, and no label is cut off."""

from __future__ import annotations

import pytest

from movierec.data import synthetic_dataset
from movierec.evaluation.protocols import EvalOptions, SplitOptions, run_protocol

pytest.importorskip("matplotlib", reason="the report needs the evaluation extra")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from movierec.evaluation.report import guard_figure, popularity_figure, render_html, rmse_figure  # noqa: E402


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    ds = synthetic_dataset(3000, n_users=80, n_items=120, seed=5)
    options = EvalOptions(k=5, guard_grid=(0, 2, 5, 10))
    models = ["als", "bias", "popular", "mean", "random"]  # popular and mean rank alike: their lines overlap
    return run_protocol(ds, "random", models, {"als": {"n_factors": 4, "n_iter": 3}}, SplitOptions(seed=5), options)


def figures(result):  # type: ignore[no-untyped-def]
    return [f for f in (rmse_figure(result), guard_figure(result, 5), popularity_figure(result)) if f is not None]


def test_every_series_of_a_plot_differs_in_marker_or_dash_not_only_in_colour(result) -> None:  # type: ignore[no-untyped-def]
    # Lines that lie on top of each other (popular and mean rank alike) show only the top colour.
    figs = figures(result)
    assert len(figs) == 3
    for fig in figs:
        for ax in fig.axes:
            looks = [(ln.get_marker(), ln.get_linestyle(), ln.get_markerfacecolor() == "none") for ln in ax.lines]
            assert len(set(looks)) == len(looks), [ln.get_label() for ln in ax.lines]


def test_no_text_of_a_plot_falls_outside_its_image(result) -> None:  # type: ignore[no-untyped-def]
    for fig in figures(result):
        FigureCanvasAgg(fig).draw()
        drawn = fig.get_tightbbox(fig.canvas.get_renderer())  # every drawn artist: labels, ticks, legend (inches)
        width, height = fig.get_size_inches()
        assert drawn.x0 >= -0.01 and drawn.y0 >= -0.01 and drawn.x1 <= width + 0.01 and drawn.y1 <= height + 0.01
        assert fig.legends and all(text.get_text() for text in fig.legends[0].get_texts())


def test_tables_scroll_inside_the_page_and_headers_may_wrap(result) -> None:  # type: ignore[no-untyped-def]
    page = render_html(result)
    assert page.count("<div class='wide'><table>") == page.count("<table>") == 3
    assert ".wide{max-width:100%;overflow-x:auto}" in page and "obscure_<wbr>share" in page
