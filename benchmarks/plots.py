"""Figures of benchmarks/README.md, drawn from the raw JSON in benchmarks/results/ (nothing is re-measured).

Usage::

    python -m benchmarks.plots            # writes benchmarks/results/fit-time-scaling.png

``fit-time-scaling.png``: whole-fit wall seconds against training ratings (log-log), one line per
engine of ``benchmarks.scaling`` (``scaling.json``: one run, every engine); extrapolated points
(Spark's largest) are starred. Needs Matplotlib (the ``bench`` extra).
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def fit_time_scaling(source: Path = RESULTS / "scaling.json", out: Path = RESULTS / "fit-time-scaling.png") -> Path:
    """Lines of whole-fit wall time against training ratings (log-log), one per engine of ``benchmarks.scaling``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = json.loads(source.read_text())
    sizes = list(run["sizes"].values())
    engines = list(dict.fromkeys(e for size in sizes for e in size["engines"]))
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    for j, engine in enumerate(engines):
        points = [(s["data"]["n_train"], s["engines"][engine]) for s in sizes if "fit_s" in s["engines"].get(engine, {})]
        if not points:
            continue
        x, y = [n for n, _ in points], [e["fit_s"] for _, e in points]
        style = "-" if engine.startswith("movierec") else "--"
        ax.plot(x, y, style, marker="o", color=f"C{j}", label=engine, linewidth=2.2 if "default" in engine else 1.4)
        extrapolated = [(n, e["fit_s"]) for n, e in points if e.get("extrapolated")]
        if extrapolated:
            ax.plot(*zip(*extrapolated, strict=True), marker="*", markersize=12, color=f"C{j}", linestyle="none")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training ratings (synthetic, ML-25M shape)")
    ax.set_ylabel("whole fit, wall seconds")
    load = run["machine"]["load_average_at_start"][0]
    ax.set_title(f"{run['machine']['cpu']}, 2 vCPUs, load {load:.1f} at start; rank 64", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.text(0.01, 0.01, "explicit ALS 10 sweeps, implicit ALS 15; star: extrapolated from 2 sweeps (5 × their time)", fontsize=7)
    fig.tight_layout()
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)
    return out


def main() -> None:
    print(fit_time_scaling())


if __name__ == "__main__":
    main()
