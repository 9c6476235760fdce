"""``movierec train``: fit a model on a dataset and save it."""

from __future__ import annotations

import dataclasses

from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.common import friendly, out, print_json, progress
from movierec.config import ALSConfig
from movierec.data import load_movielens
from movierec.errors import DataValidationError
from movierec.models import ALS, Hybrid, HybridConfig, ImplicitConfig, Recommender, make_model
from movierec.data.folder import ensure_replaceable
from movierec.store import save
from movierec.store.artifact import MODEL_JSON


@friendly
def train(
    data: Annotated[str, typer.Option(help="Dataset name under the data home, a MovieLens folder or ratings file, or an ingested dataset folder")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="Model folder to write (replaced atomically); give --out, --registry or both")] = None,
    registry: Annotated[Path | None, typer.Option("--registry", help="Publish the model as a new version of this registry (atomic)")] = None,
    from_db: Annotated[str | None, typer.Option("--from-db", help="Also train on every rating in this database URL (its rating wins where both rate a pair)")] = None,
    factors: Annotated[int, typer.Option("--factors", help="Latent factors (Spark rank)")] = ALSConfig.n_factors,
    iterations: Annotated[int, typer.Option("--iterations", help="ALS sweeps (Spark maxIter)")] = ALSConfig.n_iter,
    reg: Annotated[float, typer.Option(help="λ, times each row's rating count (Spark regParam)")] = ALSConfig.reg,
    bias_reg: Annotated[float, typer.Option(help="λ for the biases, times each row's rating count")] = ALSConfig.bias_reg,
    seed: Annotated[int, typer.Option(help="Random seed of the initial factors")] = ALSConfig.random_state,
    min_ratings: Annotated[int | None, typer.Option(help="Default popularity guard stored with the model (default: the model's own: als 20, hybrid 5)")] = None,
    confidence_weight: Annotated[float | None, typer.Option("--confidence-weight", help="--model als: η of its default ranking by confidence score, (r̂ − μ − b_i) + η·ln(1 + n_i), stored with the model (default: ALSConfig's, 1.25)")] = None,
    solver: Annotated[str | None, typer.Option(help="--model als or hybrid, local engine: how rows are solved while fitting: cholesky (exact; the default) or cg (warm-started conjugate gradient on rows of 64-4096 ratings; faster on large data, same test RMSE)")] = None,
    cg_steps: Annotated[int | None, typer.Option("--cg-steps", help="--solver cg: conjugate-gradient steps per row and half-step (default 3)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    config_file: Annotated[Path | None, typer.Option("--config", help="JSON config (from `movierec tune`); options set to non-default values override it")] = None,
    engine: Annotated[str, typer.Option(help="local (this machine) or spark (Apache Spark; needs movierec[spark]; --model als or als-implicit); same model either way")] = "local",
    spark_master: Annotated[str | None, typer.Option(help="--engine spark: master URL (local[4], spark://host:7077, yarn, k8s://...)")] = None,
    spark_conf: Annotated[list[str] | None, typer.Option(help="--engine spark: Spark setting KEY=VALUE (repeatable)")] = None,
    model_name: Annotated[str, typer.Option("--model", help="hybrid (default: ranks by choice and liking), als (explicit), als-bayes (explicit, Gibbs-sampled: best RMSE), als-implicit, or a baseline; --factors/--iterations/--reg/--bias-reg set the explicit ALS part")] = "hybrid",
) -> None:
    """Train a model (default: hybrid = explicit ALS + implicit ALS) and save the model folder."""
    config = ALSConfig(n_factors=factors, n_iter=iterations, reg=reg, bias_reg=bias_reg, random_state=seed,
                       min_ratings=ALSConfig.min_ratings if min_ratings is None else min_ratings)  # fmt: skip
    file_model: dict | None = None
    if config_file is not None:  # issue 4: the file is the base, explicitly changed options win
        from movierec.evaluation.tuning import merge_config_file, read_config_file

        configs = read_config_file(config_file)
        if model_name != "als" and model_name in configs:  # e.g. `tune --model hybrid`: the whole model config
            file_model = configs[model_name]
        else:
            config = merge_config_file(config, config_file)
    solver_options = {k: v for k, v in (("solver", solver), ("cg_steps", cg_steps)) if v is not None}
    if solver_options:  # given explicitly: applies to the explicit ALS of als and hybrid, and beats a --config file
        if model_name not in ("als", "hybrid") or file_model is not None:
            raise DataValidationError(
                f"train: --solver/--cg-steps set the explicit ALS of --model als or hybrid (got --model {model_name}"
                + (" with a whole-model --config file; set solver there" if file_model is not None else "") + ")"
            )
        config = dataclasses.replace(config, **solver_options)
    if confidence_weight is not None:
        if model_name != "als":
            raise DataValidationError(
                f"train: --confidence-weight sets the default ranking of --model als (got --model {model_name}); "
                "for other models pass it at ranking time: recommend/evaluate --rank-by confidence --confidence-weight η"
            )
        config = dataclasses.replace(config, confidence_weight=confidence_weight)
    if out_dir is None and registry is None:
        raise DataValidationError("train: give --out DIR, --registry DIR, or both")
    if out_dir is not None:  # refuse before training, not after: --out never replaces a user's files
        ensure_replaceable(out_dir, (MODEL_JSON,), "model folder")
    if engine not in ("local", "spark"):
        raise DataValidationError(f"train: --engine must be local or spark, got {engine!r}")
    if engine == "spark" and model_name not in ("als", "als-implicit"):
        raise DataValidationError(
            f"train: --engine spark trains --model als or als-implicit (got --model {model_name}; "
            "the hybrid is not on Spark yet)"
        )
    if engine == "spark":  # issue 7: read, clean and fit on Spark; the result is the same kind of ALS model
        if from_db is not None:
            raise DataValidationError("train: --from-db works with --engine local only; export the database ratings to Parquet for Spark")
        from movierec.engines.spark import parse_conf, train_spark

        # als-implicit (issue 9): its own config (defaults or the --config file's), as on the local engine
        spark_config = config if model_name == "als" else ImplicitConfig.from_dict(file_model or {})
        with progress("training on Spark", spark_config.n_iter, enabled=not as_json) as advance:
            model, dataset = train_spark(data, spark_config, spark_master, parse_conf(spark_conf),
                                         callback=lambda it, h: advance(it, info=f"train RMSE {h['train_rmse']:.4f}"))  # fmt: skip
    else:
        dataset = load_movielens(data)
        if from_db is not None:  # base dataset plus every rating in the service's database
            from movierec.store import db as store_db

            dataset = store_db.with_db_ratings(dataset, store_db.make_engine(from_db))
        if registry is not None:  # before training, not after
            from movierec.store.registry import require_servable_ids

            require_servable_ids(dataset.users, dataset.items)
        model = make_model(model_name, file_model) if file_model is not None else build_model(model_name, config, min_ratings)
        iterative = isinstance(model, ALS)  # baselines fit in one pass: no per-iteration bar
        with progress("training", getattr(model, "n_sweeps", model.config.n_iter) if iterative else None, enabled=not as_json and iterative) as advance:
            if iterative:
                model.callback = lambda it, h: advance(1, info=f"train RMSE {h['train_rmse']:.4f}")
            model.fit(dataset)
    if out_dir is not None:
        save(model, out_dir)
    summary = {"model": model.name, "out": str(out_dir) if out_dir else None, "config": model.config_dict(), "data": dataset.summary(), "metrics": model.fit_info_}
    if registry is not None:
        from movierec.store.registry import Registry

        summary.update(registry=str(registry), version=Registry(registry).publish(model))
        out_dir = registry / "versions" / summary["version"]
    if as_json:
        print_json(summary)
    else:
        rmse = model.fit_info_.get("train_rmse")
        out.print(
            f"trained {model.name} on {dataset.n_ratings:,} ratings ({dataset.n_users:,} users, {dataset.n_items:,} films)"
            + (f" in {model.fit_info_['fit_seconds']:.2f} s" if "fit_seconds" in model.fit_info_ else "")
            + (f", train RMSE {rmse:.4f}" if rmse is not None else "") + f"; saved to {out_dir}"
        )


def build_model(name: str, explicit: ALSConfig, min_ratings: int | None = None) -> Recommender:
    """A model by name; ``explicit`` configures ALS and the hybrid's explicit part, others use their defaults.

    ``min_ratings`` (None = the model's default) is the guard stored with the model.
    """
    if name == "als":
        return ALS(explicit)
    if name == "hybrid":
        guard = {} if min_ratings is None else {"min_ratings": min_ratings}
        return Hybrid(HybridConfig(explicit=explicit, **guard))
    return make_model(name)
