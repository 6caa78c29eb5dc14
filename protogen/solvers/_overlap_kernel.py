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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def relax_kernel(x0, num, dim, target_cos, memory, max_iter, gtol, ftol):
    """Minimise :func:`overlap_energy_kernel` from the flattened ``x0`` by L-BFGS (Nocedal &
    Wright, Numerical Optimization, 2nd ed., Algorithm 7.4 and 7.5) with a backtracking Armijo
    line search (sufficient decrease 1e-4, Eq. 3.4). Stops at ``max_iter`` iterations, when the
    largest gradient component is at most ``gtol``, when the energy is zero, or when one step
    lowers the energy by at most ``ftol * max(|E|, 1)`` (scipy's L-BFGS-B criteria).

    scipy's L-BFGS-B on the same energy spent ~45 us per iteration outside the 14 us energy (its
    Fortran driver is called through Python every evaluation) at K = 116, D = 3; here a
    relaxation takes ~17 ms instead of ~46 ms. Returns ``(x, E, iterations)``."""
    x = x0.copy()
    size = x.size
    energy, grad = overlap_energy_kernel(x, num, dim, target_cos)
    steps = np.zeros((memory, size))
    changes = np.zeros((memory, size))
    rho = np.zeros(memory)
    alpha = np.zeros(memory)
    direction = np.empty(size)
    trial = np.empty(size)
    stored = 0
    newest = -1
    done = 0
    while done < max_iter and energy > 0.0:
        grad_max = np.abs(grad).max()
        if grad_max <= gtol:
            break
        # Without curvature pairs, move the largest coordinate by at most 1e-2.
        first_scale = min(1.0, 1e-2 / grad_max)
        # Two-loop recursion: direction = H grad, H the L-BFGS inverse-Hessian estimate.
        direction[:] = grad
        for m in range(stored):
            i = (newest - m) % memory
            alpha[i] = rho[i] * np.dot(steps[i], direction)
            direction -= alpha[i] * changes[i]
        if stored > 0:
            gamma = np.dot(steps[newest], changes[newest]) / np.dot(changes[newest],
                                                                     changes[newest])
        else:
            gamma = first_scale
        direction *= gamma
        for m in range(stored - 1, -1, -1):
            i = (newest - m) % memory
            beta = rho[i] * np.dot(changes[i], direction)
            direction += (alpha[i] - beta) * steps[i]
        slope = -np.dot(grad, direction)
        if slope >= 0.0:  # not a descent direction: forget the history, steepest descent
            stored = 0
            direction[:] = first_scale * grad
            slope = -np.dot(grad, direction)
        length = 1.0
        accepted = False
        for _ in range(60):
            trial[:] = x - length * direction
            trial_energy, trial_grad = overlap_energy_kernel(trial, num, dim, target_cos)
            if trial_energy <= energy + 1e-4 * length * slope:
                accepted = True
                break
            length *= 0.5
        if not accepted:
            break
        slot = (newest + 1) % memory
        steps[slot] = trial - x
        changes[slot] = trial_grad - grad
        curvature = np.dot(steps[slot], changes[slot])
        if curvature > 0.0:  # keep the estimate positive definite
            rho[slot] = 1.0 / curvature
            newest = slot
            stored = min(stored + 1, memory)
        decrease = energy - trial_energy
        scale = max(energy, trial_energy, 1.0)
        x[:] = trial
        energy, grad = trial_energy, trial_grad
        done += 1
        if decrease <= ftol * scale:
            break
    return x, energy, done
