"""Sphere metrics against closed-form values of regular polytopes and a naive double loop."""

import math

import numpy as np
import pytest

from protogen import sphere
from protogen.errors import InputError

PHI = (1 + 5**0.5) / 2


def icosahedron():
    pts = []
    for a in (-1, 1):
        for b in (-PHI, PHI):
            pts += [(0, a, b), (a, b, 0), (b, 0, a)]
    return sphere.normalize(np.array(pts, dtype=float))


SQUARE = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=float)
TETRA = sphere.normalize(np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float))
OCTA = np.concatenate([np.eye(3), -np.eye(3)])


@pytest.mark.parametrize("points, angle", [
    (SQUARE, 90.0),
    (TETRA, math.degrees(math.acos(-1 / 3))),
    (OCTA, 90.0),
    (icosahedron(), math.degrees(math.atan(2.0))),  # 63.4349 degrees
])
def test_min_angle_of_regular_polytopes(points, angle):
    assert sphere.min_angle_deg(points) == pytest.approx(angle, abs=1e-9)
    assert sphere.max_cosine(points) == pytest.approx(math.cos(math.radians(angle)), abs=1e-12)
    # Every vertex of a regular polytope has its nearest neighbour at the same angle.
    assert sphere.mean_nn_angle_deg(points) == pytest.approx(angle, abs=1e-9)


def naive_nn_cosines(x):
    out = []
    for i in range(len(x)):
        out.append(max(float(np.dot(x[i], x[j])) for j in range(len(x)) if j != i))
    return np.array(out)


@pytest.mark.parametrize("chunk", [None, 1, 3, 7, 1000])
def test_chunked_nearest_neighbours_match_naive_loop(chunk):
    x = sphere.random_points(37, 5, seed=3)
    np.testing.assert_allclose(sphere.nearest_neighbor_cosines(x, chunk_size=chunk),
                               naive_nn_cosines(x), atol=1e-12)


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_energies_of_square_and_tetrahedron(chunk):
    # Square: 4 sides of length sqrt(2), 2 diagonals of length 2.
    assert sphere.riesz_energy(SQUARE, 1.0, chunk) == pytest.approx(4 / math.sqrt(2) + 2 / 2,
                                                                    abs=1e-12)
    assert sphere.riesz_energy(SQUARE, 2.0, chunk) == pytest.approx(4 / 2 + 2 / 4, abs=1e-12)
    # Tetrahedron: 6 edges of length sqrt(8/3).
    edge = math.sqrt(8 / 3)
    assert sphere.riesz_energy(TETRA, 1.0, chunk) == pytest.approx(6 / edge, abs=1e-12)
    assert sphere.riesz_energy(TETRA, 0.0, chunk) == pytest.approx(6 * math.log(1 / edge),
                                                                   abs=1e-12)


def test_numpy_energy_equals_the_torch_energy():
    """The report energy (numpy) and the solvers' energy (torch) are two codes of one formula."""
    import torch

    from protogen.energies import riesz_energy

    x = sphere.random_points(23, 4, seed=8)
    x[5] = x[4]  # coincident points: both floor the chord at 1e-7
    for s in (0.0, 0.5, 1.0, 2.0):
        want = float(riesz_energy(torch.tensor(x), s))
        for chunk in (None, 1, 5):
            assert sphere.riesz_energy(x, s, chunk) == pytest.approx(want, rel=1e-12, abs=1e-12)
    with pytest.raises(InputError):
        sphere.riesz_energy(x, -1.0)


def test_summary_keys_and_values():
    s = sphere.summary(OCTA)
    assert s["min_angle_deg"] == pytest.approx(90.0)
    assert s["max_cosine"] == pytest.approx(0.0, abs=1e-12)
    # Octahedron: 12 pairs at distance sqrt(2), 3 antipodal pairs at distance 2.
    assert s["riesz1_energy"] == pytest.approx(12 / math.sqrt(2) + 3 / 2)
    assert s["log_energy"] == pytest.approx(12 * math.log(1 / math.sqrt(2)) + 3 * math.log(0.5))
    assert s["mean_nn_angle_deg"] == pytest.approx(90.0)


def test_random_points_are_unit_and_seeded():
    a = sphere.random_points(10, 4, seed=1)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)
    np.testing.assert_array_equal(a, sphere.random_points(10, 4, seed=1))
    assert not np.array_equal(a, sphere.random_points(10, 4, seed=2))


def test_bad_inputs():
    with pytest.raises(InputError):
        sphere.normalize(np.zeros((2, 3)))
    with pytest.raises(InputError):
        sphere.max_cosine(np.ones((1, 3)))
    with pytest.raises(InputError):
        sphere.nearest_neighbor_cosines(TETRA, chunk_size=0)

