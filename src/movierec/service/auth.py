"""Who may read and write a user's ratings: user tokens, the admin token, training users.

Rules of the ``/v1/users/{user_id}/...`` routes (checked in this order):

1. reads of a **training user** of the served model (their ratings list, one rating, their
   recommendations) need no token, unless the user holds a token (a user created by ``POST
   /v1/users`` whom a retrain made a training user: ``Snapshot.private_users``);
2. an id that is neither a training user nor in the database's ``users`` table is a 404
   ``unknown_user``, for every route and every token: no request creates a user implicitly,
   so none can squat or exhaust the id space (ids come only from ``POST /v1/users``);
3. the **admin token** (``MOVIEREC_ADMIN_TOKEN``) may act for anyone;
4. otherwise ``Authorization: Bearer <token>`` must carry the user's own token (from ``POST
   /v1/users``, or ``movierec db issue-token``): none or an unknown token is a 401 with
   ``WWW-Authenticate: Bearer``, another user's token a 403. Writes to a training user need the
   admin token (they have no token of their own unless one was issued).

A token is checked with scrypt (``store.tokens``, tens of milliseconds) once per worker: a verified
``(user_id, sha256(token))`` pair is kept with the stored hash it matched, so a later request costs a
SHA-256 and one indexed lookup, and a replaced token (``issue-token``) stops matching at once. The
scrypt work runs in the thread pool, never on the event loop.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from movierec.service import schemas
from movierec.service.core import current_snapshot, is_admin
from movierec.service.errors import ApiError
from movierec.store import db, tokens

UserId = Annotated[int, Path(ge=1, le=schemas.MAX_ID), schemas.DIGITS]
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="userToken",
    description="The user's token from POST /v1/users (shown once), or the admin token (MOVIEREC_ADMIN_TOKEN).",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
CACHE_SIZE = 10_000
"""Verified (user, token) pairs one worker keeps; past it the cache starts again empty."""


class TokenCache:
    """Verified ``(user_id, sha256(token))`` pairs, each with the stored hash it was verified against."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._seen: dict[tuple[int, bytes], str] = {}

    def hit(self, user_id: int, digest: bytes, stored: str | None) -> bool:
        return stored is not None and self._seen.get((user_id, digest)) == stored

    def add(self, user_id: int, digest: bytes, stored: str) -> None:
        if len(self._seen) >= self.size:
            self._seen.clear()
        self._seen[(user_id, digest)] = stored


def unknown_user(user_id: int) -> ApiError:
    return ApiError(
        404,
        "unknown_user",
        f"unknown user id {user_id}: not a training user of the served model and not created by POST /v1/users; "
        "get a new id (and its token) with POST /v1/users",
    )


def _unauthorized(user_id: int, why: str) -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        f"{why}; user {user_id}'s routes need 'Authorization: Bearer <token>' with the token POST /v1/users "
        "gave for that user (or the admin token)",
        {"WWW-Authenticate": "Bearer"},
    )


async def _db(engine: Engine, fn: Any, *args: Any) -> Any:
    """A database lookup: on the event loop for the embedded SQLite file, in the thread pool otherwise
    (the rule of ``GET /v1/users/{id}/recommendations``)."""
    if engine.dialect.name == "sqlite":
        return fn(engine, *args)
    return await run_in_threadpool(fn, engine, *args)


def token_of(creds: HTTPAuthorizationCredentials | None) -> str | None:
    """The bearer token of a request's ``Authorization`` header (as ``HTTPBearer`` parsed it), or None."""
    return creds.credentials if creds is not None else None


def bearer_token(request: Request) -> str | None:
    """The bearer token of ``request`` read without a dependency (the recommendations route: the hot path)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def authorize(request: Request, user_id: int, token: str | None, write: bool) -> None:
    """Let the request act for ``user_id`` by the rules in the module docstring, or raise 401/403/404.

    Raises
    ------
    ApiError
        404 ``unknown_user``, 401 ``unauthorized`` (with ``WWW-Authenticate: Bearer``), 403 ``forbidden``.
    """
    snap = request.app.state.holder.current
    trained = snap is not None and user_id in snap.model.users_
    if trained and not write and user_id not in snap.private_users:  # a dataset's user: public reads
        return
    engine: Engine = request.app.state.engine
    stored, token_hash, key = await _db(engine, db.user_token, user_id)
    if not stored and not trained:
        current_snapshot(request)  # without a model nobody can tell a training user: 503 no_model
        raise unknown_user(user_id)
    if is_admin(request, token):
        return
    if token is None:
        raise _unauthorized(user_id, "no token")
    cache: TokenCache = request.app.state.token_cache
    digest = hashlib.sha256(token.encode()).digest()
    if cache.hit(user_id, digest, token_hash):
        return
    given_key = tokens.token_key(token)
    if token_hash and key == given_key and await run_in_threadpool(tokens.verify_token, token, token_hash):
        cache.add(user_id, digest, token_hash)
        return
    for owner, owner_hash in await _db(engine, db.token_owners, given_key):
        if owner != user_id and (
            cache.hit(owner, digest, owner_hash) or await run_in_threadpool(tokens.verify_token, token, owner_hash)
        ):
            raise ApiError(
                403,
                "forbidden",
                f"this token belongs to another user, not to user {user_id}; use that user's own token",
            )
    raise _unauthorized(user_id, "the token is not valid for this user (wrong, or replaced by a newer one)")


async def read_access(request: Request, user_id: UserId, creds: Credentials) -> None:
    """Dependency of the read routes of ``/v1/users/{user_id}``."""
    await authorize(request, user_id, token_of(creds), write=False)


async def write_access(request: Request, user_id: UserId, creds: Credentials) -> None:
    """Dependency of the write routes of ``/v1/users/{user_id}``."""
    await authorize(request, user_id, token_of(creds), write=True)


def remember(request: Request, user_id: int, token: str, token_hash: str) -> None:
    """Put a token just issued in this worker's cache (its first use needs no scrypt check here)."""
    cache: TokenCache = request.app.state.token_cache
    cache.add(user_id, hashlib.sha256(token.encode()).digest(), token_hash)
