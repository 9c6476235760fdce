"""Every exception and warning class of movierec.

Each subclass also inherits the matching built-in, so ``except ValueError`` and
friends keep working. Messages name the input, what was allowed, what was found
and what to try. The service maps these to HTTP codes in one handler and the CLI
maps them to exit codes (see ``EXIT_CODES``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


class MovierecError(Exception):
    """Base class of every error raised on purpose by movierec."""


@dataclass(frozen=True)
class Problem:
    """One rejected input line: where it is and why it was rejected.

    Attributes
    ----------
    file : str
        The input file's path as given.
    line : int
        1-based physical line number in that file (0 when not line-based).
    column : str
        The field at fault, or ``""`` when the whole line is at fault.
    value : str
        The offending text, shortened to 80 characters.
    reason : str
        A short, stable reason code such as ``"rating outside [0.5, 5.0]"``.
    """

    file: str
    line: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.line else self.file
        col = f", column {self.column!r}" if self.column else ""
        return f"{where}{col}: {self.reason} (found {self.value!r})"


class DataValidationError(MovierecError, ValueError):
    """Input data cannot be used as given.

    Parameters
    ----------
    message : str
        What is wrong and what to try.
    problems : list of Problem, optional
        The offending lines, when the error is about specific lines.
    """

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        self.problems = list(problems or [])
        if self.problems:
            shown = "; ".join(str(p) for p in self.problems[:5])
            more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
            message = f"{message}: {shown}{more}"
        super().__init__(message)


class ParameterError(DataValidationError):
    """A parameter's value is not allowed: names the parameter, what is allowed and what was given.

    A ``DataValidationError`` (and so a ``ValueError``), so existing ``except`` clauses keep working.
    The CLI adds the option that sets the parameter (``cli.common.FLAGS``).

    Parameters
    ----------
    parameter : str
        The Python name (``n_factors``, ``min_ratings``).
    allowed : str
        What is allowed, as a phrase ("an integer >= 1", "one of score, rating").
    given : object
        The value given.
    """

    def __init__(self, parameter: str, allowed: str, given: object) -> None:
        self.parameter, self.allowed, self.given = parameter, allowed, given
        super().__init__(f"{parameter} must be {allowed}; got {given!r}")


class UnknownIdError(MovierecError, KeyError):
    """A user or movie id that the model or catalogue does not know."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown id"


class NotFittedError(MovierecError, AttributeError):
    """A model was used before ``fit`` (or ``load``)."""


class FitError(MovierecError, RuntimeError):
    """Training failed, e.g. a factor or bias came out non-finite."""


class BackendUnavailableError(MovierecError, ImportError):
    """An optional backend (PySpark, ...) is not installed or cannot start."""


EXTRAS: dict[str, tuple[str, ...]] = {
    "service": ("fastapi", "uvicorn", "pydantic_settings", "sqlalchemy", "prometheus_client"),
    "database": ("sqlalchemy",),
    "evaluation": ("optuna", "matplotlib"),
    "spark": ("pyspark",),
}
"""Modules each optional extra of ``pyproject.toml`` brings (``database`` is the part of ``service`` that
``movierec db`` needs); ``require_extra`` checks them before any work starts."""


def require_extra(extra: str, needed_for: str, modules: tuple[str, ...] | None = None) -> None:
    """Raise ``BackendUnavailableError`` naming the extra to install when one of its modules is missing.

    Parameters
    ----------
    extra : str
        A key of ``EXTRAS``; the install hint names ``movierec[<extra>]`` (``database`` is in ``service``).
    needed_for : str
        What needs it, for the message (e.g. ``"movierec tune"``).
    modules : tuple of str, optional
        Only these modules (default: all of the extra's).

    Raises
    ------
    BackendUnavailableError
        If a module is not installed. Only looks the modules up (``importlib.util.find_spec``); imports nothing.
    """
    missing = [m for m in modules or EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        dist = "service" if extra == "database" else extra
        raise BackendUnavailableError(
            f"{needed_for} needs the optional extra {dist!r} ({', '.join(missing)} not installed); "
            f"install it with: pip install 'movierec[{dist}]' (in a source checkout: pip install -e '.[{dist}]')"
        )


class DatabaseError(MovierecError, RuntimeError):
    """The ratings database cannot be reached or holds another schema version."""


class ArtifactError(MovierecError, ValueError):
    """A saved model folder is missing, incomplete or of an unknown format version."""


class DataWarning(UserWarning):
    """Input was usable but something about it deserves a look (reported, not fatal)."""


EXIT_CODES: dict[type[MovierecError], int] = {
    DataValidationError: 2,
    UnknownIdError: 3,
    ArtifactError: 4,
    NotFittedError: 4,
    FitError: 5,
    BackendUnavailableError: 6,
    DatabaseError: 7,
}
"""CLI exit code per error class; anything else derived from MovierecError exits 1."""
