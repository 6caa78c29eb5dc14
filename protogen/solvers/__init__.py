"""One entry point for every spherical-code solver: :func:`solve`.

``method="auto"`` uses a closed form where one is provably optimal (polygon, simplex,
cross-polytope) and the annealed gradient solver otherwise. Solver modules are imported lazily so
that ``protogen --help`` and the closed forms stay fast.
"""

from __future__ import annotations

import os
import time

import numpy as np

from protogen.errors import InputError, ResourceError
from protogen.result import Result

METHODS = ("auto", "closed-form", "evolutionary", "memetic", "gradient", "hpn-sgd", "energy")
# Methods whose objective is the Tammes max-min angle: a closed form may stand in for them.
_TAMMES_METHODS = ("auto", "closed-form")


def available_memory_bytes() -> int:
    """Physical memory of this machine (what a solve may at most use)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 16 * 2**30


def estimate_memory_bytes(num: int, dim: int, method: str, options: dict) -> int:
    """Rough peak memory of a solve, to refuse impossible sizes before allocating.

    Gradient solvers keep a handful of (K, D) float64 tensors (point, gradient, Adam moments,
    best copy) plus one block of cosines of K x chunk; the EA keeps a population of K x D float32
    sets twice (parents and survivors) plus one chunk of offspring.
    """
    if method in ("evolutionary", "memetic"):
        population = int(options.get("population", 3000))
        chunk = int(options.get("chunk_size") or 4096)
        return 4 * num * dim * (2 * population + chunk) + 8 * num * num * 4
    chunk = min(num, int(options.get("chunk_size") or 4096))
    return 8 * (16 * num * dim + 4 * num * chunk)


def _check_sizes(num, dim, method, options):
    if not isinstance(num, (int, np.integer)) or num < 2:
        raise InputError(f"the number of classes must be an integer >= 2, got {num!r}")
    if not isinstance(dim, (int, np.integer)) or dim < 2:
        raise InputError(f"the dimension must be an integer >= 2, got {dim!r}")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    need, have = estimate_memory_bytes(num, dim, method, options), available_memory_bytes()
    if need > 0.8 * have:
        raise ResourceError(
            f"{num} points in {dim} dimensions with {method!r} needs about {need / 2**30:.1f} GiB, "
            f"more than this machine's {have / 2**30:.1f} GiB allows")


def solve(num_classes: int, dim: int, method: str = "auto", *, seed: int = 0,
          time_limit: float | None = None, progress: bool = True, init: np.ndarray | None = None,
          extra_fitness=None, extra_loss=None, class_names: list[str] | None = None,
          **options) -> Result:
    """Place ``num_classes`` unit vectors in ``dim`` dimensions.

    ``options`` are passed to the chosen solver (e.g. ``population=``, ``iterations=``, ``s=``).
    ``init``, ``extra_fitness`` and ``extra_loss`` are the hooks used by the privileged-information
    and hierarchy modules; a closed form is only chosen by ``auto`` when no hook is given.
    """
    _check_sizes(num_classes, dim, method, options)
    if time_limit is not None and time_limit <= 0:
        raise InputError(f"time limit must be positive, got {time_limit}")
    if seed is None or int(seed) < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if class_names is not None and len(class_names) != num_classes:
        raise InputError(f"{len(class_names)} class names for {num_classes} classes")
    if init is not None:
        init = np.asarray(init, dtype=np.float64)
        if init.shape != (num_classes, dim):
            raise InputError(f"init has shape {init.shape}, expected {(num_classes, dim)}")
    hooks = init is not None or extra_fitness is not None or extra_loss is not None

    start = time.perf_counter()
    result = None
    if method in _TAMMES_METHODS and not hooks:
        from protogen.solvers.closed_form import optimal_closed_form

        found = optimal_closed_form(num_classes, dim)
        if found is not None:
            name, points = found
            result = Result(points, method="closed-form", seed=seed, params={"construction": name})
        elif method == "closed-form":
            raise InputError(
                f"no closed form is known to be optimal for {num_classes} points in {dim} "
                "dimensions (closed forms: D=2, K <= D+1, K <= 2D)")
    elif method == "closed-form":
        raise InputError("the closed-form method takes no init or semantic/hierarchy terms")

    common = dict(seed=seed, time_limit=time_limit, progress=progress, init=init)
    try:
        if result is None:
            result = _run_solver(num_classes, dim, method, common, extra_fitness, extra_loss,
                                 options)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise InputError(f"method {method!r}: {str(exc).split(') ', 1)[-1]}") from None
    result.elapsed_s = time.perf_counter() - start
    result.seed = seed
    result.class_names = list(class_names) if class_names is not None else result.class_names
    if time_limit is not None:
        result.params.setdefault("time_limit", time_limit)
    return result


def _run_solver(num_classes, dim, method, common, extra_fitness, extra_loss, options) -> Result:
    if method in ("auto", "gradient"):
        from protogen.solvers.gradient import tammes

        return tammes(num_classes, dim, extra_loss=extra_loss, **common, **options)
    if method == "hpn-sgd":
        from protogen.solvers.gradient import hpn_sgd

        return hpn_sgd(num_classes, dim, extra_loss=extra_loss, **common, **options)
    if method == "energy":
        from protogen.solvers.gradient import energy_descent

        return energy_descent(num_classes, dim, extra_loss=extra_loss, **common, **options)
    if method == "evolutionary":
        from protogen.solvers.evolutionary import evolve

        return evolve(num_classes, dim, extra_fitness=extra_fitness, **common, **options)
    # memetic
    from protogen.solvers.evolutionary import memetic

    return memetic(num_classes, dim, extra_fitness=extra_fitness, extra_loss=extra_loss,
                   **common, **options)
