"""``movierec registry``: list a model registry's versions and choose the served one (roll back)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from movierec.cli.common import friendly, out, print_json

app = typer.Typer(
    help="The model registry that `train --registry` publishes to and `serve` serves.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
RegistryDir = Annotated[Path, typer.Option("--registry", help="Registry folder (`movierec train --registry`)")]


def _open(root: Path) -> tuple[Any, str | None, str | None]:
    """The registry, its current version, and why ``CURRENT`` is unusable (None if it is fine)."""
    from movierec.errors import ArtifactError
    from movierec.store.registry import POINTER, VERSIONS, Registry

    if not ((root / VERSIONS).is_dir() or (root / POINTER).is_file()):
        raise ArtifactError(
            f"{root}: not a model registry (no {VERSIONS}/ folder); "
            f"publish a model with `movierec train --registry {root}`"
        )
    reg = Registry(root)
    try:
        return reg, reg.current(), None
    except ArtifactError as exc:  # listed anyway, and `use` repairs it
        return reg, None, str(exc)


def _rows(root: Path) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """The versions' summaries, the current version, and why ``CURRENT`` is unusable."""
    reg, current, broken = _open(root)
    rows = []
    for version in reg.versions():
        meta = reg.read_meta(version)
        rows.append(
            {
                "version": version,
                "current": version == current,
                "model": meta["model"],
                "trained_at": meta.get("created_at", ""),
                "n_users": meta["n_users"],
                "n_items": meta["n_items"],
                "n_ratings": meta["n_ratings"],
                "train_rmse": meta.get("metrics", {}).get("train_rmse"),
            }
        )
    return rows, current, broken


@app.command("list")
@friendly
def list_versions(
    registry: RegistryDir, as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False
) -> None:
    """Every published version, oldest first; the current one (served) is marked."""
    rows, current, broken = _rows(registry)
    experiment = _experiment(registry)
    if as_json:
        print_json({"registry": str(registry), "current": current, "current_error": broken, "versions": rows,
                    "experiment": experiment})  # fmt: skip
        return
    state = (
        f"CURRENT is broken ({broken}); repair it with `movierec registry use VERSION`"
        if broken
        else f"current {current or 'none'}"
    )
    table = Table(title=f"{registry}: {len(rows)} version(s), {state}", title_justify="left")
    for name in ("", "version", "model", "trained at (UTC)", "users", "films", "ratings", "train RMSE"):
        table.add_column(name, justify="right" if name in ("users", "films", "ratings", "train RMSE") else "left")
    for r in rows:
        rmse = "" if r["train_rmse"] is None else f"{r['train_rmse']:.4f}"
        table.add_row("*" if r["current"] else "", r["version"], r["model"], r["trained_at"], f"{r['n_users']:,}",
                      f"{r['n_items']:,}", f"{r['n_ratings']:,}", rmse)  # fmt: skip
    out.print(table)
    if experiment is not None and experiment.get("running"):
        out.print(
            f"experiment {experiment['id']} running: {experiment['canary']} to {experiment['percent']:g}% of users, "
            f"{experiment['control']} to the rest",
            highlight=False,
        )


def _experiment(root: Path) -> dict[str, Any] | None:
    """The registry's experiment record with ``running``, or None (none started, or an unreadable record)."""
    from movierec.errors import ArtifactError
    from movierec.store.registry import Registry

    try:
        found = Registry(root).experiment()
    except ArtifactError:
        return None
    return None if found is None else {**asdict(found), "running": found.running}


@app.command("use")
@friendly
def use(
    version: Annotated[str, typer.Argument(help="The version to serve, e.g. v000001")],
    registry: RegistryDir,
    canary: Annotated[
        float | None,
        typer.Option(
            help="Serve VERSION to this sticky percentage of users (0-100, exclusive) and the current version to "
            "the rest: an A/B experiment; end it with `registry promote` or `registry use VERSION`"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Make VERSION the current one (e.g. roll back), ending a running experiment; or, with --canary, start
    an A/B experiment. A running service swaps at its next registry check."""
    reg, before, broken = _open(registry)  # the same clear error for a folder that is no registry
    if canary is not None:
        _start(reg, registry, version, canary, as_json)
        return
    reg.set_current(version)  # also repairs a broken CURRENT
    before = before or ("a broken pointer" if broken else None)
    if as_json:
        print_json({"registry": str(registry), "current": version, "previous": before})
    else:
        out.print(
            f"{registry}: current version {version} (was {before or 'none'}); a running `movierec serve` "
            "swaps it in within MOVIEREC_RELOAD_INTERVAL seconds, or at once on POST /v1/admin/reload",
            highlight=False,
        )


def _start(reg: Any, registry: Path, version: str, percent: float, as_json: bool) -> None:
    running = _experiment(registry)  # a new experiment replaces it: say so, its users are split anew
    replaced = running["id"] if running is not None and running["running"] else None
    experiment = reg.start_experiment(version, percent)
    if as_json:
        print_json({"registry": str(registry), "experiment": asdict(experiment), "replaced": replaced})
        return
    ended = (
        f" (experiment {replaced} ended: a new experiment splits users anew, and `movierec outcomes` compares the "
        "arms of the latest one)"
        if replaced
        else ""
    )
    out.print(
        f"{registry}: experiment {experiment.id} serves {experiment.canary} to {experiment.percent:g}% of users "
        f"and {experiment.control} to the rest{ended}; compare the arms with `movierec outcomes --db URL`, then "
        "`movierec registry promote` or `movierec registry use VERSION`",
        highlight=False,
    )


@app.command("promote")
@friendly
def promote(
    registry: RegistryDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Make the running experiment's canary the current version and end the experiment."""
    reg, _, _ = _open(registry)
    ended = reg.promote()
    if as_json:
        print_json({"registry": str(registry), "current": ended.canary, "experiment": asdict(ended)})
        return
    out.print(
        f"{registry}: current version {ended.canary} (was {ended.control}); experiment {ended.id} ended",
        highlight=False,
    )
