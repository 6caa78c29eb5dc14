"""The overlap chain (protogen.solvers.overlap_search) against hand-written truths."""

import math

import numpy as np
import pytest

from protogen.solvers.overlap_search import (loose_start, overlap_chain, overlap_energy,
                                             overlap_energy_numpy, relax, relocate)
from protogen.sphere import max_cosine


def _octahedron():
    return np.vstack([np.eye(3), -np.eye(3)])


def _icosahedron_angle():
    return math.degrees(math.atan(2.0))  # 63.4349488...


def _naive_energy(x, target):
    units = [row / np.linalg.norm(row) for row in x]
    total = 0.0
    for i, a in enumerate(units):
        for j, b in enumerate(units):
            if i != j:
                total += 0.5 * max(0.0, float(a @ b) - target) ** 2
    return total


def test_energy_matches_double_loop_and_closed_form():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 4)) * rng.uniform(0.5, 2.0, (9, 1))
    for target in (-0.3, 0.0, 0.4):
        energy, _ = overlap_energy(x.ravel(), x.shape, target)
        assert energy == pytest.approx(_naive_energy(x, target), rel=1e-12, abs=1e-15)
    # Octahedron at target cosine -0.1: 24 ordered neighbour pairs at cosine 0, each 0.1^2 / 2.
    energy, _ = overlap_energy(_octahedron().ravel(), (6, 3), -0.1)
    assert energy == pytest.approx(24 * 0.5 * 0.01, rel=1e-12)
    # ... and none at all once the target is below its minimum angle (cosine 0).
    assert overlap_energy(_octahedron().ravel(), (6, 3), 0.1)[0] == 0.0


@pytest.mark.parametrize("num, dim", [(2, 2), (13, 3), (40, 5)])
def test_kernel_matches_the_numpy_reference(num, dim):
    rng = np.random.default_rng(num)
    x = rng.standard_normal((num, dim)) * rng.uniform(0.5, 2.0, (num, 1))
    for target in (-0.5, 0.1, 0.6):
        energy, grad = overlap_energy(x.ravel(), x.shape, target)
        ref_energy, ref_grad = overlap_energy_numpy(x.ravel(), x.shape, target)
        assert energy == pytest.approx(ref_energy, rel=1e-12, abs=1e-15)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-14)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, 3)).ravel()
    _, grad = overlap_energy(x, (7, 3), 0.2)
    step = 1e-6
    numeric = np.array([(overlap_energy(x + step * e, (7, 3), 0.2)[0]
                         - overlap_energy(x - step * e, (7, 3), 0.2)[0]) / (2 * step)
                        for e in np.eye(x.size)])
    assert np.allclose(grad, numeric, rtol=1e-5, atol=1e-9)


def test_relax_reaches_a_feasible_target():
    rng = np.random.default_rng(2)
    code = rng.standard_normal((6, 3))
    target = math.cos(math.radians(80.0))  # the octahedron has 90 degrees
    relaxed, energy = relax(code / np.linalg.norm(code, axis=1, keepdims=True), target)
    assert np.allclose(np.linalg.norm(relaxed, axis=1), 1.0)
    assert energy < 1e-20
    assert max_cosine(relaxed) <= target + 1e-9


def test_relocate_moves_one_to_three_points_into_holes():
    rng = np.random.default_rng(3)
    code = loose_start(20, 3, rng, math.radians(45.0))
    for seed in range(10):
        moved = relocate(code, math.cos(math.radians(47.0)), np.random.default_rng(seed))
        changed = np.flatnonzero(np.abs(moved - code).max(axis=1) > 0)
        assert 1 <= len(changed) <= 3
        assert np.allclose(np.linalg.norm(moved, axis=1), 1.0)
        rest = np.delete(code, changed, axis=0)
        # A hole: farther from the others than the typical random direction.
        assert (moved[changed] @ rest.T).max() < 0.9
    again = relocate(code, 0.7, np.random.default_rng(4))
    assert np.array_equal(again, relocate(code, 0.7, np.random.default_rng(4)))


def test_chain_climbs_to_the_icosahedron_and_only_improves():
    rng = np.random.default_rng(5)
    start = rng.standard_normal((12, 3))
    start /= np.linalg.norm(start, axis=1, keepdims=True)
    seen = []
    best, best_cos, counts = overlap_chain(start, rng=rng, iterations=60,
                                           on_better=lambda code, c: seen.append(c))
    assert math.degrees(math.acos(best_cos)) == pytest.approx(_icosahedron_angle(), abs=1e-6)
    assert best_cos == pytest.approx(max_cosine(best), abs=1e-15)
    assert seen == sorted(seen, reverse=True) and seen[-1] == best_cos
    assert counts["chain_relocations"] == 60
    assert counts["chain_improvements"] == len(seen)


def test_chain_is_a_function_of_the_seed_and_stops_at_the_deadline():
    start = loose_start(15, 3, np.random.default_rng(6), math.radians(50.0))
    a = overlap_chain(start, rng=np.random.default_rng(7), iterations=15)
    b = overlap_chain(start, rng=np.random.default_rng(7), iterations=15)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    late = overlap_chain(start, rng=np.random.default_rng(7), iterations=None, deadline=0.0)
    assert late[2]["chain_relocations"] == 0 and np.array_equal(late[0], start)
