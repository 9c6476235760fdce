"""``movierec demo``: the research-to-production lesson in one screen."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.columns import Columns

from movierec.cli.common import friendly, out, print_json, progress, recommendations_table
from movierec.data import load_movielens
from movierec.models import Hybrid
from movierec.ranking.demo import demo_lists


@friendly
def demo(
    data: Annotated[
        str, typer.Option(help="Dataset (ml-latest ids: the built-in profile uses them)")
    ] = "ml-latest-small",
    k: Annotated[int, typer.Option("-k", "--k")] = 10,
    min_ratings: Annotated[int | None, typer.Option(help="Popularity guard for the guarded list")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Train on ml-latest-small, fold in a built-in profile, show the research list beside the production list."""
    dataset = load_movielens(data)
    model = Hybrid()
    with progress("training", model.explicit.config.n_iter, enabled=not as_json) as advance:
        model.callback = lambda it, h: advance(1, info=f"train RMSE {h['train_rmse']:.4f}")
        model.fit(dataset)
    lists = demo_lists(model, k=k, min_ratings=min_ratings)
    if as_json:
        print_json({
            "unguarded": [r.to_dict() for r in lists["unguarded"]],
            "guarded": [r.to_dict() for r in lists["guarded"]],
            "min_ratings": lists["min_ratings"],
            "profile": lists["profile"],
            "model": {"model": model.name, "config": model.config_dict(), "metrics": model.fit_info_},
        })  # fmt: skip
        return
    out.print(
        f"A profile of {len(lists['profile'])} ratings (loves animated and children's films, dislikes horror), "
        f"folded into the hybrid model (explicit + implicit ALS) trained on {dataset.n_ratings:,} ratings."
    )
    out.print(
        Columns(
            [
                recommendations_table("Research: explicit ALS, by predicted rating, no guard", lists["unguarded"]),
                recommendations_table(
                    f"Production: hybrid, films with >= {lists['min_ratings']} ratings", lists["guarded"]
                ),
            ]
        )
    )
    out.print(
        "Left: films that one or two strangers loved top the list. Right: what this user will choose to watch and "
        "like, with each film's rating evidence weighed and the popularity guard applied."
    )
