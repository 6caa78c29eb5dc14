"""Perturbations of a spherical code for basin hopping (:mod:`protogen.solvers.search`).

Each move returns a copy of a code (unit rows) that is meant to be re-annealed: small enough to
stay near the parent's structure, large enough to leave its basin. Sizes are relative to the
code's minimum angle, so the same move suits 12 points and 130.
"""

from __future__ import annotations

import math

import numpy as np

from protogen.sphere import normalize

MOVES = ("contacts", "subset", "hole", "shake")


def _tangent_noise(rng, points, scale):
    """Gaussian steps of size ``scale`` in each point's tangent plane (a radial part would only
    be undone by the normalisation, shrinking the effective step)."""
    noise = rng.standard_normal(points.shape) * scale
    noise -= (noise * points).sum(1, keepdims=True) * points
    return noise


def perturb(code: np.ndarray, move: str, rng: np.random.Generator) -> np.ndarray:
    """One perturbed copy of ``code`` (unit rows) by ``move`` (see :data:`MOVES`)."""
    num, dim = code.shape
    cos = code @ code.T
    np.fill_diagonal(cos, -np.inf)
    top = cos.max()
    nearest = math.acos(min(1.0, max(-1.0, float(top))))  # the minimum angle, in radians
    # Points of the tightest contacts (within a hair of the max): where the code is stuck.
    tight_rows, tight_cols = np.nonzero(cos >= top - 1e-6 * (1 + abs(top)))
    tight = np.unique(np.concatenate([tight_rows, tight_cols]))
    out = code.copy()
    if move == "contacts":
        count = int(rng.integers(1, min(4, len(tight)) + 1))
        chosen = rng.choice(tight, size=count, replace=False)
        out[chosen] += _tangent_noise(rng, code[chosen], 0.5 * nearest)
    elif move == "subset":
        count = int(rng.integers(1, max(2, num // 4) + 1))
        chosen = rng.choice(num, size=count, replace=False)
        out[chosen] += _tangent_noise(rng, code[chosen], 0.7 * nearest)
    elif move == "hole":
        moved = int(rng.choice(tight))
        rest = np.delete(code, moved, axis=0)
        candidates = rng.standard_normal((min(4000, 64 * num), dim))
        candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
        out[moved] = candidates[np.argmin((candidates @ rest.T).max(axis=1))]
    else:  # shake
        out += _tangent_noise(rng, code, 0.15 * nearest)
    return normalize(out)
