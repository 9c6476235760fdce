"""``train(spec) -> result``: the rules of training a model, for the CLI and for Python alike.

What a ``TrainSpec`` says, and the rules applied (in this order, every refusal before any work):

* the model by name (``MODELS``) and its configuration: the model's defaults, else the whole
  config of a config file (``movierec tune`` writes one), then ``explicit`` options given one by
  one (rank, sweeps, λ, λ_b, seed, solver) merged into the model's explicit ALS config (the
  config itself for ``als``, its ``explicit`` part for ``hybrid``, ``als-time``, ``bias-time`` and
  ``als-bayes``, ``temporal.explicit`` for ``als-bayes-time``; ``als-implicit`` takes the ones it
  has) — options given always win over the file;
* the ranking policy: the model's default, else the file's, then the ``policy`` options given;
* where the model is written: ``out`` (a folder, refused up front if it holds anything else) and/or
  a ``registry`` (published as a new version; ids the service cannot take are refused before
  training);
* the engine: ``local``, or ``spark`` for ``als``, ``als-implicit`` and ``hybrid`` (``als-time``
  and ``bias-time`` are refused with the reason; ``--from-db`` is local only);
* ``from_db``: the base dataset plus every rating of a service database (the database wins where
  both rate a pair), after checking that the database's catalogue is this dataset's.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from movierec.data.dataset import Dataset
from movierec.errors import DataValidationError
from movierec.models import MODELS, Recommender, make_model

EXPLICIT_KEYS = ("n_factors", "n_iter", "reg", "bias_reg", "random_state", "solver", "cg_steps")
"""The explicit-ALS options ``TrainSpec.explicit`` may set (``ALSConfig`` fields)."""


class Engine(enum.StrEnum):
    """Where a model is trained."""

    LOCAL = "local"
    SPARK = "spark"


SPARK_MODELS = ("als", "als-implicit", "hybrid")
"""Models ``Engine.SPARK`` trains (the same model folder as the local engine)."""


@dataclass
class TrainSpec:
    """What to train, on what, and where to write it.

    Attributes
    ----------
    data : str or Path
        A dataset name in the data home, a MovieLens folder or ratings file, an ingested dataset
        folder; with ``Engine.SPARK`` any URI Spark reads.
    model : str, default "hybrid"
    config : dict, optional
        The model's whole config (e.g. from ``evaluation.tuning.read_config_file``).
    policy_base : dict, optional
        The policy that comes with ``config`` (a config file's).
    explicit : dict, optional
        Explicit ALS options given one by one (keys of ``EXPLICIT_KEYS``); they win over ``config``.
    policy : dict, optional
        Ranking policy options given (``min_ratings``, ``rank_by``, ``confidence_weight``).
    engine : Engine, default local
    spark_master, spark_conf : optional
        ``Engine.SPARK``: master URL and settings.
    from_db : str, optional
        SQLAlchemy URL of a ratings database to train on as well.
    out : Path, optional
        Model folder to write (replaced atomically).
    registry : Path, optional
        Registry to publish a new version to.
    callback : callable, optional
        ``callback(iteration, entry)`` after each sweep of iterative models.
    """

    data: str | Path
    model: str = "hybrid"
    config: dict[str, Any] | None = None
    policy_base: dict[str, Any] | None = None
    explicit: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    engine: Engine = Engine.LOCAL
    spark_master: str | None = None
    spark_conf: dict[str, str] = field(default_factory=dict)
    from_db: str | None = None
    out: Path | None = None
    registry: Path | None = None
    callback: Callable[[int, dict[str, Any]], None] | None = None


@dataclass
class TrainResult:
    """What ``train`` made.

    Attributes
    ----------
    model : Recommender
        The fitted model.
    dataset : Dataset
        The training data.
    out : Path or None
        The model folder written (the version's folder when published).
    version : str or None
        The registry version published.
    seconds : float
        Wall time of the whole fit (``model.fit_info_["fit_seconds"]``).
    """

    model: Recommender
    dataset: Dataset
    out: Path | None
    version: str | None
    seconds: float

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (what ``movierec train --json`` prints)."""
        return {
            "model": self.model.name, "out": None if self.out is None else str(self.out), "version": self.version,
            "config": self.model.config_dict(), "policy": self.model.policy.to_dict(), "data": self.dataset.summary(),
            "metrics": self.model.fit_info_,
        }  # fmt: skip


def build_model(spec: TrainSpec) -> Recommender:
    """The unfitted model of a spec (config file, options and policy merged by the rules above).

    Raises
    ------
    DataValidationError
        An unknown model, an option the model does not take, or an invalid value.
    """
    if spec.model not in MODELS:
        raise DataValidationError(f"--model: unknown model {spec.model!r}; choose one of {', '.join(sorted(MODELS))}")
    default = make_model(spec.model, spec.config)
    config = default.config_dict()
    unknown = sorted(set(spec.explicit) - set(EXPLICIT_KEYS))
    if unknown:
        raise DataValidationError(f"train: unknown explicit ALS options {unknown}; allowed: {', '.join(EXPLICIT_KEYS)}")
    if spec.explicit:
        sub = config.get("explicit")
        target: dict[str, Any] = sub if isinstance(sub, dict) else config
        if isinstance(config.get("temporal"), dict):  # als-bayes-time: the explicit part inside its temporal config
            target = config["temporal"]["explicit"]
        if target is config and spec.model != "als":
            taken = [k for k in spec.explicit if k in config]
            refused = sorted(set(spec.explicit) - set(taken))
            if refused or not taken:
                raise DataValidationError(
                    f"train: --model {spec.model} has no explicit ALS part; "
                    f"it does not take {', '.join(refused or sorted(spec.explicit))}"
                )
        target.update(spec.explicit)
    policy = default.policy if spec.policy_base is None else default.policy.with_overrides(**spec.policy_base)
    return make_model(spec.model, config, policy.with_overrides(**spec.policy))


def train(spec: TrainSpec) -> TrainResult:
    """Train, save and/or publish a model by the rules of the module docstring.

    Raises
    ------
    DataValidationError
        Bad options, an unwritable ``out``, an engine that cannot train the model, ids a registry
        cannot serve, bad data.
    BackendUnavailableError
        ``Engine.SPARK`` without PySpark or Java.
    """
    from movierec.data.folder import ensure_replaceable
    from movierec.store.artifact import MODEL_JSON

    engine = Engine(spec.engine)
    if spec.out is None and spec.registry is None:
        raise DataValidationError("train: give --out DIR, --registry DIR, or both")
    if spec.out is not None:  # refuse before training, not after: out never replaces a user's files
        ensure_replaceable(spec.out, (MODEL_JSON,), "model folder")
    model = build_model(spec)
    if spec.callback is not None and hasattr(model, "callback"):
        model.callback = spec.callback
    if engine == Engine.SPARK:
        model, dataset = _train_spark(spec, model)
    else:
        dataset = _local_data(spec)
        model.fit(dataset)
    out, version = spec.out, None
    if spec.out is not None:
        from movierec.store import save

        save(model, spec.out)
    if spec.registry is not None:
        from movierec.store.registry import Registry

        version = Registry(spec.registry).publish(model)
        out = spec.registry / "versions" / version
    return TrainResult(model, dataset, out, version, float(model.fit_info_.get("fit_seconds", 0.0)))


def _local_data(spec: TrainSpec) -> Dataset:
    from movierec.data.load import load_movielens

    dataset = load_movielens(spec.data)
    if spec.from_db is not None:  # base dataset plus every rating in the service's database
        from movierec.store import db as store_db

        dataset = store_db.with_db_ratings(dataset, store_db.make_engine(spec.from_db, existing=True))
    if spec.registry is not None:  # before training, not after
        from movierec.store.registry import require_servable_ids

        require_servable_ids(dataset.users, dataset.items)
    return dataset


def _train_spark(spec: TrainSpec, model: Recommender) -> tuple[Recommender, Dataset]:
    if spec.model not in SPARK_MODELS:
        if hasattr(model, "temporal_config"):
            from movierec.spark import spark_model

            spark_model(model.temporal_config)  # raises with the reason
        raise DataValidationError(f"train: --engine spark trains {', '.join(SPARK_MODELS)}; got --model {spec.model}")
    if spec.from_db is not None:
        raise DataValidationError(
            "train: --from-db works with --engine local only; export the database ratings to Parquet for Spark"
        )
    from movierec.spark import train_spark

    config = model.config  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    fitted, dataset = train_spark(
        str(spec.data), config, spec.spark_master, spec.spark_conf, spec.callback, model.policy
    )
    fitted.fit_info_.setdefault("fit_seconds", time.perf_counter() - t0)
    if spec.registry is not None:
        from movierec.store.registry import require_servable_ids

        require_servable_ids(dataset.users, dataset.items)
    return fitted, dataset


# ------------------------------------------------------------------ kernels
# Numba compiles a kernel on its first call and caches the machine code on disk (``cache=True``), so
# the first run of a fresh install spends tens of seconds compiling. ``warm_kernels(model)`` fits a
# tiny instance of the same model and ranks for it, which compiles or loads exactly the kernels (and
# argument types) the real fit and ranking use; ``kernels_cached()`` says whether the disk cache holds
# them, so the CLI says "compiling kernels (first run only)" instead of counting compilation as
# training. Numba keys its cache on each kernel's own source file only: after editing a kernel that
# another file calls, delete the ``*.nbi``/``*.nbc`` files (CONTRIBUTING.md).

_WARMED: set[str] = set()


def _cache_dirs() -> list[Path]:
    import movierec

    root = Path(movierec.__file__).parent
    dirs = [root / "kernels" / "__pycache__", root / "ranking" / "__pycache__"]
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:
        dirs.append(Path(custom))
    return dirs


def kernels_cached() -> bool:
    """Whether Numba's disk cache holds the ALS half-step (a first run has no cache yet)."""
    return any(d.exists() and any(d.rglob("*solve_half_step*.nbi")) for d in _cache_dirs())


def warm_kernels(model_name: str = "hybrid") -> None:
    """Compile or load the kernels of ``model_name``'s fit, fold-in and ranking (once per process)."""
    if model_name in _WARMED:
        return
    from movierec.config import ALSConfig
    from movierec.data.synth import synthetic_dataset
    from movierec.ranking import recommend

    if model_name not in MODELS:
        return
    data = synthetic_dataset(600, n_users=24, n_items=20, seed=0)
    small = ALSConfig(n_factors=2, n_iter=1).to_dict()
    configs = {
        "als": small, "hybrid": {"explicit": small, "implicit": {"n_factors": 2, "n_iter": 1}},
        "als-implicit": {"n_factors": 2, "n_iter": 1}, "als-time": {"explicit": small, "user_scale": True},
        "bias-time": {"explicit": small}, "als-bayes": {"explicit": small, "n_burn": 1, "n_samples": 1},
        "als-bayes-time": {"temporal": {"explicit": small, "item_time_bins": 2}, "n_burn": 1, "n_samples": 1},
    }  # fmt: skip
    model = make_model(model_name, configs.get(model_name)).fit(data)
    user = data.users.ids[0]
    recommend(model, user, k=3, min_ratings=0)
    recommend(model, ratings=[(data.items.ids[0], 4.0)], k=3, min_ratings=0)
    _WARMED.add(model_name)


__all__ = [
    "EXPLICIT_KEYS",
    "Engine",
    "SPARK_MODELS",
    "TrainResult",
    "TrainSpec",
    "build_model",
    "kernels_cached",
    "train",
    "warm_kernels",
]
