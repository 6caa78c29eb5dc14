"""Overlap chains side by side in threads, for the global search (:mod:`protogen.solvers.search`).

The numba relaxation, most of a chain's time, releases the GIL: two chains at N = 110 in D = 3
ran in 7.6 s on two cores, one after the other in 13.5 s. Chain 0 draws from the caller's
generator, so it is the chain of a one-chain search; chain k > 0 from its own, seeded by
(seed, k). The chains' results come back in chain order, so without a deadline they depend on
the seed alone, however the threads were scheduled.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from protogen.solvers.overlap_search import jammed_start, overlap_chain, screened_symmetric_start


def run_chains(num: int, dim: int, *, count: int, best_cos: float, rng: np.random.Generator,
               seed: int, iterations: int | None, deadline: float, step: float, patience: int,
               on_step, on_better) -> list[tuple[np.ndarray, dict, list[float]]]:
    """Run ``count`` overlap chains (:func:`protogen.solvers.overlap_search.overlap_chain`)
    for ``iterations`` relocations each (until ``deadline``, a ``time.perf_counter`` value),
    on at most as many threads as cores. ``on_step()`` is called after every relocation and
    ``on_better(value)`` with the best max cosine of all chains so far, both under one lock.
    Returns, in chain order, each chain's (best code, counts, trail: its best max cosine,
    ``best_cos`` to begin with, after every 10 relocations); a chain that would only start
    after the deadline (fewer cores than chains) is left out."""
    lock = threading.Lock()
    stop = threading.Event()
    shown = [best_cos]  # the best of all chains so far

    def run_chain(index):
        if index and (stop.is_set() or time.perf_counter() > deadline):
            return None  # fewer cores than chains: the earlier chains took all the time
        chain_rng = rng if index == 0 else np.random.default_rng([seed, index])
        best, steps, trail = [best_cos], [0], []

        def better(code, value):
            best[0] = min(best[0], value)
            with lock:
                shown[0] = min(shown[0], value)
                on_better(shown[0])

        def stepped():
            with lock:
                on_step()
            steps[0] += 1
            if steps[0] % 10 == 0:
                trail.append(best[0])

        # Each chain starts from a fresh random code jammed at a target above the best
        # angle and polished, not from the best code: climbing from there crosses more
        # basins (60 s at N = 116 / 127 in D = 3, from a loose start: 0.99913 / 0.99981 of
        # the record, from the best code 0.99862 / 0.99953), and the hops have already
        # spent their effort on the best code's basin.
        # Chain 0 starts (and starts over) from random codes only. The others alternate
        # the best of a screen of symmetric codes (with vacancies) and random codes,
        # symmetric first (screens only is untested over the table: one 60 s run at
        # N = 102 in D = 3 reached the record that way and not this way).
        kinds = itertools.cycle([jammed_start] if index == 0
                                else [screened_symmetric_start, jammed_start])

        def fresh_start(rng, angle):
            return next(kinds)(num, dim, rng, angle)

        code, _, counts = overlap_chain(
            fresh_start(chain_rng, math.acos(min(1.0, best_cos))), rng=chain_rng,
            iterations=iterations, deadline=deadline, step=step, patience=patience,
            fresh_start=fresh_start, on_better=better, on_step=stepped, stop=stop)
        return code, counts, trail

    workers = min(count, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_chain, index) for index in range(count)]
        try:
            return [found for found in (future.result() for future in futures)
                    if found is not None]
        finally:  # an interrupt or an error ends the other chains too
            stop.set()
