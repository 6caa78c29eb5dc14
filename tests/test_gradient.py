"""Gradient solvers: quality targets, known optima, determinism, hooks and stop criteria."""

import time

import numpy as np
import pytest
import torch

from protogen.energies import riesz_energy
from protogen.errors import InputError
from protogen.solvers.descent import energy_descent, hpn_sgd
from protogen.solvers.gradient import polish, tammes
from protogen.sphere import max_cosine, min_angle_deg, random_points


def _cosines(x):
    return np.sort((x @ x.T)[np.triu_indices(len(x), 1)])


def test_tammes_24_points_in_3d():
    # Best known (Robinson 1961, snub cube): 43.6908 degrees.
    result = tammes(24, 3, seed=0, progress=False)
    assert result.method == "gradient"
    # Regression guard below the best known (not a truth): seed 0 measured 43.6906 degrees.
    assert min_angle_deg(result.prototypes) >= 43.6
    np.testing.assert_allclose(np.linalg.norm(result.prototypes, axis=1), 1.0, atol=1e-12)
    assert result.params["restarts"] >= 1 and "iterations" in result.params


def test_tammes_100_points_in_25d():
    # The HPN paper's setting; hpn-sgd reaches 82.0 degrees here (1000 epochs).
    result = tammes(100, 25, seed=0, restarts=3, progress=False)
    # Regression guard (not a truth): seed 0 measured 83.5117 degrees.
    assert min_angle_deg(result.prototypes) >= 83.3
    assert result.history[-1] == pytest.approx(max_cosine(result.prototypes), abs=1e-12)


def test_tammes_chunked_path():
    # Blocks of 8 rows go through energies.smooth_max_cosine with checkpointing.
    dense = tammes(30, 4, seed=1, restarts=1, iterations=150, polish_iterations=20,
                   progress=False)
    chunked = tammes(30, 4, seed=1, restarts=1, iterations=150, chunk_size=8,
                     polish_iterations=20, progress=False)
    # Same math, different summation order: the codes agree to round-off (measured 4e-15).
    np.testing.assert_allclose(chunked.prototypes, dense.prototypes, rtol=0, atol=1e-12)
    assert chunked.params["chunk_size"] == 8


def test_tammes_same_seed_same_result():
    a = tammes(12, 4, seed=3, iterations=150, restarts=2, polish_iterations=20, progress=False)
    b = tammes(12, 4, seed=3, iterations=150, restarts=2, polish_iterations=20, progress=False)
    c = tammes(12, 4, seed=4, iterations=150, restarts=2, polish_iterations=20, progress=False)
    np.testing.assert_array_equal(a.prototypes, b.prototypes)
    assert not np.allclose(a.prototypes, c.prototypes)


def test_tammes_init_and_extra_loss_hook():
    init = random_points(10, 3, seed=5)
    target = torch.tensor(init[0])
    plain = tammes(10, 3, seed=0, iterations=200, restarts=1, init=init, progress=False)

    def pull(w):  # keep prototype 0 near its initial direction
        return 5.0 * ((w[0] - target) ** 2).sum()

    hooked = tammes(10, 3, seed=0, iterations=200, restarts=1, init=init, extra_loss=pull,
                    progress=False)
    assert not np.allclose(plain.prototypes, hooked.prototypes)
    assert (np.linalg.norm(hooked.prototypes[0] - init[0])
            < np.linalg.norm(plain.prototypes[0] - init[0]))


def test_time_limit_is_respected():
    start = time.perf_counter()
    result = tammes(300, 10, iterations=10**6, restarts=1, time_limit=1.0, progress=False)
    assert time.perf_counter() - start < 6.0  # 1 s plus one step, the polish check and slack
    assert result.params["time_limit"] == 1.0
    assert min_angle_deg(result.prototypes) > min_angle_deg(random_points(300, 10, 0))


def test_anytime_rounds_extend_the_untimed_run_and_find_the_24_cell():
    # K = 24 in D = 4: most random starts end at 58.87 deg, a few in the 24-cell (60 deg); the
    # even rounds start from antipodal codes, where the 24-cell is common (~0.25 s a round here).
    untimed = tammes(24, 4, seed=7, iterations=800, restarts=2, progress=False)
    assert min_angle_deg(untimed.prototypes) < 59.0
    start = time.perf_counter()
    timed = tammes(24, 4, seed=7, iterations=800, restarts=2, time_limit=6.0, anytime=True,
                   progress=False)
    assert time.perf_counter() - start < 6.0 + 3.0
    rounds = timed.metadata["rounds"]
    assert rounds >= 5
    assert timed.metadata["restarts_completed"] == 2 * rounds
    # The first round is the untimed run's (same starts from the same generator) ...
    assert timed.history[:2] == untimed.history[:2]
    # ... and the best of all rounds is kept: a 24-cell, every angle 60 deg (cos 1/2).
    assert min_angle_deg(timed.prototypes) == pytest.approx(60.0, abs=1e-4)
    # Without ``anytime`` the limit only bounds the untimed run.
    bounded = tammes(24, 4, seed=7, iterations=800, restarts=2, time_limit=6.0, progress=False)
    assert "rounds" not in bounded.metadata
    np.testing.assert_array_equal(bounded.prototypes, untimed.prototypes)


def _is_antipodal(code):
    half = len(code) // 2
    return len(code) % 2 == 0 and np.allclose(code[half:], -code[:half], atol=1e-12)


def test_anytime_rounds_alternate_random_and_antipodal_starts(monkeypatch):
    """Even rounds start from antipodal codes (rows K/2.. = minus rows ..K/2), odd rounds from
    random ones; never for odd K, with ``init`` or with an extra loss."""
    import types

    import protogen.solvers.gradient as gradient

    clock = iter(range(10**6))  # each reading of the clock is one second later
    monkeypatch.setattr(gradient, "time", types.SimpleNamespace(perf_counter=lambda: next(clock)))

    def recorded(num, dim, **kwargs):
        seen = []

        def anneal(starts, **kw):
            seen.append(np.array(starts))
            return starts, [max_cosine(code) for code in starts]

        monkeypatch.setattr(gradient, "_anneal", anneal)
        tammes(num, dim, iterations=4, restarts=3, polish_iterations=0, time_limit=40.0,
               anytime=True, progress=False, **kwargs)
        return [[_is_antipodal(code) for code in batch] for batch in seen]

    rounds = recorded(24, 4)
    assert len(rounds) >= 4
    assert rounds == [[r % 2 == 1] * 3 for r in range(len(rounds))]
    for odd_or_guided in (recorded(25, 4),
                          recorded(24, 4, init=random_points(24, 4, seed=1), init_noise=0.1),
                          recorded(24, 4, extra_loss=lambda x: 0.0 * x.sum())):
        assert len(odd_or_guided) >= 4 and not any(any(r) for r in odd_or_guided)


def test_anytime_antipodal_rounds_find_the_40_roots_of_d5():
    # The kissing configuration of D5 (60 deg): none of the 16 random starts of round 1 (the
    # untimed run) anneals into it; an antipodal start of round 2 does (seed 0: ~0.7 s a round).
    result = tammes(40, 5, seed=0, time_limit=4.0, anytime=True, progress=False)
    assert result.metadata["rounds"] >= 2
    first_round, second_round = result.history[:16], result.history[16:32]
    assert min(first_round) > 0.505  # best 59.46 deg
    assert min(second_round) < 0.5 + 1e-4
    assert min_angle_deg(result.prototypes) == pytest.approx(60.0, abs=1e-6)


def test_polish_never_worsens_and_improves_a_rough_code():
    rough = tammes(20, 3, seed=2, iterations=100, restarts=1, polish_iterations=0,
                   progress=False).prototypes
    before = max_cosine(rough)
    after = polish(rough, iterations=300)
    assert max_cosine(after) < before - 1e-6
    # Already polished: may not improve, must not get worse.
    again = polish(after, iterations=50)
    assert max_cosine(again) <= max_cosine(after) + 1e-15
    for seed in range(3):
        x = random_points(15, 4, seed)
        assert max_cosine(polish(x, iterations=5)) <= max_cosine(x) + 1e-15
    np.testing.assert_allclose(polish(rough, iterations=0), rough, atol=1e-15)


def test_hpn_sgd_improves_random_start_and_keeps_unit_rows():
    start = random_points(20, 5, seed=0)
    result = hpn_sgd(20, 5, seed=0, epochs=200, progress=False)
    assert result.method == "hpn-sgd"
    np.testing.assert_allclose(np.linalg.norm(result.prototypes, axis=1), 1.0, atol=1e-12)
    assert max_cosine(result.prototypes) < max_cosine(start) - 0.3
    assert len(result.history) == 200
    again = hpn_sgd(20, 5, seed=0, epochs=200, progress=False)
    np.testing.assert_array_equal(result.prototypes, again.prototypes)


@pytest.mark.parametrize("num, min_cos, max_cos", [(4, -1 / 3, -1 / 3), (6, -1.0, 0.0)])
def test_energy_descent_reaches_platonic_optima(num, min_cos, max_cos):
    # Thomson problem: the tetrahedron (all cosines -1/3) and the octahedron (0 and -1).
    result = energy_descent(num, 3, s=1.0, seed=0, progress=False)
    cos = _cosines(result.prototypes)
    assert cos[0] == pytest.approx(min_cos, abs=1e-4)
    assert cos[-1] == pytest.approx(max_cos, abs=1e-4)
    assert result.history[-1] < result.history[0]
    energy = riesz_energy(torch.tensor(result.prototypes), 1.0, reduction="mean").item()
    assert energy == pytest.approx(result.history[-1], rel=1e-6)


@pytest.mark.parametrize("kwargs", [dict(s=0.0), dict(s=2.0, half_space=True),
                                    dict(s=1.0, angular=True, chunk_size=4)])
def test_energy_descent_lowers_every_variant(kwargs):
    start = torch.tensor(random_points(12, 4, seed=0))
    result = energy_descent(12, 4, seed=0, iterations=300, progress=False, **kwargs)
    plain = {k: v for k, v in kwargs.items() if k != "s"}
    before = riesz_energy(start, kwargs["s"], **plain).item()
    after = riesz_energy(torch.tensor(result.prototypes), kwargs["s"], **plain).item()
    assert after < before
    assert result.method == "energy" and result.params["s"] == kwargs["s"]


def test_bad_input():
    with pytest.raises(InputError):
        tammes(10, 3, iterations=0, progress=False)
    with pytest.raises(InputError):
        tammes(10, 3, device="no-such-device", progress=False)
    with pytest.raises(InputError):
        hpn_sgd(10, 3, momentum=1.5, progress=False)
    with pytest.raises(InputError):
        energy_descent(10, 3, s=-1.0, progress=False)
    with pytest.raises(InputError):
        polish(random_points(5, 3, 0), iterations=-1)


@pytest.mark.parametrize("lr, betas, eps", [(0.01, (0.9, 0.999), 1e-8),
                                            (0.3, (0.5, 0.9), 1e-3)])
def test_hand_written_adam_matches_torch_optim_step_for_step(lr, betas, eps):
    from protogen.solvers.gradient import _Adam

    start = torch.tensor(random_points(7, 3, seed=4))
    ours = start.clone().requires_grad_(True)
    ref = start.clone().requires_grad_(True)
    opt, torch_opt = _Adam(ours, lr, betas, eps), torch.optim.Adam([ref], lr=lr, betas=betas,
                                                                  eps=eps)
    for step in range(12):
        for p in (ours, ref):  # a non-trivial loss whose gradient changes every step
            (torch.sin(3 * p).sum() + (p ** 2).sum() * step).backward()
        opt.step()
        torch_opt.step()
        torch_opt.zero_grad(set_to_none=True)
        torch.testing.assert_close(ours.detach(), ref.detach(), rtol=0, atol=1e-12)
        assert ours.grad is None  # the step consumes the gradient


@pytest.mark.parametrize("lr, momentum", [(0.1, 0.9), (0.05, 0.0)])
def test_hand_written_sgd_matches_torch_optim_step_for_step(lr, momentum):
    from protogen.solvers.gradient import _SGD

    start = torch.tensor(random_points(7, 3, seed=5))
    ours = start.clone().requires_grad_(True)
    ref = start.clone().requires_grad_(True)
    opt, torch_opt = _SGD(ours, lr, momentum), torch.optim.SGD([ref], lr=lr, momentum=momentum)
    for step in range(12):
        for p in (ours, ref):
            (torch.sin(3 * p).sum() + (p ** 2).sum() * step).backward()
        opt.step()
        torch_opt.step()
        torch_opt.zero_grad(set_to_none=True)
        torch.testing.assert_close(ours.detach(), ref.detach(), rtol=0, atol=1e-12)
