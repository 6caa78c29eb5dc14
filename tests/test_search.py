"""Global search and the exact max-min polish: known optima, determinism, anytime, bad input."""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from protogen.errors import InputError
from protogen.solvers.maxmin_polish import maxmin_polish, tangent_bases
from protogen.solvers.hop_moves import MOVES, perturb
from protogen.solvers.search import global_search
from protogen.sphere import max_cosine, min_angle_deg, normalize

TAMMES_13_DEG = 57.1367031  # proved optimum (Musin & Tarasov 2012), Sloane's table


def _icosahedron():
    phi = (1 + 5**0.5) / 2
    rows = []
    for a, b in itertools.product((-1, 1), (-phi, phi)):
        rows += [(0, a, b), (a, b, 0), (b, 0, a)]
    return normalize(np.array(rows, dtype=float))


def _octahedron():
    return np.vstack([np.eye(3), -np.eye(3)])


def _cell24():
    rows = []
    for i, j in itertools.combinations(range(4), 2):
        for a, b in itertools.product((-1, 1), repeat=2):
            v = np.zeros(4)
            v[i], v[j] = a, b
            rows.append(v)
    return normalize(np.array(rows))


def test_tangent_bases_are_orthonormal_and_tangent():
    x = normalize(np.random.default_rng(0).standard_normal((7, 5)))
    x[0] = np.eye(5)[2]  # an axis point: the Householder vector must not vanish
    bases = tangent_bases(x)
    assert bases.shape == (7, 5, 4)
    np.testing.assert_allclose(np.einsum("kdf,kd->kf", bases, x), 0.0, atol=1e-14)
    np.testing.assert_allclose(np.einsum("kdf,kdg->kfg", bases, bases),
                               np.broadcast_to(np.eye(4), (7, 4, 4)), atol=1e-14)


@pytest.mark.parametrize("code, angle", [
    (_icosahedron(), math.degrees(math.atan(2))),  # arccos(1/sqrt 5) = 63.43494882 deg
    (_octahedron(), 90.0),
    (_cell24(), 60.0),
])
@pytest.mark.parametrize("noise", [1e-3, 2e-2])
def test_polish_recovers_perturbed_optimal_codes(code, angle, noise):
    rng = np.random.default_rng(7)
    shaken = normalize(code + noise * rng.standard_normal(code.shape))
    assert min_angle_deg(shaken) < angle - 1e-3
    polished = maxmin_polish(shaken)
    assert abs(min_angle_deg(polished) - angle) < 1e-9
    np.testing.assert_allclose(np.linalg.norm(polished, axis=1), 1.0, atol=1e-14)


def test_polish_never_worse_and_rejects_bad_input():
    x = normalize(np.random.default_rng(3).standard_normal((9, 3)))
    assert min_angle_deg(maxmin_polish(x, max_steps=2)) >= min_angle_deg(x)
    np.testing.assert_allclose(maxmin_polish(x, max_steps=0), x, atol=1e-15)
    with pytest.raises(InputError):
        maxmin_polish(x[:1])
    with pytest.raises(InputError):
        maxmin_polish(x, radius=0.0)


def test_polish_bounds_the_lp_iterations_of_a_degenerate_optimum(monkeypatch):
    """A code the search found 1e-12 off the Gosset code (56 points in R^7, 756 contacts at
    cos 1/3): HiGHS's interior-point method ends there with an imprecise crossover and its
    simplex clean-up took ~150,000 iterations (17-48 s) per LP; each LP now stops at the
    iteration limit and is solved by the dual simplex, and the polish stays never worse."""
    import protogen.solvers.maxmin_polish as mp

    code = np.load(Path(__file__).parent / "data" / "gosset_56_near_optimum.npy",
                   allow_pickle=False)
    assert abs(max_cosine(code) - 1 / 3) < 1e-11
    calls, real_linprog = [], mp.linprog

    def recorded(*args, **kwargs):
        res = real_linprog(*args, **kwargs)
        calls.append((kwargs["method"], res.status, res.nit, kwargs["A_ub"].shape))
        return res

    monkeypatch.setattr(mp, "linprog", recorded)
    polished = maxmin_polish(code, max_steps=3)
    assert max_cosine(polished) <= max_cosine(code)
    for method, status, iterations, shape in calls:
        assert iterations <= mp.lp_iteration_limit(*shape)
    # The stall is met and handed over: an IPM solve at its limit, then the dual simplex.
    methods = [(method, status) for method, status, _, _ in calls]
    assert ("highs-ipm", 1) in methods
    after = methods.index(("highs-ipm", 1)) + 1
    assert methods[after][0] == "highs-ds"


@pytest.mark.parametrize("move", MOVES)
def test_moves_change_the_code_and_stay_on_the_sphere(move):
    code = _icosahedron()
    out = perturb(code, move, np.random.default_rng(0))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-14)
    assert not np.allclose(out, code)


def test_search_finds_tammes_13():
    # 64 short starts (half of them antipodal) and one round of hops; today's gradient
    # solver ends at 56.95 deg here.
    result = global_search(13, 3, seed=0, start_iterations=400, rounds=1, progress=False)
    assert result.method == "search"
    assert abs(min_angle_deg(result.prototypes) - TAMMES_13_DEG) < 1e-6
    assert result.params["rounds"] == 1 and result.params["starts"] == 64
    assert result.metadata["search_stopped"] == "rounds"
    assert result.history == sorted(result.history, reverse=True)  # best max cosine so far


def test_search_finds_the_24_cell_from_an_antipodal_start():
    # Start 1 of 2 is antipodal; the anneal keeps the symmetry and lands on the 24-cell (60 deg,
    # the D4 kissing configuration), which random starts mostly miss (58.87 deg before).
    result = global_search(24, 4, seed=0, starts=2, rounds=0, progress=False)
    assert abs(min_angle_deg(result.prototypes) - 60.0) < 1e-9


def test_search_same_seed_same_result():
    kwargs = dict(starts=4, start_iterations=100, rounds=1, children=3, hop_iterations=60,
                  progress=False)
    a = global_search(10, 4, seed=5, **kwargs)
    b = global_search(10, 4, seed=5, **kwargs)
    c = global_search(10, 4, seed=6, **kwargs)
    np.testing.assert_array_equal(a.prototypes, b.prototypes)
    assert not np.array_equal(a.prototypes, c.prototypes)


def test_search_is_anytime():
    result = global_search(60, 3, seed=0, time_limit=0.05, progress=False)
    assert result.prototypes.shape == (60, 3)
    np.testing.assert_allclose(np.linalg.norm(result.prototypes, axis=1), 1.0, atol=1e-12)
    assert min_angle_deg(result.prototypes) > 0
    assert result.metadata["search_stopped"] == "time_limit"
    assert result.params["time_limit"] == 0.05


def test_a_time_limit_runs_the_default_rounds_first():
    """With a time limit the search runs the same rounds as without one, then more: the
    best-so-far history of the default run is a prefix of the time-limited run's, so a limit
    longer than the default run never returns a worse code (what benchmarks rely on when they
    compare a default run with a time-limited one)."""
    kwargs = dict(starts=4, start_iterations=80, children=3, hop_iterations=40, progress=False,
                  chain_iterations=0)  # no chain: the hops run to the deadline
    plain = global_search(12, 3, seed=2, rounds=2, **kwargs)
    longer = global_search(12, 3, seed=2, time_limit=4 * plain.elapsed_s + 1.0, **kwargs)
    assert longer.metadata["search_rounds"] > plain.metadata["search_rounds"] == 2
    assert longer.history[:len(plain.history)] == plain.history
    assert min_angle_deg(longer.prototypes) >= min_angle_deg(plain.prototypes) - 1e-12


def test_a_time_limit_runs_the_default_hops_and_chain_first():
    """In exact mode a timed run does the default hop rounds, then the overlap chain until the
    deadline: the default run's chain is a prefix of the timed run's."""
    kwargs = dict(starts=4, start_iterations=80, children=3, hop_iterations=40, rounds=1,
                  progress=False)
    plain = global_search(40, 3, seed=3, chain_iterations=20, **kwargs)
    assert plain.metadata["chain_relocations"] == 40  # two chains of 20
    assert plain.params["chain_iterations"] == 20 and plain.metadata["chains"] == 2
    longer = global_search(40, 3, seed=3, time_limit=3 * plain.elapsed_s + 2.0, **kwargs)
    assert longer.metadata["search_rounds"] == plain.metadata["search_rounds"] == 1
    assert longer.metadata["chain_relocations"] > 40
    # History: starts, one hop round, the chains' best every 10 relocations, the final polish.
    assert longer.history[:len(plain.history) - 1] == plain.history[:-1]
    assert min_angle_deg(longer.prototypes) >= min_angle_deg(plain.prototypes) - 1e-12


def test_parallel_chains_do_not_depend_on_the_cores_and_add_to_one_chain(monkeypatch):
    """Chain 0 of a two-chain search is the chain of a one-chain search (same generator), so
    two chains never return less; the merge is in chain order, so one core (the chains one
    after the other) and two (side by side) give the same code and history."""
    kwargs = dict(starts=4, start_iterations=80, children=3, hop_iterations=40, rounds=1,
                  chain_iterations=30, progress=False)
    one = global_search(37, 3, seed=4, chains=1, **kwargs)
    two = global_search(37, 3, seed=4, chains=2, **kwargs)
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    serial = global_search(37, 3, seed=4, chains=2, **kwargs)
    np.testing.assert_array_equal(two.prototypes, serial.prototypes)
    assert two.history == serial.history
    assert one.metadata["chain_relocations"] == 30 and two.metadata["chain_relocations"] == 60
    assert min_angle_deg(two.prototypes) >= min_angle_deg(one.prototypes) - 1e-12
    # The one-chain history is the first chain's: the two-chain one is never above it.
    assert len(two.history) == len(one.history)
    assert all(b <= a + 1e-15 for a, b in zip(one.history, two.history))
    # One core and a deadline: the first chain runs to it and the second does not start late.
    timed = global_search(37, 3, seed=4, chains=2, time_limit=3.0,
                          **{k: v for k, v in kwargs.items() if k != "chain_iterations"})
    assert timed.metadata["search_stopped"] == "time_limit" and timed.elapsed_s < 4.0
    with pytest.raises(InputError, match="chains"):
        global_search(8, 3, chains=0, progress=False)


def test_the_second_chain_starts_from_a_symmetric_code_with_vacancies():
    """Chain 1 starts from a symmetric code: at N = 119 in D = 3 the icosahedral 120-point
    record less one point, at least the 120 record's 19.3240201 deg (Sloane's table), which
    two short anneals and one relocation of chain 0 do not reach."""
    kwargs = dict(starts=2, start_iterations=50, rounds=0, chain_iterations=1, progress=False)
    one = global_search(119, 3, seed=0, chains=1, **kwargs)
    two = global_search(119, 3, seed=0, chains=2, **kwargs)
    assert min_angle_deg(one.prototypes) < 19.3240201 - 0.01
    assert min_angle_deg(two.prototypes) > 19.3240201 - 1e-6


def test_the_chain_only_runs_in_exact_mode():
    import torch

    soft = global_search(8, 3, seed=0, starts=2, start_iterations=20, rounds=0, progress=False,
                         extra_loss=lambda w: torch.zeros((), dtype=w.dtype))
    assert soft.params["chain_iterations"] == 0 and "chain_relocations" not in soft.metadata
    with pytest.raises(InputError, match="exact mode"):
        global_search(8, 3, seed=0, starts=2, rounds=0, chain_iterations=5, progress=False,
                      extra_loss=lambda w: torch.zeros((), dtype=w.dtype))
    for bad in (-1, 2.5):
        with pytest.raises(InputError, match="chain_iterations"):
            global_search(8, 3, chain_iterations=bad, progress=False)
    with pytest.raises(InputError, match="chain_step"):
        global_search(8, 3, chain_step=0.0, progress=False)


def test_search_init_and_extra_loss():
    import torch

    init = _icosahedron()
    kept = global_search(12, 3, seed=0, init=init, starts=2, start_iterations=50, rounds=0,
                         progress=False)
    assert min_angle_deg(kept.prototypes) > 63.43  # the optimum itself is the first start
    target = torch.tensor(init[0])

    def pull(w):
        return 5.0 * ((w[0] - target) ** 2).sum()

    pulled = global_search(12, 3, seed=0, init=init, starts=2, start_iterations=50, rounds=1,
                           children=2, hop_iterations=30, extra_loss=pull, progress=False)
    assert np.dot(pulled.prototypes[0], init[0]) > 0.99


@pytest.mark.parametrize("kwargs", [
    dict(num_classes=1, dim=3), dict(num_classes=5, dim=1), dict(num_classes=5, dim=3,
                                                                   time_limit=0),
    dict(num_classes=5, dim=3, time_limit=-1.0), dict(num_classes=5, dim=3, starts=0),
    dict(num_classes=5, dim=3, rounds=-1), dict(num_classes=5, dim=3, hop_lr=0.0),
    dict(num_classes=5, dim=3, init=np.ones((4, 3))),
])
def test_search_bad_input(kwargs):
    with pytest.raises(InputError):
        global_search(progress=False, **kwargs)


def test_auto_sends_small_codes_to_the_search_and_keeps_options_on_gradient():
    from protogen.solvers import solve
    from protogen.solvers.registry import GradientParams, auto_delegate
    from protogen.sphere import min_angle_deg

    assert auto_delegate(13, 3, GradientParams())[0].name == "search"
    assert auto_delegate(200, 3, GradientParams())[0].name == "gradient"
    assert auto_delegate(13, 3, GradientParams(iterations=50))[0].name == "gradient"
    result = solve(13, 3, progress=False)  # default: the proved Tammes optimum for N = 13
    assert result.method == "search"
    assert min_angle_deg(result.prototypes) == pytest.approx(57.1367031, abs=1e-6)
    assert result.params["elite"] == 4 and "restarts" not in result.params


def _max_cosine(code):
    cos = code @ code.T
    np.fill_diagonal(cos, -np.inf)
    return float(cos.max())


def test_exact_search_returns_a_max_min_local_optimum():
    """Small codes without extra_loss compare LP-polished values: the code returned is a fixed
    point of the LP polish (a local optimum of the max-min problem), and every elite code was
    polished."""
    result = global_search(30, 3, seed=1, starts=8, start_iterations=300, rounds=2, children=4,
                           hop_iterations=80, chain_iterations=10, progress=False)
    code = result.prototypes
    assert _max_cosine(maxmin_polish(code)) > _max_cosine(code) - 1e-12
    assert result.metadata["search_polishes"] >= 4  # the elite seats
    assert result.history[-1] == pytest.approx(_max_cosine(code), abs=1e-15)


def test_search_defaults_depend_on_the_dimension_and_the_objective():
    import torch

    d3 = global_search(8, 3, seed=0, starts=2, start_iterations=20, rounds=0, progress=False)
    d4 = global_search(8, 4, seed=0, starts=2, start_iterations=20, rounds=0, progress=False)
    soft = global_search(8, 3, seed=0, starts=2, start_iterations=20, rounds=0, progress=False,
                         extra_loss=lambda w: torch.zeros((), dtype=w.dtype))
    assert (d3.params["t_start"], d4.params["t_start"]) == (100.0, 30.0)
    assert (d3.params["patience"], soft.params["patience"]) == (4, 12)
    # With extra_loss only promising codes are polished (none here: one start is offered).
    assert soft.metadata["search_polishes"] <= 1 < d3.metadata["search_polishes"]
