"""Closed forms meet their optimality bounds exactly."""

import math

import numpy as np
import pytest

from protogen import sphere
from protogen.errors import InputError
from protogen.solvers import solve
from protogen.solvers.closed_form import cross_polytope, optimal_closed_form, polygon, simplex


@pytest.mark.parametrize("num", [2, 3, 5, 12, 100])
def test_polygon_angles(num):
    pts = polygon(num)
    assert sphere.min_angle_deg(pts) == pytest.approx(360.0 / num if num > 2 else 180.0)


@pytest.mark.parametrize("num, dim", [(2, 2), (3, 3), (4, 3), (5, 4), (11, 10), (26, 25), (7, 30)])
def test_simplex_has_all_cosines_equal_to_bound(num, dim):
    pts = simplex(num, dim)
    assert pts.shape == (num, dim)
    np.testing.assert_allclose(np.linalg.norm(pts, axis=1), 1.0)
    cos = pts @ pts.T
    off = cos[~np.eye(num, dtype=bool)]
    np.testing.assert_allclose(off, -1.0 / (num - 1), atol=1e-12)


@pytest.mark.parametrize("num, dim", [(5, 3), (6, 3), (27, 25), (50, 25)])
def test_cross_polytope_is_ninety_degrees(num, dim):
    pts = cross_polytope(num, dim)
    assert sphere.min_angle_deg(pts) == pytest.approx(90.0)


def test_choice_of_closed_form():
    assert optimal_closed_form(7, 2)[0] == "polygon"
    assert optimal_closed_form(4, 3)[0] == "simplex"
    assert optimal_closed_form(6, 3)[0] == "cross-polytope"
    assert optimal_closed_form(7, 3) is None


def test_solve_auto_uses_closed_forms():
    res = solve(26, 25)
    assert res.method == "closed-form" and res.params["construction"] == "simplex"
    assert sphere.max_cosine(res.prototypes) == pytest.approx(-1 / 25)
    res = solve(40, 25, method="closed-form")
    assert sphere.min_angle_deg(res.prototypes) == pytest.approx(90.0)
    with pytest.raises(InputError):
        solve(60, 25, method="closed-form")
    with pytest.raises(InputError):
        simplex(5, 3)
    with pytest.raises(InputError):
        cross_polytope(7, 3)


@pytest.mark.parametrize("args", [(1, 3), (5, 1), (5, 3.5)])
def test_solve_rejects_bad_sizes(args):
    with pytest.raises(InputError):
        solve(*args)


def test_solve_refuses_impossible_memory():
    from protogen.errors import ResourceError

    with pytest.raises(ResourceError):
        solve(10_000_000, 4096)
    with pytest.raises(ResourceError):
        solve(100_000, 512, method="evolutionary")


def test_solve_rejects_unknown_option_and_method():
    with pytest.raises(InputError):
        solve(5, 3, method="magic")
    with pytest.raises(InputError):
        solve(5, 3, time_limit=-1)
