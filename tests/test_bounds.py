"""Upper bounds on the Tammes problem against closed forms, known tight cases and the table."""

import math

import numpy as np
import pytest
from scipy.special import eval_chebyt, eval_gegenbauer, eval_legendre

from protogen import bounds
from protogen.bench import load_table
from protogen.errors import InputError
from protogen.solvers.closed_form import cross_polytope, simplex
from protogen.sphere import min_angle_deg

ICOSAHEDRON_DEG = math.degrees(math.atan(2.0))  # arccos(1/sqrt 5) = 63.4349488...


def test_simplex_bound_is_the_regular_simplex_angle():
    for num in range(2, 12):
        expected = math.degrees(math.acos(-1.0 / (num - 1)))
        assert bounds.simplex_bound_deg(num) == pytest.approx(expected, abs=1e-12)
        # An actual simplex (built independently by QR) attains it.
        assert min_angle_deg(simplex(num, num + 2)) == pytest.approx(expected, abs=1e-9)
    assert bounds.simplex_bound_deg(4) == pytest.approx(109.4712206344907, abs=1e-10)
    assert bounds.simplex_bound_deg(3) == pytest.approx(120.0, abs=1e-12)  # the triangle
    assert bounds.simplex_bound_deg(2) == pytest.approx(180.0, abs=1e-12)  # antipodes


def test_rankin_bound():
    assert bounds.rankin_bound_deg(4, 3) == (pytest.approx(109.4712206344907), False)
    assert bounds.rankin_bound_deg(5, 3) == (90.0, False)   # N = D + 2
    assert bounds.rankin_bound_deg(6, 3) == (90.0, False)   # N = 2D: the octahedron attains 90
    assert bounds.rankin_bound_deg(7, 3) == (90.0, True)    # N = 2D + 1: strictly below 90
    assert bounds.rankin_bound_deg(100, 50) == (90.0, False)
    assert bounds.rankin_bound_deg(101, 50) == (90.0, True)
    # The cross-polytope attains 90 degrees for every D + 2 <= N <= 2D.
    for dim in (3, 4, 7):
        for num in range(dim + 2, 2 * dim + 1):
            assert min_angle_deg(cross_polytope(num, dim)) == pytest.approx(90.0, abs=1e-12)


@pytest.mark.parametrize("num, expected", [
    (3, 120.0), (4, math.degrees(math.acos(-1 / 3))), (6, 90.0), (12, ICOSAHEDRON_DEG)])
def test_fejes_toth_tight_cases(num, expected):
    assert bounds.fejes_toth_bound_deg(num) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("num, omega_deg", [(5, 50.0), (8, 40.0), (14, 35.0), (32, 32.0)])
def test_fejes_toth_formula_by_hand(num, omega_deg):
    # omega = pi N / (6 (N - 2)) worked out by hand: N=5: 5*180/18 = 50 deg; N=8: 8*180/36 = 40;
    # N=14: 14*180/72 = 35; N=32: 32*180/180 = 32. Chord bound d^2 <= 4 - csc^2(omega), and the
    # angle of a chord d is 2 asin(d / 2).
    d2 = 4 - 1 / math.sin(math.radians(omega_deg)) ** 2
    assert bounds.fejes_toth_bound_deg(num) == pytest.approx(
        math.degrees(2 * math.asin(math.sqrt(d2) / 2)), abs=1e-9)


def test_fejes_toth_not_tight_elsewhere():
    assert bounds.fejes_toth_bound_deg(5) > 90.0 + 1.0  # the optimum (90) is well below
    values = [bounds.fejes_toth_bound_deg(n) for n in range(3, 200)]
    assert all(a > b for a, b in zip(values, values[1:]))
    with pytest.raises(InputError):
        bounds.fejes_toth_bound_deg(12, 4)


def test_gegenbauer_matrix_matches_scipy():
    t = np.linspace(-1, 1, 41)
    g3 = bounds.gegenbauer_matrix(8, 3, t)
    g2 = bounds.gegenbauer_matrix(8, 2, t)
    g6 = bounds.gegenbauer_matrix(8, 6, t)
    for k in range(9):
        np.testing.assert_allclose(g3[:, k], eval_legendre(k, t), atol=1e-12)
        np.testing.assert_allclose(g2[:, k], eval_chebyt(k, t), atol=1e-12)
        lam = (6 - 2) / 2
        np.testing.assert_allclose(g6[:, k], eval_gegenbauer(k, lam, t)
                                   / eval_gegenbauer(k, lam, 1.0), atol=1e-12)


@pytest.mark.parametrize("num, dim, optimum, tol", [
    (12, 3, ICOSAHEDRON_DEG, 5e-4),                      # icosahedron
    (120, 4, 36.0, 2e-3),                                # 600-cell
    (16, 5, math.degrees(math.acos(1 / 5)), 5e-4),       # 5-demicube
    (240, 8, 60.0, 2e-3),                                # E8 roots
])
def test_delsarte_lp_is_tight_where_known(num, dim, optimum, tol):
    # The bound is certified, so it may only be looser than the exact LP value (= optimum).
    value = bounds.delsarte_lp_bound_deg(num, dim)
    assert optimum - 1e-9 <= value <= optimum + tol


@pytest.mark.parametrize("dim, num, cosine", [
    (6, 27, 1 / 4), (7, 56, 1 / 3), (8, 240, 1 / 2), (22, 100, 1 / 11), (22, 275, 1 / 6),
    (23, 552, 1 / 5), (24, 196560, 1 / 2)])
def test_lp_max_points_at_sharp_configurations(dim, num, cosine):
    # Sharp configurations (Levenshtein 1979; Cohn & Kumar 2007, Table 1) attain the LP bound:
    # the certified N_max at their cosine is the code's size, up to the certificate's slack.
    found = bounds.delsarte_lp_max_points(dim, cosine)
    assert num - 1e-6 <= found <= num * (1 + 1e-3)


@pytest.mark.parametrize("dim", [3, 8, 64, 512])
def test_lp_max_points_at_90_degrees_is_the_cross_polytope(dim):
    # f(t) = t + t^2 is <= 0 on [-1, 0] and gives N <= 2D (Rankin); nothing does better.
    assert 2 * dim - 1e-6 <= bounds.delsarte_lp_max_points(dim, 0.0) <= 2 * dim * (1 + 1e-4)


def test_certificate_accounts_for_what_the_grid_misses():
    # f = 1 + 3 G_1 + 2 G_2 = 1 + 3t + (3t^2 - 1) = 3 (t + t^2) in D = 3 (Legendre) exceeds
    # 0 on [-1, s] by 3 (s + s^2) at t = s; the certified bound must pay for it:
    # (f(1) - eps) / (1 - eps) with eps >= 3 (s + s^2), here by hand.
    s = 0.01
    coef = np.array([1.0, 3.0, 2.0])
    eps = 3 * (s + s * s)
    expected = (6.0 - eps) / (1.0 - eps)
    assert expected - 1e-9 <= bounds._certified_points(3, s, coef) <= expected + 1e-4
    assert bounds._certified_points(3, 0.5, np.array([1.0, 1.0])) == math.inf  # f = 1 + t > 1


def test_gegenbauer_matrix_stable_in_high_dimension():
    t = np.linspace(-1, 1, 101)
    g = bounds.gegenbauer_matrix(30, 512, t)
    lam = (512 - 2) / 2
    for k in (1, 2, 7, 30):
        np.testing.assert_allclose(g[:, k], eval_gegenbauer(k, lam, t)
                                   / eval_gegenbauer(k, lam, 1.0), atol=1e-12)
    assert np.abs(g).max() <= 1.0 + 1e-12


def test_delsarte_lp_high_dimension_and_warm_start():
    # Issue 12: K = 100 in D = 25 has LP bound about 86.06 degrees.
    assert bounds.delsarte_lp_bound_deg(100, 25) == pytest.approx(86.06, abs=0.01)
    # Warm starts from cached neighbours give the same values as cold searches, and more
    # points never allow a larger angle.
    warm = [bounds.delsarte_lp_bound_deg(n, 6) for n in range(13, 16)]
    assert all(a >= b - 1e-9 for a, b in zip(warm, warm[1:]))
    bounds.delsarte_lp_bound_deg.cache_clear()
    bounds._BRACKETS.clear()
    assert bounds.delsarte_lp_bound_deg(14, 6) == pytest.approx(warm[1], abs=5e-4)


def test_delsarte_lp_below_simplex_and_above_truth():
    table = load_table()
    for num, dim in ((7, 3), (13, 3), (10, 4), (24, 4)):
        lp = bounds.delsarte_lp_bound_deg(num, dim)
        assert lp <= bounds.simplex_bound_deg(num) + 1e-12
        assert lp <= 90.0 + 1e-6  # Rankin applies to all of these (N >= D + 2)
        # an upper bound is at least every known code (Sloane's table)
        assert lp >= table[(dim, num)].min_angle_deg - 1e-7, (num, dim)
    # N <= D + 1: the simplex bound is attained and the LP reproduces it.
    assert bounds.delsarte_lp_bound_deg(100, 100) == pytest.approx(
        math.degrees(math.acos(-1 / 99)), abs=1e-9)
    # The kissing problem in D = 3: 13 points cannot all be 60 degrees apart, and the LP knows.
    assert bounds.delsarte_lp_bound_deg(13, 3) < 61.0
    assert bounds.delsarte_lp_max_points(3, 0.5) < 14  # Delsarte's 13.39...
    # The 24-cell's 60 degrees is below the LP bound (which is not tight there).
    assert bounds.delsarte_lp_bound_deg(24, 4) > 60.5


def test_certificate_lists_every_bound_and_the_record():
    found = bounds.certificate(13, 3)
    assert found["best"] == min(found["simplex"], found["rankin"], found["fejes_toth"],
                                found["delsarte_lp"])
    assert found["best_bound"] == "delsarte_lp" and found["rankin_strict"] is True
    assert found["best_known_deg"] == pytest.approx(57.1367031)
    assert found["best_known_status"] == "proved" and "Musin" in found["best_known_source"]
    assert found["best_known_deg"] <= found["best"]
    off = bounds.certificate(100, 25, lp=False)
    assert off["best_known_deg"] is None and "delsarte_lp" not in off
    assert "fejes_toth" not in off and off["best_bound"] == "rankin"


@pytest.mark.parametrize("num, dim, binding, optimum, tol", [
    (12, 3, "fejes_toth", ICOSAHEDRON_DEG, 1e-9),   # Fejes Toth is exact at the icosahedron
    (120, 4, "delsarte_lp", 36.0, 5e-4),            # the LP is tight at the 600-cell
    (5, 3, "rankin", 90.0, 0.0),                    # 5 points in R^3: Rankin's 90 deg, attained
    (3, 5, "simplex", 120.0, 1e-12),                # N <= D + 1: the triangle
])
def test_best_upper_bound_against_known_optima(num, dim, binding, optimum, tol):
    """``best`` equals the optimum of a case solved in the literature, by the bound that
    proves it; the other entries are the hand formulas."""
    found = bounds.best_upper_bound_deg(num, dim)
    assert optimum - 1e-7 <= found["best"] <= optimum + tol
    assert found[binding] == pytest.approx(found["best"], abs=1e-12)
    assert found["simplex"] == pytest.approx(math.degrees(math.acos(-1 / (num - 1))), abs=1e-12)
    assert found["rankin"] == (90.0 if num >= dim + 2 else found["simplex"])
    assert found["rankin_strict"] == float(num >= 2 * dim + 1)
    if dim == 3:
        omega = math.pi * num / (6 * (num - 2))
        chord = math.sqrt(4 - 1 / math.sin(omega) ** 2)
        assert found["fejes_toth"] == pytest.approx(math.degrees(2 * math.asin(chord / 2)),
                                                    abs=1e-9)


def test_best_upper_bound_keys_and_errors():
    assert set(bounds.best_upper_bound_deg(10, 4, lp=False)) == {"simplex", "rankin",
                                                                 "rankin_strict", "best"}
    with pytest.raises(InputError):
        bounds.best_upper_bound_deg(1, 3)


def test_every_table_row_is_below_its_bounds():
    table = load_table()
    for (dim, num), row in table.items():
        cheap = bounds.best_upper_bound_deg(num, dim, lp=False)["best"]
        assert row.min_angle_deg <= cheap + 1e-7, (dim, num)
    # The LP bound in its direct form: a code with max cosine s has at most N_max(s) points,
    # so every tabulated code must satisfy N <= N_max(cos(angle)) (one certified LP per row;
    # beyond the simplex / cross-polytope rows, D = 3 sampled).
    for (dim, num), row in table.items():
        if num <= 2 * dim or (dim == 3 and num % 9 and num not in (13, 14, 24)):
            continue
        s = math.cos(math.radians(row.min_angle_deg - 1e-7))
        assert bounds.delsarte_lp_max_points(dim, s, degree=16) >= num - 1e-6, (dim, num)
