"""Service settings, read from environment variables (prefix ``MOVIEREC_``) by pydantic-settings.

=============================  ==========================  =============================================
Variable                       Default                     Meaning
=============================  ==========================  =============================================
``MOVIEREC_REGISTRY``          (none)                      Model registry folder; without one every
                                                           model route answers 503 ``no_model``.
``MOVIEREC_DATABASE_URL``      ``sqlite:///movierec.db``   SQLAlchemy URL of the ratings database
                                                           (SQLite file, or ``postgresql+psycopg2://...``).
``MOVIEREC_ADMIN_TOKEN``       (none)                      Bearer token of ``/v1/admin/*``; it may also act
                                                           for any user (``/v1/users/{id}/...``). Unset =
                                                           the admin routes always answer 401.
``MOVIEREC_RATE_WRITES_PER_MIN``  ``60``                   Rating writes (``PUT``/``DELETE``) a minute per
                                                           user token and, separately, per client address
                                                           (token buckets in each worker); 0 = no limit.
``MOVIEREC_RATE_SIGNUPS_PER_MIN`` ``10``                   ``POST /v1/users`` a minute per client address;
                                                           0 = no limit.
``MOVIEREC_RATE_BURST``        ``30``                      Requests a bucket allows at once (its size);
                                                           past it: 429 ``rate_limited``, ``Retry-After``.
                                                           The admin token is never limited.
``MOVIEREC_RELOAD_INTERVAL``   ``2.0``                     Seconds between checks of the registry's
                                                           current version; 0 turns polling off.
``MOVIEREC_CORS_ORIGINS``      ``[]``                      JSON list of allowed browser origins; empty =
                                                           no CORS headers (cross-origin calls refused).
``MOVIEREC_MAX_BODY_BYTES``    ``1048576``                 Largest request body in bytes (413 beyond).
``MOVIEREC_MAX_IN_FLIGHT``     ``64``                      Requests one worker holds at once (running or
                                                           waiting); one more is answered at once with 503
                                                           ``overloaded`` and ``Retry-After: 1``.
``MOVIEREC_DB_INIT``           ``true``                    Create missing tables at start-up.
``MOVIEREC_DB_BUSY_TIMEOUT``   ``10``                      SQLite: seconds a write waits for the write
                                                           lock before answering 503 ``database_busy``
                                                           (with ``Retry-After``).
``MOVIEREC_BLAS_THREADS``      ``1``                       BLAS threads per process. A request's maths is
                                                           small; more threads only fight the server's own
                                                           (with OpenBLAS, 2+ threads melted p99 under load).
``MOVIEREC_KEEP_ALIVE``         ``75``                      Seconds an idle keep-alive connection stays open
                                                           (Uvicorn's own default, 5, is shorter than most
                                                           clients' pool idle times: a request sent as the
                                                           server closes gets "connection reset").
``MOVIEREC_ACCESS_LOG``         ``false``                   One log line per request (Uvicorn's access log).
=============================  ==========================  =============================================

List lengths are fixed in the API schema (see ``movierec.service.schemas``):
at most ``MAX_RATINGS`` = 1000 ratings in ``POST /v1/recommendations`` and
``MAX_PAIRS`` = 1000 pairs of at most ``MAX_PAIR_USERS`` = 100 distinct users in ``POST /v1/predictions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from movierec.errors import DataValidationError
from movierec.store.db import DEFAULT_URL


class Settings(BaseSettings):
    """Settings of one service process (see the module docstring for the variables)."""

    model_config = SettingsConfigDict(env_prefix="MOVIEREC_", extra="ignore")

    registry: Path | None = None
    database_url: str = DEFAULT_URL
    admin_token: SecretStr | None = None
    rate_writes_per_min: float = Field(60.0, ge=0)
    rate_signups_per_min: float = Field(10.0, ge=0)
    rate_burst: int = Field(30, ge=1, le=1_000_000)
    reload_interval: float = Field(2.0, ge=0)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(1 << 20, ge=1024)
    max_in_flight: int = Field(64, ge=4, le=100_000)
    db_init: bool = True
    db_busy_timeout: float = Field(10.0, ge=0, le=600)
    blas_threads: int = Field(1, ge=1)
    keep_alive: float = Field(75.0, gt=0, le=3600)
    access_log: bool = False

    def uvicorn_options(self) -> dict[str, Any]:
        """The options of ``uvicorn.run`` that come from these settings (``movierec serve`` passes them)."""
        return {"timeout_keep_alive": self.keep_alive, "access_log": self.access_log}


def load_settings() -> Settings:
    """``Settings()`` from the environment, or one error naming each bad variable, its value and the rule.

    Raises
    ------
    DataValidationError
        If a ``MOVIEREC_*`` variable does not parse or is out of range.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"MOVIEREC_{'_'.join(str(p) for p in e['loc']).upper()}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        ]
        raise DataValidationError(
            "service settings: " + "; ".join(problems) + " (see README, Service, Settings)"
        ) from None
