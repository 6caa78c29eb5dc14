"""Neighbour-list Tammes solver and the large-K baselines, against naive dense references."""

import math
import tracemalloc

import numpy as np
import pytest
import torch

from protogen.energies import smooth_max_cosine
from protogen.errors import InputError, ResourceError
from protogen.solvers.large_k_baselines import pushed_apart_vectors, random_unit_vectors
from protogen.solvers.neighbours import (blockwise_topk, estimate_memory_bytes, exact_max_cosine,
                                         neighbour_smooth_max, neighbour_tammes, pair_graph)


def naive_max_cosine(x):
    """All pairs, written out with numpy (the independent truth)."""
    cos = x @ x.T
    np.fill_diagonal(cos, -np.inf)
    return cos.max()


def unit_rows(num, dim, seed):
    x = np.random.default_rng(seed).standard_normal((num, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_neighbour_objective_equals_dense_smooth_max_with_all_neighbours():
    x = unit_rows(40, 5, 1)
    u = torch.tensor(x, dtype=torch.float64)
    _, indices = blockwise_topk(u, 39)
    crow, col = pair_graph(indices)
    for t in (3.0, 50.0, 400.0):
        value, grad, _ = neighbour_smooth_max(u, crow, col, t)
        # Hand-written log-sum-exp over the i < j pairs.
        cos = x @ x.T
        iu = np.triu_indices(40, 1)
        z = t * cos[iu]
        expected = (z.max() + math.log(np.exp(z - z.max()).sum())) / t
        assert abs(float(value) - expected) < 1e-12
        v = u.clone().requires_grad_(True)
        dense = smooth_max_cosine(v, t, normalize=False)
        assert abs(float(value) - float(dense.detach())) < 1e-12
        dense.backward()
        assert torch.allclose(grad, v.grad, atol=1e-12, rtol=0)


def test_pair_graph_holds_each_listed_pair_twice_and_nothing_else():
    u = torch.tensor(unit_rows(60, 4, 2))
    _, indices = blockwise_topk(u, 5)
    crow, col = pair_graph(indices)
    rows = np.repeat(np.arange(60), np.diff(crow.numpy()))
    entries = set(zip(rows.tolist(), col.tolist()))
    expected = {(i, j) for i in range(60) for j in indices[i].tolist()}
    expected |= {(j, i) for i, j in expected}
    assert entries == expected and len(entries) == len(col)


@pytest.mark.parametrize("chunk", [None, 7, 64])
def test_blockwise_topk_equals_naive_argsort(chunk):
    x = unit_rows(150, 6, 3)
    values, indices = blockwise_topk(torch.tensor(x), 9, chunk)
    cos = x @ x.T
    np.fill_diagonal(cos, -np.inf)
    order = np.argsort(-cos, axis=1, kind="stable")[:, :9]
    assert np.array_equal(indices.numpy(), order)
    assert np.allclose(values.numpy(), np.take_along_axis(cos, order, axis=1), atol=1e-15)


def test_reported_angle_is_the_exact_all_pairs_angle_and_beats_random():
    num, dim = 2000, 32
    result = neighbour_tammes(num, dim, seed=0, progress=False, device="cpu", iterations=100,
                              polish_iterations=10, chunk_size=300, k=32)
    x = result.prototypes
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-12)
    exact = naive_max_cosine(x)
    assert abs(result.metadata["max_cosine"] - exact) < 1e-12
    assert abs(result.metadata["min_angle_deg"] - np.degrees(np.arccos(exact))) < 1e-9
    # Independent random baseline: the best of three uniform random codes.
    random_best = min(naive_max_cosine(unit_rows(num, dim, s)) for s in (10, 11, 12))
    random_angle = np.degrees(np.arccos(random_best))
    assert result.metadata["min_angle_deg"] > random_angle + 15.0
    assert result.method == "neighbours" and result.params["k"] == 32


def test_exact_max_cosine_equals_naive_even_with_near_ties():
    x = unit_rows(300, 24, 7)
    # Near-ties that float32 cannot rank: copies of row 0 nudged by ~3e-6 (cos gaps ~1e-11).
    nudged = x[0] + 3e-6 * unit_rows(5, 24, 8)
    x[1:6] = nudged / np.linalg.norm(nudged, axis=1, keepdims=True)
    for chunk in (None, 17):
        assert exact_max_cosine(torch.tensor(x), chunk) == naive_max_cosine(x)


def test_same_seed_same_result_and_seed_matters():
    kwargs = dict(progress=False, device="cpu", iterations=40, polish_iterations=10, k=8)
    a = neighbour_tammes(200, 8, seed=3, **kwargs)
    b = neighbour_tammes(200, 8, seed=3, **kwargs)
    c = neighbour_tammes(200, 8, seed=4, **kwargs)
    assert np.array_equal(a.prototypes, b.prototypes)
    assert not np.array_equal(a.prototypes, c.prototypes)


def test_memory_guard_refuses_before_allocating_with_the_estimate():
    need = estimate_memory_bytes(10**7, 512, 32)
    assert need > 24 * 2**30  # K = 10^7, D = 512 cannot fit this 24 GiB machine
    assert estimate_memory_bytes(10**5, 512, 32) < 8 * 2**30  # the large target fits
    tracemalloc.start()
    try:
        with pytest.raises(ResourceError, match=f"{need / 2**30:.1f} GiB"):
            neighbour_tammes(10**7, 512, progress=False, device="cpu",
                             memory_limit_bytes=24 * 2**30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # nothing of size K x D was allocated


def test_memory_estimate_grows_with_points_dimension_and_neighbours():
    base = estimate_memory_bytes(10**4, 128, 32, 256)
    assert estimate_memory_bytes(2 * 10**4, 128, 32, 256) > 1.9 * base
    assert estimate_memory_bytes(10**4, 256, 32, 256) > base
    assert estimate_memory_bytes(10**4, 128, 64, 256) > base


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_cuda_is_a_one_line_input_error():
    with pytest.raises(InputError, match="CUDA is not available") as err:
        neighbour_tammes(20, 4, progress=False, device="cuda")
    assert "\n" not in str(err.value)


def test_bad_arguments_are_input_errors():
    with pytest.raises(InputError):
        neighbour_tammes(20, 4, progress=False, device="tpu")
    with pytest.raises(InputError):
        neighbour_tammes(20, 4, progress=False, k=0)
    with pytest.raises(InputError):
        neighbour_tammes(20, 4, progress=False, refresh=0)
    with pytest.raises(InputError):
        neighbour_tammes(20, 4, progress=False, chunk_size=0)
    with pytest.raises(InputError):
        neighbour_tammes(20, 4, progress=False, init=np.ones((3, 4)))


def test_time_limit_stops_early_with_a_valid_exact_result():
    result = neighbour_tammes(3000, 16, progress=False, device="cpu", iterations=100000,
                              time_limit=3.0)
    assert result.elapsed_s < 15.0
    assert abs(result.metadata["max_cosine"] - naive_max_cosine(result.prototypes)) < 1e-12


def test_extra_loss_hook_is_followed():
    target = torch.zeros(6, dtype=torch.float64)
    target[0] = 1.0

    def pull(u):  # pull point 0 onto the first axis
        return 5.0 * (1.0 - u[0] @ target.to(u.dtype))

    kwargs = dict(progress=False, device="cpu", iterations=300, lr=0.05)
    plain = neighbour_tammes(30, 6, **kwargs)
    pulled = neighbour_tammes(30, 6, extra_loss=pull, **kwargs)
    assert pulled.prototypes[0, 0] > 0.99 > plain.prototypes[0, 0]


def test_baselines_random_and_pushed_apart():
    rand = random_unit_vectors(500, 16, seed=5)
    assert np.allclose(rand.prototypes, unit_rows(500, 16, 5))  # same generator as sphere.py
    assert abs(rand.metadata["max_cosine"] - naive_max_cosine(rand.prototypes)) < 1e-12
    pushed = pushed_apart_vectors(500, 16, seed=5, device="cpu")
    assert abs(pushed.metadata["max_cosine"] - naive_max_cosine(pushed.prototypes)) < 1e-12
    assert pushed.metadata["min_angle_deg"] > rand.metadata["min_angle_deg"] + 2.0


@pytest.mark.gpu
def test_cuda_solve_matches_cpu_quality():
    kwargs = dict(seed=0, progress=False, iterations=300, polish_iterations=50)
    cpu = neighbour_tammes(2000, 32, device="cpu", **kwargs)
    gpu = neighbour_tammes(2000, 32, device="cuda", **kwargs)
    assert gpu.params["device"].startswith("cuda")
    assert abs(gpu.metadata["max_cosine"] - naive_max_cosine(gpu.prototypes)) < 1e-12
    assert gpu.metadata["min_angle_deg"] > cpu.metadata["min_angle_deg"] - 0.5
