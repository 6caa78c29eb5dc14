"""One entry point for every spherical-code solver: :func:`solve`.

The methods, their parameters and memory estimates live in :mod:`protogen.solvers.registry`
(add a solver there). ``method="auto"`` uses a closed form where one is provably optimal
(polygon, simplex, cross-polytope), a known code of exactly (K, D) that is proved optimal or the
best known (icosahedron, 24-cell, E8, ..., :mod:`protogen.solvers.constructions`), and otherwise
the better of the annealed gradient solver and a construction that fits (a subset, or a code
embedded in more dimensions); with objective terms, closed forms only. Objective terms
(:mod:`protogen.terms`: semantics, hierarchy, ...) are combined here and only here. Solver
modules are imported lazily so that ``protogen --help`` and the closed forms stay fast.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from protogen.errors import InputError
from protogen.memory import available_memory_bytes, check_fits  # noqa: F401 (re-exported)
from protogen.result import Result
from protogen.solvers.params import validate
from protogen.solvers import registry
from protogen.solvers.registry import SOLVERS, get

METHODS = tuple(SOLVERS)
# Metadata written by solve() itself when terms are given (the CLI reports these too).
TERM_KEYS = ("terms", "term_stage", "plain_method", "plain_min_angle_deg", "min_angle_cost_pct")


def _check_sizes(num, dim, solver, params):
    if not isinstance(num, (int, np.integer)) or isinstance(num, bool) or num < 2:
        raise InputError(f"the number of classes must be an integer >= 2, got {num!r}")
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 2:
        raise InputError(f"the dimension must be an integer >= 2, got {dim!r}")
    check_fits(solver.memory(int(num), int(dim), params),
               f"{num} points in {dim} dimensions with {solver.name!r}")


def solve(num_classes: int, dim: int, method: str = "auto", *, terms=(), seed: int = 0,
          time_limit: float | None = None, progress: bool = True,
          class_names: list[str] | None = None, reference: bool | None = None,
          **options) -> Result:
    """Place ``num_classes`` unit vectors in ``dim`` dimensions.

    ``options`` are the chosen solver's parameters (``population=``, ``iterations=``, ``s=``,
    ...), checked against its declared dataclass (unknown key, wrong type or out-of-range value:
    ``InputError``); ``Result.params`` holds every parameter used. ``terms`` are objective terms
    (:class:`protogen.terms.Term`) combined as :mod:`protogen.terms` describes. ``reference``:
    run the plain solve first (default: only when a term needs it) and report the minimum-angle
    cost of the terms; with it, ``time_limit`` is split evenly between the two solves.
    """
    solver = get(method)
    params = validate(method, solver.params, options)
    _check_sizes(num_classes, dim, solver, params)
    num_classes, dim = int(num_classes), int(dim)
    if time_limit is not None and not time_limit > 0:
        raise InputError(f"time limit must be positive, got {time_limit}")
    if seed is None or isinstance(seed, bool) or int(seed) < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    if class_names is not None and len(class_names) != num_classes:
        raise InputError(f"{len(class_names)} class names for {num_classes} classes")
    terms = list(terms or ())
    if terms and not solver.terms:
        raise InputError(f"the {method} method takes no objective terms (semantics, hierarchy)")
    for term in terms:
        term.bind(num_classes, dim, None if class_names is None else list(class_names), seed)

    start_time = time.perf_counter()
    common = dict(seed=seed, progress=progress)
    if not terms:
        result = _run(solver, num_classes, dim, params, time_limit=time_limit, **common)
    else:
        result = _solve_with_terms(solver, num_classes, dim, params, options, terms, reference,
                                   time_limit, common)
    result.elapsed_s = time.perf_counter() - start_time
    result.seed = seed
    result.class_names = list(class_names) if class_names is not None else result.class_names
    return result


def _run(solver, num, dim, params, *, time_limit, seed, progress, init=None, extra_loss=None,
         extra_fitness=None, known_codes=True) -> Result:
    """One solver run. A provably optimal closed form stands in for a Tammes method when no
    term steers it; ``auto`` (``known_codes``, no term) also returns a proved or best-known code
    of exactly (K, D) outright and otherwise the better of the solver's code and a construction
    that fits (:mod:`protogen.solvers.known`). ``Result.params``: the dataclass, ``None`` (auto)
    fields as resolved."""
    from protogen.solvers import known

    hooks = init is not None or extra_loss is not None or extra_fitness is not None
    records = solver.name == "auto" and known_codes and not hooks
    if solver.tammes and not hooks:
        found = known.record_code(num, dim, seed, registered=records)
        if found is not None:
            return found
    if solver.name == "construction":  # its params are the canonical name it reports
        return solver.run(num, dim, params, seed=seed, progress=progress)
    if solver.name == "auto" and not hooks:
        solver, params = registry.auto_delegate(num, dim, params)
    start = time.perf_counter()
    result = solver.run(num, dim, params, seed=seed, time_limit=time_limit, progress=progress,
                        init=init, extra_loss=extra_loss, extra_fitness=extra_fitness)
    used = {}
    for key, value in dataclasses.asdict(params).items():
        value = result.params.get(key) if value is None else value
        if value is not None:
            used[key] = value
    if time_limit is not None:
        used["time_limit"] = time_limit
        if time.perf_counter() - start >= time_limit:
            # Anytime: the solver stopped at the limit and returned the best code it had then.
            result.metadata["time_limit_reached"] = True
    result.params = used
    if records:
        result = known.prefer_construction(result, num, dim, progress=progress)
    return result


def _solve_with_terms(solver, num, dim, params, options, terms, reference, time_limit, common):
    """Steps 2-6 of :mod:`protogen.terms`: plain reference, start, termed solve, guard, report."""
    from protogen.sphere import min_angle_deg

    needed = any(t.needs_reference for t in terms)
    reference = needed if reference is None else reference or needed
    if reference and time_limit is not None:
        time_limit = time_limit / 2
    plain = None
    if reference:
        # The terms get a solver's arrangement to compare with, never a construction.
        plain = _run(solver, num, dim, params, time_limit=time_limit, known_codes=False,
                     **common)
        for term in terms:
            term.set_reference(plain.prototypes)

    start = next((x for x in (t.init(num, dim, common["seed"]) for t in terms)
                  if x is not None), None)
    if start is None and needed:
        start = plain.prototypes
    if start is not None:
        start = np.asarray(start, dtype=np.float64)
        if start.shape != (num, dim):
            raise InputError(f"a term's start has shape {start.shape}, expected {(num, dim)}")
        for term in terms:
            start = term.arrange(start, common["seed"])

    fields = {f.name for f in dataclasses.fields(params)}
    preferred = {k: v for t in terms for k, v in t.solver_defaults.items()
                 if k in fields and k not in options}
    if preferred and start is not None:
        params = dataclasses.replace(params, **preferred)
    active = [t for t in terms if t.weight > 0]

    def extra_loss(x):
        return sum(t.loss(x) for t in active)

    def extra_fitness(batch):
        return sum(np.asarray(t.fitness(batch), dtype=np.float64) for t in active)

    result = _run(solver, num, dim, params, time_limit=time_limit, init=start,
                  extra_loss=extra_loss if active else None,
                  extra_fitness=extra_fitness if active else None, **common)
    stage = "solved"
    if start is not None and not all(t.accept(result.prototypes, start) for t in terms) \
            and min_angle_deg(start) >= min_angle_deg(result.prototypes):
        result.prototypes, stage = start, "start"

    meta = {"terms": ",".join(t.name for t in terms), "term_stage": stage}
    for term in terms:
        p = term.name + "_"
        meta.update({p + k: v for k, v in term.metadata().items()})
        meta.update({p + k: v for k, v in term.metrics(result.prototypes).items()})
        if start is not None:
            meta.update({p + "init_" + k: v for k, v in term.metrics(start).items()})
        if plain is not None:
            meta.update({p + "plain_" + k: v for k, v in term.metrics(plain.prototypes).items()})
        for name, data in term.datasets().items():
            if name in result.datasets:
                raise InputError(f"two terms write the dataset {name!r}")
            result.datasets[name] = data
    if plain is not None:
        angle, plain_angle = min_angle_deg(result.prototypes), min_angle_deg(plain.prototypes)
        meta.update({"plain_method": plain.method, "plain_min_angle_deg": plain_angle,
                     "min_angle_cost_pct": (100.0 * (plain_angle - angle) / plain_angle
                                            if plain_angle > 0 else 0.0)})
    result.metadata.update(meta)
    return result
