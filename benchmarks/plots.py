"""Figures of benchmarks/README.md, drawn from the raw JSON in benchmarks/results/ (nothing is re-measured).

Usage::

    python -m benchmarks.plots            # writes benchmarks/results/fit-time-vs-ratings.png

``fit-time-vs-ratings.png``: wall seconds of a 10-iteration, rank-64 fit against the number of training
ratings, for movierec (exact and ``cg`` solvers), LensKit and Spark ``local[2]``, from
``peers-fit-reg012.json`` (one run of every engine, λ 0.12). Spark's 25M point is extrapolated from a
2-iteration fit (5 × its time) and drawn hatched. Needs Matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ENGINES = {
    "movierec": "movierec (exact)",
    "movierec-cg": "movierec (cg)",
    "lenskit": "LensKit",
    "spark": "Spark local[2]",
}


def fit_time_vs_ratings(
    source: Path = RESULTS / "peers-fit-reg012.json", out: Path = RESULTS / "fit-time-vs-ratings.png"
) -> Path:
    """Bars of fit wall time (log scale) per dataset, one bar per engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = json.loads(source.read_text())
    names = list(run["summary"])
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    width = 0.8 / len(ENGINES)
    for j, (engine, label) in enumerate(ENGINES.items()):
        for i, name in enumerate(names):
            e = run["summary"][name].get(engine)
            if e is None:
                continue
            hollow = e.get("extrapolated", False)
            ax.bar(i + (j - 1.5) * width, e["fit_s"], width, color=f"C{j}", label=label if i == 0 else None,
                   fill=not hollow, edgecolor=f"C{j}", hatch="//" if hollow else None)  # fmt: skip
            ax.annotate(f"{e['fit_s']:.3g}", (i + (j - 1.5) * width, e["fit_s"]), ha="center", va="bottom", fontsize=6)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([f"{n}\n{run['runs'][n]['data']['n_train']:,} training ratings" for n in names], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("fit wall time, 10 iterations (s)")
    cpu = run["machine"]["cpu"]
    load = run["machine"]["load_average_at_start"][0]
    ax.set_title(f"ALS rank 64, λ {run['reg']}: {cpu}, 2 vCPUs, load {load:.1f}", fontsize=9)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, "hatched: extrapolated from a 2-iteration fit (5 × its time)", fontsize=7)
    fig.tight_layout()
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)
    return out


def main() -> None:
    print(fit_time_vs_ratings())


if __name__ == "__main__":
    main()
