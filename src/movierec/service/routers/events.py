"""``/v1/events``: what a user did with a shown film (clicked it, dismissed it)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import Engine

from movierec.service import schemas
from movierec.service.core import engine, exposure_log
from movierec.service.errors import ApiError, responses
from movierec.service.exposures import ExposureLog
from movierec.store import outcomes

router = APIRouter(prefix="/v1", tags=["outcomes"], responses=responses(404, 413, 422, 503))


@router.post("/events", response_model=schemas.EventOut, status_code=201)
def record_event(
    body: schemas.EventIn,
    eng: Annotated[Engine, Depends(engine)],
    exposures: Annotated[ExposureLog, Depends(exposure_log)],
) -> schemas.EventOut:
    """Record a click or dismissal of a film shown in a recommendation answer (by its ``request_id``).

    404 when no answer had that ``request_id`` or the film was not in it. An event is recorded once:
    sending it again answers the first one's time and stores nothing. Exposures are written in
    batches; an event for an answer still queued writes the queue first, so an event may follow
    its answer at once.
    """
    shown = outcomes.exposure_movies(eng, body.request_id)
    if shown is None and exposures.pending():
        exposures.flush()
        shown = outcomes.exposure_movies(eng, body.request_id)
    if shown is None:
        raise ApiError(
            404, "unknown_request",
            f"request_id: no recommendation answer has the id {body.request_id!r}; "
            "send the request_id of a GET /v1/users/{user_id}/recommendations or POST /v1/recommendations answer",
        )  # fmt: skip
    if body.movie_id not in shown:
        raise ApiError(
            404, "unknown_movie",
            f"movie_id: film {body.movie_id} was not in the answer {body.request_id}; it showed {shown}",
        )  # fmt: skip
    at = outcomes.insert_event(eng, body.request_id, body.movie_id, body.type, time.time())
    return schemas.EventOut(request_id=body.request_id, movie_id=body.movie_id, type=body.type, at=at)
