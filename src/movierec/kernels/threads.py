"""Thread control: one setting for Numba and BLAS, without oversubscription.

movierec runs two kinds of parallel code: Numba kernels (``prange`` over rows)
and BLAS (OpenBLAS bundled with NumPy and SciPy), mostly called *inside* the
Numba kernels (per-row products, and the tile scoring of ``recommend-all``).
Left alone, each BLAS call made from a Numba thread would start its own
threads: on 2 cores that is 4 busy threads fighting for 2 cores, and it made
the ALS half-step ~4x slower in our measurements (``docs/performance.md``).

The rule:

* ``n`` threads in all, from ``--threads``, else ``MOVIEREC_THREADS``, else
  every core the process may use;
* Numba kernels use ``n`` threads, and BLAS runs single-threaded while they
  run (``kernel_threads()``); kernels over fewer than ``SERIAL_BELOW`` rows
  (a fold-in) run on one thread;
* once ``set_threads`` has run (every command does; the first kernel call
  does it too), BLAS stays single-threaded everywhere else as well (scoring
  one user, a 59k × 64 gemv, took 7.8 ms with 2 BLAS threads on a busy machine
  and 0.35 ms with one); ``recommend-all`` calls single-threaded ``sgemm`` from
  its Numba kernel's threads. ``blas_threads()`` hands BLAS all ``n`` threads
  for a large product outside the kernels (the benchmarks' GEMM rate).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from movierec.errors import DataValidationError

ENV_VAR = "MOVIEREC_THREADS"

_state: dict[str, object] = {"n": None, "controller": None, "blas": None}


def available_cores() -> int:
    """Cores this process may run on (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def resolve_threads(threads: int | None = None) -> int:
    """The thread count to use: the argument, else ``$MOVIEREC_THREADS``, else all cores.

    Values above the Numba pool size (``NUMBA_NUM_THREADS``, fixed at import)
    are capped to it.

    Raises
    ------
    DataValidationError
        If the value is not a positive integer.
    """
    import numba

    raw: object = threads
    source = "--threads"
    if raw is None:
        env = os.environ.get(ENV_VAR, "").strip()
        if env:
            raw, source = env, ENV_VAR
    if raw is None:
        n = available_cores()
    else:
        try:
            n = int(raw)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise DataValidationError(f"{source} must be a positive integer, got {raw!r}") from None
        if n < 1:
            raise DataValidationError(f"{source} must be a positive integer, got {raw!r}")
    return min(n, int(numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]  # set at import by Numba


def _controller():  # type: ignore[no-untyped-def]
    if _state["controller"] is None:
        # Load SciPy's BLAS/LAPACK (used by Numba's np.dot) before inspecting,
        # so that the limits reach it and not only NumPy's copy.
        import scipy.linalg.cython_blas  # noqa: F401
        import scipy.linalg.cython_lapack  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _state["controller"] = ThreadpoolController()
    return _state["controller"]


def set_threads(threads: int | None = None) -> int:
    """Apply the thread setting for the rest of the process: Numba ``n`` threads, BLAS one.

    Parameters
    ----------
    threads : int, optional
        Wanted thread count; ``None`` reads ``$MOVIEREC_THREADS`` or uses all cores.

    Returns
    -------
    int
        The count applied.
    """
    import numba

    n = resolve_threads(threads)
    numba.set_num_threads(n)
    _controller().limit(limits=1, user_api="blas")
    _state["n"] = n
    return n


@contextmanager
def blas_threads() -> Iterator[int]:
    """Let BLAS use the configured thread count (for large products outside kernels).

    Yields
    ------
    int
        The BLAS thread count in force.
    """
    n = current_threads()
    with _controller().limit(limits=n, user_api="blas"):
        yield n


def current_threads() -> int:
    """The count applied by ``set_threads`` (or what it would apply now)."""
    n = _state["n"]
    return int(n) if isinstance(n, int) else resolve_threads()


SERIAL_BELOW = 64
"""Kernels over fewer rows than this run on one thread (a fold-in is one row)."""


@contextmanager
def kernel_threads(n_rows: int | None = None) -> Iterator[int]:
    """Run Numba kernels on the configured threads with BLAS single-threaded inside.

    Parameters
    ----------
    n_rows : int, optional
        Rows the kernel will process. Below ``SERIAL_BELOW`` the kernel runs
        on one thread: waking a second thread (which may wait for a busy core)
        costs more than a one-row solve (measured: ~0.03 ms alone, up to
        several ms when the second core is busy).

    Yields
    ------
    int
        The Numba thread count in force.
    """
    import numba

    if _state["n"] is None:
        set_threads()
    before = numba.get_num_threads()
    serial = n_rows is not None and n_rows < SERIAL_BELOW
    if serial:
        numba.set_num_threads(1)
    try:
        with _single_threaded_blas():
            yield numba.get_num_threads()
    finally:
        if serial:
            numba.set_num_threads(before)


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread inside, restored after; nothing done when it already is (the usual case).

    ``threadpoolctl``'s ``limit`` re-inspects every library on each entry (about 12 µs): a request of
    the service enters this six times, for one-row kernels. Reading the cached libraries' thread
    counts costs about 1 µs; a change still goes through ``limit``, which also keeps threadpoolctl's
    rules on which thread may set OpenBLAS's count.
    """
    if _state["blas"] is None:
        _state["blas"] = _controller().select(user_api="blas").lib_controllers
    libs = _state["blas"]
    assert isinstance(libs, list)
    if all(lib.num_threads == 1 for lib in libs):
        yield
        return
    with _controller().limit(limits=1, user_api="blas"):
        yield
