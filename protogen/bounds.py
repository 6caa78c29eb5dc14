"""Upper bounds on the Tammes problem: the largest possible minimum angle of N points on S^(D-1).

Every function returns degrees: no code of ``num`` points in ``dim`` dimensions has a minimum
pairwise angle above the returned value. They are computed from their formulas (numpy/scipy),
never looked up, so :mod:`protogen.bench` can put a solver's code between "best known" and
"provably possible".

- :func:`simplex_bound_deg` -- sum over all pairs: 0 <= |sum x_i|^2 = N + sum_{i != j} <x_i, x_j>
  <= N + N(N-1) max cos, hence max cos >= -1/(N-1) (Rankin 1955), any D.
- :func:`rankin_bound_deg` -- N >= D+2 points have two at angle <= 90 degrees; N >= 2D+1 points
  have two at an angle strictly below 90 degrees (Rankin 1955).
- :func:`fejes_toth_bound_deg` -- D = 3 only: the chord d between two of N >= 3 points satisfies
  d^2 <= 4 - csc^2(pi N / (6 (N - 2))) (Fejes Toth 1943); tight at N = 3, 4, 6, 12.
- :func:`delsarte_lp_bound_deg` -- the Delsarte-Goethals-Seidel linear-programming bound
  (1977) with Gegenbauer polynomials, solved with ``scipy.optimize.linprog`` on a refined
  Chebyshev grid, certified rigorously (Bernstein's inequality) so that grid and round-off
  only ever loosen it, and inverted by a bracketed search on the angle (cached).
- :func:`best_upper_bound_deg` -- the smallest of the above.
- :func:`certificate` -- all of them plus the best-known angle of the shipped table.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from protogen.errors import InputError


def _check(num: int, dim: int) -> None:
    if not isinstance(num, (int, np.integer)) or num < 2:
        raise InputError(f"the number of points must be an integer >= 2, got {num!r}")
    if not isinstance(dim, (int, np.integer)) or dim < 2:
        raise InputError(f"the dimension must be an integer >= 2, got {dim!r}")


def simplex_bound_deg(num: int, dim: int | None = None) -> float:
    """Simplex bound: max cosine >= -1/(N-1), so the min angle is <= arccos(-1/(N-1)).

    From 0 <= |sum_i x_i|^2 = N + sum_{i != j} <x_i, x_j> <= N + N(N-1) * max_{i != j} <x_i, x_j>.
    Valid in every dimension; attained exactly by the regular simplex when N <= D + 1.
    """
    _check(num, 2 if dim is None else dim)
    return math.degrees(math.acos(-1.0 / (num - 1)))


def rankin_bound_deg(num: int, dim: int) -> tuple[float, bool]:
    """Rankin's bound as ``(angle_deg, strict)``.

    For N <= D + 1 it returns the simplex bound (not strict). For N >= D + 2 no code has all
    pairwise angles above 90 degrees (at most 2D vectors with pairwise non-positive inner products
    fit, and only D + 1 with negative ones), so the angle is <= 90 degrees; for N >= 2D + 1 it is
    strictly below 90 degrees (``strict=True``).
    """
    _check(num, dim)
    if num <= dim + 1:
        return simplex_bound_deg(num), False
    return 90.0, num >= 2 * dim + 1


def fejes_toth_bound_deg(num: int, dim: int = 3) -> float:
    """Fejes Toth (1943), D = 3: the min chord d of N >= 3 points obeys
    d^2 <= 4 - csc^2(omega), omega = pi N / (6 (N - 2)).

    With d^2 = 2 - 2 cos(theta) this is cos(theta) >= (csc^2(omega) - 2) / 2. Tight for the
    triangle (N=3, 120 deg), tetrahedron (4), octahedron (6) and icosahedron (12, 63.4349 deg).
    """
    _check(num, dim)
    if dim != 3:
        raise InputError(f"the Fejes Toth bound is for D = 3 only, not D = {dim}")
    if num < 3:
        return 180.0
    omega = math.pi * num / (6.0 * (num - 2))
    cosine = (1.0 / math.sin(omega) ** 2 - 2.0) / 2.0
    return math.degrees(math.acos(min(1.0, max(-1.0, cosine))))


def gegenbauer_matrix(degree: int, dim: int, t: np.ndarray) -> np.ndarray:
    """Normalised Gegenbauer polynomials G_k^(dim)(t), k = 0..degree, as columns (G_k(1) = 1).

    They are the zonal spherical functions of S^(dim-1): C_k^(lambda)(t) / C_k^(lambda)(1) with
    lambda = (dim-2)/2 (Chebyshev T_k for dim = 2, Legendre P_k for dim = 3), computed with the
    recurrence (k + dim - 2) G_{k+1} = (2k + dim - 2) t G_k - k G_{k-1}, G_0 = 1, G_1 = t.
    """
    t = np.asarray(t, dtype=np.float64)
    out = np.empty((t.size, degree + 1))
    out[:, 0] = 1.0
    if degree >= 1:
        out[:, 1] = t
    for k in range(1, degree):
        out[:, k + 1] = ((2 * k + dim - 2) * t * out[:, k] - k * out[:, k - 1]) / (k + dim - 2)
    return out


# Chebyshev nodes of the LP while searching, nodes of the final check, and refinement rounds.
_SEARCH_NODES = 200
_EXCHANGE_NODES = 1 << 14
_CHECK_NODES = 1 << 16
_EXCHANGE_ROUNDS = 6


def _chebyshev_nodes(s: float, count: int) -> np.ndarray:
    """``count`` points t = -1 + (s+1)(1+cos theta)/2 with theta equally spaced on [0, pi]
    (both ends included), i.e. the Chebyshev extrema of [-1, s], dense where the LP's
    polynomials have their double roots."""
    x = np.cos(np.linspace(np.pi, 0.0, count))
    return -1.0 + (s + 1.0) * (x + 1.0) / 2.0


def _solve_lp(dim: int, s: float, degree: int, nodes: np.ndarray) -> np.ndarray | None:
    """Coefficients (f_0 = 1, f_1..f_degree >= 0) minimising f(1) with f <= 0 at ``nodes``;
    None when the LP has no solution (no certificate at this degree, only near s = 1)."""
    from scipy.optimize import linprog

    g = gegenbauer_matrix(degree, dim, nodes)
    # sum_{k>=1} f_k G_k(t) <= -1, i.e. f(t) = 1 + sum_{k>=1} f_k G_k(t) <= 0 on the nodes.
    res = linprog(np.ones(degree), A_ub=g[:, 1:], b_ub=-np.ones(nodes.size),
                  bounds=(0, None), method="highs")
    if res.status != 0:  # infeasible, or a numerical failure: no certificate (the safe side)
        return None
    return np.concatenate([[1.0], np.maximum(res.x, 0.0)])


def _lp_polynomial(dim: int, s: float, degree: int) -> np.ndarray | None:
    """The LP on a Chebyshev grid of [-1, s], refined by exchange: where the solution pokes
    above 0 between nodes (seen on a fine grid), the peak, located by
    parabolic interpolation, becomes a node and the LP is re-solved. The polynomials have
    double roots there, so a few rounds bring the grid optimum to the continuous one."""
    nodes = np.append(_chebyshev_nodes(s, _SEARCH_NODES), s)
    theta = np.linspace(np.pi, 0.0, _EXCHANGE_NODES)
    fine = -1.0 + (s + 1.0) * (np.cos(theta) + 1.0) / 2.0
    g_fine = gegenbauer_matrix(degree, dim, fine)
    coef = None
    for _ in range(_EXCHANGE_ROUNDS):
        coef = _solve_lp(dim, s, degree, nodes)
        if coef is None:
            return None
        vals = g_fine @ coef
        mid = vals[1:-1]
        peaks = np.flatnonzero((mid > 1e-13) & (mid >= vals[:-2]) & (mid >= vals[2:])) + 1
        if peaks.size == 0:
            break
        # Vertex of the parabola through the three samples around each peak (in theta).
        y0, y1, y2 = vals[peaks - 1], vals[peaks], vals[peaks + 1]
        curv = y0 - 2.0 * y1 + y2
        shift = np.where(curv < 0, 0.5 * (y0 - y2) / np.where(curv < 0, curv, -1.0), 0.0)
        step = theta[1] - theta[0]
        at = np.cos(theta[peaks] + np.clip(shift, -1.0, 1.0) * step)
        nodes = np.concatenate([nodes, fine[peaks], -1.0 + (s + 1.0) * (at + 1.0) / 2.0])
    return coef


def _certified_points(dim: int, s: float, coef: np.ndarray) -> float:
    """A rigorous bound on the size of a code with max inner product <= s from the
    polynomial ``coef`` (any f_k >= 0, f_0 = 1), however good the LP solution was.

    f(a + b cos theta) is a cosine polynomial g of degree n, so |g''| <= n^2 max|g|
    (Bernstein's inequality, twice). On the equally spaced theta grid of spacing h, linear
    interpolation then gives max g <= max_grid g + c max|g| and max|g| <= max_grid |g| / (1 - c)
    with c = (h n)^2 / 8. With eps >= that excess (plus a generous allowance for the floating
    point evaluation), f - eps <= 0 on [-1, s], so N <= (f(1) - eps) / (1 - eps).
    """
    degree = coef.size - 1
    m = _CHECK_NODES
    c = (math.pi / (m - 1) * degree) ** 2 / 8.0
    vals = gegenbauer_matrix(degree, dim, _chebyshev_nodes(s, m)) @ coef
    sup_norm = float(np.abs(vals).max()) / (1.0 - c)
    total = float(coef.sum())  # f(1): every G_k(1) = 1
    eps = max(0.0, float(vals.max()) + c * sup_norm + 1e-12 * (1.0 + total))
    if eps >= 1.0:
        return math.inf
    return (total - eps) / (1.0 - eps)


def delsarte_lp_max_points(dim: int, cosine: float, degree: int = 30) -> float:
    """Delsarte LP bound on the size of a code on S^(dim-1) with all inner products <= ``cosine``.

    If f(t) = sum_k f_k G_k(t) with f_0 = 1, f_k >= 0 (k >= 1) and f(t) <= 0 on [-1, s], then
    every such code has N <= f(1) = sum_k f_k (Delsarte, Goethals & Seidel 1977, Thm 4.3;
    Conway & Sloane, SPLAG ch. 9, eq. (32)-(36)). The LP min f(1) is solved on a refined
    Chebyshev grid (:func:`_lp_polynomial`) and the value returned is the *certified* one of
    :func:`_certified_points`: a valid upper bound (inf where no certificate was found).
    """
    s = float(cosine)
    if s >= 1.0:
        return math.inf
    if s < -1.0:
        return 1.0
    coef = _lp_polynomial(dim, s, degree)
    return math.inf if coef is None else _certified_points(dim, s, coef)


# Brackets (angle_lo, angle_hi) in radians per (dim, degree, tol): {num: bracket}, angle_lo
# certified. A neighbour's bracket is a warm start: more points never allow a larger angle.
_BRACKETS: dict[tuple[int, int, float], dict[int, tuple[float, float]]] = {}


def _search_value(dim: int, angle: float, degree: int) -> float:
    """log of the LP value at cosine cos(angle) on a plain Chebyshev grid (one LP, no
    exchange, not certified: slightly optimistic); it only steers the search."""
    s = math.cos(angle)
    coef = _solve_lp(dim, s, degree, np.append(_chebyshev_nodes(s, _SEARCH_NODES), s))
    return math.inf if coef is None else math.log(float(coef.sum()))


def _certify(dim: int, angle: float, degree: int) -> float:
    """Certified LP bound on the size of a code with min angle >= ``angle`` (radians)."""
    return delsarte_lp_max_points(dim, math.cos(angle), degree)


@functools.lru_cache(maxsize=4096)
def delsarte_lp_bound_deg(num: int, dim: int, degree: int = 30, tol_deg: float = 1e-6) -> float:
    """Largest min angle (degrees) that the Delsarte LP bound allows for ``num`` points.

    The LP bound N_max(s) (:func:`delsarte_lp_max_points`) is non-decreasing in the cosine s; a
    code of ``num`` points with max cosine s needs N_max(s) >= num, so its min angle is below
    arccos(s) for every s with a certificate N_max(s) < num. The crossing is located on the
    log-angle / log-N scale, where N_max is close to a power law, by the Illinois variant of
    regula falsi (bisection while a side is infinite), warm-started from cached neighbours and
    steered by a one-shot grid LP. The large-angle end is then certified rigorously
    (:func:`_certified_points`), stepping outwards along the local power law if it fails, and
    the result is that angle plus 1e-10 degrees for the round-off of arccos: rounded in the
    safe direction, a valid upper bound, looser than the exact LP value by about ``tol_deg``
    plus the certificate's slack (relative 1e-5 in N). ``degree`` is the polynomial degree
    (30: tight for the icosahedron, the 600-cell, E8 and the Leech lattice's 196560).
    """
    _check(num, dim)
    num, dim = int(num), int(dim)
    if num <= 2:
        return 180.0
    simplex_angle = math.acos(-1.0 / (num - 1))  # no code beats this (simplex bound)
    target = math.log(num)
    brackets = _BRACKETS.setdefault((dim, degree, tol_deg), {})
    lo, hi = simplex_angle, None  # lo: LP excludes num points; hi: LP allows them
    for other, (o_lo, o_hi) in brackets.items():
        if other < num and o_lo < lo:
            lo = o_lo
        if other > num and (hi is None or o_hi > hi):
            hi = o_hi
    y_lo = _search_value(dim, lo, degree) - target
    if y_lo >= 0:
        lo = simplex_angle
        y_lo = _search_value(dim, lo, degree) - target
        if y_lo >= 0:  # the LP cannot beat the simplex bound here
            return math.degrees(simplex_angle)
    if hi is None or hi >= lo:
        hi = lo / 2.0
    y_hi = _search_value(dim, hi, degree) - target
    while y_hi < 0:  # shrink the angle until the LP allows num points
        lo, y_lo, hi = hi, y_hi, hi / 2.0
        y_hi = _search_value(dim, hi, degree) - target
    tol, side = math.radians(tol_deg), 0
    while lo - hi > tol:
        if math.isinf(y_hi):
            mid = (lo + hi) / 2.0
        else:  # Illinois regula falsi in log(angle)
            x_lo, x_hi = math.log(lo), math.log(hi)
            mid = math.exp(x_hi + (x_lo - x_hi) * y_hi / (y_hi - y_lo))
            mid = min(max(mid, hi + 1e-3 * (lo - hi)), lo - 1e-3 * (lo - hi))
        y_mid = _search_value(dim, mid, degree) - target
        if y_mid >= 0:
            hi, y_hi = mid, y_mid
            y_lo = y_lo / 2.0 if side == 1 else y_lo
            side = 1
        else:
            lo, y_lo = mid, y_mid
            y_hi = y_hi / 2.0 if side == -1 else y_hi
            side = -1
        if lo - hi <= 4 * tol and side != 0:  # close: finish by bisection (kinks stall it)
            side = 0
    # Certify the large-angle end; where the grid LP was optimistic, step out along the local
    # power law N ~ angle^-slope (slope from the bracket, at least 1).
    slope = max(1.0, (y_hi - y_lo) / max(math.log(lo / hi), 1e-12)) if not math.isinf(y_hi) \
        else float(dim - 1)
    for _ in range(12):
        if lo >= simplex_angle:
            break
        found = _certify(dim, lo, degree)
        if found < num:
            brackets[num] = (lo, hi)
            return min(math.degrees(lo) + 1e-10, math.degrees(simplex_angle))
        excess = math.log(found) - target if math.isfinite(found) else 1.0
        lo = min(simplex_angle, lo * math.exp(1.1 * excess / slope) + tol)
    return math.degrees(simplex_angle)


def best_upper_bound_deg(num: int, dim: int, *, lp: bool = True,
                         degree: int = 30) -> dict[str, float]:
    """Every applicable bound plus ``"best"`` (their minimum), in degrees.

    Keys: ``simplex``, ``rankin`` (with ``rankin_strict`` 1.0/0.0), ``fejes_toth`` (D = 3 only),
    ``delsarte_lp`` (when ``lp``), ``best``.
    """
    _check(num, dim)
    out: dict[str, float] = {"simplex": simplex_bound_deg(num)}
    rankin, strict = rankin_bound_deg(num, dim)
    out["rankin"] = rankin
    out["rankin_strict"] = float(strict)
    if dim == 3:
        out["fejes_toth"] = fejes_toth_bound_deg(num, 3)
    if lp:
        out["delsarte_lp"] = delsarte_lp_bound_deg(int(num), int(dim), degree)
    out["best"] = min(v for k, v in out.items() if k != "rankin_strict")
    return out


@functools.lru_cache(maxsize=1)
def _shipped_table() -> dict:
    from protogen.bench import load_table  # lazy: bench builds on this module

    return load_table()


def certificate(num: int, dim: int, *, lp: bool = True) -> dict:
    """How far a code of ``num`` points on S^(dim-1) can be from optimal, for summaries/JSON.

    Keys: every bound of :func:`best_upper_bound_deg` (degrees; ``delsarte_lp`` when ``lp``),
    ``best_bound`` (the name of the smallest) and, when the shipped table has (dim, num),
    ``best_known_deg``, ``best_known_status`` (proved|putative) and ``best_known_source``
    (None otherwise). A code's angle lies below ``best``; the record shows what is reachable.
    """
    out: dict = dict(best_upper_bound_deg(num, dim, lp=lp))
    out["rankin_strict"] = bool(out["rankin_strict"])
    named = {k: v for k, v in out.items() if k not in ("best", "rankin_strict")}
    out["best_bound"] = min(named, key=named.get)
    record = _shipped_table().get((int(dim), int(num)))
    out["best_known_deg"] = record.min_angle_deg if record else None
    out["best_known_status"] = record.status if record else None
    out["best_known_source"] = record.source if record else None
    return out
