"""Model folders: round trip, atomic writes, format checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from movierec import ALS, ALSConfig, ArtifactError, FitError, load, recommend, save
from movierec.errors import UnknownIdError
from tests.conftest import small_dataset


def model() -> ALS:
    rng = np.random.default_rng(3)
    rows = [(u, m, float(rng.integers(1, 11)) / 2, 1000 + u) for u in range(20) for m in range(1, 16) if rng.random() < 0.5]
    return ALS(ALSConfig(n_factors=3, n_iter=3), policy=ALS.default_policy.with_overrides(min_ratings=0)).fit(small_dataset(rows))


def test_round_trip_gives_identical_recommendations(tmp_path: Path) -> None:
    m = model()
    save(m, tmp_path / "m")
    back = load(tmp_path / "m")
    for user in (0, 5, None):  # None: the cold-start list
        assert recommend(m, user, k=5) == recommend(back, user, k=5)
    with pytest.raises(UnknownIdError):
        recommend(back, "nobody", k=5)
    profile = [(1, 5.0), (2, 1.0)]
    assert recommend(m, ratings=profile, k=5) == recommend(back, ratings=profile, k=5)
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["format_version"] == 2 and meta["model"] == "als" and meta["config"]["n_factors"] == 3
    assert meta["policy"] == {"min_ratings": 0, "rank_by": "confidence", "confidence_weight": 1.25} and back.policy == m.policy
    assert "min_ratings" not in meta["config"] and "confidence_weight" not in meta["config"]
    assert {"created_at", "package_version", "data_fingerprint", "metrics", "scale"} <= set(meta)


def test_overwrite_is_atomic_and_leaves_no_temporaries(tmp_path: Path) -> None:
    m = model()
    save(m, tmp_path / "m")
    save(m, tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_non_finite_model_is_never_saved(tmp_path: Path) -> None:
    m = model()
    m.user_factors_[0, 0] = np.inf
    with pytest.raises(FitError):
        save(m, tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_format_version_checked(tmp_path: Path) -> None:
    save(model(), tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "m" / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="format version 99"):
        load(tmp_path / "m")
    with pytest.raises(ArtifactError, match="not a movierec model folder"):
        load(tmp_path / "nothing")


@pytest.mark.parametrize("damage", ["truncated arrays", "junk items table", "empty arrays"])
def test_corrupt_files_give_artifact_error_not_a_traceback(tmp_path: Path, damage: str) -> None:
    # From a new-user trial: a cut arrays.npz raised zipfile.BadZipFile, a junk parquet a polars error.
    save(model(), tmp_path / "m")
    if damage == "truncated arrays":
        data = (tmp_path / "m" / "arrays.npz").read_bytes()
        (tmp_path / "m" / "arrays.npz").write_bytes(data[:1000])
    elif damage == "junk items table":
        (tmp_path / "m" / "items.parquet").write_bytes(b"not parquet at all" * 10)
    else:
        (tmp_path / "m" / "arrays.npz").write_bytes(b"")
    with pytest.raises(ArtifactError, match="incomplete or corrupt model folder"):
        load(tmp_path / "m")


def test_save_never_replaces_user_files(tmp_path: Path) -> None:
    from movierec.errors import DataValidationError

    precious = tmp_path / "my.csv"
    precious.write_text("movieId,rating\n1,5\n")
    with pytest.raises(DataValidationError, match="existing file"):
        save(model(), precious)
    assert precious.read_text() == "movieId,rating\n1,5\n"
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep")
    with pytest.raises(DataValidationError, match="not a model folder"):
        save(model(), folder)
    assert (folder / "keep.txt").read_text() == "keep"
    save(model(), tmp_path / "empty-ok")  # a new path, then replacing a model folder, are fine
    save(model(), tmp_path / "empty-ok")
    assert oct((tmp_path / "empty-ok").stat().st_mode & 0o777) == "0o755"
