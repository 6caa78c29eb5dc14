"""Energies against naive double loops, closed forms and torch's gradcheck."""

import itertools
import math

import numpy as np
import pytest
import torch

from protogen.energies import (code_energy, dense_smooth_max, log_energy, masked_pair_cosines,
                               max_cosine, pair_mask, pairwise_cosines, riesz_energy,
                               smooth_max_cosine)
from protogen.errors import InputError


def _naive(points, s, half_space=False, angular=False, reduction="sum"):
    """Plain Python double loop over the (virtual) point set of MHE Eq. 1 / Eq. 5."""
    u = [np.asarray(p, float) / np.linalg.norm(p) for p in points]
    if half_space:
        pts = [(k, +1, v) for k, v in enumerate(u)] + [(k, -1, -v) for k, v in enumerate(u)]
    else:
        pts = [(k, +1, v) for k, v in enumerate(u)]
    total, count = 0.0, 0
    for a, b in itertools.combinations(pts, 2):
        if a[0] == b[0]:  # a neuron and its own virtual twin: not a pair of half-space MHE
            continue
        if angular:
            d = math.acos(max(-1.0, min(1.0, float(a[2] @ b[2]))))
        else:
            d = float(np.linalg.norm(a[2] - b[2]))
        total += math.log(1 / d) if s == 0 else d ** (-s)
        count += 1
    return total / count if reduction == "mean" else total


def _random(n, d, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=dtype) * 3  # not unit: normalised inside


@pytest.mark.parametrize("s", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("half_space", [False, True])
@pytest.mark.parametrize("angular", [False, True])
def test_matches_naive_loop(s, half_space, angular):
    w = _random(7, 4, seed=int(10 * s) + 2 * half_space + angular)
    for reduction in ("sum", "mean"):
        got = riesz_energy(w, s, half_space=half_space, angular=angular, reduction=reduction)
        want = _naive(w.numpy(), s, half_space, angular, reduction)
        assert got.item() == pytest.approx(want, rel=1e-10)


def test_log_energy_is_s0():
    w = _random(6, 3, seed=1)
    assert log_energy(w).item() == pytest.approx(_naive(w.numpy(), 0.0), rel=1e-12)


def test_closed_forms():
    # Square in the plane: 4 sides of length sqrt(2), 2 diagonals of length 2.
    square = torch.tensor([[1.0, 0], [0, 1], [-1, 0], [0, -1]], dtype=torch.float64)
    assert riesz_energy(square, 1.0).item() == pytest.approx(4 / math.sqrt(2) + 2 / 2)
    assert riesz_energy(square, 0.0).item() == pytest.approx(-(4 * 0.5 * math.log(2) + 2 * math.log(2)))
    # Octahedron: 12 pairs at distance sqrt(2) (angle pi/2), 3 antipodal pairs (2, pi).
    octa = torch.cat([torch.eye(3), -torch.eye(3)]).double()
    for s in (0.5, 1.0, 2.0):
        assert riesz_energy(octa, s).item() == pytest.approx(12 * 2 ** (-s / 2) + 3 * 2.0**-s)
        assert riesz_energy(octa, s, angular=True).item() == pytest.approx(
            12 * (math.pi / 2) ** -s + 3 * math.pi**-s)
    assert riesz_energy(octa, 0.0).item() == pytest.approx(-9 * math.log(2))
    # Regular simplex of n points: every squared distance is 2n / (n - 1).
    for n in (3, 5, 8):
        simplex = torch.eye(n, dtype=torch.float64) - 1.0 / n  # centred, in R^n
        d = math.sqrt(2 * n / (n - 1))
        assert riesz_energy(simplex, 1.0).item() == pytest.approx(n * (n - 1) / 2 / d)
        assert riesz_energy(simplex, 2.0, reduction="mean").item() == pytest.approx(d**-2)
        assert max_cosine(simplex).item() == pytest.approx(-1 / (n - 1))


def test_half_space_square_equals_octagon_minus_antipodes():
    # {±e1, ±e2} is the half-space set of {e1, e2}: 2 * [f(|e1-e2|) + f(|e1+e2|)] = 2(2/sqrt2).
    w = torch.tensor([[1.0, 0], [0, 1]], dtype=torch.float64)
    assert riesz_energy(w, 1.0, half_space=True).item() == pytest.approx(4 / math.sqrt(2))


@pytest.mark.parametrize("kwargs", [dict(s=1.0), dict(s=0.0, half_space=True),
                                    dict(s=2.0, angular=True)])
def test_chunked_equals_unchunked_values_and_gradients(kwargs):
    w = _random(11, 5, seed=3).requires_grad_(True)
    full = riesz_energy(w, **kwargs)
    (g_full,) = torch.autograd.grad(full, w)
    for chunk in (1, 3, 4, 11, 50):
        part = riesz_energy(w, chunk_size=chunk, **kwargs)
        (g_part,) = torch.autograd.grad(part, w)
        assert part.item() == pytest.approx(full.item(), rel=1e-12)
        torch.testing.assert_close(g_part, g_full, rtol=1e-10, atol=1e-12)


def test_smooth_max_chunked_equals_unchunked():
    w = _random(13, 4, seed=4).requires_grad_(True)
    full = smooth_max_cosine(w, 25.0)
    (g_full,) = torch.autograd.grad(full, w)
    part = smooth_max_cosine(w, 25.0, chunk_size=4)
    (g_part,) = torch.autograd.grad(part, w)
    assert part.item() == pytest.approx(full.item(), rel=1e-12)
    torch.testing.assert_close(g_part, g_full, rtol=1e-10, atol=1e-12)


def test_pair_mask_by_hand():
    m = pair_mask(3)
    inf = -math.inf
    assert m.tolist() == [[inf, 0.0, 0.0], [inf, inf, 0.0], [inf, inf, inf]]


def test_dense_batched_smooth_max_equals_naive_formula_and_the_chunked_one():
    codes = torch.stack([_random(9, 4, seed=s) for s in (11, 12, 13)])
    u = torch.nn.functional.normalize(codes, dim=2).requires_grad_(True)
    masked = masked_pair_cosines(u, pair_mask(9))
    # The max over the masked matrix is the max cosine of each code.
    for r in range(3):
        assert float(masked[r].detach().max()) == pytest.approx(
            float(max_cosine(u[r].detach(), normalize=False)), abs=1e-15)
    value = dense_smooth_max(masked, 4.0)
    assert value.shape == (3,)
    for r in range(3):
        x = u[r].detach().numpy()
        cos = [x[i] @ x[j] for i, j in itertools.combinations(range(9), 2)]
        naive = math.log(sum(math.exp(4.0 * c) for c in cos)) / 4.0
        assert float(value[r].detach()) == pytest.approx(naive, rel=1e-13)
        assert float(value[r]) == pytest.approx(
            float(smooth_max_cosine(u[r], 4.0, chunk_size=2, normalize=False)), rel=1e-13)
    # Gradients agree with the chunked path too (the dense one is only a faster layout).
    (g_dense,) = torch.autograd.grad(value.sum(), u)
    chunked = sum(smooth_max_cosine(u[r], 4.0, chunk_size=3, normalize=False) for r in range(3))
    (g_chunk,) = torch.autograd.grad(chunked, u)
    torch.testing.assert_close(g_dense, g_chunk, rtol=1e-12, atol=1e-13)


def test_code_energy_is_the_float_of_riesz_energy():
    x = _random(7, 3, seed=14).numpy()
    assert code_energy(x, 1.0, angular=True) == pytest.approx(_naive(x, 1.0, angular=True),
                                                              rel=1e-12)


def test_gradcheck():
    w = _random(6, 3, seed=5).requires_grad_(True)
    for kwargs in (dict(s=1.0), dict(s=0.0), dict(s=2.0, half_space=True),
                   dict(s=1.0, angular=True), dict(s=0.5, chunk_size=2)):
        assert torch.autograd.gradcheck(lambda x: riesz_energy(x, **kwargs), (w,))
    assert torch.autograd.gradcheck(lambda x: smooth_max_cosine(x, 7.0), (w,))
    assert torch.autograd.gradcheck(lambda x: smooth_max_cosine(x, 7.0, chunk_size=2), (w,))


def test_smooth_max_bounds_and_limit():
    w = _random(20, 5, seed=6)
    exact = max_cosine(w).item()
    pairs = 20 * 19 / 2
    for t in (1.0, 10.0, 100.0, 1e4):
        value = smooth_max_cosine(w, t).item()
        # log-sum-exp: max <= lse/t <= max + log(#pairs)/t
        assert exact - 1e-12 <= value <= exact + math.log(pairs) / t + 1e-12
    assert smooth_max_cosine(w, 1e6).item() == pytest.approx(exact, abs=1e-5)
    # naive formula at a moderate temperature
    u = torch.nn.functional.normalize(w, dim=1).numpy()
    cos = [u[i] @ u[j] for i, j in itertools.combinations(range(20), 2)]
    assert smooth_max_cosine(w, 3.0).item() == pytest.approx(
        math.log(sum(math.exp(3.0 * c) for c in cos)) / 3.0, rel=1e-12)


def test_cosines_and_max_against_numpy():
    w = _random(30, 6, seed=7)
    u = w.numpy() / np.linalg.norm(w.numpy(), axis=1, keepdims=True)
    cos = u @ u.T
    np.testing.assert_allclose(pairwise_cosines(w).numpy(), cos, atol=1e-12)
    np.fill_diagonal(cos, -np.inf)
    for chunk in (None, 1, 7, 30):
        assert max_cosine(w, chunk_size=chunk).item() == pytest.approx(cos.max(), abs=1e-12)


def test_float32_and_coincident_points_stay_finite():
    w = _random(9, 3, seed=8, dtype=torch.float32).requires_grad_(True)
    e = riesz_energy(w, 1.0, chunk_size=4)
    assert e.dtype == torch.float32
    assert e.item() == pytest.approx(_naive(w.detach().double().numpy(), 1.0), rel=1e-4)
    for angular in (False, True):
        same = torch.ones(3, 2, dtype=torch.float64, requires_grad=True)
        value = riesz_energy(same, 1.0, angular=angular)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(same.grad).all()


def test_bad_input():
    w = _random(4, 3, seed=9)
    with pytest.raises(InputError):
        riesz_energy(w, -1.0)
    with pytest.raises(InputError):
        riesz_energy(w, 1.0, reduction="max")
    with pytest.raises(InputError):
        riesz_energy(w[:1], 1.0)
    with pytest.raises(InputError):
        riesz_energy(w, 1.0, chunk_size=0)
    with pytest.raises(InputError):
        smooth_max_cosine(w, 0.0)
