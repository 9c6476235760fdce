"""Interleaved A/B of the normal-equation phase: partner factor rows 16 bytes off a cache line vs aligned.

Usage: ``python -m benchmarks.alignment [--reps 6]`` (needs ``synth-25m`` prepared by ``benchmarks.peers``).
One process, the same factors (a 1-sweep fit at synth-25m shape), each side's normal equations timed
A, B, B, A, … ``--reps`` times each; reported: medians and the median of the per-pair ratios B/A, which
cancels the drift of a shared VM's speed. A: the factors copied to an address 16 bytes past a 64-byte line
(where NumPy's allocator put them before ``engines.aligned``); B: ``aligned_copy``. Raw JSON:
``benchmarks/results/alignment.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.common import BIAS_REG, K, REG, SCRATCH, machine, save
from benchmarks.phase import normal_only
from benchmarks.worker import _dataset


def _offset_copy(a: np.ndarray, offset: int) -> np.ndarray:
    """``a`` copied to an address ``offset`` bytes past a 64-byte boundary."""
    raw = np.empty(a.nbytes + 128, dtype=np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    out = raw[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def main() -> None:
    from movierec import ALS, ALSConfig
    from movierec.kernels.aligned import aligned_copy
    from movierec.kernels.threads import kernel_threads, set_threads

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--reps", type=int, default=6)
    p.add_argument("--out", default="alignment")
    a = p.parse_args()
    set_threads()
    model = ALS(ALSConfig(n_factors=K, n_iter=1, reg=REG, bias_reg=BIAS_REG)).fit(_dataset(SCRATCH / "synth-25m" / "train.parquet"))
    ui = model.user_items_
    iu = ui.T.tocsr()
    iu.sort_indices()
    sides = {"users": (ui, model.item_factors_, model.item_bias_), "films": (iu, model.user_factors_, model.user_bias_)}
    result: dict = {"machine": machine(), "reps": a.reps, "sides": {}}
    for name, (m, of, ob) in sides.items():
        args = (m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(np.float32))
        variants = {"A_off16": _offset_copy(of, 16), "B_aligned": aligned_copy(of)}
        out = np.empty(m.shape[0])
        times: dict[str, list[float]] = {v: [] for v in variants}
        with kernel_threads():
            for f in variants.values():
                normal_only(*args, f, ob, model.global_mean_, out)  # compile, warm the caches
            for rep in range(a.reps):
                for v in variants if rep % 2 == 0 else reversed(list(variants)):
                    t = time.perf_counter()
                    normal_only(*args, variants[v], ob, model.global_mean_, out)
                    times[v].append(time.perf_counter() - t)
        ratio = np.array(times["B_aligned"]) / np.array(times["A_off16"])
        result["sides"][name] = {"seconds": times, "median_s": {v: float(np.median(t)) for v, t in times.items()},
                                 "ratio_B_over_A_median": float(np.median(ratio)), "loadavg": os.getloadavg()[0]}  # fmt: skip
        print(name, result["sides"][name]["median_s"], "B/A", round(float(np.median(ratio)), 3), flush=True)
    print(save(a.out, result))


if __name__ == "__main__":
    main()
