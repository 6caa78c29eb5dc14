"""The shared distance module against hand-computed values for every metric."""

import math

import pytest
import torch

from protogen.distances import (HIERARCHY_METRICS, chord_from_cosine, geodesic_from_cosine,
                                pairwise_distances)
from protogen.errors import InputError


def test_chord_and_geodesic_by_hand():
    cos = torch.tensor([1.0, 0.5, 0.0, -0.5, -1.0], dtype=torch.float64)
    # chord of unit vectors at 0, 60, 90, 120, 180 degrees: 2 sin(angle / 2)
    want_chord = [0.0, 1.0, math.sqrt(2), math.sqrt(3), 2.0]
    assert chord_from_cosine(cos).tolist() == pytest.approx(want_chord, abs=1e-15)
    want_angle = [0.0, math.pi / 3, math.pi / 2, 2 * math.pi / 3, math.pi]
    assert geodesic_from_cosine(cos).tolist() == pytest.approx(want_angle, abs=1e-15)
    # the floors: coincident points keep chord eps, the angle stops at arccos(limit)
    assert float(chord_from_cosine(torch.tensor(1.0, dtype=torch.float64), 1e-7)) == \
        pytest.approx(1e-7, rel=1e-12)
    assert float(geodesic_from_cosine(torch.tensor(1.0), 0.99)) == pytest.approx(math.acos(0.99))


def test_every_hierarchy_metric_by_hand():
    # u = (1, -2, 3, -4), v = (1, 2, 3, 4): cos = (1 - 4 + 9 - 16) / 30 = -1/3; the signs agree
    # in 2 of 4 coordinates, so D_h = 0 and the discrete distance is (1 - 0) / 2 = 1/2.
    x = torch.tensor([[1.0, -2.0, 3.0, -4.0], [1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    theta = math.acos(-1 / 3) / math.pi
    dh = 0.5
    want = {"continuous": theta, "discrete": dh, "am": (theta + dh) / 2,
            "gm": math.sqrt(theta * dh + 1e-8), "hm": 2 * theta * dh / (theta + dh + 1e-8)}
    # Eqs. 10-11: normalised cosine similarities c_Dh = (cos(pi/2) + 1)/2 = 1/2 and
    # c = (-1/3 + 1)/2 = 1/3; their means are similarities, the distance is 1 - mean.
    want.update({"cos-am": 1 - 5 / 12, "cos-gm": 1 - math.sqrt(1 / 6 + 1e-8),
                 "cos-hm": 1 - 2 * (1 / 6) / (5 / 6 + 1e-8)})
    assert set(want) == set(HIERARCHY_METRICS)
    for metric, value in want.items():
        d = pairwise_distances(x, metric)
        assert float(d[0, 1]) == pytest.approx(value, abs=1e-12), metric
        assert float(d[1, 0]) == pytest.approx(value, abs=1e-12), metric
    # a row and itself: continuous is clamped at arccos(0.99) / pi (DH2L §3.3), discrete is 0
    assert float(pairwise_distances(x, "continuous")[0, 0]) == pytest.approx(
        math.acos(0.99) / math.pi, abs=1e-12)
    assert float(pairwise_distances(x, "discrete")[0, 0]) == 0.0
    with pytest.raises(InputError, match="unknown hierarchy metric"):
        pairwise_distances(x, "l2")


def test_energies_use_the_same_distances():
    """riesz_energy's chord and angular kernels are these functions (one implementation)."""
    from protogen.energies import riesz_energy

    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64)
    # pairs at 90, 180, 90 degrees: chords sqrt 2, 2, sqrt 2; angles pi/2, pi, pi/2
    assert float(riesz_energy(x, 1.0)) == pytest.approx(2 / math.sqrt(2) + 1 / 2, abs=1e-12)
    # (the antipodal cosine is clamped to -(1 - 1e-15) against arccos' infinite slope)
    assert float(riesz_energy(x, 1.0, angular=True)) == pytest.approx(
        2 / (math.pi / 2) + 1 / math.acos(-1 + 1e-15), abs=1e-12)
