"""The evolutionary algorithm of Hyperspherical Prototype Networks (HPN, seed 000, §2.1).

An individual is a candidate prototype set: K unit rows in D dimensions. Its fitness g(P) is the
minimum pairwise angle in degrees (HPN: "the minimum cosine distance between the prototype
pairs"), plus ``extra_fitness(batch)`` when given (HPN's privileged-information term, weighted by
its author). One generation, as in HPN:

1. parents: 30% of the population drawn by fitness-proportionate selection (without
   replacement), paired in draw order;
2. each pair produces 300 offspring by single-point row crossover (rows ``[0:c]`` of one parent,
   ``[c:K]`` of the other; c uniform in 1..K-1, which parent comes first is a coin flip);
3. each offspring undergoes uniform mutation (every coordinate is replaced, with probability
   ``mutation_rate`` = 0.01, by a uniform sample in [-1, 1]); mutated rows are renormalised;
4. survival: population and offspring are sampled proportionally to fitness (without
   replacement) back to the population size. **Elitism**: the best individual always survives,
   so the best fitness never decreases from one generation to the next.

Weighted sampling without replacement uses exponential keys (Efraimidis & Spirakis): item i gets
E_i / w_i with E_i ~ Exp(1) and the smallest keys win. Survival is therefore streamed: offspring
are generated and scored in chunks, each chunk's keys are merged into the running set of the
``population`` smallest keys, and an entrant is kept as its random plan; only the final
survivors are materialised. Memory stays O(population * K * D) plus one chunk whatever the
number of offspring.

Scoring reuses structure (see :mod:`protogen.solvers._kernels_incremental`): the 300 offspring of
a pair share the pair's cosine blocks (A·Aᵀ, B·Bᵀ, A·Bᵀ); a mutated row costs one update per
mutated coordinate, and the unmutated pairs cost a short scan of the pair's ranked cosines
(``scoring="incremental"``) or a read of all of them (``"full"``, the reference; same bits).
The ``numpy`` backend is a plain reference doing the same math on materialised offspring (slow;
used to test the kernels).

Randomness comes from one ``numpy.random.Generator`` seeded by ``seed`` and drawn in a fixed order
in the Python loop; kernels are pure functions of their inputs, so a seed gives the same result
whatever the thread count. Fitness weights are clipped below at 1e-12 (an ``extra_fitness`` that
drives a fitness to zero or below gives that individual a vanishing selection chance).
"""

from __future__ import annotations

import math
import time

import numpy as np

from protogen.errors import InputError
from protogen.result import Result
from protogen.solvers.ea_backends import CHUNK_BYTES, NumbaBackend, NumpyBackend
from protogen.solvers.params import check_init
from protogen.sphere import normalize

BACKENDS = ("numba", "numpy")
SCORINGS = ("incremental", "full")
# A chunk of materialised offspring (float32) is kept under this many bytes.
_PLAN_BYTES = 8 * 2**20  # a chunk's random plan (numba backend without extra_fitness)
_MIN_WEIGHT = 1e-12


# --------------------------------------------------------------------------- random plan
def _mutation_plan(rng, n, length, rate):
    """Mutations of ``n`` offspring of ``length`` coordinates as CSR (ptr, pos, val).

    One Bernoulli(rate) trial per coordinate, drawn exactly as the gaps between successes
    (geometric, by inversion of standard exponentials), so the cost is proportional to the
    number of mutations, not of coordinates.
    """
    total = n * length
    if rate <= 0.0 or total == 0:
        return np.zeros(n + 1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32)
    from protogen.solvers._kernels import mutation_csr_exponential

    mean = total * rate
    size = int(mean + 6 * math.sqrt(mean) + 16)  # enough but once in ~1e9 draws
    scale = -1.0 / math.log1p(-rate) if rate < 1.0 else 0.0
    while True:
        ptr, pos, covered = mutation_csr_exponential(rng.standard_exponential(size), scale, n,
                                                     length)
        if covered:
            break
        size *= 2  # the rare shortfall: a fresh, larger draw (independent, so still exact)
    val = rng.random(pos.size, dtype=np.float32)
    val *= 2.0
    val -= 1.0  # uniform in [-1, 1)
    return ptr, pos, val


class _Plan:
    """Random choices for one chunk of offspring (see :mod:`._kernels` for the layout)."""

    def __init__(self, rng, pairs, start, n, offspring_per_pair, num, dim, rate):
        pair = (np.arange(start, start + n) // offspring_per_pair)
        first, second = pairs[pair, 0], pairs[pair, 1]
        flip = rng.integers(0, 2, size=n).astype(bool)
        self.pa = np.where(flip, second, first).astype(np.int64)
        self.pb = np.where(flip, first, second).astype(np.int64)
        self.cuts = rng.integers(1, num, size=n).astype(np.int64)
        self.mut_ptr, self.mut_pos, self.mut_val = _mutation_plan(rng, n, num * dim, rate)
        self.n = n
        # Parallel tasks of the numba kernel: runs of offspring sharing a parent pair.
        self.tasks = np.concatenate([[0], np.flatnonzero(np.diff(pair)) + 1, [n]]).astype(np.int64)

    def subset(self, which):
        """The plan of offspring ``which`` only (for materialising them later)."""
        sub = object.__new__(_Plan)
        sub.pa, sub.pb, sub.cuts = self.pa[which], self.pb[which], self.cuts[which]
        counts = self.mut_ptr[which + 1] - self.mut_ptr[which]
        sub.mut_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        take = np.repeat(self.mut_ptr[which] - sub.mut_ptr[:-1], counts) + np.arange(
            sub.mut_ptr[-1])
        sub.mut_pos, sub.mut_val = self.mut_pos[take], self.mut_val[take]
        sub.n = which.size
        sub.tasks = np.array([0, sub.n], np.int64)
        return sub


# --------------------------------------------------------------------------- backends
def _angles(max_cos: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip(max_cos.astype(np.float64), -1.0, 1.0)))


# --------------------------------------------------------------------------- the algorithm
def _check_params(num, dim, population, generations, parent_fraction, offspring_per_pair,
                  mutation_rate, chunk_size, time_limit, init, init_noise, backend,
                  scoring="incremental"):
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    if not is_int(num) or num < 2:
        raise InputError(f"the number of classes must be an integer >= 2, got {num!r}")
    if not is_int(dim) or dim < 2:
        raise InputError(f"the dimension must be an integer >= 2, got {dim!r}")
    if not is_int(population) or population < 2:
        raise InputError(f"population must be an integer >= 2, got {population!r}")
    if not is_int(generations) or generations < 0:
        raise InputError(f"generations must be a non-negative integer, got {generations!r}")
    if not 0.0 < float(parent_fraction) <= 1.0:
        raise InputError(f"parent_fraction must lie in (0, 1], got {parent_fraction!r}")
    if int(parent_fraction * population) // 2 < 1:
        raise InputError(f"parent_fraction {parent_fraction} of a population of {population} "
                         "gives no parent pair")
    if not is_int(offspring_per_pair) or offspring_per_pair < 1:
        raise InputError(f"offspring_per_pair must be an integer >= 1, got {offspring_per_pair!r}")
    if not 0.0 <= float(mutation_rate) <= 1.0:
        raise InputError(f"mutation_rate must lie in [0, 1], got {mutation_rate!r}")
    if chunk_size is not None and (not is_int(chunk_size) or chunk_size < 1):
        raise InputError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if time_limit is not None and not time_limit > 0:
        raise InputError(f"time limit must be positive, got {time_limit!r}")
    if not float(init_noise) >= 0.0:
        raise InputError(f"init_noise must be >= 0, got {init_noise!r}")
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if scoring not in SCORINGS:
        raise InputError(f"unknown scoring {scoring!r} (choose from {', '.join(SCORINGS)})")
    return check_init(init, num, dim)


class _Evolution:
    """State of one EA run; :meth:`step` runs a generation. Used by evolve() and memetic()."""

    def __init__(self, num, dim, *, seed, population, parent_fraction, offspring_per_pair,
                 mutation_rate, chunk_size, init, init_noise, extra_fitness, backend,
                 scoring="incremental"):
        self.num, self.dim = num, dim
        self.size = population
        self.pairs = int(parent_fraction * population) // 2
        self.opp = offspring_per_pair
        self.rate = float(mutation_rate)
        self.offspring = self.pairs * offspring_per_pair
        # Default chunk: whole parent pairs, ~64 MiB of float32 sets where a chunk is
        # materialised (numpy backend, extra_fitness); the numba kernels only hold its random
        # plan (~8 bytes per mutation + 48 per offspring), and fewer, larger chunks mean fewer
        # kernel launches and less serial work between them.
        if backend == "numba" and extra_fitness is None:
            per_pair = offspring_per_pair * (8 * num * dim * self.rate + 48)
            pairs_per_chunk = max(1, int(_PLAN_BYTES // per_pair))
            chunks = -(-self.pairs // pairs_per_chunk)
            pairs_per_chunk = -(-self.pairs // chunks)  # equal chunks, no small last one
        else:
            pairs_per_chunk = max(1, CHUNK_BYTES // (4 * num * dim * offspring_per_pair))
        self.chunk = chunk_size or min(self.offspring, offspring_per_pair * pairs_per_chunk)
        self.extra = extra_fitness
        self.rng = np.random.default_rng(seed)
        self.backend = NumbaBackend(scoring) if backend == "numba" else NumpyBackend()

        if init is None:
            pop = self.rng.standard_normal((population, num, dim))
        else:
            # Member 0 is the init itself, the others are noisy copies of it.
            noise = self.rng.standard_normal((population, num, dim))
            noise[0] = 0.0
            pop = init[None] + init_noise * noise
        pop /= np.linalg.norm(pop, axis=2, keepdims=True)
        self.pop = np.ascontiguousarray(pop, dtype=np.float32)
        self.spare = None
        self.fit = _angles(self.backend.fitness(self.pop))
        if self.extra is not None:
            self.fit = self.fit + self._extra(self.pop)

    def _extra(self, batch):
        value = np.asarray(self.extra(batch), dtype=np.float64).reshape(-1)
        if value.shape != (batch.shape[0],) or not np.all(np.isfinite(value)):
            raise InputError(f"extra_fitness must return {batch.shape[0]} finite values, got "
                             f"shape {value.shape}")
        return value

    @property
    def best(self) -> tuple[np.ndarray, float]:
        i = int(np.argmax(self.fit))
        return self.pop[i].copy(), float(self.fit[i])

    def replace(self, index, member):
        """Put ``member`` (K, D) into the population at ``index`` (used by the memetic polish)."""
        self.pop[index] = np.asarray(member, dtype=np.float32)
        fit = float(_angles(self.backend.fitness(self.pop[index:index + 1]))[0])
        if self.extra is not None:
            fit += float(self._extra(self.pop[index:index + 1])[0])
        self.fit[index] = fit

    def _keys(self, fitness):
        return self.rng.exponential(size=fitness.shape[0]) / np.maximum(fitness, _MIN_WEIGHT)

    def step(self, deadline=math.inf) -> bool:
        """One generation. Returns False (population unchanged) if the deadline interrupted it."""
        size = self.size
        self.backend.begin(self.pop)
        parents = np.argsort(self._keys(self.fit), kind="stable")[:2 * self.pairs]
        pairs = parents.reshape(self.pairs, 2)

        # Survivors: the `size` smallest keys seen so far, starting with the population. An
        # offspring survivor is kept as its plan (chunk number, index into that chunk's
        # entrants) and built once, at the end, if it is still there.
        buf_fit = self.fit.copy()
        buf_key = self._keys(self.fit)
        buf_id = np.arange(size, dtype=np.int64)  # population i -> i, offspring o -> size + o
        slot_chunk = np.full(size, -1, np.int64)  # -1: population member buf_id
        slot_index = np.zeros(size, np.int64)
        entrant_plans = {}
        elite_id = int(np.argmax(self.fit))
        elite_fit = float(self.fit[elite_id])
        elite = self.pop[elite_id].copy()

        for chunk_no, start in enumerate(range(0, self.offspring, self.chunk)):
            if time.perf_counter() > deadline:
                return False
            n = min(self.chunk, self.offspring - start)
            plan = _Plan(self.rng, pairs, start, n, self.opp, self.num, self.dim, self.rate)
            fit = _angles(self.backend.score(self.pop, plan))
            if self.extra is not None:
                fit = fit + self._extra(self.backend.materialize(self.pop, plan, np.arange(n)))
            keys = self._keys(fit)

            j = int(np.argmax(fit))
            if fit[j] > elite_fit:
                elite_fit, elite_id = float(fit[j]), size + start + j
                elite = self.backend.materialize(self.pop, plan, np.array([j]))[0]

            merged = np.concatenate([buf_key, keys])
            keep = np.argpartition(merged, size - 1)[:size]
            entrants = keep[keep >= size] - size
            if entrants.size:
                kept = np.zeros(size, bool)
                kept[keep[keep < size]] = True
                slots = np.flatnonzero(~kept)
                entrant_plans[chunk_no] = plan.subset(entrants)
                slot_chunk[slots] = chunk_no
                slot_index[slots] = np.arange(entrants.size)
                buf_fit[slots] = fit[entrants]
                buf_key[slots] = keys[entrants]
                buf_id[slots] = size + start + entrants
                for k in [k for k in entrant_plans if not np.any(slot_chunk == k)]:
                    del entrant_plans[k]

        elite_slot = -1
        if elite_id not in buf_id:
            elite_slot = int(np.argmax(buf_key))
            buf_fit[elite_slot], buf_id[elite_slot] = elite_fit, elite_id
            slot_chunk[elite_slot] = -2
        # Two population buffers used in turn: a fresh 30 MB array every generation costs
        # page faults that show in the generation time.
        new = self.spare if self.spare is not None else np.empty_like(self.pop)
        members = slot_chunk == -1
        new[members] = self.pop[buf_id[members]]
        for k, sub in entrant_plans.items():
            sl = np.flatnonzero(slot_chunk == k)
            if sl.size:
                new[sl] = self.backend.materialize(self.pop, sub, slot_index[sl])
        if elite_slot >= 0:
            new[elite_slot] = elite
        self.spare, self.pop = self.pop, new
        self.fit = buf_fit
        return True


def _result(state, method, params, history, generations_run, stopped, start, extra_meta=None):
    best, fitness = state.best
    proto = normalize(best.astype(np.float64))
    metadata = {"generations_run": generations_run, "stopped_early": stopped,
                "offspring_per_generation": state.offspring, "best_fitness": fitness}
    metadata.update(extra_meta or {})
    return Result(proto, method=method, seed=params["seed"], params=params,
                  elapsed_s=time.perf_counter() - start, metadata=metadata,
                  history=[float(h) for h in history])


def run_generations(state, generations, deadline, bar, after_generation=None):
    """Step ``state`` up to ``generations`` times, stopping at ``deadline``; ``after_generation
    (g)`` runs after generation g (0-based) is done. Returns (best fitness after each
    generation, generations done, whether the deadline stopped the run early)."""
    history, done, stopped = [], 0, False
    for g in range(generations):
        if not state.step(deadline):
            stopped = True
            break
        done += 1
        if after_generation is not None:
            after_generation(g)
        history.append(state.best[1])
        bar.set_postfix(best=f"{history[-1]:.3f}")
        bar.update()
        if time.perf_counter() > deadline:
            stopped = done < generations
            break
    return history, done, stopped


def start_evolution(num_classes, dim, start, *, seed, population, generations, parent_fraction,
                    offspring_per_pair, mutation_rate, chunk_size, time_limit, init, init_noise,
                    extra_fitness, backend, scoring, **extra_params):
    """What :func:`evolve` and the memetic solver share before their first generation: checked
    parameters, the ``params`` record (``extra_params`` appended), the population, the
    deadline."""
    init = _check_params(num_classes, dim, population, generations, parent_fraction,
                         offspring_per_pair, mutation_rate, chunk_size, time_limit, init,
                         init_noise, backend, scoring)
    params = dict(seed=int(seed), population=population, generations=generations,
                  parent_fraction=float(parent_fraction), offspring_per_pair=offspring_per_pair,
                  mutation_rate=float(mutation_rate), **extra_params, chunk_size=chunk_size,
                  time_limit=time_limit, init=init is not None, init_noise=float(init_noise),
                  extra_fitness=extra_fitness is not None, backend=backend, scoring=scoring)
    params = {k: v for k, v in params.items() if v is not None}
    deadline = start + time_limit if time_limit is not None else math.inf
    state = _Evolution(num_classes, dim, seed=seed, population=population,
                       parent_fraction=parent_fraction, offspring_per_pair=offspring_per_pair,
                       mutation_rate=mutation_rate, chunk_size=chunk_size, init=init,
                       init_noise=init_noise, extra_fitness=extra_fitness, backend=backend,
                       scoring=scoring)
    return params, state, deadline


def evolve(num_classes: int, dim: int, *, seed: int = 0, population: int = 3000,
           generations: int = 300, parent_fraction: float = 0.3, offspring_per_pair: int = 300,
           mutation_rate: float = 0.01, chunk_size: int | None = None,
           time_limit: float | None = None, init: np.ndarray | None = None,
           init_noise: float = 0.1, extra_fitness=None, backend: str = "numba",
           scoring: str = "incremental", progress: bool = True) -> Result:
    """HPN's evolutionary algorithm (seed 000, §2.1); defaults are the paper's configuration.

    Fitness = minimum pairwise angle in degrees + ``extra_fitness(batch)`` where ``batch`` is a
    float32 (n, K, D) array of unit-row candidate sets and the hook returns n values. ``init``
    (K, D) seeds the population: member 0 is ``init`` itself, the others ``init + init_noise *
    N(0, 1)`` renormalised. ``chunk_size`` is the number of offspring scored at once (default:
    ~64 MiB of float32 sets). ``time_limit`` (seconds) stops early, returning the best set found.
    The best individual always survives (elitism), so ``history`` — the best fitness after each
    completed generation — never decreases. ``backend="numpy"`` runs the slow reference.
    ``scoring`` (numba backend): ``"incremental"`` scores an offspring from its parents' ranked
    cached cosines, ``"full"`` reads all its pairs; both give bit-identical fitness values, so
    the run is the same, only slower with ``"full"`` (kept as the reference).
    """
    start = time.perf_counter()
    params, state, deadline = start_evolution(
        num_classes, dim, start, seed=seed, population=population, generations=generations,
        parent_fraction=parent_fraction, offspring_per_pair=offspring_per_pair,
        mutation_rate=mutation_rate, chunk_size=chunk_size, time_limit=time_limit, init=init,
        init_noise=init_noise, extra_fitness=extra_fitness, backend=backend, scoring=scoring)
    initial = state.best[1]
    from tqdm.auto import tqdm

    with tqdm(total=generations, desc="evolutionary", unit="gen", disable=not progress) as bar:
        history, done, stopped = run_generations(state, generations, deadline, bar)
    return _result(state, "evolutionary", params, history, done, stopped, start,
                   {"initial_best_fitness": initial})
