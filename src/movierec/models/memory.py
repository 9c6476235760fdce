"""Memory a factor model's fit needs, checked against what the machine can give before any allocation.

A rank typed with an extra zero or two used to die inside the random start with a bare
``MemoryError`` (or the kernel's OOM killer), with no word about the rank (benfred/implicit#211).
``check_fit_memory`` refuses such a fit up front with the figure and the limit.
"""

from __future__ import annotations

import os
import resource

from movierec.errors import FitError
from movierec.kernels.threads import current_threads

SOLVE_MATRICES = {"explicit": 5, "implicit": 3, "spark": 0}
"""float64 (d × d) work matrices live per kernel thread during a half-step: explicit ALS allocates
``A, L, Zd, M, Lm`` with d = n_factors + 1 (``kernels/als.py``); implicit ALS ``A, L`` per thread plus
one shared ``YᵀY`` (``kernels/implicit.py``), counted here as a third per thread (an upper bound). The Spark
engine solves on its executors: only the factors it brings back to this process count."""


def factor_fit_bytes(n_factors: int, n_users: int, n_items: int, kind: str = "explicit") -> dict[str, int]:
    """Estimated peak bytes of an ALS fit, by part.

    Parameters
    ----------
    n_factors, n_users, n_items : int
        Rank and the two sides of the rating matrix.
    kind : {"explicit", "implicit", "spark"}
        Which half-step kernel (``SOLVE_MATRICES``).

    Returns
    -------
    dict
        ``factors (n_factors K)``: both float32 factor matrices plus the float32 start of the item side before it is
        copied into aligned memory, (n_users + 2 n_items) × n_factors × 4; ``solver buffers (T threads)``:
        the per-thread float64 work matrices, T × SOLVE_MATRICES[kind] × (n_factors + 1)² × 8, with T the
        kernel threads in force (``kernels.threads.current_threads``). The rating matrix itself is left
        out (it is already in memory when this is checked).
    """
    parts = {f"factors (n_factors {n_factors:,})": (n_users + 2 * n_items) * n_factors * 4}
    if SOLVE_MATRICES[kind]:
        n_threads, d = current_threads(), n_factors + 1
        parts[f"solver buffers ({n_threads} threads)"] = n_threads * SOLVE_MATRICES[kind] * d * d * 8
    return parts


def available_bytes() -> tuple[int, str]:
    """(bytes this process can still allocate, where the figure comes from).

    The smaller of the system's ``MemAvailable`` (``/proc/meminfo``; elsewhere
    ``os.sysconf("SC_AVPHYS_PAGES")``) and, when an address-space limit (``ulimit -v``) is set, that
    limit less the address space already mapped (``VmSize`` of ``/proc/self/status``).
    """
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in f if line.strip()}
        best, source = info["MemAvailable"], "available memory (MemAvailable)"
    except (OSError, KeyError, ValueError, IndexError):
        best = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        source = "available memory"
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        mapped = 0
        try:
            with open("/proc/self/status") as f:
                mapped = next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:")), 0)
        except OSError:
            pass
        if soft - mapped < best:
            best = max(soft - mapped, 0)
            source = f"address-space limit (ulimit -v {soft // 1024} KiB) less what is mapped"
    return best, source


def _size(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def check_fit_memory(model: str, n_users: int, n_items: int, parts: dict[str, int]) -> None:
    """Raise ``FitError`` before fitting when ``parts`` add up to more than ``available_bytes``.

    Raises
    ------
    FitError
        Naming the data's size, the estimate by part and the limit, and what to try.
    """
    need = sum(parts.values())
    have, source = available_bytes()
    if need <= have:
        return
    detail = ", ".join(f"{name} {_size(b)}" for name, b in parts.items())
    raise FitError(
        f"{model}: fitting on {n_users:,} users x {n_items:,} films needs about {_size(need)} "
        f"({detail}), more than the {_size(have)} of {source}; use a smaller --factors (n_factors), "
        "fewer threads (MOVIEREC_THREADS), or a machine with more memory"
    )
