"""A rank far beyond memory is refused before any allocation, with the figure and the limit (benfred/implicit#211)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from movierec import ALS, ALSConfig, FitError
from movierec.models import make_model
from movierec.models.memory import available_bytes, factor_fit_bytes
from tests.models.test_als import tiny


@pytest.mark.parametrize("name", ["als", "als-implicit", "hybrid"])
def test_huge_rank_is_refused_before_fitting_with_the_estimate_and_the_limit(name: str, seed: int) -> None:
    ds = tiny(seed)
    model = make_model(name)
    for part in (getattr(model, p) for p in getattr(model, "parts", ())):
        part.config = type(part.config).from_dict({**part.config.to_dict(), "n_factors": 100_000})
    if not hasattr(model, "parts"):
        model.config = type(model.config).from_dict({**model.config.to_dict(), "n_factors": 100_000})
    expected = r"needs about [\d,.]+ GB \(.*factors \(n_factors 100,000\).*more than the [\d,.]+ GB of"
    with pytest.raises(FitError, match=expected):
        model.fit(ds)
    assert not model.fitted_ and not hasattr(model, "item_factors_")


def test_estimate_counts_both_factor_sides_in_float32_and_the_solver_buffers() -> None:
    # 610 users, 9,724 films (ml-latest-small), rank 100,000: (610 + 2 x 9,724) x 100,000 x 4 bytes = 8.02 GB
    parts = factor_fit_bytes(100_000, 610, 9_724)
    assert parts["factors (n_factors 100,000)"] == (610 + 2 * 9_724) * 100_000 * 4
    (solver,) = (v for k, v in parts.items() if k.startswith("solver buffers"))
    assert solver >= 5 * 100_001**2 * 8  # at least one thread's five float64 (k+1)^2 matrices
    assert list(factor_fit_bytes(100_000, 610, 9_724, "spark")) == ["factors (n_factors 100,000)"]


def test_an_address_space_limit_lowers_the_available_figure() -> None:
    code = (
        "import resource\n"
        "from movierec.models.memory import available_bytes\n"
        "vm = next(int(l.split()[1]) * 1024 for l in open('/proc/self/status') if l.startswith('VmSize:'))\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, resource.RLIM_INFINITY))\n"
        "have, source = available_bytes()\n"
        "print(have, source)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ)
    have, source = r.stdout.split(" ", 1)
    assert 0 < int(have) <= 300 * 2**20 and "address-space limit" in source


def test_ordinary_rank_passes_the_check(seed: int) -> None:
    assert sum(factor_fit_bytes(64, 200_000, 60_000).values()) < available_bytes()[0]
    assert ALS(ALSConfig(n_factors=4, n_iter=1)).fit(tiny(seed)).fitted_


@pytest.mark.slow
def test_cli_refuses_a_huge_factors_with_the_training_failed_exit_code(tmp_path: Path) -> None:
    data = tmp_path / "r.csv"
    data.write_text("userId,movieId,rating\n" + "".join(f"{u},{m},4.0\n" for u in range(1, 6) for m in range(1, 6)))
    cmd = [sys.executable, "-m", "movierec", "train", "--data", str(data), "--model", "als", "--factors", "100000",
           "--out", str(tmp_path / "m")]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ)
    assert r.returncode == 5 and "Traceback" not in r.stderr and "n_factors 100,000" in r.stderr
    assert not (tmp_path / "m").exists()
