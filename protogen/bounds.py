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
  (1977) with Gegenbauer polynomials, solved with ``scipy.optimize.linprog`` and inverted by
  bisection on the cosine.
- :func:`best_upper_bound_deg` -- the smallest of the above.
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


def delsarte_lp_max_points(dim: int, cosine: float, degree: int = 30,
                           grid: int = 1500) -> float:
    """Delsarte LP bound on the size of a code on S^(dim-1) with all inner products <= ``cosine``.

    If f(t) = sum_k f_k G_k(t) with f_0 = 1, f_k >= 0 (k >= 1) and f(t) <= 0 on [-1, s], then
    every such code has N <= f(1) = sum_k f_k (Delsarte, Goethals & Seidel 1977, Thm 4.3;
    Conway & Sloane, SPLAG ch. 9). We minimise f(1) with ``linprog``, imposing f <= 0 on a grid
    of [-1, s] (denser near s, where the extremal polynomials have their double roots). Between
    grid points a solution may poke slightly above 0: we evaluate it on a grid 8x finer and, if it
    does (by eps), use f - eps, which gives the still valid (f(1) - eps) / (1 - eps).
    """
    from scipy.optimize import linprog

    s = float(cosine)
    if s >= 1.0:
        return math.inf
    if s < -1.0:
        return 1.0
    # Chebyshev-like nodes on [-1, s] plus the endpoint s itself.
    u = np.cos(np.linspace(np.pi, 0.0, grid))
    nodes = np.concatenate([-1.0 + (s + 1.0) * (u + 1.0) / 2.0, [s]])
    g = gegenbauer_matrix(degree, dim, nodes)
    # Variables f_1..f_degree (f_0 = 1 is fixed): minimise sum f_k subject to
    # sum_k f_k G_k(t) <= -1 on the grid.
    res = linprog(np.ones(degree), A_ub=g[:, 1:], b_ub=-np.ones(nodes.size),
                  bounds=[(0, None)] * degree, method="highs")
    if res.status == 2:  # infeasible: no certificate at this degree (happens only near s = 1)
        return math.inf
    if res.status != 0:
        raise RuntimeError(f"linprog failed on the Delsarte LP ({res.message})")
    coef = np.concatenate([[1.0], res.x])
    u = np.cos(np.linspace(np.pi, 0.0, 8 * grid))
    fine = gegenbauer_matrix(degree, dim, -1.0 + (s + 1.0) * (u + 1.0) / 2.0) @ coef
    eps = max(0.0, float(fine.max()))
    if eps >= 1.0:
        return math.inf
    return (float(coef.sum()) - eps) / (1.0 - eps)


@functools.lru_cache(maxsize=4096)
def delsarte_lp_bound_deg(num: int, dim: int, degree: int = 30, tol_deg: float = 1e-7) -> float:
    """Largest min angle (degrees) that the Delsarte LP bound allows for ``num`` points.

    The LP bound N_max(s) of :func:`delsarte_lp_max_points` is non-decreasing in the cosine s; a
    code of ``num`` points with max cosine s needs N_max(s) >= num, so the min angle is at most
    arccos(s*) with s* = min {s : N_max(s) >= num}. We bisect s on [-1/(num-1), 1): below the
    simplex value no code exists at all. ``degree`` is the polynomial degree (30 is tight for
    the icosahedron, degree 5 would do, and the 600-cell, which needs 17 or more).
    """
    _check(num, dim)
    if num <= 2:
        return 180.0
    lo = -1.0 / (num - 1)  # no code has max cosine below this (simplex bound)
    if delsarte_lp_max_points(dim, lo, degree) >= num - 1e-9:
        return math.degrees(math.acos(lo))
    hi = 1.0 - 1e-12
    # Bisect on the angle scale so that tol_deg is the final accuracy; keep the bound valid by
    # returning the angle of the lower end of the bracket... (lo fails, hi succeeds).
    while math.degrees(math.acos(lo)) - math.degrees(math.acos(hi)) > tol_deg:
        mid = math.cos((math.acos(lo) + math.acos(hi)) / 2.0)
        if delsarte_lp_max_points(dim, mid, degree) >= num - 1e-9:
            hi = mid
        else:
            lo = mid
    # lo is infeasible: every code has max cosine > lo, i.e. min angle < arccos(lo).
    return math.degrees(math.acos(lo))


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
