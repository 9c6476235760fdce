"""``movierec tune``: Optuna search for explicit ALS inside the training data; writes a config file."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.common import friendly, out, print_json, progress
from movierec.evaluation.protocols import PROTOCOLS, SplitOptions, make_splits
from movierec.errors import DataValidationError
from movierec.evaluation.tune_ranking import tune_hybrid
from movierec.evaluation.tuning import tune_als, write_config_file


@friendly
def tune(
    data: Annotated[str, typer.Option(help="Dataset name in the data home, a MovieLens folder or ratings file")],
    trials: Annotated[int, typer.Option(help="Completed trials wanted in the study (a resumed study runs the rest)")],
    protocol: Annotated[str, typer.Option(help=f"Outer split whose training side is searched: {', '.join(PROTOCOLS)}")] = "ml100k-folds",
    out_file: Annotated[Path, typer.Option("--out", help="Config file to write (JSON; `train/evaluate --config` read it)")] = Path("tuned.json"),
    storage: Annotated[Path | None, typer.Option(help="SQLite file of the study (resumable); default: next to --out")] = None,
    study: Annotated[str, typer.Option(help="Study name inside the storage")] = "movierec-als",
    objective: Annotated[str, typer.Option(help="rmse (minimise) or ndcg (maximise NDCG@k)")] = "rmse",
    folds: Annotated[int, typer.Option(help="Inner cross-validation folds")] = 3,
    k: Annotated[int, typer.Option("-k", "--k", help="List length for the ndcg objective and the guard")] = 10,
    test_fraction: Annotated[float, typer.Option(help="random/stratified outer split: share held out")] = 0.25,
    cutoff: Annotated[str, typer.Option(help="chrono outer split: ISO date, epoch seconds or train fraction")] = "0.8",
    seed: Annotated[int, typer.Option(help="Seed of the splits, the sampler and the factors")] = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    model: Annotated[str, typer.Option(help="als (rating model: factors, λ, sweeps, guard) or hybrid (ranking weights, NDCG@k)")] = "als",
) -> None:
    """Tune a model by inner cross-validation on the training side; never touches the test side.

    als: n_factors, reg, bias_reg, n_iter and min_ratings (objective rmse or ndcg; ndcg also samples
    the confidence ranking's weight η, confidence_weight). hybrid: the
    ranking weights (popularity debias, rating weight, shrinkage), the implicit λ and α and the
    guard, maximising NDCG@k.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    split_options = SplitOptions(test_fraction=test_fraction, cutoff=cutoff, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-user splits warn about leakage; the outer test side is unused here
        outer = next(iter(make_splits(data, protocol, split_options)))
    db = storage or out_file.with_suffix(".db")
    db.parent.mkdir(parents=True, exist_ok=True)
    if model == "hybrid":
        _tune_hybrid(outer.train, trials, db, study if study != "movierec-als" else "movierec-hybrid", folds, k, seed,
                     out_file, f"{data} [{protocol} {outer.name} train side, {outer.train.n_ratings} ratings]", as_json)  # fmt: skip
        return
    if model != "als":
        raise DataValidationError(f"tune: --model must be als or hybrid, got {model!r}")
    with progress(f"tuning ({objective})", trials, enabled=not as_json) as advance:
        result = tune_als(
            outer.train, trials, storage=f"sqlite:///{db}", study_name=study, objective=objective,
            n_folds=folds, k=k, seed=seed,
            on_trial=lambda n, v, best: advance(1, info=f"trial {n}: {'pruned' if v is None else f'{v:.4f}'}, best {best:.4f}"),
            on_start=lambda done: advance(min(done, trials), info=f"resumed: {done} trials done" if done else ""),
        )  # fmt: skip
    content = result.to_file_dict(f"{data} [{protocol} {outer.name} train side, {outer.train.n_ratings} ratings]")
    if _write_result(content, out_file, db, as_json):
        return
    cfg = result.config
    out.print(
        f"best of {result.n_trials} trials: inner-CV {objective} {result.value:.4f} with n_factors={cfg.n_factors}, "
        f"reg={cfg.reg:.4g}, bias_reg={cfg.bias_reg:.4g}, n_iter={cfg.n_iter}, min_ratings={cfg.min_ratings}, "
        f"confidence_weight={cfg.confidence_weight}; "
        f"wrote {out_file} (study in {db})"
    )


def _tune_hybrid(train, trials, db, study, folds, k, seed, out_file, source, as_json) -> None:  # type: ignore[no-untyped-def]
    with progress("tuning hybrid (ndcg)", trials, enabled=not as_json) as advance:
        result = tune_hybrid(
            train, trials, storage=f"sqlite:///{db}", study_name=study, n_folds=max(folds, 2), k=k, seed=seed,
            on_trial=lambda n, v, best: advance(1, info=f"trial {n}: {v:.4f}, best {best:.4f}"),
            on_start=lambda done: advance(min(done, trials), info=f"resumed: {done} trials done" if done else ""),
        )  # fmt: skip
    if _write_result(result.to_file_dict(source), out_file, db, as_json):
        return
    cfg = result.config
    out.print(
        f"best of {result.n_trials} trials: inner-CV NDCG@{k} {result.value:.4f} with popularity_debias={cfg.popularity_debias:.3g}, "
        f"rating_weight={cfg.rating_weight:.3g}, shrinkage={cfg.shrinkage:.3g}, implicit reg={cfg.implicit.reg:.3g}, "
        f"alpha={cfg.implicit.alpha:.3g}, min_ratings={cfg.min_ratings}; wrote {out_file} (study in {db})"
    )


def _write_result(content: dict, out_file: Path, db: Path, as_json: bool) -> bool:
    """Write the config file; with --json also print it (returns True: nothing more to print)."""
    write_config_file(out_file, content)
    if as_json:
        print_json({"config_file": str(out_file), "storage": str(db), **content})
    return as_json
