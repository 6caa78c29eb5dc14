"""Numba kernel of the overlap energy of :mod:`protogen.solvers.overlap_search`.

One pass over the pairs i < j accumulates the energy and the gradient with respect to the unit
rows; the numpy version (:func:`protogen.solvers.overlap_search.overlap_energy_numpy`, the
reference in the tests) forms the K x K cosine matrix three times over and was most of the
cost of a relaxation (45-70 us per evaluation at K = 116, D = 3, several hundred evaluations
per relaxation).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def overlap_energy_kernel(flat, num, dim, target_cos):
    """``(E, dE/dx)`` for the flattened (K, D) ``x``: ``E = sum_{i<j} max(0, u_i.u_j - t)^2``
    with ``u_i = x_i / |x_i|`` (the same value as 1/2 of the sum over ordered pairs)."""
    x = flat.reshape((num, dim))
    units = np.empty((num, dim))
    norms = np.empty(num)
    for i in range(num):
        s = 0.0
        for d in range(dim):
            s += x[i, d] * x[i, d]
        norms[i] = np.sqrt(s)
        for d in range(dim):
            units[i, d] = x[i, d] / norms[i]
    grad_units = np.zeros((num, dim))
    energy = 0.0
    for i in range(num):
        for j in range(i + 1, num):
            c = 0.0
            for d in range(dim):
                c += units[i, d] * units[j, d]
            over = c - target_cos
            if over > 0.0:
                energy += over * over
                for d in range(dim):
                    grad_units[i, d] += 2.0 * over * units[j, d]
                    grad_units[j, d] += 2.0 * over * units[i, d]
    grad = np.empty((num, dim))
    for i in range(num):
        radial = 0.0
        for d in range(dim):
            radial += grad_units[i, d] * units[i, d]
        for d in range(dim):
            grad[i, d] = (grad_units[i, d] - radial * units[i, d]) / norms[i]
    return energy, grad.ravel()
