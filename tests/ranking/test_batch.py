"""Batch top-k for every user (memory bound by the block, not users x films), recommend-all, the thread setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from movierec import ALS, ALSConfig, RankingPolicy
from movierec.data import RatingScale
from movierec.data.dataset import empty_movies
from movierec.data.idmap import IdMap
from movierec.errors import DataValidationError
from movierec.kernels import threads
from movierec.ranking import index_for, recommend
from movierec.ranking.batch import iter_top_k, write_recommendations
from movierec.ranking.scoring import block_scores
from movierec.ranking.topk import Eligible, reference_top_k


def factor_model(n_users: int, n_items: int, k: int, seed: int, rated_per_user: int = 5) -> ALS:
    """A fitted-looking ALS from random factors (no training), as in recommend-for-all at scale."""
    rng = np.random.default_rng(seed)
    m = ALS(ALSConfig(n_factors=k), policy=ALS.default_policy.with_overrides(min_ratings=3))
    m.users_ = IdMap(np.arange(1, n_users + 1), "user")
    m.items_ = IdMap(np.arange(1, n_items + 1) * 10, "movie")
    m.movies_ = empty_movies()
    m.scale_ = RatingScale(0.5, 5.0, 0.5)
    m.global_mean_ = 3.5
    m.user_factors_ = rng.standard_normal((n_users, k)).astype(np.float32)
    m.item_factors_ = rng.standard_normal((n_items, k)).astype(np.float32)
    m.user_bias_ = rng.normal(0, 0.3, n_users).astype(np.float32)
    m.item_bias_ = rng.normal(0, 0.3, n_items).astype(np.float32)
    cols = rng.integers(0, n_items, (n_users, rated_per_user))
    rows = np.repeat(np.arange(n_users), rated_per_user)
    ui = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols.ravel())), shape=(n_users, n_items))
    ui.sum_duplicates()
    ui.sort_indices()
    m.user_items_ = ui
    m.item_counts_ = rng.integers(0, 50, n_items).astype(np.int64)
    m._finish_fit()
    return m


def brute_force(model: ALS, u: int, k: int, guard: int) -> list[int]:
    """The NumPy oracle: dense scores of the model's default ranking, lexsort with the tie rule."""
    state = model.user_states([u])
    form = block_scores(model, state, model.policy, index_for(model))
    dense = form if isinstance(form, np.ndarray) else form.dense()
    idx, _ = reference_top_k(dense, Eligible.from_mask(model.item_counts_ >= guard, model.item_counts_), state.rated, k)
    return idx[0][idx[0] >= 0].tolist()


def dense_scores(model: ALS, u: int) -> np.ndarray:
    form = block_scores(model, model.user_states([u]), model.policy, index_for(model))
    return form if isinstance(form, np.ndarray) else form.dense()[0]


def test_blocked_equals_brute_force_on_a_sample(seed: int) -> None:
    model = factor_model(3000, 1500, 8, seed)
    sample = np.random.default_rng(seed).choice(3000, 60, replace=False)
    for uidx, block in iter_top_k(model, k=10, min_ratings=3, block_size=7, users=sample):
        for row, u in enumerate(uidx):
            got = block.item_idx[row][block.item_idx[row] >= 0].tolist()
            assert got == brute_force(model, int(u), 10, 3)
            np.testing.assert_allclose(block.raw_score[row], dense_scores(model, int(u))[got], rtol=1e-5, atol=1e-5)


def test_rated_excluded_guard_applied_and_ties_follow_the_rule() -> None:
    model = factor_model(4, 6, 2, 0, rated_per_user=1)
    model.item_factors_[:] = 1.0  # every film scores the same for a user ...
    model.item_bias_[:] = 0.0
    model.item_counts_ = np.array([5, 9, 9, 2, 7, 9])  # ... so ties go to more ratings, then smaller position
    ui = np.zeros((4, 6), np.float32)
    ui[0, 1] = ui[1, :] = ui[2, 0] = 4.0  # user 1 rated everything: empty list, no placeholders
    model.user_items_ = sp.csr_matrix(ui)
    model._finish_fit()
    lists = {int(u): b.item_idx[r] for uidx, b in iter_top_k(model, k=4, min_ratings=5) for r, u in enumerate(uidx)}
    assert lists[0].tolist() == [2, 5, 4, 0]  # 1 rated; 3 below the guard
    assert lists[1].tolist() == [-1, -1, -1, -1]
    assert lists[2].tolist() == [1, 2, 5, 4]
    assert lists[3].tolist() == [1, 2, 5, 4]
    _, short = next(iter_top_k(model, k=6, min_ratings=8, users=np.array([3])))
    assert short.item_idx[0].tolist() == [1, 2, 5, -1, -1, -1]  # fewer eligible than k: shorter


@pytest.mark.slow
def test_memory_grows_with_block_not_users_times_films(seed: int) -> None:
    # Recommend-for-all at scale: 50,000 users x 20,000 films at rank 10, top-10 for everyone.
    model = factor_model(50_000, 20_000, 10, seed, rated_per_user=3)
    n_rows = 0
    tracemalloc.start()
    try:
        for _, block in iter_top_k(model, k=10, min_ratings=0, block_size=256):
            n_rows += int((block.item_idx >= 0).sum())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n_rows == 50_000 * 10
    full = 50_000 * 20_000 * 4  # the users x films float32 matrix: 4 GB
    block_scores = 256 * 20_000 * 4  # one block of scores: 20 MB
    assert peak < 3 * block_scores + 50_000 * 8 * 10 < full / 20


def test_bad_arguments_are_refused(seed: int) -> None:
    model = factor_model(10, 10, 2, seed)
    with pytest.raises(DataValidationError, match="k and block_size"):
        next(iter_top_k(model, k=0))
    with pytest.raises(DataValidationError, match="block_size"):
        next(iter_top_k(model, block_size=0))


def test_tiles_and_film_chunks_give_the_same_lists(seed: int) -> None:
    # Several user tiles (the last one partial) and several film chunks, with rated films on both
    # sides of every chunk boundary; then the same with the rated lists stored out of order.
    from movierec.ranking.topk import ITEM_CHUNK, USER_TILE

    n_users, n_items = 2 * USER_TILE + 37, 2 * ITEM_CHUNK + 301
    model = factor_model(n_users, n_items, 8, seed, rated_per_user=400)
    expected = {u: brute_force(model, u, 10, 3) for u in range(n_users)}
    ui = model.user_items_
    order = np.concatenate([np.arange(ui.indptr[u + 1] - 1, ui.indptr[u] - 1, -1) for u in range(n_users)])
    for mode in ("sorted", "unsorted", "stale flag"):
        if mode != "sorted":
            model.user_items_ = sp.csr_matrix((ui.data[order], ui.indices[order], ui.indptr), shape=ui.shape)
            assert not model.user_items_.has_sorted_indices
            if mode == "stale flag":  # SciPy's flag says sorted, the indices are not
                model.user_items_.has_sorted_indices = True
        seen = 0
        for uidx, block in iter_top_k(model, k=10, min_ratings=3, block_size=n_users):
            for row, u in enumerate(uidx):
                assert block.item_idx[row][block.item_idx[row] >= 0].tolist() == expected[int(u)]
                seen += 1
        assert seen == n_users


def test_no_eligible_film_gives_empty_lists_on_the_confidence_path(seed: int) -> None:
    model = factor_model(130, 40, 3, seed, rated_per_user=10)  # ranks by confidence (the default)
    blocks = list(iter_top_k(model, k=10, min_ratings=10**6))
    assert sum(u.size for u, _ in blocks) == 130
    for _, b in blocks:
        assert (b.item_idx == -1).all() and np.isneginf(b.raw_score).all() and np.isnan(b.rating).all()


def test_sgemm_abt_matches_numpy_and_refuses_other_layouts(seed: int) -> None:
    from movierec.kernels import sgemm_abt

    rng = np.random.default_rng(seed)
    a = rng.standard_normal((37, 12)).astype(np.float32)
    b = rng.standard_normal((301, 12)).astype(np.float32)
    c = np.full((40, 320), np.nan, dtype=np.float32)
    sgemm_abt(a, b, c)
    np.testing.assert_allclose(c[:37, :301], a @ b.T, rtol=1e-5, atol=1e-5)
    assert np.isnan(c[37:]).all() and np.isnan(c[:, 301:]).all()  # only c[:m, :n] is written
    sgemm_abt(a[:, :0], b[:, :0], c)
    assert (c[:37, :301] == 0).all()  # rank 0: the product is zero
    bad = [
        (a[:, ::2], b[:, ::2], c),  # strided columns
        (a[::-1], b, c),  # negative row stride
        (np.asfortranarray(a), b, c),
        (a, b[:, :11], c),  # k differs
        (a, b, c[:, :300]),  # c too narrow
        (a.astype(np.float64), b.astype(np.float64), c.astype(np.float64)),
    ]
    for args in bad:
        with pytest.raises(ValueError, match="sgemm_abt"):
            sgemm_abt(*args)


def test_write_recommendations_matches_recommend(tmp_path: Path, seed: int) -> None:
    model = factor_model(40, 30, 4, seed)
    out = tmp_path / "recs.parquet"
    rows = write_recommendations(model, out, k=5, min_ratings=3, block_size=16)
    table = pl.read_parquet(out)
    assert table.columns == ["user_id", "rank", "movie_id", "score", "raw_score", "n_ratings"] and rows == table.height
    for uid in (1, 17, 40):
        mine = table.filter(pl.col("user_id") == uid).sort("rank")
        ref = recommend(model, uid, k=5, min_ratings=3)
        assert mine["movie_id"].to_list() == [r.movie_id for r in ref]
        assert mine["rank"].to_list() == list(range(1, len(ref) + 1))
        assert mine["score"].max() <= 5.0 and mine["n_ratings"].min() >= 3
    assert not list(tmp_path.glob(".*tmp"))


def test_output_path_checked_before_any_scoring(tmp_path: Path, seed: int) -> None:
    # From a new-user trial: a folder as --out failed only after scoring everyone, a missing folder with an OS error.
    model = factor_model(40, 30, 4, seed)
    with pytest.raises(DataValidationError, match="is a folder"):
        write_recommendations(model, tmp_path, k=5, progress=lambda n: pytest.fail("scored before checking"))
    with pytest.raises(DataValidationError, match="no such folder"):
        write_recommendations(model, tmp_path / "missing" / "recs.parquet", k=5)
    assert list(tmp_path.iterdir()) == []


def test_a_huge_k_is_capped_at_the_number_of_films(tmp_path: Path, seed: int) -> None:
    # From a new-user trial: -k 100000 sized every block's lists by k (1.5 GB on ml-latest-small).
    model = factor_model(40, 30, 4, seed)
    full = write_recommendations(model, tmp_path / "a.parquet", k=30, min_ratings=0)
    assert write_recommendations(model, tmp_path / "b.parquet", k=10**9, min_ratings=0) == full
    assert pl.read_parquet(tmp_path / "a.parquet").equals(pl.read_parquet(tmp_path / "b.parquet"))


# ---------------------------------------------------------------- threads
def test_thread_setting_from_argument_env_and_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(threads.ENV_VAR, "1")
    assert threads.resolve_threads() == 1
    assert threads.resolve_threads(2) == min(2, threads.resolve_threads(10_000))
    monkeypatch.delenv(threads.ENV_VAR)
    assert threads.resolve_threads() == min(threads.available_cores(), threads.resolve_threads(10_000))
    for bad in ("0", "two"):
        monkeypatch.setenv(threads.ENV_VAR, bad)
        with pytest.raises(DataValidationError, match="MOVIEREC_THREADS"):
            threads.resolve_threads()


def test_kernels_run_with_blas_single_threaded() -> None:
    import numba
    from threadpoolctl import threadpool_info

    before = threads.current_threads()
    try:
        assert threads.set_threads(1) == 1 and numba.get_num_threads() == 1
        with threads.kernel_threads() as n:
            assert n == 1
            assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
        threads.set_threads(2)
        n2 = numba.get_num_threads()
        with threads.kernel_threads(n_rows=1) as n:  # a fold-in runs on one thread ...
            assert n == 1
        assert numba.get_num_threads() == n2  # ... and the setting comes back
        with threads.kernel_threads(n_rows=threads.SERIAL_BELOW) as n:
            assert n == n2
        blas = lambda: {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}  # noqa: E731
        assert blas() == {1}  # single-user scoring: one BLAS thread ...
        with threads.blas_threads() as n:
            assert blas() == {n} and n == n2  # ... a large product outside the kernels: all of them
            with threads.kernel_threads(n_rows=1):  # a kernel inside still gets one BLAS thread ...
                assert blas() == {1}
            assert blas() == {n}  # ... and the wider setting comes back after it
    finally:
        threads.set_threads(before)


# ---------------------------------------------------------------- CLI
def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "movierec", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})  # fmt: skip


@pytest.mark.slow
def test_recommend_all_command(tmp_path: Path) -> None:
    lines = ["userId,movieId,rating,timestamp"]
    for u in range(1, 30):
        for m in range(1, 25):
            if (u * 7 + m * 3) % 4:
                lines.append(f"{u},{m},{1 + (u + m) % 5}.0,{1000000000 + u * 100 + m}")
    data = tmp_path / "d" / "ratings.csv"
    data.parent.mkdir()
    data.write_text("\n".join(lines) + "\n")
    model_dir = tmp_path / "m"
    r = run("train", "--data", str(data), "--out", str(model_dir), "--factors", "4", "--iterations", "3", "--min-ratings", "0", "--json")
    assert r.returncode == 0, r.stderr
    out = tmp_path / "recs.parquet"
    r = run("recommend-all", "--model", str(model_dir), "--out", str(out), "--k", "3", "--block-size", "5", "--threads", "1", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    table = pl.read_parquet(out)
    assert summary["rows"] == table.height and summary["users"] == 29 and table["user_id"].n_unique() == 29
    r = run("recommend", "--model", str(model_dir), "--user", "7", "-k", "3", "--json")
    ref = [x["movie_id"] for x in json.loads(r.stdout)["recommendations"]]
    assert table.filter(pl.col("user_id") == 7).sort("rank")["movie_id"].to_list() == ref
    r = run("recommend-all", "--model", str(model_dir), "--out", str(out), env={"MOVIEREC_THREADS": "zero"})
    assert r.returncode == 2 and "MOVIEREC_THREADS" in r.stderr and "Traceback" not in r.stderr
    r = run("recommend-all", "--model", str(model_dir), "--out", str(out), "--engine", "gpu")
    assert r.returncode == 2 and "--engine" in r.stderr
