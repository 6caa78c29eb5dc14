"""The overlap chain (protogen.solvers.overlap_search) against hand-written truths."""

import math
import threading

import numpy as np
import pytest

from protogen.solvers import overlap_search
from protogen.solvers.overlap_search import (jammed_start, overlap_chain, overlap_energy,
                                             overlap_energy_numpy, relax, relax_scipy,
                                             relocate, screened_symmetric_start,
                                             symmetric_jammed_start)
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


def _icosahedron():
    phi = (1.0 + math.sqrt(5.0)) / 2.0
    rows = []
    for a in (-1.0, 1.0):
        for b in (-phi, phi):
            rows += [(0.0, a, b), (a, b, 0.0), (b, 0.0, a)]
    code = np.array(rows)
    return code / np.linalg.norm(code, axis=1, keepdims=True)


@pytest.mark.parametrize("relaxer", [relax, relax_scipy])
@pytest.mark.parametrize("name, build, contacts, contact_cos, target_deg", [
    ("octahedron", _octahedron, 12, 0.0, 91.0),
    ("icosahedron", _icosahedron, 30, 1.0 / math.sqrt(5.0), 64.0),
])
def test_relax_returns_a_perturbed_optimum_to_its_closed_form_energy(
        relaxer, name, build, contacts, contact_cos, target_deg):
    # Just beyond its optimal angle the optimum still minimises the overlap energy: its contact
    # pairs each overlap by cos(angle) - cos(target), E = contacts * that^2.
    target = math.cos(math.radians(target_deg))
    expected = contacts * (contact_cos - target) ** 2
    code = build() + 1e-3 * np.random.default_rng(3).standard_normal(build().shape)
    start_energy = overlap_energy(code.ravel(), code.shape, target)[0]
    assert start_energy > expected * (1 + 1e-4)
    relaxed, energy = relaxer(code / np.linalg.norm(code, axis=1, keepdims=True), target)
    assert energy == pytest.approx(expected, rel=1e-9)
    assert overlap_energy(relaxed.ravel(), relaxed.shape, target)[0] == pytest.approx(
        expected, rel=1e-9)
    assert max_cosine(relaxed) == pytest.approx(contact_cos, abs=1e-6)


def test_relax_splits_coincident_points():
    # Two coincident points have no tangent gradient: the minimiser alone leaves them merged.
    code = _icosahedron()
    merged = np.vstack([code, code[:1]])
    target = math.cos(math.radians(50.0))
    relaxed_alone = relax_scipy(merged, target)[0]
    assert max_cosine(relaxed_alone) > 1.0 - 1e-12
    relaxed, energy = relax(merged, target)
    assert max_cosine(relaxed) < math.cos(math.radians(0.5))
    assert energy < overlap_energy(merged.ravel(), merged.shape, target)[0]
    assert energy == pytest.approx(overlap_energy(relaxed.ravel(), relaxed.shape, target)[0],
                                   rel=1e-9, abs=1e-18)


def test_numba_relax_matches_scipy_near_a_polished_code():
    # Near a polished random code (the chain's situation) both minimisers find the same
    # minimum: the energies agree to 1e-6 (or both vanish).
    rng = np.random.default_rng(4)
    code = jammed_start(40, 3, rng, math.radians(32.0), factor=0.97)
    target = math.cos(math.acos(max_cosine(code)) * 1.002)
    for _ in range(5):
        moved = relocate(code, target, rng)
        energy, ref = relax(moved, target)[1], relax_scipy(moved, target)[1]
        assert energy == pytest.approx(ref, rel=1e-6, abs=1e-18)


def test_relocate_moves_one_to_three_points_into_holes():
    rng = np.random.default_rng(3)
    code = jammed_start(20, 3, rng, math.radians(45.0), factor=0.97)
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


def test_chain_restarts_from_jammed_starts_and_keeps_the_best_of_all_chains():
    rng = np.random.default_rng(8)
    start = rng.standard_normal((12, 3))
    start /= np.linalg.norm(start, axis=1, keepdims=True)
    seen = []
    best, best_cos, counts = overlap_chain(start, rng=rng, iterations=150, patience=5,
                                           restart_after=1,
                                           on_better=lambda code, c: seen.append(c))
    # The icosahedron is optimal: once found, every later chain stalls and starts over, and
    # what they find (never better) does not replace it.
    assert counts["chain_restarts"] >= 3
    assert math.degrees(math.acos(best_cos)) == pytest.approx(_icosahedron_angle(), abs=1e-6)
    assert seen == sorted(seen, reverse=True) and seen[-1] == best_cos
    never = overlap_chain(start, rng=np.random.default_rng(8), iterations=150, patience=5,
                          restart_after=None)
    assert never[2]["chain_restarts"] == 0


def test_jammed_start_is_a_polished_code_denser_than_random():
    rng = np.random.default_rng(9)
    code = jammed_start(30, 3, rng, math.radians(38.0))
    assert np.allclose(np.linalg.norm(code, axis=1), 1.0)
    random = np.random.default_rng(9).standard_normal((30, 3))
    random /= np.linalg.norm(random, axis=1, keepdims=True)
    # Well above a random code's angle and within reach of the record (38.5971 deg for N = 30).
    assert math.degrees(math.acos(max_cosine(code))) > 0.97 * 38.5971
    assert max_cosine(code) < max_cosine(random) - 0.2
    again = jammed_start(30, 3, np.random.default_rng(9), math.radians(38.0))
    assert np.array_equal(code, again)


# Sloane's table (protogen/data/best_known_codes.csv): the putative optimum of 120 points in
# D = 3, two generic orbits of the icosahedral group.
_RECORD_120 = 19.3240201


def test_symmetric_start_finds_the_icosahedral_120_and_a_subset_of_it_for_119():
    for seed in (0, 1):
        code = symmetric_jammed_start(120, 3, np.random.default_rng(seed), math.radians(19.0))
        assert math.degrees(math.acos(max_cosine(code))) == pytest.approx(_RECORD_120, abs=1e-6)
    # 119 points: the 120-point code with one point removed (a vacancy), polished again, so
    # at least the 120 record's angle.
    code = symmetric_jammed_start(119, 3, np.random.default_rng(0), math.radians(19.0))
    assert code.shape == (119, 3) and np.allclose(np.linalg.norm(code, axis=1), 1.0)
    assert math.degrees(math.acos(max_cosine(code))) > _RECORD_120 - 1e-6
    # Above D = 3 the symmetric codes are antipodal: 11 points from 12 (u, -u) pairs less one.
    code = symmetric_jammed_start(11, 4, np.random.default_rng(0), math.radians(60.0))
    assert code.shape == (11, 4) and np.allclose(np.linalg.norm(code, axis=1), 1.0)


def test_symmetric_start_falls_back_to_a_random_jammed_start(monkeypatch):
    monkeypatch.setattr(overlap_search, "point_group_start", lambda *args: None)
    code = symmetric_jammed_start(20, 3, np.random.default_rng(3), math.radians(45.0))
    assert np.array_equal(code, jammed_start(20, 3, np.random.default_rng(3), math.radians(45.0)))


# Sloane's table (protogen/data/best_known_codes.csv), D = 3.
_RECORD_102, _RECORD_111, _RECORD_125 = 20.8556887, 19.9824769, 18.8448151


def test_screened_symmetric_start_reaches_the_record_basins_the_largest_group_misses():
    # N = 111 and 125: the chains from the largest group's start (T with a vacancy) and from
    # random codes ended at 0.99925 / 0.99933 of the record; these screens hold C5 and D3
    # codes polished to 0.99995 at 125 and, at 111, a code above Sloane's table.
    code = screened_symmetric_start(125, 3, np.random.default_rng([0, 1]),
                                    math.radians(0.999 * _RECORD_125))
    assert code.shape == (125, 3) and np.allclose(np.linalg.norm(code, axis=1), 1.0)
    assert math.degrees(math.acos(max_cosine(code))) > 0.9999 * _RECORD_125
    largest = symmetric_jammed_start(125, 3, np.random.default_rng([0, 1]),
                                     math.radians(0.999 * _RECORD_125))
    assert math.degrees(math.acos(max_cosine(largest))) < 0.9995 * _RECORD_125
    code = screened_symmetric_start(111, 3, np.random.default_rng([3, 1]),
                                    math.radians(0.999 * _RECORD_111))
    assert math.degrees(math.acos(max_cosine(code))) > _RECORD_111


def test_screened_symmetric_start_polishes_the_tightest_relaxed_codes_too():
    # N = 102: this screen holds a code of the record's basin (from C6); by overlap energy it
    # ranks under many codes of an octahedral basin at 0.99958 of the record and is not
    # polished, by the relaxed code's maximum cosine it ranks first.
    angle = math.radians(0.999 * _RECORD_102)
    by_energy = screened_symmetric_start(102, 3, np.random.default_rng([2, 1]), angle,
                                         tightest=0)
    assert math.degrees(math.acos(max_cosine(by_energy))) < 0.9996 * _RECORD_102
    both = screened_symmetric_start(102, 3, np.random.default_rng([2, 1]), angle)
    assert math.degrees(math.acos(max_cosine(both))) > 0.9999 * _RECORD_102


def test_screened_symmetric_start_keeps_the_largest_group(monkeypatch):
    # Without the other groups the screen still polishes the largest group's code: at
    # N = 120 the icosahedral record.
    monkeypatch.setattr(overlap_search, "every_group_starts", lambda *args: [])
    code = screened_symmetric_start(120, 3, np.random.default_rng(0), math.radians(19.0))
    assert math.degrees(math.acos(max_cosine(code))) == pytest.approx(_RECORD_120, abs=1e-6)
    # Outside D = 3: the antipodal start, draw for draw.
    a = screened_symmetric_start(11, 4, np.random.default_rng(2), math.radians(60.0))
    b = symmetric_jammed_start(11, 4, np.random.default_rng(2), math.radians(60.0))
    assert np.array_equal(a, b)


def test_chain_restarts_from_the_given_fresh_starts():
    seen = []

    def fresh(rng, angle):
        seen.append(angle)
        return jammed_start(12, 3, rng, angle)

    start = jammed_start(12, 3, np.random.default_rng(1), math.radians(55.0), factor=0.9)
    _, best_cos, counts = overlap_chain(start, rng=np.random.default_rng(2), iterations=60,
                                        patience=2, restart_after=0, fresh_start=fresh)
    assert counts["chain_restarts"] == len(seen) > 0
    # Restarts are jammed at the best angle of all chains so far (never below the start's).
    assert all(angle >= math.acos(max_cosine(start)) - 1e-12 for angle in seen)


def test_chain_is_a_function_of_the_seed_and_stops_at_the_deadline():
    start = jammed_start(15, 3, np.random.default_rng(6), math.radians(50.0), factor=0.97)
    a = overlap_chain(start, rng=np.random.default_rng(7), iterations=15)
    b = overlap_chain(start, rng=np.random.default_rng(7), iterations=15)
    assert np.array_equal(a[0], b[0]) and a[2] == b[2]
    late = overlap_chain(start, rng=np.random.default_rng(7), iterations=None, deadline=0.0)
    assert late[2]["chain_relocations"] == 0 and np.array_equal(late[0], start)
    stopped = threading.Event()
    stopped.set()
    early = overlap_chain(start, rng=np.random.default_rng(7), iterations=15, stop=stopped)
    assert early[2]["chain_relocations"] == 0 and np.array_equal(early[0], start)
