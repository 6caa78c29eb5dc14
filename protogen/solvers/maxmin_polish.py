"""Exact max-min polish of a spherical code: sequential linear programming on the contact graph.

A code that is already in the right basin is a few LP steps away from the local optimum of the
Tammes problem (maximise the minimum angle = minimise the maximum pairwise cosine ``s``). Each
step moves every point ``x_i`` by a tangent displacement ``d_i = B_i y_i`` (``B_i`` an orthonormal
basis of ``x_i``'s tangent space) and solves the linearised problem on the near-active pairs:

    minimise   s + mu * ||y||_1
    subject to c_ij + (B_i^T x_j) . y_i + (B_j^T x_i) . y_j <= s     (pairs with c_ij near max)
               |y| <= r  (a box trust region)

then renormalises the rows. A step is kept when the exact max cosine falls by at least a tenth of
what the linear model predicted; otherwise the trust radius shrinks. At a rigid optimum (as many
independent contacts as degrees of freedom) the LP's vertex is the Newton step of the active
system, so the iteration converges fast and to the float64 floor (~1e-15 in cosine). The tiny L1
penalty pins the directions the active contacts do not see (global rotations, rattlers), which
would otherwise wander to the box's corners and spoil the model's accuracy. Each LP is solved by
HiGHS (``scipy.optimize.linprog``) in coordinates scaled by the radius, so that its absolute
tolerances stay relative to the step. The same scheme is what SLSQP-style ``max t s.t. all pair
distances >= t`` polishes do, restricted to the pairs that can matter.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.optimize import linprog

from protogen.errors import InputError
from protogen.sphere import normalize

# LP tolerances (HiGHS defaults are 1e-7): the scaled problem has O(1) numbers, so these are
# relative to the trust radius.
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10,
               # The interior-point method (with HiGHS's crossover to a vertex) and no presolve
               # halve the time of these small LPs against the default dual simplex (K = 112,
               # D = 3: 1.4 s vs 2.8 s for 8 polishes, the same codes).
               "presolve": False}


def tangent_bases(x: np.ndarray) -> np.ndarray:
    """(K, D, D-1) orthonormal bases of the tangent spaces of the unit rows of ``x``.

    A Householder reflection H = I - 2 v v^T / |v|^2 with v = x + sign(x_k) e_k (k the largest
    coordinate, so |v|^2 >= 2) maps e_k to -x; its other columns span x's orthogonal complement.
    """
    num, dim = x.shape
    k = np.argmax(np.abs(x), axis=1)
    v = x.copy()
    v[np.arange(num), k] += np.where(x[np.arange(num), k] >= 0, 1.0, -1.0)
    h = np.eye(dim)[None] - 2.0 * v[:, :, None] * v[:, None, :] / (v * v).sum(1)[:, None, None]
    keep = np.ones((num, dim), dtype=bool)
    keep[np.arange(num), k] = False
    return h.transpose(0, 2, 1)[keep].reshape(num, dim - 1, dim).transpose(0, 2, 1)


def _max_cosine(x: np.ndarray) -> tuple[float, np.ndarray]:
    cos = x @ x.T
    np.fill_diagonal(cos, -np.inf)
    return float(cos.max()), cos


def lp_iteration_limit(rows: int, cols: int) -> int:
    """Simplex/IPM iterations one LP of :func:`_lp_step` may take (per method): ~20x more than
    any LP of the D = 3..6 searches measured needed (at most 6.5 (rows + cols), most under 0.5),
    while bounding the rare stall below."""
    return 10 * (rows + cols) + 1000


def _solve_lp(objective, a_ub, b_ub, bounds):
    """HiGHS's interior-point method, and the dual simplex where it hits the iteration limit.

    Near a degenerate optimum (the Gosset code, 56 points in R^7, 1e-12 off its 756 contacts)
    the IPM's crossover is imprecise and HiGHS's simplex clean-up then cycles for ~150,000
    iterations (17-48 s per LP), where the dual simplex alone solves the same LP in ~0.02 s.
    An iteration limit (not a clock) keeps the result the same on every machine."""
    options = dict(_LP_OPTIONS, maxiter=lp_iteration_limit(*a_ub.shape))
    res = linprog(objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs-ipm",
                  options=options)
    if res.status == 1:  # iteration limit
        res = linprog(objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs-ds",
                      options=options)
    return res


def _lp_step(x, cos, value, radius, mu):
    """Solve one scaled LP; returns (displacements (K, D), predicted max cosine)."""
    num, dim = x.shape
    free = dim - 1
    bases = tangent_bases(x)
    reach = 2.0 * radius * math.sqrt(free)  # no pair further below the max can overtake it
    rows, cols = np.nonzero(np.triu(cos >= value - reach - 1e-12, 1))
    # Gradient of c_ij along point i's tangent coordinates is B_i^T x_j.
    grad_i = np.einsum("pdf,pd->pf", bases[rows], x[cols])
    grad_j = np.einsum("pdf,pd->pf", bases[cols], x[rows])
    count = len(rows)
    n_y = num * free
    # Variables: z+ (n_y), z- (n_y), sigma; y = radius (z+ - z-), s = value + radius * sigma.
    col_i = rows[:, None] * free + np.arange(free)[None]
    col_j = cols[:, None] * free + np.arange(free)[None]
    r_idx = np.repeat(np.arange(count), free)
    data = np.concatenate([grad_i.ravel(), grad_j.ravel(), -grad_i.ravel(), -grad_j.ravel(),
                           -np.ones(count)])
    row_idx = np.concatenate([r_idx, r_idx, r_idx, r_idx, np.arange(count)])
    col_idx = np.concatenate([col_i.ravel(), col_j.ravel(), n_y + col_i.ravel(),
                              n_y + col_j.ravel(), np.full(count, 2 * n_y)])
    a_ub = sparse.csr_matrix((data, (row_idx, col_idx)), shape=(count, 2 * n_y + 1))
    b_ub = (value - cos[rows, cols]) / radius
    objective = np.concatenate([np.full(2 * n_y, mu), [1.0]])
    bounds = [(0.0, 1.0)] * (2 * n_y) + [(None, None)]
    res = _solve_lp(objective, a_ub, b_ub, bounds)
    if res.status != 0:
        return None, value
    z = res.x[:n_y] - res.x[n_y:2 * n_y]
    step = np.einsum("kdf,kf->kd", bases, radius * z.reshape(num, free))
    return step, value + radius * res.x[-1]


def maxmin_polish(points: np.ndarray, *, max_steps: int = 200, radius: float = 0.02,
                  min_radius: float = 1e-13, mu: float = 1e-6, tol: float = 1e-15,
                  max_points: int = 3000) -> np.ndarray:
    """Converge a code to the local max-min optimum of its basin by trust-region SLP.

    ``radius`` is the initial box trust radius per tangent coordinate, ``min_radius`` the radius
    at which the iteration stops, ``tol`` the smallest predicted gain in max cosine worth a
    step, ``mu`` the L1 weight on the displacement, ``max_steps`` the number of LPs. The result
    is never worse (by exact max cosine) than the normalised input. Dense O(K^2) pair cosines:
    codes over ``max_points`` points are refused. Each step is one LP over 2 K (D - 1) + 1
    variables and the near-active pairs: fast for small codes (K = 130, D = 3: ~0.1 s a step),
    far too slow for K = 100, D = 25 (minutes), where the gradient polish is the tool.
    """
    x = normalize(points)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise InputError(f"maxmin_polish needs a (K >= 2, D >= 2) array, got shape {x.shape}")
    if x.shape[0] > max_points:
        raise InputError(f"maxmin_polish is dense in K^2: {x.shape[0]} points is over "
                         f"max_points={max_points}")
    if not (radius > 0 and min_radius > 0 and mu >= 0 and max_steps >= 0):
        raise InputError("maxmin_polish: radius and min_radius must be > 0, mu and max_steps >= 0")
    value, cos = _max_cosine(x)
    for _ in range(max_steps):
        if radius < min_radius:
            break
        step, predicted = _lp_step(x, cos, value, radius, mu)
        if step is None:
            radius *= 0.25
            continue
        gain = value - predicted
        if gain <= tol:
            break
        trial = normalize(x + step)
        trial_value, trial_cos = _max_cosine(trial)
        ratio = (value - trial_value) / gain
        if ratio > 0.1:
            x, value, cos = trial, trial_value, trial_cos
            if ratio > 0.75 and np.abs(step).max() > 0.5 * radius:
                radius *= 2.0
        else:
            radius *= 0.25
    return x
