"""``/v1/movies``: search the served model's catalogue, one film, similar films."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import polars as pl
from fastapi import APIRouter, Depends, Path, Query

from movierec.data.movielens import normalise_genre
from movierec.ranking.index import index_for
from movierec.service import schemas
from movierec.service.core import movie_or_404, movie_record, snapshot
from movierec.service.errors import ApiError, responses
from movierec.service.state import Snapshot, search_key

router = APIRouter(prefix="/v1/movies", tags=["movies"], responses=responses(422, 503))
MovieId = Annotated[int, Path(ge=1, le=schemas.MAX_ID), schemas.DIGITS]


@router.get("", response_model=schemas.MoviePage)
def search_movies(
    snap: Annotated[Snapshot, Depends(snapshot)],
    query: Annotated[
        str, Query(max_length=200, description="Substring of the title: any letter case, accents composed or not")
    ] = "",
    genre: Annotated[str, Query(max_length=100, description="Only films of this genre (case-insensitive)")] = "",
    limit: Annotated[int, Query(ge=1, le=100), schemas.DIGITS] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000), schemas.DIGITS] = 0,
) -> schemas.MoviePage:
    """Films whose title contains ``query``, most-rated first (then by id)."""
    cat = snap.catalogue
    q = search_key(query.strip())
    if q:
        cat = cat.filter(pl.col("_title").str.contains(q, literal=True))
    if genre.strip():
        key = normalise_genre(genre).casefold()  # the ranking index's rule: one spelling per genre, any case
        has = pl.col("genres").list.eval(pl.element().str.to_lowercase()).list.contains(key)
        if not snap.catalogue.select(has.any()).item():  # a typo, not an empty result
            known = ", ".join(sorted(set(snap.catalogue["genres"].explode().drop_nulls().to_list()))) or "none"
            raise ApiError(
                422,
                "invalid_input",
                f"genre: no film of the catalogue has the genre {genre.strip()!r}; its genres: {known}",
            )
        cat = cat.filter(has)
    page = cat.slice(offset, limit)
    movies = [schemas.Movie(**movie_record(r)) for r in page.iter_rows(named=True)]
    return schemas.MoviePage(total=cat.height, limit=limit, offset=offset, movies=movies)


@router.get("/{movie_id}", response_model=schemas.Movie, responses=responses(404))
def get_movie(movie_id: MovieId, snap: Annotated[Snapshot, Depends(snapshot)]) -> schemas.Movie:
    """One film of the catalogue."""
    return schemas.Movie(**movie_record(movie_or_404(snap, movie_id)))


@router.get("/{movie_id}/similar", response_model=schemas.SimilarList, responses=responses(404))
def similar_movies(
    movie_id: MovieId,
    snap: Annotated[Snapshot, Depends(snapshot)],
    k: Annotated[int, Query(ge=1, le=schemas.MAX_K), schemas.DIGITS] = 10,
    min_ratings: Annotated[
        int | None, Query(ge=0, description="Popularity guard (default: the model's)"), schemas.DIGITS
    ] = None,
) -> schemas.SimilarList:
    """Films most similar by co-ratings (see ``movierec.ranking.explain``); empty for films without ratings."""
    movie_or_404(snap, movie_id)
    model = snap.model
    item = model.items_.get(movie_id)
    out: list[schemas.SimilarMovie] = []
    if item >= 0:
        guard = model.policy.min_ratings if min_ratings is None else min_ratings
        mask = np.zeros(model.n_items, dtype=bool)
        mask[index_for(model).eligible(guard).positions] = True
        pos, sims = snap.similarity.most_similar(item, k, mask)
        for p, s in zip(pos.tolist(), np.asarray(sims).tolist(), strict=True):
            row = snap.movie(model.items_.ids[p])
            if row is not None:
                out.append(schemas.SimilarMovie(**movie_record(row), similarity=round(float(s), 4)))
    return schemas.SimilarList(movie_id=movie_id, model_version=snap.version, similar=out)
