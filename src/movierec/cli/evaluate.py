"""``movierec evaluate``: run models through a protocol; table, JSON and HTML report."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from movierec.cli.common import friendly, out, print_json, progress, say
from movierec.config import RankBy, RankingPolicy
from movierec.errors import DataValidationError, require_extra
from movierec.evaluation.protocols import PROTOCOLS, EvalOptions, EvaluationResult, SplitOptions, run_protocol
from movierec.evaluation.tuning import read_config_file

ACCURACY = {"rmse": "RMSE", "mae": "MAE", "precision": "P@k", "recall": "R@k", "ndcg": "NDCG", "ndcg_graded": "NDCGg",
            "map": "MAP", "mrr": "MRR"}  # fmt: skip
BEYOND = {"coverage": "cover", "novelty": "novelty", "avg_popularity": "ARP", "obscure_share": "obscure",
          "diversity": "ILD", "min_ratings": "guard", "fit_seconds": "fit s"}  # fmt: skip


def summary_tables(result: EvaluationResult, k: int) -> list[Table]:
    """Two Rich tables of the per-model means: accuracy, then beyond accuracy."""
    tables = []
    for title, cols in (
        (f"{result.protocol}: accuracy, mean over splits (k={k}; NDCG binary gain, NDCGg gain = stars)", ACCURACY),
        (f"{result.protocol}: beyond accuracy (guard = min_ratings used)", BEYOND),
    ):
        table = Table(title=title, title_justify="left")
        table.add_column("model", no_wrap=True)
        for label in cols.values():
            table.add_column(label, justify="right", no_wrap=True)
        for row in result.summary():
            cells = []
            for col in cols:
                v = row.get(col)
                fmt = (
                    "{:.0f}"
                    if col == "min_ratings"
                    else ("{:.1f}" if col in ("avg_popularity", "fit_seconds") else "{:.4f}")
                )
                cells.append("—" if v is None else fmt.format(v))
            table.add_row(row["model"], *cells)
        tables.append(table)
    return tables


def users_lines(result: EvaluationResult) -> list[str]:
    """Per split, who was evaluated: users ranked, training users without test rows, test users unknown in training."""
    lines, seen = [], set()
    for row in result.rows:
        if row["split"] in seen or "n_users_ranked" not in row:
            continue
        seen.add(row["split"])
        lines.append(
            f"{row['split']}: {row['n_users_ranked']:,} users ranked; {row.get('n_users_no_test', 0):,} training users "
            f"had no test rows (not evaluated); {row.get('n_users_cold', 0):,} test users unknown in training"
        )
    return lines


def parse_guard_grid(text: str) -> tuple[int, ...]:
    """``"0,5,10"`` -> (0, 5, 10); empty string -> ()."""
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise DataValidationError(f"--guard-grid takes comma-separated integers, got {text!r}") from None


def _factory(file: Any, engine: str, master: str | None, conf: list[str] | None) -> Any:
    """``run_protocol`` factory: each model from the config file (or its defaults), on the engine asked.

    With ``engine="spark"``, the models Spark trains (``training.SPARK_MODELS``) are trained on Spark,
    the others locally.
    """
    from movierec.models import make_model
    from movierec.training import SPARK_MODELS

    def local(name: str) -> Any:
        if file is not None and name in file.configs:
            return make_model(name, file.configs[name], file.policies[name])
        return make_model(name)

    if engine == "local":
        return local
    from movierec.spark import parse_conf, spark_model

    spark_conf = parse_conf(conf)

    def build(name: str) -> Any:
        model = local(name)
        if name not in SPARK_MODELS:
            return model
        return spark_model(model.config, master, spark_conf, policy=model.policy)  # type: ignore[attr-defined]

    return build


@friendly
def evaluate(
    data: Annotated[str, typer.Option(help="Dataset name in the data home, a MovieLens folder or ratings file")],
    protocol: Annotated[str, typer.Option(help=f"One of: {', '.join(PROTOCOLS)}")] = "stratified",
    models: Annotated[
        str, typer.Option(help="Comma-separated model names (als, bias, popular, random, mean, ...)")
    ] = "als,bias,popular,random",
    k: Annotated[int, typer.Option("-k", "--k", help="List length for ranking metrics")] = 10,
    min_ratings: Annotated[
        int | None, typer.Option(help="Popularity guard for every model (default: each model's own)")
    ] = None,
    rank_by: Annotated[
        str | None,
        typer.Option(
            help="Rank every model by: score, rating or confidence (default: each model's own; als: confidence)"
        ),
    ] = None,
    confidence_weight: Annotated[
        float | None,
        typer.Option(
            help="η of the confidence ranking, stars per e-fold of training ratings "
            "(default: each model's own; als: ALSConfig.confidence_weight)"
        ),
    ] = None,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="JSON config file (as written by `movierec tune`)")
    ] = None,
    test_fraction: Annotated[float, typer.Option(help="random/stratified: share of ratings held out")] = 0.25,
    folds: Annotated[int, typer.Option(help="kfold: number of folds")] = 5,
    cutoff: Annotated[str, typer.Option(help="chrono: ISO date, epoch seconds, or train fraction in (0, 1)")] = "0.8",
    last_n: Annotated[int, typer.Option(help="last-n: ratings held out per user")] = 1,
    relevance_threshold: Annotated[
        float | None, typer.Option(help="Relevant = test rating >= this (default: any test rating)")
    ] = None,
    ties: Annotated[
        str, typer.Option(help="Tie rule: pessimistic (relevant last) or serve (the serving order)")
    ] = "pessimistic",
    guard_grid: Annotated[
        str,
        typer.Option(
            help="min_ratings values for the guard curve (computed for the first split when --report is given)"
        ),
    ] = "0,1,2,5,10,20,30,50,100,150,200",
    seed: Annotated[int, typer.Option(help="Seed of the random splits")] = 42,
    report: Annotated[Path | None, typer.Option(help="Write an HTML report with plots here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    engine: Annotated[
        str,
        typer.Option(
            help="Engine for als and als-implicit: local or spark (needs movierec[spark]); other models stay local"
        ),
    ] = "local",
    spark_master: Annotated[
        str | None, typer.Option(help="--engine spark: master URL (local[4], spark://host:7077, yarn, ...)")
    ] = None,
    spark_conf: Annotated[
        list[str] | None, typer.Option(help="--engine spark: Spark setting KEY=VALUE (repeatable)")
    ] = None,
) -> None:
    """Evaluate models with an honest protocol: rating, ranking and beyond-accuracy metrics."""
    if report:  # before the evaluation, not after it
        require_extra("evaluation", "evaluate --report", ("matplotlib",))
    names = [m.strip() for m in models.split(",") if m.strip()]
    file = read_config_file(config_file) if config_file else None
    split_options = SplitOptions(test_fraction=test_fraction, n_folds=folds, cutoff=cutoff, last_n=last_n, seed=seed)
    if rank_by is not None and rank_by not in tuple(RankBy):  # name the option, as the other refusals do
        raise DataValidationError(f"evaluate: --rank-by must be one of {', '.join(RankBy)}, got {rank_by!r}")
    RankingPolicy().with_overrides(
        rank_by=rank_by, confidence_weight=confidence_weight, min_ratings=min_ratings
    )  # validates
    options = EvalOptions(
        k=k, min_ratings=min_ratings, relevance_threshold=relevance_threshold, ties=ties,
        guard_grid=parse_guard_grid(guard_grid) if report else (), rank_by=rank_by, confidence_weight=confidence_weight,
    )  # fmt: skip
    n_splits = {"kfold": folds, "ml100k-folds": 5}.get(protocol, 1)
    with (
        warnings.catch_warnings(record=True) as caught,
        progress("evaluating", n_splits * len(names), enabled=not as_json) as advance,
    ):
        warnings.simplefilter("always")
        if engine not in ("local", "spark"):
            raise DataValidationError(f"evaluate: --engine must be local or spark, got {engine!r}")
        factory = _factory(file, engine, spark_master, spark_conf)
        result = run_protocol(
            data, protocol, names, None, split_options, options, factory=factory, on_step=lambda s: advance(1, info=s)
        )
    for w in caught:
        say("warning", w.message)
    if report:
        from movierec.evaluation.report import write_report

        write_report(result, report, title=f"movierec evaluate: {protocol} on {data}")
    if as_json:
        print_json(
            {
                **result.to_dict(),
                "warnings": [str(w.message) for w in caught],
                "report": str(report) if report else None,
            }
        )
        return
    for table in summary_tables(result, k):
        out.print(table)
    for line in users_lines(result):
        out.print(line)
    cold = [f"{r['model']} {r['split']}: {r['coverage_note']}" for r in result.rows if r.get("n_cold_pairs")]
    if cold:
        out.print("cold-start pairs (scored by the fallback μ + known bias): " + "; ".join(cold[:6]))
    if report:
        out.print(f"report written to {report}")
