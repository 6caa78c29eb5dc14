"""The memetic solver: HPN's evolutionary algorithm (:mod:`protogen.solvers.evolutionary`) plus
gradient local search on its elite (the annealed Tammes solver of
:mod:`protogen.solvers.gradient`), so the population keeps semantic terms while the local search
supplies the small moves that uniform mutation lacks."""

from __future__ import annotations

import math
import time

import numpy as np

from protogen.errors import InputError

from protogen.result import Result
from protogen.solvers.evolutionary import _result, run_generations, start_evolution


def memetic(num_classes: int, dim: int, *, seed: int = 0, population: int = 100,
            generations: int = 20, parent_fraction: float = 0.3, offspring_per_pair: int = 20,
            mutation_rate: float = 0.01, search_every: int = 5, search_iterations: int = 100,
            final_iterations: int = 300, polish_iterations: int = 3, polish_rounds: int = 3,
            polish_time: float = 10.0, chunk_size: int | None = None,
            time_limit: float | None = None, init: np.ndarray | None = None,
            init_noise: float = 0.1, extra_fitness=None, extra_loss=None,
            backend: str = "numba", scoring: str = "incremental", progress: bool = True) -> Result:
    """The EA above plus gradient local search (a memetic algorithm).

    Every ``search_every`` generations the elite is improved by ``search_iterations`` steps of
    the annealed gradient solver started from it (:func:`protogen.solvers.gradient.tammes`,
    one restart, no noise, no polish; ``extra_loss`` included); the improved copy replaces the
    worst member (Lamarckian: it breeds from then on) and competes on the full fitness, so the
    best fitness never decreases. At the end the best set gets ``final_iterations`` annealing
    steps, then up to ``polish_rounds`` calls of the exact max-min polish
    (:func:`protogen.solvers.gradient.polish`, ``polish_iterations`` steps each, at most
    ``polish_time`` seconds; skipped with ``extra_loss``, which it would undo).

    Why: a plain EA is weak in high dimension (HPN's configuration stalls near 57-58° at K=100,
    D=25, where gradient methods exceed 83°): uniform mutation replaces whole coordinates and
    crossover only recombines rows, so it has no small moves. The local search supplies them; the
    EA keeps a population for the semantic ``extra_fitness`` term. Defaults (population 100,
    15 pairs x 20 offspring, 20 generations) take seconds at K=100, D=25. ``history`` holds the
    best fitness after each generation; ``time_limit`` bounds the whole run. ``backend`` and
    ``scoring`` as in :func:`evolve`.
    """
    from protogen.solvers.gradient import polish, tammes

    start = time.perf_counter()
    for name, value in (("search_every", search_every), ("search_iterations", search_iterations),
                        ("final_iterations", final_iterations),
                        ("polish_iterations", polish_iterations),
                        ("polish_rounds", polish_rounds)):
        low = 1 if name == "search_every" else 0
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    if not float(polish_time) >= 0:
        raise InputError(f"polish_time must be >= 0 seconds, got {polish_time!r}")
    params, state, deadline = start_evolution(
        num_classes, dim, start, seed=seed, population=population, generations=generations,
        parent_fraction=parent_fraction, offspring_per_pair=offspring_per_pair,
        mutation_rate=mutation_rate, chunk_size=chunk_size, time_limit=time_limit, init=init,
        init_noise=init_noise, extra_fitness=extra_fitness, backend=backend, scoring=scoring,
        search_every=search_every, search_iterations=search_iterations,
        final_iterations=final_iterations, polish_iterations=polish_iterations,
        polish_rounds=polish_rounds, polish_time=float(polish_time),
        extra_loss=extra_loss is not None)
    initial = state.best[1]
    improved = [None]  # the best locally searched set in float64 (the population is float32)

    def insert(x):
        worst = int(np.argmin(state.fit))
        state.replace(worst, x)
        if state.fit[worst] >= state.best[1]:
            improved[0] = x

    def anneal(iterations):
        left = deadline - time.perf_counter()
        if iterations == 0 or left <= 0:
            return
        res = tammes(num_classes, dim, seed=int(seed), init=state.best[0].astype(np.float64),
                     init_noise=0.0, restarts=1, iterations=iterations, polish_iterations=0,
                     extra_loss=extra_loss, progress=False,
                     time_limit=None if math.isinf(left) else left)
        insert(res.prototypes)

    def search_now(g):
        if (g + 1) % search_every == 0:
            anneal(search_iterations)

    from tqdm.auto import tqdm

    with tqdm(total=generations + 1 + polish_rounds, desc="memetic", unit="step",
              disable=not progress) as bar:
        history, done, stopped = run_generations(state, generations, deadline, bar, search_now)
        anneal(final_iterations)
        bar.update()
        polish_end = min(deadline, time.perf_counter() + float(polish_time))
        for _ in range(polish_rounds if polish_iterations > 0 else 0):
            left = polish_end - time.perf_counter()
            if left <= 0:
                break
            insert(polish(state.best[0].astype(np.float64) if improved[0] is None
                          else improved[0], iterations=polish_iterations,
                          extra_loss=extra_loss, time_limit=left))
            bar.set_postfix(best=f"{state.best[1]:.3f}")
            bar.update()
    result = _result(state, "memetic", params, history, done, stopped, start,
                     {"initial_best_fitness": initial})
    x = improved[0]
    if x is not None:
        # Keep the float64 set when it is (up to float32 rounding) the best member.
        fit = float(np.degrees(np.arccos(np.clip(_exact_max_cos64(x), -1, 1))))
        if extra_fitness is not None:
            fit += float(state._extra(x[None].astype(np.float32))[0])
        if fit >= state.best[1] - 1e-4:
            result.prototypes = x
    result.metadata["best_fitness"] = state.best[1]
    return result


def _exact_max_cos64(x):
    cos = x @ x.T
    np.fill_diagonal(cos, -np.inf)
    return float(cos.max())
