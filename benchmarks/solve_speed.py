"""Solver speed and quality: writes the ``solve_speed`` section of benchmarks/RESULTS.md.

(a) the numba EA against the numpy reference EA on one configuration, time per generation;
(b) gradient / hpn-sgd / memetic / evolutionary through ``protogen.solvers.solve`` at K=100,
    D in {10, 25, 50}: minimum angle and wall time (the EA under a time limit, said in the table);
(c) one run of HPN's full configuration (K=100, D=25, population 3000, 300 generations) if
    ``python benchmarks/solve_speed.py --paper`` has written benchmarks/solve_speed_paper.json
    (run it in the background: ``nohup python benchmarks/solve_speed.py --paper &``).

Usage: ``python benchmarks/solve_speed.py [--ea-limit SECONDS] [--dims 10 25 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from _common import load_average, machine, markers, replace_section, utc_now

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
PAPER_JSON = HERE / "solve_speed_paper.json"
BEGIN, END = markers("solve_speed")


def write_section(text: str) -> None:
    replace_section("solve_speed", text.rstrip(), RESULTS)


def backend_speed(num, dim, population, generations):
    """Seconds per generation of the numba and numpy EA on the same configuration and seed."""
    from protogen.solvers.evolutionary import evolve

    evolve(6, 3, population=10, generations=1, offspring_per_pair=5, progress=False)  # compile
    rows = {}
    for backend in ("numba", "numpy"):
        res = evolve(num, dim, seed=0, population=population, generations=generations,
                     backend=backend, progress=False)
        rows[backend] = (res.elapsed_s / generations, res.history[-1])
    return rows


def memetic_note(res) -> str:
    p = res.params
    if "search_iterations" in p:
        return (f"pop {p['population']}, {p['generations']} gen, anneal {p['search_iterations']} "
                f"steps every {p['search_every']} gen + {p['final_iterations']} final, polish "
                f"<= {p['polish_time']:g} s")
    return f"pop {p['population']}, {p['generations']} gen, polish only"


def remeasure_memetic(dims, num=100):
    """Re-measure only the memetic rows of an existing section (after a memetic change)."""
    from protogen.solvers import solve
    from protogen.sphere import min_angle_deg

    text = RESULTS.read_text()
    section = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    for dim in dims:
        start = time.perf_counter()
        res = solve(num, dim, method="memetic", seed=0, progress=False)
        took = time.perf_counter() - start
        row = (f"| {dim} | memetic | {min_angle_deg(res.prototypes):.3f} | {took:.1f} | "
               f"{memetic_note(res)} (re-measured) |")
        print(row, flush=True)
        lines = section.splitlines()
        lines = [row if line.startswith(f"| {dim} | memetic |") else line for line in lines]
        section = "\n".join(lines)
    date = utc_now("%Y-%m-%d %H:%M UTC")
    section += (f"\n\nThe memetic rows were re-measured on {date} (load average {load_average()}) after "
                "its local search changed from the exact polish alone to short annealed gradient "
                "runs: `python benchmarks/solve_speed.py --remeasure-memetic`.")
    write_section(section)


def compare_methods(dims, ea_limit, num=100):
    from protogen.solvers import solve
    from protogen.sphere import min_angle_deg

    solve(6, 3, method="evolutionary", population=10, generations=1, offspring_per_pair=5,
          progress=False)  # compile the kernels outside the timings
    rows = []
    for dim in dims:
        for method, opts in (("gradient", {}), ("hpn-sgd", {}), ("memetic", {}),
                             ("evolutionary", {"time_limit": ea_limit})):
            start = time.perf_counter()
            res = solve(num, dim, method=method, seed=0, progress=False, **opts)
            took = time.perf_counter() - start
            note = ""
            if method == "evolutionary":
                gens = res.metadata.get("generations_run")
                note = f"paper config, stopped by {ea_limit:g} s limit after {gens} generations"
            elif method == "memetic":
                note = memetic_note(res)
            rows.append((dim, method, min_angle_deg(res.prototypes), took, note))
            print(f"K={num} D={dim:3d} {method:13s} {rows[-1][2]:8.3f} deg {took:8.1f} s {note}",
                  flush=True)
    return rows


def _idle(load: str) -> bool:
    """Whether a load_average() string says the machine was idle (1-minute average < 0.5)."""
    try:
        return float(load.split(",")[0]) < 0.5
    except ValueError:
        return False


def paper_run():
    """HPN's full configuration at K=100, D=25; progress saved to PAPER_JSON every generation."""
    from protogen.solvers.evolutionary import _Evolution

    # Load (or compile) the kernels outside the timing.
    _Evolution(100, 25, seed=1, population=20, parent_fraction=0.3, offspring_per_pair=300,
               mutation_rate=0.01, chunk_size=None, init=None, init_noise=0.1,
               extra_fitness=None, backend="numba").step()

    state = _Evolution(100, 25, seed=0, population=3000, parent_fraction=0.3,
                       offspring_per_pair=300, mutation_rate=0.01, chunk_size=None, init=None,
                       init_noise=0.1, extra_fitness=None, backend="numba")
    start = time.perf_counter()
    record = {"command": "python benchmarks/solve_speed.py --paper", "machine": machine(),
              "started": utc_now(),
              "generations_done": 0, "history": [], "load_start": load_average()}
    for gen in range(300):
        state.step()
        record["generations_done"] = gen + 1
        record["history"].append(state.best[1])
        record["elapsed_s"] = time.perf_counter() - start
        record["load_now"] = load_average()
        tmp = PAPER_JSON.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, PAPER_JSON)
        print(f"gen {gen + 1}: best {state.best[1]:.3f} deg, {record['elapsed_s']:.0f} s",
              flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="run the full paper configuration")
    parser.add_argument("--remeasure-memetic", action="store_true",
                        help="re-measure only the memetic rows of the existing section")
    parser.add_argument("--ea-limit", type=float, default=60.0)
    parser.add_argument("--dims", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--speed-population", type=int, default=300)
    parser.add_argument("--speed-generations", type=int, default=2)
    args = parser.parse_args(argv)
    if args.paper:
        paper_run()
        return
    if args.remeasure_memetic:
        remeasure_memetic(args.dims)
        return

    command = "python benchmarks/solve_speed.py " + " ".join(argv if argv is not None
                                                            else sys.argv[1:])
    load_start = load_average()
    speed = backend_speed(100, 25, args.speed_population, args.speed_generations)
    rows = compare_methods(args.dims, args.ea_limit)
    date = utc_now("%Y-%m-%d %H:%M UTC")
    pairs = int(0.3 * args.speed_population) // 2
    lines = [
        "## Solver speed (`benchmarks/solve_speed.py`)", "",
        f"Date: {date}. Machine: {machine()}. Command: `{command.strip()}`.",
        f"Load average {load_start} at the start, {load_average()} at the end"
        + (" (the machine otherwise idle)" if _idle(load_start) else
           " (the cores shared with other jobs: absolute times are inflated and noisy)")
        + "; the two backends in (a) ran back to back in one process.", "",
        f"(a) EA backends, K=100, D=25, population {args.speed_population}, {pairs} pairs x 300 "
        f"offspring = {pairs * 300} offspring per generation, {args.speed_generations} "
        "generations, same seed:", "",
        "| backend | s / generation | best angle (deg) |", "|---|---|---|",
    ]
    for name, (sec, best) in speed.items():
        lines.append(f"| {name} | {sec:.3f} | {best:.3f} |")
    lines.append(f"\nnumba is **{speed['numpy'][0] / speed['numba'][0]:.1f}x** faster than the "
                 "numpy reference.\n")
    lines += [f"(b) Methods through `solve()`, K=100, seed 0 (EA: HPN's configuration with a "
              f"{args.ea_limit:g} s time limit):", "",
              "| D | method | min angle (deg) | time (s) | note |", "|---|---|---|---|---|"]
    for dim, method, angle, took, note in rows:
        lines.append(f"| {dim} | {method} | {angle:.3f} | {took:.1f} | {note} |")
    if PAPER_JSON.exists():
        rec = json.loads(PAPER_JSON.read_text())
        done = rec["generations_done"]
        lines += ["", f"(c) HPN's full EA configuration, K=100, D=25, population 3000, 450 pairs "
                  f"x 300 offspring (`{rec['command']}`, started {rec['started']}): "
                  f"{done} of 300 generations in {rec['elapsed_s']:.0f} s "
                  f"({rec['elapsed_s'] / done:.2f} s per generation), best min angle "
                  f"{rec['history'][-1]:.3f} deg. Load average at start {rec['load_start']}, "
                  f"last {rec['load_now']}"
                  + (" (otherwise idle)." if _idle(rec["load_start"]) else " (2 cores shared).")]
    write_section("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
