"""Ingest of a ratings file with 1% junk lines against the same file clean (issue 17, "Data").

The junk lines must cost the per-line parser only themselves: the valid rows stay on the fast
(Polars) path. Measures, per file and per source tree, the ingest's own wall time (imports
excluded) and the child's peak RSS (``VmHWM``), each in its own child process, all in one run, and
prints one JSON object with the load average beside the figures.

    .venv/bin/python benchmarks/ingest_junk.py --rows 5000000 [--before /path/to/old/src]

``--before`` names another checkout's ``src`` folder (e.g. the main branch) measured in the same
run, so the ratio junk/clean can be compared before and after a change. The files are
``synthetic_ratings`` (seed 0, default shape) written to ``/tmp/movierec-bench/junk/``, never
committed; every 100th data line is replaced by one of four junk kinds in turn: a rating that is
no number, a user id that is no integer, a line with two extra fields, a line with one field
missing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

JUNK = ("{u},{m},abc,{t}", "u?{u},{m},{r},{t}", "{u},{m},{r},{t},7,8", "{u},{m},{r}")

CHILD = """
import json, sys, time
t0 = time.perf_counter()
from movierec.data.ingest import ingest
t1 = time.perf_counter()
res = ingest([sys.argv[1]])
t2 = time.perf_counter()
f = res.report.files[0]
hwm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"ingest_s": round(t2 - t1, 2), "peak_rss_mb": round(hwm / 2**20), "parser": f.parser,
                  "accepted": res.dataset.n_ratings, "rejected": sum(f.rejected.values())}))
"""


def files(rows: int, folder: Path) -> tuple[Path, Path]:
    """The clean file and the same file with every 100th data line replaced by junk (written once)."""
    clean, junk = folder / f"clean-{rows}.csv", folder / f"junk-{rows}.csv"
    if not clean.exists():
        from movierec.data.synth import synthetic_ratings

        folder.mkdir(parents=True, exist_ok=True)
        synthetic_ratings(rows, seed=0).rename({"user_id": "userId", "movie_id": "movieId"}).write_csv(clean)
    if not junk.exists():
        with clean.open() as src, junk.open("w") as dst:
            dst.write(src.readline())
            for n, line in enumerate(src):
                if n % 100 == 99:
                    u, m, r, t = line.rstrip("\n").split(",")
                    line = JUNK[(n // 100) % len(JUNK)].format(u=u, m=m, r=r, t=t) + "\n"
                dst.write(line)
    return clean, junk


def measure(src: str, path: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/movierec-bench/junk"))
    ap.add_argument("--before", help="another checkout's src folder, measured in the same run")
    args = ap.parse_args()
    clean, junk = files(args.rows, args.folder)
    trees = {"after": str(Path(__file__).resolve().parents[1] / "src")}
    if args.before:
        trees = {"before": args.before, **trees}
    result: dict[str, Any] = {"rows": args.rows, "load_average_start": os.getloadavg(), "cpus": os.cpu_count()}
    for name, src in trees.items():
        c, j = measure(src, clean), measure(src, junk)
        result[name] = {"clean": c, "junk": j, "time_ratio": round(j["ingest_s"] / c["ingest_s"], 2),
                        "memory_ratio": round(j["peak_rss_mb"] / c["peak_rss_mb"], 2)}  # fmt: skip
    result["load_average_end"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
