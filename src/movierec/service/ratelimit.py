"""Rate limits of the write routes: in-process token buckets per user token and per client address.

A bucket holds at most ``MOVIEREC_RATE_BURST`` requests and refills at ``..._PER_MIN / 60`` a
second; a request that finds it empty is answered 429 ``rate_limited`` with ``Retry-After`` (whole
seconds until the bucket holds one again) and does nothing.

* rating writes (``PUT``/``DELETE /v1/users/{id}/ratings...``): one bucket per token presented and
  one per client address, ``MOVIEREC_RATE_WRITES_PER_MIN``; a request spends from both;
* sign-up (``POST /v1/users``): one bucket per client address, ``MOVIEREC_RATE_SIGNUPS_PER_MIN``.

The admin token is never limited. A rate of 0 turns that limit off. GET routes are not limited.
Buckets live in each worker process (N workers allow N times the rate) and are taken before the
token is checked, so guessing tokens spends them too. The client address is the connection's peer:
behind a reverse proxy, run Uvicorn with ``--proxy-headers`` and ``--forwarded-allow-ips`` so it is
the client's, or every client shares the proxy's bucket.
"""

from __future__ import annotations

import hashlib
import math
import time

from fastapi import Request

from movierec.service.auth import Credentials, token_of
from movierec.service.core import is_admin
from movierec.service.errors import ApiError

MAX_KEYS = 100_000
"""Buckets kept per kind; past it, full ones (indistinguishable from new ones) are dropped."""


class TokenBuckets:
    """Token buckets by key: ``per_min`` requests a minute, ``burst`` at once."""

    def __init__(self, per_min: float, burst: int, max_keys: int = MAX_KEYS) -> None:
        self.rate, self.burst, self.max_keys = per_min / 60.0, float(burst), max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, time of that count)

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` may make a request, or 0 (and the request is counted)."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._prune(now)
        self._buckets[key] = (tokens - 1.0, now)
        return 0.0

    def _prune(self, now: float) -> None:
        full = [k for k, (t, then) in self._buckets.items() if t + (now - then) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]


class Limits:
    """The buckets of one app: writes per token, writes per address, sign-ups per address."""

    def __init__(self, writes_per_min: float, signups_per_min: float, burst: int) -> None:
        self.by_token = TokenBuckets(writes_per_min, burst)
        self.by_address = TokenBuckets(writes_per_min, burst)
        self.signups = TokenBuckets(signups_per_min, burst)


def _refuse(wait: float, what: str) -> ApiError:
    seconds = max(1, math.ceil(wait))
    return ApiError(
        429,
        "rate_limited",
        f"too many {what}; nothing was done, retry after {seconds} s",
        {"Retry-After": str(seconds)},
    )


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


# ``async`` on purpose: they run on the event loop, one at a time, so the buckets need no lock.
async def limit_writes(request: Request, creds: Credentials) -> None:
    """Dependency of the rating writes: spend from the token's and the address's bucket, or 429."""
    token = token_of(creds)
    if is_admin(request, token):
        return
    limits: Limits = request.app.state.limits
    wait = limits.by_address.wait(_address(request))
    if not wait and token is not None:
        wait = limits.by_token.wait(hashlib.sha256(token.encode()).hexdigest())
    if wait:
        raise _refuse(wait, "rating writes")


async def limit_signups(request: Request, creds: Credentials) -> None:
    """Dependency of ``POST /v1/users``: spend from the address's sign-up bucket, or 429."""
    if is_admin(request, token_of(creds)):
        return
    wait = request.app.state.limits.signups.wait(_address(request))
    if wait:
        raise _refuse(wait, "sign-ups from this address")
