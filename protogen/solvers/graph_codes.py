"""Optimal codes from triangle-free strongly regular graphs: Hoffman-Singleton, Gewirtz, M22.

The spectral embedding of a strongly regular graph on its least eigenvalue
(:func:`protogen.solvers.lattices.srg_spectral_code`) is a two-distance code. For these three
graphs Cohn, de Laat & Leijenhorst, *Optimality of spherical codes via exact semidefinite
programming bounds* (2024), prove the codes optimal for their size and dimension with
three-point bounds (the Delsarte LP bound is not sharp there): 50 points in R^21, 56 in R^20
and 77 in R^21. Graph constructions from Brouwer & Van Maldeghem, *Strongly Regular Graphs*
(2022): Robertson's pentagons and pentagrams, and the Steiner system S(3, 6, 22).
"""

from __future__ import annotations

import functools

import numpy as np

from protogen.solvers.lattices import srg_spectral_code, steiner_hexads


def hoffman_singleton_graph() -> np.ndarray:
    """srg(50, 7, 0, 1), Robertson's construction: pentagons P_h (vertex j adjacent to j +- 1)
    and pentagrams Q_i (vertex j adjacent to j +- 2), h, i, j mod 5, and vertex j of P_h
    adjacent to vertex h i + j of Q_i."""
    size = 50
    adjacency = np.zeros((size, size), dtype=np.int64)

    def pentagon(h, j):
        return 5 * h + j % 5

    def pentagram(i, j):
        return 25 + 5 * i + j % 5

    for a in range(5):
        for j in range(5):
            for u, v in ((pentagon(a, j), pentagon(a, j + 1)),
                         (pentagram(a, j), pentagram(a, j + 2))):
                adjacency[u, v] = adjacency[v, u] = 1
            for i in range(5):
                u, v = pentagon(a, j), pentagram(i, a * i + j)
                adjacency[u, v] = adjacency[v, u] = 1
    return adjacency


def m22_graph() -> np.ndarray:
    """srg(77, 16, 0, 4): the hexads of S(3, 6, 22), adjacent when disjoint."""
    hexads = steiner_hexads()
    return ((hexads @ hexads.T) == 0).astype(np.int64)


def gewirtz_graph() -> np.ndarray:
    """srg(56, 10, 0, 2): the hexads of S(3, 6, 22) missing a fixed point, adjacent when
    disjoint."""
    hexads = steiner_hexads()
    hexads = hexads[hexads[:, 0] == 0]
    return ((hexads @ hexads.T) == 0).astype(np.int64)


@functools.lru_cache(maxsize=None)
def hoffman_singleton_50() -> np.ndarray:
    """50 points in R^21, cosines 1/21 (non-edges) and -3/7 (edges)."""
    return srg_spectral_code(hoffman_singleton_graph())


@functools.lru_cache(maxsize=None)
def gewirtz_56() -> np.ndarray:
    """56 points in R^20, cosines 1/15 (non-edges) and -2/5 (edges)."""
    return srg_spectral_code(gewirtz_graph())


@functools.lru_cache(maxsize=None)
def m22_77() -> np.ndarray:
    """77 points in R^21, cosines 1/12 (non-edges) and -3/8 (edges)."""
    return srg_spectral_code(m22_graph())
