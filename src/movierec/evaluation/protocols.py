"""Evaluation protocols: split, fit each model on train, score it on test.

The layer is generic: a model is anything ``make_model(name, config)`` builds
(or a ``factory(name)`` passed in), fitted with ``fit(train)`` and scored
through the ``Recommender`` contract and the ranking layer's ``rank_states``,
the path every served list takes. New models need no change here.

Ranking protocol (Microsoft Recommenders' explicit-ALS benchmark by default):
for every test user known in training, score every training film as
``recommend`` ranks it (the model's default ``rank_by``, or ``EvalOptions.rank_by``), exclude
the films the user rated in training, apply the popularity guard
(``min_ratings``, inclusive, training counts), take the top k with the
pessimistic tie rule (``rank_items``), and compare with the user's test
ratings: relevance = any test rating (or rating >= ``relevance_threshold``),
graded gain = the rating in stars. Means are over users with at least one
relevant test film; cold users (no training ratings) are counted, not ranked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError
from movierec.evaluation import beyond
from movierec.evaluation.metrics import (
    average_precision_at_k,
    hit_rate_at_k,
    ndcg_at_k,
    precision_at_k,
    rating_metrics,
    recall_at_k,
    reciprocal_rank_at_k,
)
from movierec.evaluation.splits import (
    Split,
    chrono_split,
    kfold_labels,
    last_n_split,
    ml100k_folds,
    random_split,
    recommenders_stratified_split,
    stratified_split,
)
from movierec.models import Recommender, make_model
from movierec.ranking.index import index_for
from movierec.ranking.lists import rank_states
from movierec.ranking.scoring import resolve_policy

PROTOCOLS = ("random", "kfold", "stratified", "recommenders-stratified", "chrono", "last-n", "ml100k-folds")
RANKING_KEYS = ("precision", "recall", "ndcg", "ndcg_graded", "map", "mrr", "hit_rate")
BEYOND_KEYS = ("coverage", "novelty", "avg_popularity", "obscure_share", "diversity")


@dataclass
class SplitOptions:
    """Parameters of the protocols (each uses the ones it needs).

    Attributes
    ----------
    test_fraction : float, default 0.25
        random / stratified: share of ratings held out.
    n_folds : int, default 5
        kfold.
    cutoff : str, default "0.8"
        chrono: an ISO date, epoch seconds, or a train fraction in (0, 1).
    last_n : int, default 1
        last-n: ratings held out per user.
    seed : int, default 42
    """

    test_fraction: float = 0.25
    n_folds: int = 5
    cutoff: str = "0.8"
    last_n: int = 1
    seed: int = 42


@dataclass
class EvalOptions:
    """How lists are built and scored.

    Attributes
    ----------
    k : int, default 10
    min_ratings : int or None
        Guard for every model; None = each model's own default (ALS: its config, baselines: 0).
    relevance_threshold : float or None
        A test rating is relevant when >= this; None = any test rating.
    ties : {"pessimistic", "serve"}
        Tie rule of ``rank_items``.
    obscure_below : int, default 10
        "Obscure" = fewer training ratings than this.
    guard_grid : tuple of int
        min_ratings values for the guard curve (first split only; empty = no curve).
    rank_by : {"score", "rating", "confidence"} or None
        What lists are ranked by (``movierec.ranking.scoring.block_scores``);
        None = each model's default, as ``recommend`` serves it.
    confidence_weight : float or None
        η of ``rank_by="confidence"``; None = each model's own.
    """

    k: int = 10
    min_ratings: int | None = None
    relevance_threshold: float | None = None
    ties: str = "pessimistic"
    obscure_below: int = 10
    guard_grid: tuple[int, ...] = ()
    rank_by: str | None = None
    confidence_weight: float | None = None


@dataclass
class EvaluationResult:
    """Everything a table, JSON or report needs.

    Attributes
    ----------
    rows : list of dict
        One per (model, split): ``model``, ``split``, metrics, ``fit_seconds``, ``min_ratings``.
    curves : dict of model -> list of dict
        Per-iteration ``train_rmse`` and ``test_rmse`` (iterative models, first split).
    guard : dict of model -> list of dict
        Ranking metrics per ``min_ratings`` of ``guard_grid`` (first split).
    popularity : dict of model -> list of int
        Training counts of every recommended slot (first split).
    catalogue_counts : list of int
        Training counts of every film of the first split's training set.
    """

    protocol: str
    dataset: dict[str, Any]
    options: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    curves: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    guard: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    popularity: dict[str, list[int]] = field(default_factory=dict)
    catalogue_counts: list[int] = field(default_factory=list)

    def summary(self) -> list[dict[str, Any]]:
        """Mean of every numeric metric over splits, one dict per model (in run order)."""
        out = []
        for name in dict.fromkeys(r["model"] for r in self.rows):
            rows = [r for r in self.rows if r["model"] == name]
            mean: dict[str, Any] = {"model": name, "n_splits": len(rows)}
            for key, val in rows[0].items():
                if isinstance(val, int | float) and not isinstance(val, bool) and key not in mean:
                    vals = [r[key] for r in rows if r.get(key) is not None]
                    mean[key] = float(np.mean(vals)) if vals else None
                elif val is None:
                    mean.setdefault(key, None)
            out.append(mean)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol, "dataset": self.dataset, "options": self.options,
            "summary": self.summary(), "rows": self.rows, "curves": self.curves, "guard": self.guard,
        }  # fmt: skip


def make_splits(data: Dataset | str | Path, protocol: str, options: SplitOptions | None = None) -> Iterator[Split]:
    """The train/test pairs of a protocol.

    Parameters
    ----------
    data : Dataset, or for ``ml100k-folds`` the ml-100k folder or name
    protocol : one of ``PROTOCOLS``

    Raises
    ------
    DataValidationError
        Unknown protocol, or a protocol that does not fit the data.
    """
    o = options or SplitOptions()
    if protocol == "ml100k-folds":
        if isinstance(data, Dataset):
            raise DataValidationError("ml100k-folds needs the ml-100k folder (its u1..u5 files), not a loaded dataset")
        yield from ml100k_folds(data)
        return
    if not isinstance(data, Dataset):
        from movierec.data.load import load_movielens

        data = load_movielens(data)
    if protocol == "random":
        yield Split.from_mask(data, random_split(data, o.test_fraction, o.seed), "random", seed=o.seed)
    elif protocol == "stratified":
        mask = stratified_split(data, o.test_fraction, o.seed)
        yield Split.from_mask(data, mask, "stratified", seed=o.seed, test_fraction=o.test_fraction)
    elif protocol == "recommenders-stratified":
        mask = recommenders_stratified_split(data, o.test_fraction, o.seed)
        yield Split.from_mask(data, mask, "recommenders-stratified", seed=o.seed, test_fraction=o.test_fraction)
    elif protocol == "kfold":
        labels = kfold_labels(data, o.n_folds, o.seed)
        for f in range(o.n_folds):
            yield Split.from_mask(data, labels == f, f"fold {f + 1}/{o.n_folds}", seed=o.seed)
    elif protocol == "chrono":
        cut: Any = o.cutoff
        if isinstance(cut, str):
            try:
                value = float(cut)
                cut = value if 0 < value < 1 else cut
            except ValueError:
                pass
        mask, epoch = chrono_split(data, cut)
        yield Split.from_mask(data, mask, "chrono", cutoff_epoch=epoch)
    elif protocol == "last-n":
        yield Split.from_mask(data, last_n_split(data, o.last_n), f"last-{o.last_n}", n=o.last_n)
    else:
        raise DataValidationError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")


def _test_relevance(model: Recommender, test: Dataset, threshold: float | None) -> dict[int, tuple[list[int], dict]]:
    """Per training-user position: (relevant item positions, grades keyed by item position or ("unknown", id))."""
    r = test.ratings
    users = model.users_.positions(r["user_id"].to_list())
    items = model.items_.positions(r["movie_id"].to_list())
    stars = r["rating"].to_numpy().astype(np.float64)
    movie_ids = r["movie_id"].to_list()
    out: dict[int, tuple[list[int], dict]] = {}
    for j in np.flatnonzero(users >= 0):
        u = int(users[j])
        if threshold is not None and stars[j] < threshold:
            continue
        relevant, grades = out.setdefault(u, ([], {}))
        if items[j] >= 0:
            relevant.append(int(items[j]))
            grades[int(items[j])] = float(stars[j])
        else:  # a film unknown in training: relevant, but no model can recommend it
            grades[("unknown", movie_ids[j])] = float(stars[j])
    return out


EVAL_BLOCK = 1024
"""Users ranked per block by ``ranking_metrics``."""


def ranking_metrics(
    model: Recommender, test: Dataset, options: EvalOptions, min_ratings_list: list[int], per_user: bool = False
) -> tuple[dict[int, dict[str, Any]], dict[int, list[np.ndarray]]]:
    """Ranking and beyond-accuracy metrics for each guard value, through ``rank_states`` in blocks of users.

    Returns
    -------
    metrics : dict of min_ratings -> dict
        Means of ``RANKING_KEYS`` over users with a relevant test film, ``BEYOND_KEYS``,
        ``n_users_ranked``, ``n_users_cold`` (test users unknown in training), ``n_users_no_test``
        (training users with no test rows, e.g. last-n's users with n or fewer ratings); with ``per_user``
        also ``ndcg_per_user`` (list of float, one per ranked user).
    lists : dict of min_ratings -> list of ndarray (item positions per ranked user)
    """
    import scipy.sparse as sp

    k = options.k
    if options.ties not in ("pessimistic", "serve"):
        raise DataValidationError(f"ties must be 'pessimistic' or 'serve', got {options.ties!r}")
    rel = _test_relevance(model, test, options.relevance_threshold)
    n_test_users = test.ratings["user_id"].n_unique()
    n_known = int((model.users_.positions(test.users.ids.to_list()) >= 0).sum())
    per: dict[int, dict[str, list[float]]] = {m: {key: [] for key in RANKING_KEYS} for m in min_ratings_list}
    lists: dict[int, list[np.ndarray]] = {m: [] for m in min_ratings_list}
    index = index_for(model)
    ranked_users = list(rel)
    for start in range(0, len(ranked_users), EVAL_BLOCK):
        block = np.array(ranked_users[start : start + EVAL_BLOCK], dtype=np.int64)
        states = model.user_states(block)
        demote = None
        if options.ties == "pessimistic":  # held-out films lose every tie: ties never flatter a model
            cols = [np.sort(np.array(rel[int(u)][0], dtype=np.int64)) for u in block]
            indptr = np.r_[0, np.cumsum([c.size for c in cols])]
            data = np.ones(int(indptr[-1]), dtype=np.float32)
            demote = sp.csr_matrix(
                (data, np.concatenate(cols) if cols else [], indptr), shape=(block.size, model.n_items)
            )
        for m in min_ratings_list:
            policy = resolve_policy(model, m, options.rank_by, options.confidence_weight)
            ranked = rank_states(model, states, k, policy, index=index, demote=demote, ties=options.ties)
            for row, u in enumerate(block.tolist()):
                top = ranked.item_idx[row][ranked.item_idx[row] >= 0]
                grades = rel[u][1]
                rec = top.tolist()
                lists[m].append(top)
                acc = per[m]
                acc["precision"].append(precision_at_k(rec, grades, k))
                acc["recall"].append(recall_at_k(rec, grades, k))
                acc["ndcg"].append(ndcg_at_k(rec, grades, k, gain="binary"))
                acc["ndcg_graded"].append(ndcg_at_k(rec, grades, k, gain="linear"))
                acc["map"].append(average_precision_at_k(rec, grades, k))
                acc["mrr"].append(reciprocal_rank_at_k(rec, grades, k))
                acc["hit_rate"].append(hit_rate_at_k(rec, grades, k))
    genres = _genre_sets(model)
    out: dict[int, dict[str, Any]] = {}
    for m in min_ratings_list:
        row_metrics: dict[str, Any] = {key: float(np.mean(v)) if v else 0.0 for key, v in per[m].items()}
        ls, counts = lists[m], model.item_counts_
        row_metrics.update(
            coverage=beyond.catalogue_coverage(ls, model.n_items),
            novelty=beyond.novelty(ls, counts, model.n_users),
            avg_popularity=beyond.average_popularity(ls, counts),
            obscure_share=beyond.obscure_share(ls, counts, options.obscure_below),
            diversity=beyond.intra_list_diversity(ls, genres),
            n_users_ranked=len(rel),
            n_users_cold=int(n_test_users - n_known),
            n_users_no_test=int(model.n_users - n_known),
        )
        if per_user:
            row_metrics["ndcg_per_user"] = list(per[m]["ndcg"])
        out[m] = row_metrics
    return out, lists


def _genre_sets(model: Recommender) -> list[frozenset[str]]:
    return [frozenset(g or []) for g in model.item_table()["genres"].to_list()]


def _attach_curve(model: Recommender, test: Dataset, curve: list[dict[str, float]]) -> None:
    """If the model takes an iteration ``callback``, record train and test RMSE after each sweep."""
    if not hasattr(model, "callback"):
        return
    r = test.ratings
    truth = r["rating"].to_numpy().astype(np.float64)
    cache: dict[str, np.ndarray] = {}
    previous = model.callback

    def on_iteration(it: int, entry: dict[str, float]) -> None:
        if not cache:
            cache["u"] = model.users_.positions(r["user_id"].to_list())
            cache["i"] = model.items_.positions(r["movie_id"].to_list())
        raw = np.nan_to_num(
            model._predict_idx(cache["u"], cache["i"], r["timestamp"].to_numpy()), nan=model.global_mean_
        )
        pred = np.clip(raw, model.scale_.low, model.scale_.high)
        curve.append(
            {
                "iteration": it,
                "train_rmse": entry["train_rmse"],
                "test_rmse": float(np.sqrt(np.mean((pred - truth) ** 2))),
            }
        )
        if previous:
            previous(it, entry)

    model.callback = on_iteration


def evaluate_model(
    model: Recommender, split: Split, options: EvalOptions, guard: bool = False
) -> tuple[dict[str, Any], dict[int, dict[str, Any]], list[np.ndarray]]:
    """Metrics of a fitted model on ``split.test``: rating (if it predicts ratings), ranking, beyond.

    Returns
    -------
    row : dict
        Flat metrics at the model's guard; ``rank_by`` and ``confidence_weight`` say what the lists ranked by.
    guard_rows : dict of min_ratings -> metrics (empty unless ``guard``)
    lists : the ranked lists at the model's guard
    """
    test = split.test
    row: dict[str, Any] = {}
    if getattr(model, "predicts_ratings", True):
        r = test.ratings
        pred = model.predict(r["user_id"].to_list(), r["movie_id"].to_list(), r["timestamp"].to_numpy())
        rm = rating_metrics(r["rating"].to_numpy(), pred.rating, pred.cold_start)
        row.update(rmse=rm.rmse, mae=rm.mae, rmse_warm=rm.rmse_warm, n_pairs=rm.n_pairs, n_cold_pairs=rm.n_cold)
        row["coverage_note"] = rm.describe()
    else:
        row.update(rmse=None, mae=None, rmse_warm=None, n_pairs=test.n_ratings, n_cold_pairs=None)
        row["coverage_note"] = "ranking-only model: no rating predictions"
    policy = resolve_policy(model, options.min_ratings, options.rank_by, options.confidence_weight)
    m = policy.min_ratings
    grid = sorted({m, *options.guard_grid}) if guard else [m]
    by_guard, lists = ranking_metrics(model, test, options, grid)
    weight = policy.confidence_weight if policy.rank_by == "confidence" else None
    row.update(min_ratings=m, rank_by=str(policy.rank_by), confidence_weight=weight, **by_guard[m])
    return row, ({g: by_guard[g] for g in grid} if guard else {}), lists[m]


def run_protocol(
    data: Dataset | str | Path,
    protocol: str,
    models: list[str],
    configs: dict[str, dict[str, Any]] | None = None,
    split_options: SplitOptions | None = None,
    options: EvalOptions | None = None,
    factory: Callable[[str], Recommender] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Run every model through every split of a protocol.

    Parameters
    ----------
    models : list of str
        Names in ``movierec.models.MODELS`` (or known to ``factory``).
    configs : dict of model name -> config dict, optional
        Passed to ``make_model``.
    factory : callable, optional
        ``factory(name) -> unfitted Recommender``; replaces ``make_model`` (e.g. another engine).
    on_step : callable, optional
        Called with a short description after each (model, split) fit; for progress bars.

    Raises
    ------
    DataValidationError
        Unknown protocol or model, bad options, or a split with an empty side.
    """
    configs = configs or {}
    options = options or EvalOptions()
    build = factory or (lambda name: make_model(name, configs.get(name)))
    for name in models:  # fail before any fit
        build(name)
    result: EvaluationResult | None = None
    for s, split in enumerate(make_splits(data, protocol, split_options)):
        if result is None:
            result = EvaluationResult(
                protocol,
                split.train.summary() | {"source": str(getattr(data, "name", data))},
                {**vars(options), **vars(split_options or SplitOptions())},
                catalogue_counts=split.train.item_counts().tolist(),
            )
        for name in models:
            model = build(name)
            curve: list[dict[str, float]] = []
            if s == 0:
                _attach_curve(model, split.test, curve)
            t0 = time.perf_counter()
            model.fit(split.train)
            fit_seconds = time.perf_counter() - t0
            row, guard_rows, lists = evaluate_model(model, split, options, guard=s == 0 and bool(options.guard_grid))
            result.rows.append({"model": name, "split": split.name, **row, "fit_seconds": fit_seconds})
            if s == 0:
                if curve:
                    result.curves[name] = curve
                if guard_rows:
                    result.guard[name] = [{"min_ratings": g, **v} for g, v in guard_rows.items()]
                result.popularity[name] = [int(model.item_counts_[i]) for x in lists for i in x]
            if on_step:
                on_step(f"{name} {split.name}")
    if result is None:
        raise DataValidationError(f"protocol {protocol!r} produced no split")
    return result


def evaluate(
    data: Dataset | str | Path,
    models: list[str | Recommender] | tuple[str | Recommender, ...] = ("hybrid",),
    protocol: str = "stratified",
    *,
    k: int = 10,
    min_ratings: int | None = None,
    rank_by: str | None = None,
    relevance_threshold: float | None = None,
    test_fraction: float = 0.25,
    cutoff: str = "0.8",
    last_n: int = 1,
    seed: int = 42,
) -> EvaluationResult:
    """Evaluate models with an honest protocol: each fitted on the training side only, scored on the test side.

    The Python twin of ``movierec evaluate``. ``models`` are names of ``MODELS`` (default configs)
    or unfitted models (your own configs and policies); each is refitted for every split. Lists are
    ranked exactly as ``recommend`` serves them.

    Returns
    -------
    EvaluationResult
        ``.summary()``: one dict of mean metrics per model (RMSE/MAE for rating models, precision,
        recall, NDCG, MAP, MRR, hit rate @k, coverage, novelty, ...); ``.rows``: per split.

    Raises
    ------
    DataValidationError
        An unknown protocol or model, or bad options.

    Examples
    --------
    >>> from movierec import evaluate
    >>> result = evaluate("ml-100k", ["hybrid", "als", "popular"], protocol="stratified", k=10)  # doctest: +SKIP
    >>> [(row["model"], round(row["ndcg"], 3)) for row in result.summary()]  # doctest: +SKIP
    """
    import copy

    given = {m if isinstance(m, str) else m.name: m for m in models}

    def factory(name: str) -> Recommender:
        model = given[name]
        return make_model(model) if isinstance(model, str) else copy.deepcopy(model)

    split_options = SplitOptions(test_fraction=test_fraction, cutoff=cutoff, last_n=last_n, seed=seed)
    options = EvalOptions(k=k, min_ratings=min_ratings, relevance_threshold=relevance_threshold, rank_by=rank_by)
    return run_protocol(data, protocol, list(given), split_options=split_options, options=options, factory=factory)


__all__ = [
    "BEYOND_KEYS",
    "PROTOCOLS",
    "RANKING_KEYS",
    "EvalOptions",
    "EvaluationResult",
    "SplitOptions",
    "evaluate",
    "evaluate_model",
    "make_splits",
    "ranking_metrics",
    "run_protocol",
]
