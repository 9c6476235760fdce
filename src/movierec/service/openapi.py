"""The OpenAPI schema, made to say exactly what the served model accepts.

Two rules depend on the served version, so ``/openapi.json`` is rebuilt (once) for each version:

* a rating (``PUT .../ratings/{movie_id}``, ``POST /v1/recommendations``) is on the model's
  scale: ``minimum`` = low, ``maximum`` = high, ``multipleOf`` = step (MovieLens: 0.5 to 5 in
  half stars), where a fixed 0-10 once let clients send 0 or 7 and get a 422;
* a ``genre`` is one of the served films' genres, any letter case, blank for none (a ``pattern``),
  where a free string once let clients send genres that answer 422.

Without a model the scale is MovieLens' (what the routes check then) and genres are unconstrained.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from movierec.data.dataset import RatingScale
from movierec.ranking.index import index_for
from movierec.service.state import ModelHolder, Snapshot

RATING_BODIES = ("RatingIn", "AnonRating")
GENRE_ALIASES = {"Children": ["Children's"]}
"""Other spellings a genre is accepted under, exactly as written (``movierec.data.movielens.normalise_genre``)."""


def install(app: FastAPI, holder: ModelHolder) -> None:
    """Replace ``app.openapi`` with a per-version schema built from FastAPI's."""
    cache: dict[str | None, dict[str, Any]] = {}
    base: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        snap = holder.current
        key = snap.version if snap is not None else None
        if key not in cache:
            if not base:
                base.append(get_openapi(title=app.title, version=app.version, description=app.description,
                                        routes=app.routes))  # fmt: skip
            cache.clear()
            cache[key] = for_snapshot(base[0], snap)
        return cache[key]

    app.openapi = openapi  # type: ignore[method-assign]


def for_snapshot(schema: dict[str, Any], snap: Snapshot | None) -> dict[str, Any]:
    """A copy of ``schema`` with the rating and genre rules of ``snap`` (or of no model)."""
    out = copy.deepcopy(schema)
    scale = snap.model.scale_ if snap is not None else RatingScale()
    rule = f"Stars on the served model's scale {scale.describe()}"
    for name in RATING_BODIES:
        prop = out["components"]["schemas"][name]["properties"]["rating"]
        prop.update(minimum=scale.low, maximum=scale.high, description=f"{rule} (a JSON number)")
        if scale.step:
            prop["multipleOf"] = scale.step
    if snap is not None:
        pattern = genre_pattern(index_for(snap.model).genres())  # the genres a list can be filtered by
        _each_genre(out, lambda s: s.update(pattern=pattern))
    return out


def genre_pattern(genres: list[str]) -> str:
    """A regular expression (ECMA-262 and Python alike) matching each genre in any letter case, or blank.

    Each letter is a class of its two cases and every other character a one-character class, so
    the pattern needs no flags and no escapes that differ between regex dialects.
    """

    def any_case(name: str) -> str:
        return "".join(f"[{c.upper()}{c.lower()}]" if c.upper() != c.lower() else _one(c) for c in name)

    names = [any_case(g) for g in genres if g.strip() and g != "(no genres listed)"]
    names += ["".join(_one(c) for c in alias) for g in genres for alias in GENRE_ALIASES.get(g, [])]  # exact spelling
    return r"^\s*(?:(?:" + "|".join(names) + r")\s*)?$"


def _one(c: str) -> str:
    return "\\s" if c.isspace() else f"[\\{c}]" if c in "]\\^-[" else f"[{c}]"


def _each_genre(schema: dict[str, Any], apply: Callable[[dict[str, Any]], None]) -> None:
    """Call ``apply`` on the string schema of every ``genre`` query parameter and body property."""
    for operations in schema["paths"].values():
        for op in operations.values():
            for param in op.get("parameters", []):
                if param["name"] == "genre":
                    apply(param["schema"])
    for body in schema["components"]["schemas"].values():
        genre = body.get("properties", {}).get("genre")
        if genre is not None:
            for option in genre.get("anyOf", [genre]):
                if option.get("type") == "string":
                    apply(option)


__all__ = ["for_snapshot", "genre_pattern", "install"]
