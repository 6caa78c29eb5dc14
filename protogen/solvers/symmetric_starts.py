"""Symmetric starting codes for the global search: antipodal codes and point-group orbits.

Many record spherical codes are symmetric: antipodal (the 24-cell, the 40 roots of D5, the
icosahedron) or unions of orbits of a rotation group of the sphere in three dimensions (the
chiral tetrahedral T, octahedral O and icosahedral I groups, of orders 12, 24 and 60; e.g. the
putative 120-point record is two generic orbits of I; the starts in the basins of the records
at N = 111 and 125 have the small groups C5 and D3, so :func:`every_group_starts` adds the
cyclic C_n and dihedral D_n). The objective (max pairwise cosine, or its smooth maximum) is
invariant under rotating the code and relabelling its points, so a start
that is symmetric stays symmetric under gradient descent and Adam (its gradient is symmetric
too): such starts search the much smaller space of symmetric codes, where these records are easy
to find, and the search releases the symmetry afterwards (hops perturb points independently).
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def antipodal_start(num: int, dim: int, rng: np.random.Generator) -> np.ndarray | None:
    """Random code whose rows K/2.. are minus rows ..K/2 (None for odd K)."""
    if num % 2:
        return None
    half = rng.standard_normal((num // 2, dim))
    return _unit(np.concatenate([half, -half]))


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _rotation(axis, angle):
    a = _unit(np.asarray(axis, dtype=float))
    cross = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross


def _closure(generators) -> np.ndarray:
    """All products of the generators (a finite rotation group), found breadth first."""
    found, todo = {}, [np.eye(3)]
    while todo:
        m = todo.pop()
        key = tuple(np.round(m, 8).ravel())
        if key not in found:
            found[key] = m
            todo.extend(g @ m for g in generators)
    return np.array([found[k] for k in sorted(found)])


def _orbit(group, point):
    images = group @ _unit(np.asarray(point, dtype=float))
    _, first = np.unique(np.round(images, 8), axis=0, return_index=True)
    return images[np.sort(first)]


def _groups():
    """(name, rotation matrices, special orbits) for T, O and I, largest first. The special
    orbits are the points on rotation axes (fewer images than the group's order)."""
    phi = (1 + 5**0.5) / 2
    cycle = np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]])  # (x, y, z) -> (z, x, y)
    half_turn = np.diag([-1.0, -1, 1])
    tetra = _closure([cycle, half_turn])
    octa = _closure([cycle, half_turn, _rotation((0, 0, 1), math.pi / 2)])
    ico = _closure([cycle, half_turn, _rotation((0, 1, phi), 2 * math.pi / 5)])
    return [
        ("I", ico, [_orbit(ico, (0, 1, phi)), _orbit(ico, (1, 1, 1)), _orbit(ico, (0, 0, 1))]),
        ("O", octa, [_orbit(octa, (0, 0, 1)), _orbit(octa, (1, 1, 1)), _orbit(octa, (1, 1, 0))]),
        ("T", tetra, [_orbit(tetra, (1, 1, 1)), _orbit(tetra, (-1, -1, -1)),
                      _orbit(tetra, (0, 0, 1))]),
    ]


_GROUPS = None
AXIAL_ORDERS = 8  # C_n and D_n up to this n


def orbit_decompositions(num: int):
    """Ways to write ``num`` as generic orbits plus a set of special orbits of the largest
    rotation group (I, then O, then T) that admits one: a list of (group name, group, number of
    generic orbits, special orbits), empty when none does."""
    global _GROUPS
    if _GROUPS is None:
        _GROUPS = _groups()
    for name, group, specials in _GROUPS:
        options = [(name, group, generic, chosen)
                   for generic, chosen in _decompositions(num, group, specials)]
        if options:
            return options
    return []


def _axial_groups(largest: int = AXIAL_ORDERS):
    """(name, rotation matrices, special orbits) for the dihedral groups D_n and the cyclic
    groups C_n about the z axis, n = 2..``largest``. Special orbits: the poles (one point each
    for C_n, a pair for D_n) and, for D_n, the two classes of n points on its half-turn axes."""
    found = []
    for n in range(largest, 1, -1):
        turn = _rotation((0, 0, 1), 2 * math.pi / n)
        dihedral = _closure([turn, np.diag([1.0, -1, -1])])
        found.append((f"D{n}", dihedral, [
            _orbit(dihedral, (0, 0, 1)), _orbit(dihedral, (1, 0, 0)),
            _orbit(dihedral, (math.cos(math.pi / n), math.sin(math.pi / n), 0))]))
        found.append((f"C{n}", _closure([turn]), [np.array([[0.0, 0, 1]]),
                                                  np.array([[0.0, 0, -1]])]))
    return found


_ALL_GROUPS = None


def _decompositions(num, group, specials):
    options = []
    for size in range(len(specials) + 1):
        for chosen in itertools.combinations(specials, size):
            rest = num - sum(len(o) for o in chosen)
            if rest >= 0 and rest % len(group) == 0 and (rest or chosen):
                options.append((rest // len(group), list(chosen)))
    return options


def every_group_starts(num: int, rng: np.random.Generator, samples: int,
                       most_vacancies: int = 2):
    """Random symmetric codes in D = 3 for ``num`` points, ``samples`` from each rotation
    group of the sphere up to order 60 whose orbits add up to ``num + v`` points (T, O, I, and
    D_n, C_n for n <= 8; ``v`` the fewest vacancies in 0..``most_vacancies`` for that group):
    a list of (group name, vacancies, code of ``num + v`` points), each code of a decomposition
    drawn at random.

    Smaller groups than the largest one that fits give better starts at some N > 100: from
    5 random symmetric starts per group relaxed and polished at Sloane's angle, the best were
    O at N = 102 (0.99958 of the record), C5 at N = 111 (0.99995) and D3 at N = 125 (0.99964),
    each above the 60 s search's result (0.99938, 0.99925, 0.99933), while the largest group
    that fits (I, T with a vacancy, T) gave 0.99306, 0.99895 and 0.99673."""
    global _ALL_GROUPS
    if _ALL_GROUPS is None:
        _ALL_GROUPS = _groups() + _axial_groups()
    found = []
    for name, group, specials in _ALL_GROUPS:
        for vacancies in range(most_vacancies + 1):
            options = _decompositions(num + vacancies, group, specials)
            if options:
                break
        else:
            continue
        for _ in range(samples):
            generic, chosen = options[int(rng.integers(len(options)))]
            found.append((name, vacancies, _random_union(group, generic, chosen, rng)))
    return found


def _random_union(group, generic, specials, rng):
    """``generic`` orbits of random points under ``group`` plus the ``specials``."""
    parts = [group @ p for p in _unit(rng.standard_normal((generic, 3)))] + specials
    return np.concatenate(parts)


def point_group_start(num: int, dim: int, rng: np.random.Generator) -> np.ndarray | None:
    """A random union of orbits of T, O or I with ``num`` points (None when D != 3 or no
    decomposition exists): generic orbits of random points plus special orbits, the largest
    group first, one of its decompositions drawn at random."""
    if dim != 3:
        return None
    options = orbit_decompositions(num)
    if not options:
        return None
    _, group, generic, specials = options[int(rng.integers(len(options)))]
    return _random_union(group, generic, specials, rng)
