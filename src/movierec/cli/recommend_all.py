"""``movierec recommend-all``: top-k for every training user of a saved model, to Parquet."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from movierec.cli.common import console, friendly, print_json, progress
from movierec.errors import BackendUnavailableError, DataValidationError


@friendly
def recommend_all(
    model_dir: Annotated[
        Path,
        typer.Option("--model", help="Model folder written by `movierec train`, or a registry (its current version)"),
    ],
    out_path: Annotated[
        Path,
        typer.Option(
            "--out", help="Parquet file to write, replaced if it exists (a folder of part files with --engine spark)"
        ),
    ],
    k: Annotated[int, typer.Option("-k", "--k", help="Films per user")] = 10,
    min_ratings: Annotated[
        int | None,
        typer.Option(
            help="Popularity guard: only films with at least this many training ratings (default: the model's)"
        ),
    ] = None,
    block_size: Annotated[
        int, typer.Option(help="Users per block: one progress step and one Parquet row group")
    ] = 1024,
    engine: Annotated[str, typer.Option(help="local (this machine, blocked BLAS + Numba) or spark")] = "local",
    threads: Annotated[
        int | None, typer.Option(help="Threads for Numba and BLAS (default: $MOVIEREC_THREADS or all cores)")
    ] = None,
    spark_master: Annotated[
        str | None, typer.Option(help="Spark master URL with --engine spark (default local[*])")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with the row count and timing")
    ] = False,
    spark_conf: Annotated[
        list[str] | None, typer.Option(help="--engine spark: Spark setting KEY=VALUE (repeatable)")
    ] = None,
) -> None:
    """Write every training user's top-k (rated films excluded, guard applied) to Parquet, in bounded memory."""
    if k < 1 or block_size < 1:
        raise DataValidationError(f"--k and --block-size must be >= 1, got {k} and {block_size}")
    if min_ratings is not None and min_ratings < 0:  # as recommend
        raise DataValidationError(f"--min-ratings must be >= 0, got {min_ratings}")
    t0 = time.perf_counter()
    from movierec.store.registry import model_folder

    model_dir = model_folder(model_dir)  # a registry means its current version
    if engine == "spark":
        rows = _spark(model_dir, out_path, k, min_ratings, spark_master, spark_conf)
        n_users = None
    elif engine == "local":
        from movierec.kernels.threads import set_threads
        from movierec.ranking.batch import write_recommendations
        from movierec.store import load

        n_threads = set_threads(threads)
        if threads is not None and n_threads < threads:
            console.print(f"note: --threads {threads}: using {n_threads}, the size of Numba's thread pool "
                          "(the cores this process may use; NUMBA_NUM_THREADS sets it)", highlight=False)  # fmt: skip
        model = load(model_dir)
        n_users = model.n_users
        with progress("recommending", n_users, enabled=not as_json) as advance:
            rows = write_recommendations(model, out_path, k=k, min_ratings=min_ratings, block_size=block_size,
                                         progress=lambda n: advance(n, info=f"{n_threads} threads"))  # fmt: skip
    else:
        raise DataValidationError(f"--engine must be local or spark, got {engine!r}")
    seconds = time.perf_counter() - t0
    summary = {
        "out": str(out_path),
        "rows": rows,
        "users": n_users,
        "k": k,
        "engine": engine,
        "seconds": round(seconds, 3),
    }
    if as_json:
        print_json(summary)
    else:
        console.print(f"wrote {rows} recommendations to {out_path} in {seconds:.1f} s", highlight=False)


def _spark(model_dir: Path, out_path: Path, k: int, min_ratings: int | None, master: str | None,
           conf: list[str] | None = None) -> int:  # fmt: skip
    try:
        from movierec.spark import parse_conf, recommend_all_spark
    except ImportError as exc:
        raise BackendUnavailableError(
            f"--engine spark needs the Spark engine and PySpark (pip install 'movierec[spark]'): {exc}"
        ) from None
    return int(recommend_all_spark(model_dir, str(out_path), k=k, min_ratings=min_ratings, spark_master=master,
                                   spark_conf=parse_conf(conf)))  # fmt: skip
