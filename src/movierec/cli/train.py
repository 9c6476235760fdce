"""``movierec train``: options mapped onto ``movierec.training.train`` (the rules live there)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.common import console, friendly, out, print_json, progress
from movierec.training import Engine, TrainSpec
from movierec.training import train as train_model


@friendly
def train(
    data: Annotated[
        str,
        typer.Option(
            help="Dataset name under the data home, a MovieLens folder or ratings file, or an ingested dataset folder"
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Model folder to write (replaced atomically); give --out, --registry or both"),
    ] = None,
    registry: Annotated[
        Path | None, typer.Option("--registry", help="Publish the model as a new version of this registry (atomic)")
    ] = None,
    from_db: Annotated[
        str | None,
        typer.Option(
            "--from-db", help="Also train on every rating in this database URL (its rating wins where both rate a pair)"
        ),
    ] = None,
    factors: Annotated[
        int | None, typer.Option("--factors", help="Latent factors of the explicit ALS (Spark rank; default 64)")
    ] = None,
    iterations: Annotated[
        int | None, typer.Option("--iterations", help="ALS sweeps (Spark maxIter; default 10)")
    ] = None,
    reg: Annotated[
        float | None, typer.Option(help="λ, times each row's rating count (Spark regParam; default 0.12)")
    ] = None,
    bias_reg: Annotated[
        float | None, typer.Option(help="λ for the biases, times each row's rating count (default 0.02)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed of the initial factors (default 42)")] = None,
    min_ratings: Annotated[
        int | None,
        typer.Option(help="Popularity guard stored with the model (default: the model's own: als 20, hybrid 5)"),
    ] = None,
    rank_by: Annotated[
        str | None,
        typer.Option(
            "--rank-by",
            help="Default ranking stored with the model: score, rating or confidence (default: the model's)",
        ),
    ] = None,
    confidence_weight: Annotated[
        float | None,
        typer.Option(
            "--confidence-weight",
            help="η of the confidence ranking, (r̂ − r̂_∅) + η·ln(1 + n_i), stored with the model (default 1.25)",
        ),
    ] = None,
    solver: Annotated[
        str | None,
        typer.Option(
            help="Explicit ALS, local engine: cholesky (exact; default) or cg (warm-started conjugate gradient on "
            "rows of 64-4096 ratings; faster on large data, same test RMSE)"
        ),
    ] = None,
    cg_steps: Annotated[
        int | None,
        typer.Option("--cg-steps", help="--solver cg: conjugate-gradient steps per row and half-step (default 3)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="JSON config (from `movierec tune`); options given override it")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="local (this machine) or spark (Apache Spark; needs movierec[spark]; --model hybrid, als or "
            "als-implicit); same model folder either way"
        ),
    ] = "local",
    spark_master: Annotated[
        str | None, typer.Option(help="--engine spark: master URL (local[4], spark://host:7077, yarn, k8s://...)")
    ] = None,
    spark_conf: Annotated[
        list[str] | None, typer.Option(help="--engine spark: Spark setting KEY=VALUE (repeatable)")
    ] = None,
    model_name: Annotated[
        str,
        typer.Option(
            "--model",
            help="hybrid (default: ranks by choice and liking), als (explicit), als-bayes (explicit, Gibbs-sampled), "
            "als-bayes-time (Bayesian timeSVD++: best RMSE), als-implicit, als-time, ease, or a baseline; "
            "--factors/--iterations/--reg/--bias-reg/--seed/--solver set the explicit ALS part",
        ),
    ] = "hybrid",
) -> None:
    """Train a model (default: hybrid = explicit ALS + implicit ALS) and save the model folder."""
    from movierec.errors import DataValidationError

    explicit = {
        k: v for k, v in (("n_factors", factors), ("n_iter", iterations), ("reg", reg), ("bias_reg", bias_reg),
                          ("random_state", seed), ("solver", solver), ("cg_steps", cg_steps)) if v is not None
    }  # fmt: skip
    policy = {
        k: v
        for k, v in (("min_ratings", min_ratings), ("rank_by", rank_by), ("confidence_weight", confidence_weight))
        if v is not None
    }
    config = policy_base = None
    if config_file is not None:
        from movierec.evaluation.tuning import read_config_file

        file = read_config_file(config_file)
        if model_name not in file.configs:
            raise DataValidationError(
                f"train: {config_file} has no {model_name!r} config "
                f"(it has {', '.join(sorted(file.configs))}); give --model"
            )
        config, policy_base = file.configs[model_name], file.policies[model_name].to_dict()
    try:
        chosen = Engine(engine)
    except ValueError:
        raise DataValidationError(f"train: --engine must be local or spark, got {engine!r}") from None
    conf = {}
    if chosen == Engine.SPARK:
        from movierec.spark import parse_conf

        conf = parse_conf(spark_conf)
    spec = TrainSpec(
        data=data,
        model=model_name,
        config=config,
        policy_base=policy_base,
        explicit=explicit,
        policy=policy,
        engine=chosen,
        spark_master=spark_master,
        spark_conf=conf,
        from_db=from_db,
        out=out_dir,
        registry=registry,
    )
    from movierec.training import build_model

    if from_db is not None:
        from movierec.errors import require_extra

        require_extra("database", "movierec train --from-db")
    model = build_model(spec)  # refuses bad options before anything slow
    _warm(model_name, as_json)
    n_sweeps = getattr(model, "n_sweeps", None) or getattr(getattr(model, "config", None), "n_iter", None)
    # A callback makes each sweep also compute the train RMSE (~1 s a sweep at 20M ratings): only for a live bar.
    shown = not as_json and n_sweeps is not None and console.is_terminal
    with progress("training", n_sweeps, enabled=shown) as advance:
        if shown:
            spec.callback = lambda it, h: advance(
                1, info=f"train RMSE {h['train_rmse']:.4f}" if h.get("train_rmse") else ""
            )
        result = train_model(spec)
    if as_json:
        print_json(result.summary())
        return
    m, ds = result.model, result.dataset
    rmse = m.fit_info_.get("train_rmse")
    out.print(
        f"trained {m.name} on {ds.n_ratings:,} ratings ({ds.n_users:,} users, {ds.n_items:,} films) "
        f"in {result.seconds:.2f} s"
        + (f", train RMSE {rmse:.4f}" if rmse is not None else "")
        + f"; saved to {result.out}"
        + (f" (version {result.version})" if result.version else "")
    )


def _warm(model_name: str, quiet: bool) -> None:
    """Compile the kernels before the clock starts, saying so when they are not in the disk cache."""
    from movierec.training import kernels_cached, warm_kernels

    if not kernels_cached() and not quiet:
        console.print("compiling kernels (first run only) …", highlight=False)
    warm_kernels(model_name)
