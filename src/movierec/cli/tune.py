"""``movierec tune``: Optuna search for explicit ALS inside the training data; writes a config file."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.common import friendly, out, print_json, progress
from movierec.errors import DataValidationError, require_extra
from movierec.evaluation.protocols import PROTOCOLS, SplitOptions, make_splits
from movierec.evaluation.tuning import INNER_SPLITS, SPACES, write_config_file
from movierec.evaluation.tuning import tune as tune_model


@friendly
def tune(
    data: Annotated[str, typer.Option(help="Dataset name in the data home, a MovieLens folder or ratings file")],
    trials: Annotated[int, typer.Option(help="Completed trials wanted in the study (a resumed study runs the rest)")],
    protocol: Annotated[
        str, typer.Option(help=f"Outer split whose training side is searched: {', '.join(PROTOCOLS)}")
    ] = "random",
    out_file: Annotated[
        Path, typer.Option("--out", help="Config file to write (JSON; `train/evaluate --config` read it)")
    ] = Path("tuned.json"),
    storage: Annotated[
        Path | None, typer.Option(help="SQLite file of the study (resumable); default: next to --out")
    ] = None,
    study: Annotated[str | None, typer.Option(help="Study name inside the storage (default movierec-MODEL)")] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            help="rmse (minimise; rating models) or ndcg (maximise NDCG@k); default rmse for als, ndcg otherwise"
        ),
    ] = None,
    folds: Annotated[int, typer.Option(help="Inner validation splits")] = 3,
    inner: Annotated[
        str, typer.Option(help=f"How validation splits are carved from the training side: {', '.join(INNER_SPLITS)}")
    ] = "kfold",
    k: Annotated[int, typer.Option("-k", "--k", help="List length for NDCG and the guard")] = 10,
    test_fraction: Annotated[float, typer.Option(help="random/stratified outer split: share held out")] = 0.25,
    cutoff: Annotated[str, typer.Option(help="chrono outer split: ISO date, epoch seconds or train fraction")] = "0.8",
    seed: Annotated[int, typer.Option(help="Seed of the splits, the sampler and the factors")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    model: Annotated[str, typer.Option(help=f"Model to tune: {', '.join(SPACES)}")] = "als",
) -> None:
    """Tune a model by validation splits of the training side only; never touches the test side.

    als: n_factors, reg, bias_reg, n_iter (with ndcg also the confidence weight η). als-implicit:
    n_factors, reg, alpha, n_iter. hybrid: the rating and popularity weights, the popularity
    debias, shrinkage, and the implicit part's λ and α. The guard min_ratings is chosen afterwards:
    the smallest within one standard error of the best inner-CV NDCG@k. A study remembers what it
    tuned and refuses to resume anything else.
    """
    require_extra("evaluation", "movierec tune", ("optuna",))
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if model not in SPACES:
        raise DataValidationError(f"tune: --model must be one of {', '.join(SPACES)}; got {model!r}")
    objective = objective or ("rmse" if model == "als" else "ndcg")
    split_options = SplitOptions(test_fraction=test_fraction, cutoff=cutoff, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-user splits warn about leakage; the outer test side is unused here
        outer = next(iter(make_splits(data, protocol, split_options)))
    db = storage or out_file.with_suffix(".db")
    db.parent.mkdir(parents=True, exist_ok=True)
    source = f"{data} [{protocol} {outer.name} train side, {outer.train.n_ratings} ratings]"
    with progress(f"tuning {model} ({objective})", trials, enabled=not as_json) as advance:
        result = tune_model(
            outer.train,
            model,
            trials,
            objective=objective,
            storage=f"sqlite:///{db}",
            study_name=study,
            inner=inner,
            n_folds=folds,
            k=k,
            seed=seed,
            provenance={"protocol": protocol, "data": str(data)},
            on_trial=lambda n, v, best: advance(
                1, info=f"trial {n}: {'pruned' if v is None else f'{v:.4f}'}, best {best:.4f}"
            ),
            on_start=lambda done: advance(min(done, trials), info=f"resumed: {done} trials done" if done else ""),
        )
    content = result.to_file_dict(source)
    write_config_file(out_file, content)
    if as_json:
        print_json({"config_file": str(out_file), "storage": str(db), **content})
        return
    out.print(
        f"best of {result.n_trials} trials: inner {objective} {result.value:.4f}; config {result.config}; "
        f"policy {result.policy.to_dict()}; wrote {out_file} (study in {db})"
    )
