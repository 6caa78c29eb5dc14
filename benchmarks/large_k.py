"""Large K: protogen's code next to random unit vectors, a pushed-apart baseline and the LP
bound; writes the ``large_k`` section of benchmarks/RESULTS.md (issue 13 item 4).

For each (K, D), each method runs in a fresh process (so its peak RSS is its own):

  protogen      `protogen solve`'s default (auto: the neighbour-list solver at these sizes)
  random        uniform random unit vectors (what a randomly initialised classifier starts with)
  pushed-apart  random vectors pushed apart briefly (30 steps of the same neighbour repulsion),
                the "equiangular basis vectors" style large-K papers use

with the exact minimum angle over all pairs, wall time and peak memory, next to the certified
Delsarte LP upper bound (protogen.bounds).

    python benchmarks/large_k.py                       # K in 1e3, 1e4, 1e5 x D in 64, 128, 512
    python benchmarks/large_k.py --sizes 1000x64,10000x128 --methods protogen,random
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from _common import RESULTS, command_line, load_average, machine, markdown_table, replace_section
from _common import utc_now

HERE = RESULTS.parent
CACHE = HERE / "results" / "large_k.jsonl"
METHODS = ("protogen", "random", "pushed-apart")

_CHILD = r"""
import json, resource, sys, time
num, dim, method = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
if method == "protogen":
    from protogen.solvers import solve
    res = solve(num, dim, seed=0, progress=False)
elif method == "random":
    from protogen.solvers.large_k_baselines import random_unit_vectors
    res = random_unit_vectors(num, dim, seed=0)
else:
    from protogen.solvers.large_k_baselines import pushed_apart_vectors
    res = pushed_apart_vectors(num, dim, seed=0)
elapsed = time.perf_counter() - t
from protogen.sphere import min_angle_deg
angle = res.metadata.get("min_angle_deg")
if angle is None:
    angle = min_angle_deg(res.prototypes)
print(json.dumps({"num": num, "dim": dim, "method": method, "solver": res.method,
                  "time_s": elapsed, "min_angle_deg": float(angle),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(num: int, dim: int, method: str) -> dict:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(num), str(dim), method],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"num": num, "dim": dim, "method": method, "wall_s": time.perf_counter() - t,
                "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - t
    return out


def load() -> list[dict]:
    if not CACHE.exists():
        return []
    return [json.loads(line) for line in CACHE.read_text().splitlines() if line.strip()]


def section(rows: list[dict]) -> str:
    from protogen.bounds import delsarte_lp_bound_deg

    latest = {}
    for r in rows:
        latest[(r["num"], r["dim"], r["method"])] = r
    sizes = sorted({(n, d) for n, d, _ in latest})
    table = []
    for n, d in sizes:
        lp = delsarte_lp_bound_deg(n, d)
        for m in METHODS:
            r = latest.get((n, d, m))
            if r is None:
                continue
            if "error" in r:
                table.append([n, d, m, "-", "-", "-", f"{lp:.2f}", f"error: {r['error']}"])
                continue
            table.append([n, d, m, f"{r['min_angle_deg']:.3f}", f"{r['wall_s']:.1f}",
                          f"{r['peak_rss_mib']:.0f}", f"{lp:.2f}", r.get("date", "")])
    return ("## Large K: protogen vs random baselines (`benchmarks/large_k.py`, issue 13)\n\n"
            f"{machine()}. Wall time includes the interpreter start and imports (~3 s); peak "
            "memory is the process's maximum RSS. The LP bound is the certified Delsarte bound "
            "(no code can exceed it). Each row: the date and load average it was measured at (rows "
            "run back to back, so the 1-minute average includes the previous row's own run).\n\n"
            + markdown_table(["K", "D", "method", "min angle (deg)", "wall (s)", "peak RSS (MiB)",
                              "LP bound (deg)", "measured"], table))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000x64,1000x128,1000x512,10000x64,10000x128,"
                                         "10000x512,100000x64,100000x128,100000x512")
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    CACHE.parent.mkdir(exist_ok=True)
    for size in args.sizes.split(","):
        num, dim = (int(v) for v in size.lower().split("x"))
        for method in args.methods.split(","):
            load_before = load_average()
            row = run(num, dim, method)
            row["date"] = f"{utc_now('%Y-%m-%d %H:%M')} UTC, load {load_before}"
            row["command"] = command_line()
            print(json.dumps(row), flush=True)
            with CACHE.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            replace_section("large_k", section(load()))
    replace_section("large_k", section(load()))


if __name__ == "__main__":
    main()
