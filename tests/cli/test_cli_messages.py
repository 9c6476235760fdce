"""What the CLI prints is printed literally, missing extras are named up front, and the small start-up checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import movierec

EXE = [sys.executable, "-m", "movierec"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=os.environ)


def run_without(modules: tuple[str, ...], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process where ``modules`` cannot be imported (as after a bare ``pip install movierec``)."""
    code = (
        "import sys\n"
        f"for m in {modules!r}: sys.modules[m] = None\n"
        "from movierec.cli.main import main\n"
        "sys.argv = ['movierec', *sys.argv[1:]]\n"
        "main()\n"
    )
    cmd = [sys.executable, "-c", code, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ)


@pytest.mark.slow
@pytest.mark.parametrize("value", ["[/b]", "[red]", "[bold]x[/bold]"])
def test_bracketed_values_in_errors_are_printed_literally(tmp_path: Path, value: str) -> None:
    # Textualize/rich#1157: text read as console markup raised MarkupError ("[/b]") or lost "[red]".
    bad = tmp_path / "ratings.csv"
    bad.write_text(f"userId,movieId,rating,timestamp\n1,10,4.0,1000000000\n2,10,{value},1000000050\n")
    r = run("train", "--data", str(bad), "--out", str(tmp_path / "m"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"line 3, column 'rating': rating is not a number (found '{value}')" in r.stderr


@pytest.mark.slow
def test_bracketed_path_that_does_not_exist_is_named_literally(tmp_path: Path) -> None:
    # multiversx/mx-sdk-py-cli#379: a path written like "[/home/...]" crashed the CLI until escaped.
    missing = tmp_path / "x[/b]" / "ratings.csv"
    r = run("ingest", str(missing), "--out", str(tmp_path / "o"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and f"{missing}: no such file" in r.stderr


@pytest.mark.slow
def test_fold_in_file_with_bracketed_rating_names_file_line_and_value(tmp_path: Path) -> None:
    lines = ["userId,movieId,rating"] + [f"{u},{m},{1 + (u + m) % 5}.0" for u in range(1, 12) for m in range(1, 10)]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n")
    assert run("train", "--data", str(tmp_path / "r.csv"), "--model", "als", "--out", str(tmp_path / "m"),
               "--factors", "2", "--iterations", "2").returncode == 0  # fmt: skip
    mine = tmp_path / "mine.csv"
    mine.write_text("movieId,rating\n10,[/i]\n")
    r = run("recommend", "--model", str(tmp_path / "m"), "--ratings", str(mine))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "[/i]" in r.stderr and "line 2" in r.stderr


@pytest.mark.slow
def test_help_keeps_the_extra_in_install_hints() -> None:
    r = run("train", "--help")
    assert r.returncode == 0 and "movierec[spark]" in " ".join(r.stdout.split())


@pytest.mark.slow
def test_version_flag_prints_the_version() -> None:
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"movierec {movierec.__version__}"


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["tune", "--data", "ml-latest-small", "--trials", "1"], "evaluation"),
        (["serve", "--registry", "."], "service"),
        (["db", "init", "--db", "sqlite:///never.db"], "service"),
        (["outcomes", "--db", "sqlite:///never.db"], "service"),
        (["retrain", "--data", "no-such-data", "--db", "sqlite:///never.db", "--registry", "."], "service"),
        (["train", "--data", "no-such-data", "--from-db", "sqlite:///never.db", "--out", "m"], "service"),
        (["evaluate", "--data", "no-such-data", "--report", "r.html"], "evaluation"),
    ],
)
@pytest.mark.slow
def test_missing_extra_is_one_line_with_exit_6_before_any_work(args: list[str], extra: str) -> None:
    r = run_without(("optuna", "matplotlib", "sqlalchemy", "fastapi", "uvicorn"), *args)
    assert r.returncode == 6, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert f"pip install 'movierec[{extra}]'" in r.stderr
    assert not Path("never.db").exists()


@pytest.mark.slow
def test_serve_refuses_a_registry_folder_that_does_not_exist(tmp_path: Path) -> None:
    r = run("serve", "--registry", str(tmp_path / "nope"), "--port", "0")
    assert r.returncode == 4 and "no such folder" in r.stderr and "Traceback" not in r.stderr
