"""User tokens: made once, shown once, stored only as a salted scrypt hash.

A token is ``secrets.token_urlsafe(32)`` (32 random bytes, 43 characters). The database keeps

* ``token_hash``: ``scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>``, scrypt (RFC 7914) of the token with a
  random 16-byte salt per user, ``n = 2**14``, ``r = 8``, ``p = 1`` (16 MiB, about 40-60 ms), a 32-byte
  hash; the parameters travel with each hash, so they can change without invalidating stored ones;
* ``token_key``: the first 16 hex digits of the token's SHA-256, an index that finds whose token a
  request carries (a 403 "another user's token" rather than a 401) without trying every hash, and
  lets a wrong token be refused without any scrypt. It cannot verify a token: 192 of the token's
  256 random bits stay unknown to anyone holding it.

Why the service caches verified tokens instead of choosing cheaper parameters:
``docs/decisions/0019-user-tokens.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
_MAXMEM = 64 * 1024 * 1024  # OpenSSL's default (32 MiB) is too tight for n=2**14, r=8 with its overhead


def new_token() -> str:
    """A fresh secret token (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def token_key(token: str) -> str:
    """The lookup key of a token: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _scrypt(token: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(token.encode(), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES, maxmem=_MAXMEM)


def hash_token(token: str) -> str:
    """The stored form of ``token``: ``scrypt$n$r$p$salt$hash`` with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(token, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_token(token: str, stored: str | None) -> bool:
    """Whether ``token`` is the one ``stored`` (a ``hash_token`` result) was made from (constant-time compare).

    False for a missing or malformed ``stored`` value and for a token of unreasonable length.
    """
    if not stored or not 20 <= len(token) <= 200:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        found = _scrypt(token, bytes.fromhex(salt), int(n), int(r), int(p))
        return hmac.compare_digest(found, bytes.fromhex(digest))
    except ValueError:
        return False


def issue() -> tuple[str, str, str]:
    """A new token with its stored forms: ``(token, token_hash, token_key)``."""
    token = new_token()
    return token, hash_token(token), token_key(token)
