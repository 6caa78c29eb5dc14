"""The registry of solvers: one :class:`Solver` entry per ``--method``.

Each entry names the run function, its parameter dataclass (defaults and allowed values, see
:mod:`protogen.solvers.params`), a peak-memory estimate, and two flags: ``tammes`` (a provably
optimal closed form/construction may stand in for it) and ``terms`` (it accepts an init and the
extra losses/fitnesses of objective terms, :mod:`protogen.terms`). :func:`protogen.solvers.solve`
and the CLI (``--method`` choices and help) read everything from here.

Adding a solver is one entry::

    @dataclasses.dataclass(frozen=True)
    class MyParams:
        iterations: int = param(1000, low=1, help="steps")

    def _run_mine(num, dim, p, *, seed, time_limit, progress, init, extra_loss, extra_fitness):
        from protogen.solvers.mine import my_solver      # lazy: keep `protogen --help` fast
        return my_solver(num, dim, seed=seed, time_limit=time_limit, progress=progress,
                         init=init, extra_loss=extra_loss, **dataclasses.asdict(p))

    register(Solver("mine", _run_mine, MyParams, lambda num, dim, p: 8 * num * dim * 4,
                    summary="what it does in a few words", tammes=False, terms=True))

The run function gets the validated parameters ``p`` and returns a :class:`~protogen.result.Result`;
``extra_loss(x: Tensor) -> Tensor`` (gradient solvers) and ``extra_fitness(batch) -> (n,)`` (EA)
are ``None`` when no term is active, and a solver uses only the hook(s) it can. ``Result.params``
is filled by ``solve`` from ``p`` (``None`` fields replaced by what the solver reports it chose).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from protogen.errors import InputError
from protogen.solvers.params import NoParams, param

_DTYPES = ("float64", "float32")
_BACKENDS = ("numba", "numpy")


@dataclass(frozen=True)
class Solver:
    """One registered method; see the module docstring."""

    name: str
    run: Callable
    params: type
    memory: Callable[[int, int, object], int]
    summary: str = ""
    tammes: bool = False
    terms: bool = True


SOLVERS: dict[str, Solver] = {}


def register(solver: Solver) -> Solver:
    """Add ``solver`` under its name (a second entry of the same name is a bug)."""
    if solver.name in SOLVERS:
        raise ValueError(f"solver {solver.name!r} is already registered")
    SOLVERS[solver.name] = solver
    return solver


def get(method: str) -> Solver:
    if method not in SOLVERS:
        raise InputError(f"unknown method {method!r} (choose from {', '.join(SOLVERS)})")
    return SOLVERS[method]


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class GradientParams:
    """:func:`protogen.solvers.gradient.tammes`; ``None`` = scaled with K^2 D by the solver."""

    iterations: int | None = param(None, low=1, help="annealing steps")
    restarts: int | None = param(None, low=1, help="codes annealed together")
    lr: float = param(0.02, low=0, low_open=True)
    lr_end: float = param(5e-4, low=0, low_open=True)
    t_start: float = param(30.0, low=0, low_open=True, help="smooth-max temperature")
    t_end: float = param(3e3, low=0, low_open=True)
    tol: float = param(1e-12, low=0, help="polish stop: max-cosine gain per 100 steps")
    polish_iterations: int | None = param(None, low=0)
    init_noise: float = param(0.02, low=0, help="noise on an init for restarts 1..")
    device: str = param("cpu", help="torch device")
    dtype: str = param("float64", choices=_DTYPES)
    chunk_size: int | None = param(None, low=1, help="cosine block rows")


@dataclass(frozen=True)
class HpnSgdParams:
    """:func:`protogen.solvers.descent.hpn_sgd` (the official HPN optimisation)."""

    epochs: int | None = param(None, low=1, help="default 1000; 10,000 with official")
    lr: float = param(0.1, low=0, low_open=True)
    momentum: float = param(0.9, low=0, high=1, high_open=True)
    official: bool = param(False, help="the official script: momentum reset every epoch, "
                                       "float32, 10,000 epochs, last iterate")
    device: str = param("cpu", help="torch device")
    dtype: str | None = param(None, choices=_DTYPES,
                              help="default float64; float32 with official")


@dataclass(frozen=True)
class EnergyParams:
    """:func:`protogen.solvers.descent.energy_descent` (Riesz s-energy, s = 0 logarithmic)."""

    s: float = param(1.0, low=0, help="Riesz exponent")
    half_space: bool = param(False, help="prototypes and their antipodes")
    angular: bool = param(False, help="angles instead of chord distances")
    iterations: int = param(2000, low=1)
    lr: float = param(0.01, low=0, low_open=True)
    tol: float = param(1e-12, low=0, help="relative energy change per 50 steps")
    device: str = param("cpu", help="torch device")
    dtype: str = param("float64", choices=_DTYPES)
    chunk_size: int | None = param(None, low=1)


@dataclass(frozen=True)
class EvolutionParams:
    """:func:`protogen.solvers.evolutionary.evolve`: HPN's configuration (seed 000, §2.1)."""

    population: int = param(3000, low=2)
    generations: int = param(300, low=0)
    parent_fraction: float = param(0.3, low=0, high=1, low_open=True)
    offspring_per_pair: int = param(300, low=1)
    mutation_rate: float = param(0.01, low=0, high=1)
    chunk_size: int | None = param(None, low=1, help="offspring scored at once")
    init_noise: float = param(0.1, low=0)
    backend: str = param("numba", choices=_BACKENDS)
    scoring: str = param("incremental", choices=("incremental", "full"),
                         help="offspring scores from the parents' ranked cosines (exact), or "
                              "the full reference scan")


@dataclass(frozen=True)
class MemeticParams(EvolutionParams):
    """:func:`protogen.solvers.memetic.memetic`: the EA (smaller by default) plus gradient
    local search."""

    population: int = param(100, low=2)
    generations: int = param(20, low=0)
    offspring_per_pair: int = param(20, low=1)
    search_every: int = param(5, low=1)
    search_iterations: int = param(100, low=0)
    final_iterations: int = param(300, low=0)
    polish_iterations: int = param(3, low=0)
    polish_rounds: int = param(3, low=0)
    polish_time: float = param(10.0, low=0)


@dataclass(frozen=True)
class SearchParams:
    """:func:`protogen.solvers.search.global_search`: annealed starts (some symmetric), basin
    hopping on the elite, LP max-min polish, then the overlap chain (small codes)."""

    starts: int | None = param(None, low=1, help="initial annealed codes (default: by K, D)")
    start_iterations: int | None = param(None, low=1)
    elite: int = param(4, low=1, help="codes continued by hopping")
    rounds: int | None = param(None, low=0, help="hop rounds without a time limit")
    children: int | None = param(None, low=1, help="perturbed copies per elite code and round")
    hop_iterations: int = param(250, low=1)
    patience: int | None = param(None, low=1,
                                 help="stale rounds before a fresh start (default 4 or 12)")
    lr: float = param(0.02, low=0, low_open=True)
    lr_end: float = param(5e-4, low=0, low_open=True)
    t_start: float | None = param(None, low=0, low_open=True,
                                  help="starts' first temperature (default 100 in D = 3, else 30)")
    t_end: float = param(3e3, low=0, low_open=True)
    hop_lr: float = param(0.004, low=0, low_open=True)
    hop_lr_end: float = param(1e-4, low=0, low_open=True)
    hop_t_start: float = param(300.0, low=0, low_open=True)
    hop_t_end: float = param(1e4, low=0, low_open=True)
    init_noise: float = param(0.02, low=0)
    chain_iterations: int | None = param(
        None, low=0, help="overlap-chain relocations without a time limit (default 1200 in "
                          "exact mode, else 0; with a time limit the chain runs to the deadline)")
    chain_step: float = param(5e-4, low=0, low_open=True,
                              help="chain's target angle beyond the best (fraction)")
    chain_patience: int = param(200, low=1, help="chain's stale relocations before it returns "
                                                 "to the best code")
    chains: int = param(2, low=1, help="overlap chains run side by side (one thread each, up "
                                       "to the number of cores)")
    device: str = param("cpu", help="torch device")
    dtype: str = param("float64", choices=_DTYPES)


@dataclass(frozen=True)
class NeighbourParams:
    """:func:`protogen.solvers.neighbours.neighbour_tammes`: the annealed smooth max over each
    point's k nearest neighbours (large K); ``None`` = scaled with K and D by the solver."""

    device: str = param("auto", choices=("auto", "cpu", "cuda"),
                        help="auto: CUDA when present")
    k: int | None = param(None, low=1, help="neighbours per point (default 64 small, 32 large)")
    refresh: int | None = param(None, low=1, help="steps between exact neighbour refreshes")
    chunk_size: int | None = param(None, low=1, help="rows per block of the exact top-k")
    iterations: int | None = param(None, low=1, help="float32 annealing steps")
    polish_iterations: int | None = param(None, low=0, help="float64 polish steps")
    lr: float = param(0.01, low=0, low_open=True)
    lr_end: float = param(2e-4, low=0, low_open=True)
    t_start: float = param(30.0, low=0, low_open=True)
    t_end: float = param(3e3, low=0, low_open=True)
    polish_lr: float = param(2e-4, low=0, low_open=True)
    polish_lr_end: float = param(1e-6, low=0, low_open=True)
    polish_t_start: float = param(3e3, low=0, low_open=True)
    polish_t_end: float = param(1e5, low=0, low_open=True)


@dataclass(frozen=True)
class ConstructionParams:
    """:func:`protogen.solvers.constructions.fit`: a code of the library by name."""

    name: str | None = param(None, help="a construction: icosahedron, snub-cube, 24-cell, "
                             "600-cell, petersen, d5, e6, e7, e8, leech, higman-sims-100, ..., "
                             "an alias (d4, 4_21, ...), d<n> or demicube<n>")


# --------------------------------------------------------------------------- memory
def _chunk(p, num):
    return min(num, int(getattr(p, "chunk_size", None) or 4096))


def gradient_memory(num: int, dim: int, p) -> int:
    """A handful of (K, D) float64 tensors (point, gradient, Adam moments, best copy) plus one
    block of K x chunk cosines and its gradient."""
    return 8 * (16 * num * dim + 4 * num * _chunk(p, num))


def evolution_memory(num: int, dim: int, p) -> int:
    """The population of K x D float32 sets twice (parents and survivors), one chunk of
    offspring, and the per-pair K x K cosine blocks."""
    chunk = int(p.chunk_size or 4096)
    return 4 * num * dim * (2 * p.population + chunk) + 8 * num * num * 4


def closed_form_memory(num: int, dim: int, p) -> int:
    return 8 * num * dim * 2


def neighbours_memory(num: int, dim: int, p) -> int:
    """O(K (D + k)) plus one top-k block: :func:`protogen.solvers.neighbours.estimate_memory_bytes`."""
    from protogen.solvers.neighbours import default_k, estimate_memory_bytes

    return estimate_memory_bytes(num, dim, p.k or default_k(num, dim), p.chunk_size)


def auto_memory(num: int, dim: int, p) -> int:
    """A known record of exactly (K, D) is returned without a solver (the Leech lattice's 196560
    points need megabytes, not the gradient solver's K x chunk blocks); else the memory of the
    solver ``auto`` hands (K, D) to."""
    from protogen.solvers.known import has_record

    if has_record(num, dim):
        return closed_form_memory(num, dim, p)
    solver, params = auto_delegate(num, dim, p)
    return solver.memory(num, dim, params)


def construction_memory(num: int, dim: int, p) -> int:
    """The whole source code (built before a subset is taken), its subset and the padded copy.
    Checking the name here makes an unknown one a one-line error before anything runs."""
    if p.name is None:
        raise InputError("the construction method needs -o name=NAME (for example "
                         "-o name=24-cell; see protogen.solvers.constructions)")
    from protogen.solvers.constructions import get as get_construction

    code = get_construction(p.name)
    return 8 * (2 * code.num * code.dim + 2 * num * dim)


# --------------------------------------------------------------------------- run functions
def _run_gradient(num, dim, p, *, seed, time_limit, progress, init, extra_loss, extra_fitness):
    from protogen.solvers.gradient import tammes

    # A time limit is an anytime budget here: rounds of fresh starts until it is spent.
    return tammes(num, dim, seed=seed, time_limit=time_limit, progress=progress, init=init,
                  extra_loss=extra_loss, anytime=True, **dataclasses.asdict(p))


def _run_hpn_sgd(num, dim, p, *, seed, time_limit, progress, init, extra_loss, extra_fitness):
    from protogen.solvers.descent import hpn_sgd

    return hpn_sgd(num, dim, seed=seed, time_limit=time_limit, progress=progress, init=init,
                   extra_loss=extra_loss, **dataclasses.asdict(p))


def _run_energy(num, dim, p, *, seed, time_limit, progress, init, extra_loss, extra_fitness):
    from protogen.solvers.descent import energy_descent

    return energy_descent(num, dim, seed=seed, time_limit=time_limit, progress=progress,
                          init=init, extra_loss=extra_loss, **dataclasses.asdict(p))


def _run_evolutionary(num, dim, p, *, seed, time_limit, progress, init, extra_loss,
                      extra_fitness):
    from protogen.solvers.evolutionary import evolve

    return evolve(num, dim, seed=seed, time_limit=time_limit, progress=progress, init=init,
                  extra_fitness=extra_fitness, **dataclasses.asdict(p))


def _run_memetic(num, dim, p, *, seed, time_limit, progress, init, extra_loss, extra_fitness):
    from protogen.solvers.memetic import memetic

    return memetic(num, dim, seed=seed, time_limit=time_limit, progress=progress, init=init,
                   extra_fitness=extra_fitness, extra_loss=extra_loss, **dataclasses.asdict(p))


def _run_search(num, dim, p, *, seed, time_limit, progress, init, extra_loss, extra_fitness):
    from protogen.solvers.search import global_search

    return global_search(num, dim, seed=seed, time_limit=time_limit, progress=progress,
                         init=init, extra_loss=extra_loss, **dataclasses.asdict(p))


def _run_neighbours(num, dim, p, *, seed, time_limit, progress, init, extra_loss,
                    extra_fitness):
    from protogen.solvers.neighbours import neighbour_tammes

    return neighbour_tammes(num, dim, seed=seed, time_limit=time_limit, progress=progress,
                            init=init, extra_loss=extra_loss, **dataclasses.asdict(p))


# ``auto`` hands codes up to this K^2 D to the global search (D = 3: K <= 141); larger ones go
# to the annealed solver, whose restarts already find the good basins at that size.
SEARCH_MAX_WORK = 6e4
# ... and codes from this K^2 D on to the neighbour-list solver, whose cost grows like K k D per
# step instead of K^2 D: measured side by side (2 busy cores), K=500, D=16: 66.78 deg in 9 s
# against the dense solver's 66.85 in 230 s; K=1000, D=64: 81.37 in 17 s against 81.57 in
# minutes; K=10,000, D=128: 77.9 deg against the dense 74.5 in 459 s.
NEIGHBOURS_MIN_WORK = 1e6


def auto_delegate(num: int, dim: int, params) -> tuple["Solver", object]:
    """The method ``auto`` runs for (K, D) when no exact code stands in, with its parameters:
    the global search for small codes, the neighbour-list solver for large ones, else the
    annealed gradient solver. Options given to ``auto`` are the gradient solver's, so with any
    of them (besides ``device``) it stays the gradient solver."""
    device = params.device
    if dataclasses.replace(params, device=GradientParams().device) != GradientParams():
        return SOLVERS["gradient"], params
    if num * num * dim <= SEARCH_MAX_WORK:
        return SOLVERS["search"], SearchParams(device=device)
    if num * num * dim >= NEIGHBOURS_MIN_WORK:
        return SOLVERS["neighbours"], NeighbourParams(
            device="auto" if device == GradientParams().device else device)
    return SOLVERS["gradient"], params


def _run_construction(num, dim, p, *, seed, progress, **_):
    from protogen.solvers.known import fitted

    return fitted(p.name, num, dim, seed, progress)


def _run_closed_form(num, dim, p, **_):
    # solve() tries the stand-in first for every ``tammes`` method; reaching here means none.
    raise InputError(f"no closed form is known to be optimal for {num} points in {dim} "
                     "dimensions (closed forms: D=2, K <= D+1, K <= 2D)")


register(Solver("auto", _run_gradient, GradientParams, auto_memory, tammes=True,
                summary="an exact code where known, else the global search (small codes) or "
                        "gradient, kept if better than a fitting construction (takes "
                        "gradient's options)"))
register(Solver("closed-form", _run_closed_form, NoParams, closed_form_memory, tammes=True,
                terms=False, summary="polygon, simplex or cross-polytope where provably optimal"))
register(Solver("construction", _run_construction, ConstructionParams, construction_memory,
                terms=False, summary="an exact code of the library (-o name=NAME), a subset of "
                "it, or it embedded in more dimensions"))
register(Solver("evolutionary", _run_evolutionary, EvolutionParams, evolution_memory,
                summary="HPN's evolutionary algorithm (seed 000)"))
register(Solver("memetic", _run_memetic, MemeticParams, evolution_memory,
                summary="evolutionary algorithm plus gradient local search"))
register(Solver("gradient", _run_gradient, GradientParams, gradient_memory,
                summary="annealed smooth max-min (Tammes) with restarts and exact polish"))
register(Solver("search", _run_search, SearchParams, gradient_memory, tammes=True,
                summary="global search: symmetric and random annealed starts, basin hopping, "
                        "LP max-min polish"))
register(Solver("neighbours", _run_neighbours, NeighbourParams, neighbours_memory,
                tammes=True, summary="annealed smooth max over k-nearest-neighbour lists "
                                     "refreshed by exact blockwise top-k (large K, CPU or CUDA)"))
register(Solver("hpn-sgd", _run_hpn_sgd, HpnSgdParams, gradient_memory,
                summary="HPN's official SGD on the mean largest cosine"))
register(Solver("energy", _run_energy, EnergyParams, gradient_memory,
                summary="Adam on the Riesz s-energy (s = 0 logarithmic)"))
