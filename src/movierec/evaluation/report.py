"""A self-contained HTML report of an ``EvaluationResult`` with embedded Matplotlib PNGs.

Plots: RMSE per iteration on train and test; the popularity guard's curve
(NDCG@k and obscure share against ``min_ratings``); training popularity of the
recommended films against the catalogue. Matplotlib is imported only when a
report is drawn (the ``evaluation`` extra) and only through ``Figure`` (no
pyplot, no global backend state).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from movierec.errors import require_extra
from movierec.evaluation.protocols import EvaluationResult

COLUMNS = (
    "rmse",
    "mae",
    "precision",
    "recall",
    "ndcg",
    "ndcg_graded",
    "map",
    "mrr",
    "hit_rate",
    "coverage",
    "novelty",
    "avg_popularity",
    "obscure_share",
    "diversity",
    "min_ratings",
    "fit_seconds",
)

NOTES = """<ul>
<li>RMSE/MAE over every test pair; a pair whose user or film is unknown in training gets the model's
fallback (μ + known bias) and is counted as cold-start. Ranking-only models show no RMSE.</li>
<li>Ranking: per test user known in training, all training films they did not rate in training,
films with fewer than <code>min_ratings</code> training ratings removed, top k. Relevant = {relevance}.
Means over users with a relevant test film.</li>
<li>precision@k = hits/k (short lists padded with misses); recall@k = hits/|relevant|;
ndcg = binary gain, ndcg_graded = gain = rating in stars; DCG = Σ gain/log2(rank+1), ideal from all
held-out films, truncated to k; map = AP@k with denominator min(k, |relevant|); mrr = 1/rank
of the first hit within k; hit_rate = any hit.</li>
<li>Ties in scores: {ties} (pessimistic = held-out relevant films are placed after the others, so a tie
never flatters a model).</li>
<li>coverage = share of training films recommended to anyone; novelty = mean −log2(n_i/n_users) bits;
avg_popularity = mean training ratings of recommended films; obscure_share = share of recommended slots
with fewer than {obscure} training ratings; diversity = mean pairwise genre Jaccard distance in a list.</li>
</ul>"""


def _figure(width: float = 6.4, height: float = 3.6) -> Any:
    require_extra("evaluation", "the HTML report", ("matplotlib",))
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("-", "--", "-.", ":")


def _style(n: int) -> dict[str, Any]:
    """The n-th series' look: its own colour, marker and (for n >= 4) dash, so lines that lie on top of
    each other (models with equal curves are common: popular and a guarded model) stay tellable apart."""
    return {"color": f"C{n % 10}", "marker": MARKERS[n % len(MARKERS)], "linestyle": LINESTYLES[(n // 4) % 4]}


def _legend_below(fig: Any, axes: list[Any]) -> None:
    """One legend under the plot, outside the axes (constrained layout makes room: nothing is cut off)."""
    handles = [h for ax in axes for h in ax.get_legend_handles_labels()[0]]
    labels = [lab for ax in axes for lab in ax.get_legend_handles_labels()[1]]
    fig.legend(handles, labels, fontsize="x-small", loc="outside lower center", ncols=min(max(len(labels), 1), 3))


def rmse_figure(result: EvaluationResult) -> Any:
    """RMSE per iteration, test (filled markers) and train (hollow), per iterative model; a Figure or None."""
    if not result.curves:
        return None
    fig = _figure(height=4.4)
    ax = fig.add_subplot()
    for n, (name, curve) in enumerate(result.curves.items()):
        it = [c["iteration"] for c in curve]
        style = _style(n)
        ax.plot(it, [c["test_rmse"] for c in curve], label=f"{name} test", **style)
        ax.plot(it, [c["train_rmse"] for c in curve], label=f"{name} train", alpha=0.7, markerfacecolor="none",
                **{**style, "linestyle": "--" if style["linestyle"] == "-" else ":"})  # fmt: skip
    ax.set_xlabel("iteration (sweep)")
    ax.set_ylabel("RMSE (stars)")
    ax.set_title("RMSE per iteration, first split")
    _legend_below(fig, [ax])
    ax.grid(alpha=0.3)
    return fig


def guard_figure(result: EvaluationResult, k: int) -> Any:
    """NDCG@k (left axis, filled markers) and obscure share (right axis, hollow) against min_ratings."""
    if not result.guard:
        return None
    fig = _figure(height=4.6)
    ax = fig.add_subplot()
    ax2 = ax.twinx()
    for n, (name, rows) in enumerate(result.guard.items()):
        x = [max(r["min_ratings"], 0.5) for r in rows]
        style = _style(n)
        ax.plot(x, [r["ndcg"] for r in rows], label=f"{name} NDCG@{k}", **style)
        ax2.plot(x, [r["obscure_share"] for r in rows], label=f"{name} obscure share", markerfacecolor="none",
                 **{**style, "linestyle": ":"})  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("min_ratings (popularity guard; 0 drawn at 0.5)")
    ax.set_ylabel(f"NDCG@{k} (binary)")
    ax2.set_ylabel("obscure share")
    ax.set_title("The guard's curve, first split")
    _legend_below(fig, [ax, ax2])
    ax.grid(alpha=0.3)
    return fig


def popularity_figure(result: EvaluationResult) -> Any:
    """Empirical CDF of training ratings per film: catalogue vs recommended slots; a Figure or None."""
    if not result.popularity:
        return None
    fig = _figure(height=4.4)
    ax = fig.add_subplot()
    series = {"catalogue (every film)": result.catalogue_counts, **result.popularity}
    for n, (name, counts) in enumerate(series.items()):
        if not counts:
            continue
        x = np.sort(np.maximum(np.asarray(counts), 1))
        y = np.arange(1, x.size + 1) / x.size
        style = {"color": "black", "linewidth": 2, "linestyle": "-"} if n == 0 else {**_style(n - 1), "linewidth": 1.5}
        marker = style.pop("marker", None)
        ax.step(x, y, where="post", label=name, marker=marker, markevery=max(x.size // 8, 1), **style)
    ax.set_xscale("log")
    ax.set_xlabel("training ratings of the film")
    ax.set_ylabel("share of films / slots at or below")
    ax.set_title("Popularity of recommended films vs the catalogue, first split")
    _legend_below(fig, [ax])
    ax.grid(alpha=0.3)
    return fig


def plot_rmse_curves(result: EvaluationResult) -> str | None:
    """``rmse_figure`` as a base64 PNG, or None."""
    fig = rmse_figure(result)
    return None if fig is None else _png(fig)


def plot_guard(result: EvaluationResult, k: int) -> str | None:
    """``guard_figure`` as a base64 PNG, or None."""
    fig = guard_figure(result, k)
    return None if fig is None else _png(fig)


def plot_popularity(result: EvaluationResult) -> str | None:
    """``popularity_figure`` as a base64 PNG, or None."""
    fig = popularity_figure(result)
    return None if fig is None else _png(fig)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.1f}"
    return html.escape(str(v))


def _table(rows: list[dict[str, Any]], first: tuple[str, ...]) -> str:
    cols = [c for c in (*first, *COLUMNS) if any(c in r for r in rows)]
    head = "".join(f"<th>{html.escape(c).replace('_', '_<wbr>')}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def render_html(result: EvaluationResult, title: str = "movierec evaluation") -> str:
    """The report as one HTML string (images inline as data: URIs)."""
    o = result.options
    k = int(o.get("k", 10))
    threshold = o.get("relevance_threshold")
    relevance = "any test rating" if threshold is None else f"test rating ≥ {threshold}"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        # Tables fit the page: headers may wrap (snake_case names break at "_" via <wbr>), numbers do not,
        # and a table wider than the page scrolls inside its own box instead of running off the page.
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        ".wide{max-width:100%;overflow-x:auto}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 5px;text-align:right}td{white-space:nowrap}"
        "th{background:#eee;white-space:normal;vertical-align:bottom}"
        "img{max-width:100%;height:auto}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Protocol <b>{html.escape(result.protocol)}</b> on {html.escape(str(result.dataset.get('source')))}: "
        f"first split trains on {result.dataset.get('n_ratings', 0):,} ratings, "
        f"{result.dataset.get('n_users', 0):,} users, {result.dataset.get('n_items', 0):,} films. k = {k}.</p>",
        f"<h2>Mean over splits</h2>{_table(result.summary(), ('model', 'n_splits'))}",
        f"<h2>Per split</h2>{_table(result.rows, ('model', 'split'))}",
        "<h2>Definitions</h2>"
        + NOTES.format(
            relevance=html.escape(relevance), ties=html.escape(str(o.get("ties"))), obscure=o.get("obscure_below")
        ),
    ]
    for heading, png in (
        ("RMSE per iteration", plot_rmse_curves(result)),
        ("Popularity guard", plot_guard(result, k)),
        ("Popularity of recommended films", plot_popularity(result)),
    ):
        if png:
            parts.append(f"<h2>{heading}</h2><img alt='{heading}' src='data:image/png;base64,{png}'>")
    if result.guard:
        rows = [{"model": name, **r} for name, rs in result.guard.items() for r in rs]
        parts.append(f"<h2>Guard curve (first split)</h2>{_table(rows, ('model',))}")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: EvaluationResult, path: str | Path, title: str = "movierec evaluation") -> Path:
    """Write ``render_html(result)`` to ``path`` (parent folders created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result, title), encoding="utf-8")
    return path


__all__ = [
    "guard_figure", "plot_guard", "plot_popularity", "plot_rmse_curves", "popularity_figure", "render_html",
    "rmse_figure", "write_report",
]  # fmt: skip
