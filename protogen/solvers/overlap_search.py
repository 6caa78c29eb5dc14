"""Fixed-target overlap search: a chain of relocations that climbs between Tammes basins.

The basin hops of :mod:`protogen.solvers.search` compare polished codes, which is exact but
costs an LP polish per child; at K ~ 100 in D = 3 a minute allows a few dozen of them, too few
to cross the many nearly equal basins there. The circle-packing heuristics of Lai et al. search
differently (X. Lai, D. Yue, J.-K. Hao, F. Glover, Z. Lü, "Iterated dynamic neighborhood search
for packing equal circles on a sphere", Computers & Operations Research 151 (2023) 106121): fix a
target minimum distance a little beyond the best found, minimise the *overlap* at that target,
and move a few circles at a time; a configuration without overlap beats the best. Here:

* **Overlap energy** at target cosine ``t`` (the cosine of the target angle) of the unit rows
  ``u_i = x_i / |x_i|``:  ``E(x) = 1/2 sum_{i != j} max(0, u_i . u_j - t)^2``. ``E = 0`` exactly
  when every angle is at least the target; pairs already far apart do not count, so a code can
  rearrange its loose points freely (a smooth max or a Riesz energy would pull on all of them).
  Its gradient is ``dE/du_i = 2 sum_j max(0, u_i . u_j - t) u_j``, projected on the tangent
  space of ``u_i`` and divided by ``|x_i|`` (chain rule through the normalisation).
  :func:`relax` minimises it with L-BFGS (a numba loop; scipy's L-BFGS-B is the tests' reference).
* **Relocation** (:func:`relocate`): one to three points, drawn with probability growing with
  their overlap, are moved into the largest holes of the others (the best of 200 random
  directions, by their largest cosine to the rest), then the whole code is relaxed.
* **Chain** (:func:`overlap_chain`): a relocated code replaces the current one when its relaxed
  energy is lower; then it is polished exactly (:func:`~protogen.solvers.maxmin_polish.maxmin_polish`)
  and, when the polished code beats the best, the target moves to ``(1 + step)`` times the new
  best angle and the chain continues from the best code. After ``patience`` relocations
  without a lower energy the chain returns to the best code (relaxed at the current target);
  after ``restart_after`` such returns without a better code it starts over from a fresh
  random code jammed at a target above the best (:func:`jammed_start`), keeping the best of
  all its chains.

A first version of this chain (numpy energy) run alone for 60 s from one random start, on the
D = 3 cases of Sloane's table the basin hops missed by more than 0.01 % in a minute (2-core
EPYC), reached 0.99991+ of the record at N = 73, 90, 96, 99, 101, 112, 116, 127 and 130 (the
hops: 0.9987-0.9999), and not at N = 82, 102, 111, 119, 125, 128. Inside the search it gets the
time the hops leave (``benchmarks/RESULTS.md``, bench_codes (a) and (a60)).
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.optimize import minimize

from protogen.solvers._overlap_kernel import overlap_energy_kernel, relax_kernel
from protogen.solvers.maxmin_polish import maxmin_polish
from protogen.solvers.symmetric_starts import (antipodal_start, every_group_starts,
                                              point_group_start)
from protogen.sphere import max_cosine

# Directions tried for each hole (the emptiest of them is taken).
_HOLE_CANDIDATES = 200
# L-BFGS limits of one relaxation: these codes converge in tens to hundreds of iterations.
_RELAX_OPTIONS = {"maxiter": 3000, "gtol": 1e-14, "ftol": 1e-16}
# The same limits for the numba L-BFGS (memory, iterations, gtol, ftol): 10 pairs as scipy's.
_RELAX_SETTINGS = (10, _RELAX_OPTIONS["maxiter"], _RELAX_OPTIONS["gtol"], _RELAX_OPTIONS["ftol"])
# Relaxations again after splitting merged points (see :func:`relax`).
_SPLITS = 3
# LP steps of the polish of an accepted code (it starts almost at a local optimum).
_POLISH_STEPS = 60
# Screened symmetric starts (see :func:`screened_symmetric_start`): random codes drawn from
# each rotation group, and how many of the lowest-energy ones are polished.
SCREEN_SAMPLES = 10
SCREEN_POLISHED = 6
# ... and how many of the tightest relaxed ones (smallest max cosine) are polished besides.
SCREEN_TIGHTEST = 2
# Target of a chain's start, as a multiple of the best angle (see :func:`jammed_start`).
JAM_FACTOR = 1.03
# Fruitless returns to a chain's best before the chain starts over from a fresh jammed start.
# Chains settle in a few strong basins (at N = 102 in D = 3, 40 s chains from 6 seeds ended at
# 0.99938 of the record 5 times); with a fresh start after 3 returns, 2 of 3 seeds reached
# 0.99995+ in 40 s, after 1 return (and patience 150) none did: a chain needs its
# thousand-odd moves.
RESTART_AFTER = 3


def overlap_energy(flat: np.ndarray, shape: tuple[int, int], target_cos: float):
    """``E`` and its gradient (see the module docstring) at the flattened, unnormalised ``x``
    (the numba kernel, :mod:`protogen.solvers._overlap_kernel`)."""
    return overlap_energy_kernel(np.ascontiguousarray(flat, dtype=np.float64), shape[0],
                                 shape[1], float(target_cos))


def overlap_energy_numpy(flat: np.ndarray, shape: tuple[int, int], target_cos: float):
    """The same with numpy matrices: the reference for the kernel."""
    x = flat.reshape(shape)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    units = x / norms
    cos = units @ units.T
    np.fill_diagonal(cos, -np.inf)
    over = np.maximum(cos - target_cos, 0.0)
    energy = 0.5 * float((over * over).sum())
    grad_units = 2.0 * over @ units
    grad = (grad_units - (grad_units * units).sum(1, keepdims=True) * units) / norms
    return energy, grad.ravel()


def relax(code: np.ndarray, target_cos: float) -> tuple[np.ndarray, float]:
    """Minimise the overlap energy from ``code`` (L-BFGS in numba,
    :func:`protogen.solvers._overlap_kernel.relax_kernel`): the relaxed unit code and its energy.

    Two coincident points are a stationary point of ``E`` (their pair's tangent gradient
    vanishes) and near coincidence the pair's energy is flat, so a minimiser can merge two
    close points and stop there (seen from a random start of K = 115 in D = 3 at 20 deg: a pair
    at cosine 1). A pair closer than a hundredth of the target angle is split, its second point
    moved into the largest hole, and the code relaxed again (at most ``_SPLITS`` times)."""
    num, dim = code.shape

    def relaxed(x):
        flat, energy, _ = relax_kernel(np.ascontiguousarray(x, dtype=np.float64).ravel(), num,
                                       dim, float(target_cos), *_RELAX_SETTINGS)
        out = flat.reshape(code.shape)
        return out / np.linalg.norm(out, axis=1, keepdims=True), float(energy)

    merged_cos = math.cos(0.01 * math.acos(max(-1.0, min(1.0, target_cos))))
    out, energy = relaxed(code)
    for attempt in range(_SPLITS):
        merged = _merged_points(out, merged_cos)
        if len(merged) == 0:
            break
        out, energy = relaxed(_into_holes(out, merged, np.random.default_rng(attempt)))
    return out, energy


def _merged_points(code: np.ndarray, cos_limit: float) -> np.ndarray:
    """The second point of every pair with cosine above ``cos_limit``."""
    cos = code @ code.T
    rows, cols = np.nonzero(np.triu(cos > cos_limit, k=1))
    return np.unique(cols)


def _into_holes(code: np.ndarray, moved: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``code`` with the points ``moved`` placed at the emptiest of
    ``_HOLE_CANDIDATES`` random directions (by their largest cosine to the other points)."""
    rest = np.delete(code, moved, axis=0)
    candidates = rng.standard_normal((_HOLE_CANDIDATES, code.shape[1]))
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    emptiest = np.argsort((candidates @ rest.T).max(axis=1), kind="stable")
    out = code.copy()
    out[moved] = candidates[emptiest[:len(moved)]]
    return out


def relax_scipy(code: np.ndarray, target_cos: float) -> tuple[np.ndarray, float]:
    """The same with scipy's L-BFGS-B (the reference for :func:`relax` in the tests)."""
    found = minimize(overlap_energy, code.ravel(), args=(code.shape, target_cos), jac=True,
                     method="L-BFGS-B", options=_RELAX_OPTIONS)
    out = found.x.reshape(code.shape)
    return out / np.linalg.norm(out, axis=1, keepdims=True), float(found.fun)


def relocate(code: np.ndarray, target_cos: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``code`` with one to three points moved into the largest holes of the rest.

    A point is drawn with probability proportional to its overlap at the target plus a floor
    of a thousandth of the largest (so points without overlap can move too)."""
    num, dim = code.shape
    count = int(rng.integers(1, 4))
    cos = code @ code.T
    np.fill_diagonal(cos, -np.inf)
    overlap = np.maximum(cos - target_cos, 0.0).sum(1)
    weights = overlap + 1e-3 * overlap.max() + 1e-300
    moved = rng.choice(num, size=count, replace=False, p=weights / weights.sum())
    return _into_holes(code, moved, rng)


def jammed_start(num: int, dim: int, rng: np.random.Generator, angle: float,
                 factor: float = JAM_FACTOR) -> np.ndarray:
    """A start for a chain: a random code relaxed at ``factor`` times ``angle`` (radians, the
    best angle so far) and polished exactly; the chain's target then rises from its angle.

    Squeezing a random code at a target above reach jams it into a dense local structure: at
    N = 119 in D = 3, 20 random codes relaxed at 0.97 / 1.00 / 1.03 / 1.05 of the record angle
    and polished reached a median 0.9921 / 0.9950 / 0.9956 / 0.9956 of the record, in 1.6 / 0.4 /
    0.3 / 0.4 s each (the looser codes need many more LP steps)."""
    code = rng.standard_normal((num, dim))
    code /= np.linalg.norm(code, axis=1, keepdims=True)
    return maxmin_polish(relax(code, math.cos(min(math.pi, factor * angle)))[0])


def _fewest_vacancies(make, num, dim, rng):
    """(v, ``make(num + v, dim, rng)``) for the fewest vacancies v in 0..2 for which ``make``
    (a symmetric start) gives a code; None when it gives none."""
    for vacancies in range(3):
        code = make(num + vacancies, dim, rng)
        if code is not None:
            return vacancies, code
    return None


def symmetric_jammed_start(num: int, dim: int, rng: np.random.Generator, angle: float,
                           factor: float = JAM_FACTOR) -> np.ndarray:
    """A start for a chain with a symmetry and maybe vacancies: a random symmetric code of
    ``num + v`` points (in D = 3 a union of orbits of T, O or I, else antipodal; ``v`` in 0..2,
    the fewest for which one exists, :mod:`protogen.solvers.symmetric_starts`) relaxed at
    ``factor`` times ``angle`` and polished, then ``v`` random points removed and the rest
    polished again (a random :func:`jammed_start` when no symmetric code exists).

    The relaxation keeps the symmetry (a symmetric code has a symmetric gradient), so it
    searches the small space of symmetric codes, where some records lie and a random start
    rarely lands: at N = 120 in D = 3 (two generic orbits of I) 12 of 12 random symmetric
    starts relaxed to the record, in 0.25 s each, and with one of their points removed were
    at 0.99991 of the N = 119 record, a basin that 11 chains of 1200 relocations from random,
    spiral and cyclic starts all missed (they ended at 0.99879)."""
    found = _fewest_vacancies(point_group_start if dim == 3 else antipodal_start, num, dim, rng)
    if found is None:
        return jammed_start(num, dim, rng, angle, factor)
    vacancies, code = found
    code = maxmin_polish(relax(code, math.cos(min(math.pi, factor * angle)))[0])
    if vacancies:
        code = maxmin_polish(np.delete(code, rng.choice(len(code), vacancies, replace=False),
                                       axis=0))
    return code


def screened_symmetric_start(num: int, dim: int, rng: np.random.Generator, angle: float,
                             factor: float = JAM_FACTOR, samples: int = SCREEN_SAMPLES,
                             polished: int = SCREEN_POLISHED,
                             tightest: int = SCREEN_TIGHTEST) -> np.ndarray:
    """The best of many symmetric starts: in D = 3, ``samples`` random symmetric codes from
    each rotation group of order up to 60 whose orbits fit ``num`` points with at most 2
    vacancies (:func:`protogen.solvers.symmetric_starts.every_group_starts`: T, O, I, C_n,
    D_n), and the start of :func:`symmetric_jammed_start` (the largest group), each relaxed at
    ``factor`` times ``angle`` (the vacancies then removed at random and the rest relaxed
    again); the ``polished`` of lowest overlap energy, the ``tightest`` of smallest maximum
    cosine (after relaxation) and that largest-group code are polished, and the one with the
    largest minimum angle is returned. In other dimensions: :func:`symmetric_jammed_start`.

    The relaxations are cheap (~30 ms each at N = 110) and the polishes are not (0.3-0.6 s),
    so cheap scores pick which to polish. Ranked after the vacancies are removed, the energy
    put the best polished code of all ~40 among the lowest 6 at N = 111 and 125 in 6 tries of
    6 (ranked before, it missed the best, 28th of 39). At N = 102 it does not: of 150 codes
    the record's (from C3 and D3) ranked 35th and 43rd by energy in two screens, below twenty
    codes of one octahedral basin at 0.99958 of the record, while the relaxed code's maximum
    cosine ranked it first in both; that score alone ranked the best code 7th-50th at N = 111
    and 125, hence both. The largest group stays in because it holds records of its own
    (N = 119: the 120-point icosahedral code less one point). At N = 111 and 125, a screen of
    3 codes per group held a start at 0.99995 of the record (in the record's basin; C5 and D3)
    in 1 try of 3: hence the default of 10 per group."""
    if dim != 3:
        return symmetric_jammed_start(num, dim, rng, angle, factor)
    target = math.cos(min(math.pi, factor * angle))

    def relaxed(vacancies, code):
        code, energy = relax(code, target)
        if vacancies:
            code, energy = relax(np.delete(code, rng.choice(len(code), vacancies,
                                                            replace=False), axis=0), target)
        return energy, code

    found = _fewest_vacancies(point_group_start, num, dim, rng)
    largest = [] if found is None else [relaxed(*found)]
    screened = sorted((relaxed(vacancies, code)
                       for _, vacancies, code in every_group_starts(num, rng, samples)),
                      key=lambda item: item[0])
    chosen = screened[:polished]
    by_tightness = sorted(screened[polished:], key=lambda item: max_cosine(item[1]))
    finished = [maxmin_polish(code) for _, code in chosen + by_tightness[:tightest] + largest]
    return min(finished, key=max_cosine)


def _target(best_cos: float, step: float) -> float:
    angle = math.acos(min(1.0, best_cos))
    return math.cos(min(math.pi, angle * (1.0 + step)))


def overlap_chain(code: np.ndarray, *, rng: np.random.Generator, iterations: int | None = None,
                  deadline: float = math.inf, step: float = 5e-4, patience: int = 200,
                  restart_after: int | None = RESTART_AFTER, fresh_start=None, on_better=None,
                  on_step=None, stop=None) -> tuple[np.ndarray, float, dict]:
    """Improve the exactly polished ``code`` by the overlap chain (module docstring).

    Runs ``iterations`` relocations (until ``deadline``, a ``time.perf_counter`` value, when
    ``iterations`` is None). After ``restart_after`` returns to the chain's best without
    improvement the chain starts over from ``fresh_start(rng, angle)`` (default: a
    :func:`jammed_start` at the best angle of all chains; ``restart_after=None``: never).
    ``on_better(code, max_cos)`` is called with every polished code better than all before,
    ``on_step()`` after every relocation; the chain ends early when ``stop`` (a
    :class:`threading.Event`) is set. Returns the best code of all chains, its max cosine
    and counts. The chain draws from ``rng`` only, so without a deadline the result depends on
    the seed alone.
    """
    num, dim = code.shape
    if fresh_start is None:
        def fresh_start(rng, angle):
            return jammed_start(num, dim, rng, angle)
    best, best_cos = code, max_cosine(code)  # this chain's best
    record, record_cos = best, best_cos  # the best of all chains
    target = _target(best_cos, step)
    current, energy = relax(best, target)
    stale = returns = polishes = better = done = restarts = 0
    while ((iterations is None or done < iterations) and time.perf_counter() < deadline
           and (stop is None or not stop.is_set())):
        if energy > 0.0:
            done += 1
            candidate, candidate_energy = relax(relocate(current, target, rng), target)
            if on_step is not None:
                on_step()
            if candidate_energy >= energy * (1.0 - 1e-9):
                stale += 1
                if stale > patience:
                    stale = 0
                    if restart_after is not None and returns >= restart_after:
                        best = fresh_start(rng, math.acos(min(1.0, record_cos)))
                        best_cos, returns = max_cosine(best), 0
                        restarts += 1
                        target = _target(best_cos, step)
                    else:
                        returns += 1
                    current, energy = relax(best, target)
                continue
            current, energy, stale = candidate, candidate_energy, 0
        # A lower energy (or none at all: every angle at the target, a sure improvement).
        polished = maxmin_polish(current, max_steps=_POLISH_STEPS)
        polishes += 1
        found, found_cos = polished, max_cosine(polished)
        if energy == 0.0 and found_cos >= best_cos - 1e-13:
            # Polished worse than a code with no overlap, whose angles all reach the target
            # (above the chain's best by ``step``): keep that one.
            found, found_cos = current, max_cosine(current)
        if found_cos < best_cos - 1e-13:  # (no overlap at the target: always better)
            best, best_cos, returns = found, found_cos, 0
            if best_cos < record_cos - 1e-13:
                record, record_cos = best, best_cos
                better += 1
                if on_better is not None:
                    on_better(record, record_cos)
            target = _target(best_cos, step)
            current, energy = relax(best, target)
        elif energy == 0.0:
            # No overlap and yet nothing better can only be a degenerate code; count it as a
            # move and relocate, so that the chain always ends.
            done += 1
            current, energy = relax(relocate(current, target, rng), target)
    return record, record_cos, dict(chain_relocations=done, chain_polishes=polishes,
                                    chain_improvements=better, chain_restarts=restarts)
