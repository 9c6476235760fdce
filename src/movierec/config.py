"""Hyperparameters and ranking policy: one dataclass per model family, each parameter documented once.

The names follow the field and STYLE.md: ``n_factors`` (Spark ``rank``),
``reg`` (Spark ``regParam``), ``n_iter`` (Spark ``maxIter``), ``random_state``.
"""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from movierec.errors import DataValidationError, ParameterError


def config_from_dict(cls: type[Any], values: dict[str, Any], nested: dict[str, type[Any]] | None = None) -> Any:
    """Build the config dataclass ``cls`` from a dict, refusing unknown keys.

    ``nested`` maps a field name to the config class of a sub-config given as a dict
    (e.g. the hybrid's ``{"explicit": ALSConfig}``); each is built the same way.

    Raises
    ------
    DataValidationError
        If a key is not a field of ``cls`` or a value is invalid.
    """
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DataValidationError(f"unknown {cls.__name__} keys {unknown}; allowed: {sorted(known)}")
    v = dict(values)
    for name, sub in (nested or {}).items():
        if isinstance(v.get(name), dict):
            v[name] = config_from_dict(sub, v[name])
    return cls(**v)


SOLVERS = ("cholesky", "cg")
"""Row solvers of the local ALS engine (``ALSConfig.solver``)."""


@dataclass(frozen=True)
class ALSConfig:
    """Configuration of explicit alternating least squares with biases.

    The model is r̂(u, i) = μ + b_u + b_i + p_u · q_i, fitted by minimising

        Σ_(u,i) (r_ui − μ − b_u − b_i − p_u·q_i)²
          + reg · (Σ_u n_u ‖p_u‖² + Σ_i n_i ‖q_i‖²)
          + bias_reg · (Σ_u n_u b_u² + Σ_i n_i b_i²)

    where n_u and n_i are the numbers of ratings of user u and item i. Scaling
    each row's penalty by its rating count is the ALS-WR convention (Zhou et al.
    2008) that Spark's ``regParam`` also uses, so a ``reg`` tuned on one engine
    transfers to the other. μ is the global mean of the training ratings, fixed.

    Attributes
    ----------
    n_factors : int, default 64
        Number of latent factors k (Spark ``rank``). Must be >= 1.
    n_iter : int, default 10
        Number of alternating sweeps (one user half-step and one item half-step
        each; Spark ``maxIter``). Must be >= 1.
    reg : float, default 0.12
        λ for the factors, multiplied by each row's rating count (Spark
        ``regParam``). Must be > 0: with 0 a user with fewer ratings than
        factors has a singular system.
    bias_reg : float, default 0.02
        λ_b for the user and item biases, also multiplied by the row's count.
        Must be >= 0.
    init_scale : float, default 0.1
        Standard deviation of the Gaussian initial factors, divided by
        sqrt(n_factors).
    random_state : int, default 42
        Seed of the initial factors; a fixed seed gives bit-identical factors
        on any number of threads.
    solver : {"cholesky", "cg"}, default "cholesky"
        How the local engine solves each row's ridge system while fitting. "cholesky": exactly
        (normal equations, Cholesky; Woodbury for rows shorter than the rank). "cg": rows of 64 to
        4096 ratings by ``cg_steps`` steps of Jacobi-preconditioned conjugate gradient, warm-started
        from the previous sweep (Takács et al. 2011), the rest exactly: the same test RMSE to 3-4
        decimals on ml-100k, ml-latest-small and the 25M-shaped set, 1.1x faster at ML-25M shape since
        the exact path got faster (1.4-1.6x before); single predictions move by up to 0.006 stars at
        rank 64, more at low rank and λ (docs/decisions/0008). Fold-in is always exact; in ``als-bayes`` it applies to
        the ALS sweeps that start the chain (the draws are exact); the Spark engine refuses it.
    cg_steps : int, default 3
        Conjugate-gradient steps per row and half-step with ``solver="cg"``. Must be >= 1.

    References
    ----------
    Zhou, Wilkinson, Schreiber, Pan. "Large-scale parallel collaborative
    filtering for the Netflix Prize". AAIM 2008. doi:10.1007/978-3-540-68880-8_32
    Koren, Bell, Volinsky. "Matrix factorization techniques for recommender
    systems". IEEE Computer 2009. doi:10.1109/MC.2009.263
    Takács, Pilászy, Tikk. "Applications of the conjugate gradient method for
    implicit feedback collaborative filtering". RecSys 2011. doi:10.1145/2043932.2043987
    """

    n_factors: int = 64
    n_iter: int = 10
    reg: float = 0.12
    bias_reg: float = 0.02
    init_scale: float = 0.1
    random_state: int = 42
    solver: str = "cholesky"
    cg_steps: int = 3

    def __post_init__(self) -> None:
        checks = [
            ("n_factors", "an integer >= 1", self.n_factors, isinstance(self.n_factors, int) and self.n_factors >= 1),
            ("n_iter", "an integer >= 1", self.n_iter, isinstance(self.n_iter, int) and self.n_iter >= 1),
            ("reg", "> 0", self.reg, self.reg > 0),
            ("bias_reg", ">= 0", self.bias_reg, self.bias_reg >= 0),
            ("init_scale", "> 0", self.init_scale, self.init_scale > 0),
            ("solver", f"one of {', '.join(SOLVERS)}", self.solver, self.solver in SOLVERS),
            ("cg_steps", "an integer >= 1", self.cg_steps,
             not isinstance(self.cg_steps, bool) and isinstance(self.cg_steps, int) and self.cg_steps >= 1),
        ]  # fmt: skip
        bad = [ParameterError(name, allowed, given) for name, allowed, given, ok in checks if not ok]
        if len(bad) == 1:
            raise bad[0]
        if bad:
            raise DataValidationError("invalid ALSConfig: " + "; ".join(str(e) for e in bad))

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ALSConfig:
        """Build a config from a dict, refusing unknown keys.

        Raises
        ------
        DataValidationError
            If a key is not a field of ``ALSConfig`` or a value is invalid.
        """
        return config_from_dict(cls, values)


class RankBy(enum.StrEnum):
    """What a recommendation list is ranked by."""

    SCORE = "score"
    """The model's own ranking score (the hybrid's choice-and-liking score; a rating model's predicted rating)."""
    RATING = "rating"
    """The predicted rating r̂_ui alone (the classic explicit list)."""
    CONFIDENCE = "confidence"
    """(r̂_ui − r̂_∅i) + η · ln(1 + n_i): personal taste plus each film's evidence (``movierec.ranking.scoring``)."""


def check_confidence_weight(value: Any) -> float:
    """η as a float; ``DataValidationError`` unless it is a finite number >= 0."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    w = float(value) if ok else float("nan")
    if not math.isfinite(w) or w < 0:
        raise ParameterError("confidence_weight", "a finite number >= 0 (stars per e-fold of ratings)", value)
    return w


def check_min_ratings(value: Any) -> int:
    """The guard as an int; ``DataValidationError`` unless it is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ParameterError("min_ratings", "an integer >= 0", value)
    return int(value)


@dataclass(frozen=True)
class RankingPolicy:
    """How a model's recommendation lists are built by default; saved beside the model in ``model.json``.

    Every call of ``recommend`` (and the service, ``recommend-all`` and ``evaluate``) may override each
    field; the policy is what it uses when none is given.

    Attributes
    ----------
    min_ratings : int, default 0
        Popularity guard: films with fewer training ratings are never recommended (inclusive:
        ``n_ratings >= min_ratings`` passes).
    rank_by : RankBy, default "score"
        What lists are ranked by.
    confidence_weight : float, default 1.25
        η of ``rank_by="confidence"`` in stars per e-fold of training ratings (chosen on validation
        splits of the training side: docs/decisions/0002-confidence-ranking.md).
    """

    min_ratings: int = 0
    rank_by: RankBy = RankBy.SCORE
    confidence_weight: float = 1.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_ratings", check_min_ratings(self.min_ratings))
        object.__setattr__(self, "confidence_weight", check_confidence_weight(self.confidence_weight))
        try:
            object.__setattr__(self, "rank_by", RankBy(self.rank_by))
        except ValueError:
            choices = ", ".join(r.value for r in RankBy)
            raise ParameterError("rank_by", f"one of {choices}", self.rank_by) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"min_ratings": int, "rank_by": str, "confidence_weight": float}``."""
        return {
            "min_ratings": self.min_ratings,
            "rank_by": str(self.rank_by),
            "confidence_weight": self.confidence_weight,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RankingPolicy:
        """Build from a dict, refusing unknown keys (``DataValidationError``)."""
        return config_from_dict(cls, values)

    def with_overrides(self, **changes: Any) -> RankingPolicy:
        """A copy with the fields given (not None) replaced, each validated."""
        given = {k: v for k, v in changes.items() if v is not None}
        return RankingPolicy(**{**self.to_dict(), **given}) if given else self
