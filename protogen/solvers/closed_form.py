"""Closed-form spherical codes that are provably optimal for the Tammes problem.

- D = 2: the regular K-gon, min angle 360/K degrees (any K).
- K <= D + 1: the regular simplex, every pairwise cosine equal to -1/(K-1); it meets the simplex
  bound (sum of all pairwise cosines >= -K/2), so no code does better.
- D + 1 < K <= 2D: K vertices of the cross-polytope {±e_i}, min angle 90 degrees, which Rankin's
  bound (K >= D + 2 points have an angle <= 90 degrees) shows optimal.
"""

from __future__ import annotations

import numpy as np

from protogen.errors import InputError


def polygon(num: int) -> np.ndarray:
    """Regular ``num``-gon on the unit circle, shape (num, 2)."""
    angles = 2.0 * np.pi * np.arange(num) / num
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def simplex(num: int, dim: int) -> np.ndarray:
    """Regular simplex of ``num <= dim + 1`` vertices in ``dim`` dimensions.

    The centred standard basis of R^num spans a (num-1)-dimensional subspace; expressing it in an
    orthonormal basis of that subspace (QR) gives the vertices, padded with zeros to ``dim``.
    """
    if num > dim + 1:
        raise InputError(f"a simplex has at most dim + 1 = {dim + 1} vertices, not {num}")
    centred = np.eye(num) - 1.0 / num
    basis, _ = np.linalg.qr(centred[:, : num - 1])  # columns span the centred subspace
    coords = centred @ basis
    coords /= np.linalg.norm(coords, axis=1, keepdims=True)
    out = np.zeros((num, dim))
    out[:, : num - 1] = coords
    return out


def cross_polytope(num: int, dim: int) -> np.ndarray:
    """``num <= 2 dim`` vertices of the cross-polytope: e_1..e_dim then -e_1, -e_2, ..."""
    if num > 2 * dim:
        raise InputError(f"a cross-polytope has at most 2 dim = {2 * dim} vertices, not {num}")
    eye = np.eye(dim)
    return np.concatenate([eye, -eye])[:num].copy()


def optimal_closed_form(num: int, dim: int) -> tuple[str, np.ndarray] | None:
    """The provably optimal closed form for (num, dim), or None where none is known."""
    if dim == 2:
        return "polygon", polygon(num)
    if num <= dim + 1:
        return "simplex", simplex(num, dim)
    if num <= 2 * dim:
        return "cross-polytope", cross_polytope(num, dim)
    return None
